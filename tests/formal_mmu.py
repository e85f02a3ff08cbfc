"""Formal harness of the MMU: a walk never fills the TLB with an entry that an invalidate
accepted during the walk names.

Accesses, invalidates, memory stalls and every descriptor the memory returns are free
inputs; the only assumption is the memory protocol (one response per accepted request,
at least one cycle later). The solver also picks which invalidate of a walk to watch, so
the check covers every one of them.

The property is split into steps the solver can afford (stated end to end, across
cycles, it was beyond a CI budget past depth 8): the walker installs its own VA and ASID
at the size it found; an invalidate in the fill's own cycle does not name that VA and
ASID at that size; what a watched invalidate of an earlier cycle named (at every size
and globality) stays in the MMU's stale record until the walk ends; and the MMU never
fills a size and globality its stale record holds. Names are the TLB's own matching
(tests/formal_tlb.py checks it against the lookup's meaning). Together: the TLB never
gains an entry that an invalidate of the walk's lifetime would have removed."""
from amaranth.hdl import Assert, Assume, Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hdl.descriptor import PageSize, vpn_mask_of
from hdl.mmu import MMU, stale_bit
from hdl.ports import AccessRequest, InvalidateRequest
from hdl.tlb import invalidate_names


class MMUWalkProperties(wiring.Component):
    def __init__(self, *, watched=False, **mmu_params):
        """``watched``: check the invalidates of earlier cycles of the walk (through the
        MMU's stale record); otherwise the fill's own cycle and the walker's entry."""
        self.watched = watched
        self.mmu_params = mmu_params
        super().__init__({
            "req_valid": In(1), "req": In(AccessRequest),
            "inv_valid": In(1), "inv": In(InvalidateRequest), "watch": In(1),
            "mem_req_ready": In(1), "mem_resp_valid": In(1), "mem_resp": In(64),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.mmu = mmu = self._mmu = MMU(**self.mmu_params)
        m.d.comb += [
            mmu.req.valid.eq(self.req_valid), mmu.req.payload.eq(self.req),
            mmu.inv.valid.eq(self.inv_valid), mmu.inv.payload.eq(self.inv),
            mmu.mem_req.ready.eq(self.mem_req_ready),
            mmu.mem_resp.valid.eq(self.mem_resp_valid),
            mmu.mem_resp.payload.data.eq(self.mem_resp),
        ]
        outstanding = Signal()
        with m.If(mmu.mem_req.valid & mmu.mem_req.ready):
            m.d.sync += outstanding.eq(1)
        with m.Elif(self.mem_resp_valid):
            m.d.sync += outstanding.eq(0)
        m.d.comb += Assume(~self.mem_resp_valid | outstanding)

        walker, tlb = mmu.walker, mmu.tlb
        fill = tlb.fill_entry
        req_vpn, req_asid = mmu.req_q.va[12:48], mmu.req_q.ttbr.asid

        def names_walk(inv):
            """Bit stale_bit(size, ng): whether ``inv`` names the walk's VA and ASID at
            that size and globality."""
            bits = [None] * (len(PageSize) * 2)
            for size in range(len(PageSize)):
                for ng in (0, 1):
                    bits[stale_bit(size, ng)] = invalidate_names(
                        inv, req_vpn & vpn_mask_of(size), req_asid, Const(ng, 1), size)
            return Cat(*bits)

        def of_fill(bits):
            return bits.bit_select(stale_bit(fill.size.as_value(), fill.ng), 1)

        inv_now = self.inv_valid & walker.busy
        if self.watched:
            # What a watched invalidate of the walk named stays in the MMU's stale
            # record, and the MMU never fills what its stale record holds.
            watching = Signal()
            watched_names = Signal(len(PageSize) * 2)
            with m.If(walker.start):
                m.d.sync += watching.eq(0)
            with m.Elif(inv_now & self.watch & ~watching):
                m.d.sync += [watching.eq(1), watched_names.eq(names_walk(self.inv))]
            m.d.comb += Assert(~watching | ((watched_names & ~mmu.stale) == 0))
            m.d.comb += Assert(~(tlb.fill_en & of_fill(mmu.stale)))
            return m
        # The entry a walk installs is its own VA and ASID at the size it found, so an
        # invalidate names it exactly when names_walk() says so at its size...
        m.d.comb += Assert(~tlb.fill_en | (
            (fill.vpn == (req_vpn & vpn_mask_of(fill.size.as_value())))
            & (fill.asid == req_asid) & (fill.size.as_value() < len(PageSize))))
        # ...and the one of the fill's own cycle does not.
        m.d.comb += Assert(~(tlb.fill_en & inv_now & of_fill(names_walk(self.inv))))
        # The MMU never accepts an access while it walks.
        m.d.comb += Assert(~(mmu.req.ready & walker.busy))
        return m
