"""Formal harness of the MMU: a walk that overlapped an invalidate never fills the TLB.

Accesses, invalidates, memory stalls and every descriptor the memory returns are free
inputs; the only assumption is the memory protocol (one response per accepted request,
at least one cycle later)."""
from amaranth.hdl import Assert, Assume, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hdl.mmu import MMU
from hdl.ports import AccessRequest, InvalidateRequest


class MMUWalkProperties(wiring.Component):
    def __init__(self, **mmu_params):
        self.mmu_params = mmu_params
        super().__init__({
            "req_valid": In(1), "req": In(AccessRequest),
            "inv_valid": In(1), "inv": In(InvalidateRequest),
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
        overlapped = Signal()          # an invalidate was accepted since this walk began
        inv_now = self.inv_valid & walker.busy
        with m.If(walker.start):
            m.d.sync += overlapped.eq(0)
        with m.Elif(inv_now):
            m.d.sync += overlapped.eq(1)
        m.d.comb += Assert(~(tlb.fill_en & (overlapped | inv_now)))
        # The MMU never accepts an access while it walks.
        m.d.comb += Assert(~(mmu.req.ready & walker.busy))
        return m
