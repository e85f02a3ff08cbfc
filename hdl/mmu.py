"""MMU top: TLB + page-table walker behind one access port.

An access is accepted when the MMU is idle; a TLB hit (or an access that faults without a
walk) answers in the next cycle. A miss starts a walk; the result is written into the TLB
and answered in the cycle after the walk's last memory response. An invalidate accepted
while a walk is in flight makes that walk stale if it names the entry the walk
installs: that result is dropped and the walk retried, so a translation read before an
invalidate never enters the TLB after it.
Timing contract: docs/timing.md. Model twin: ``sw_model.mmu_ref.MMURef``.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from .descriptor import PAGE_SHIFT, FaultKind, PageSize, vpn_mask_of
from .faults import MMU_FAULTS, check_faults
from .permissions import check_permission
from .ports import AccessRequest, AccessResponse, InvalidateRequest, MemRequest, MemResponse
from .tlb import TLB, check_entries, invalidate_names
from .walker import PageTableWalker, check_walker_params


class MMUState(enum.Enum, shape=2):
    IDLE = 0
    WALK = 1
    RETRY = 2


def leaf_level(size):
    """Translation level (1..3) of the descriptor that gave a TLB entry of ``size``."""
    return 3 - (size.as_value() >> 1)


def stale_bit(size, ng):
    """Bit of the MMU's stale-walk record for a walk result of ``size`` and ``ng``."""
    return size * 2 + ng


def physical_address(entry, va):
    """PA of ``va`` through ``entry``: the entry's page number, the VA's low bits."""
    mask = vpn_mask_of(entry.size.as_value())
    return (((entry.ppn & mask) | (va[12:48] & ~mask)) << 12) | va[0:12]


class MMU(wiring.Component):
    """Ports: ``req`` (stream of AccessRequest), ``resp`` (AccessResponse, valid for one
    cycle, no back-pressure), ``inv`` (InvalidateRequest, always accepted) with ``inv_ack``,
    and the walker's ``mem_req``/``mem_resp``. ``tlbi_range``: whether range invalidates
    compare their bounds (FEAT_TLBIRANGE); without, they name every VA. ``asid_bits``:
    8 or 16, the ASID bits the TLB matches."""

    def __init__(self, *, tlb_entries=16, pa_bits=40, ha=True, hd=True, tlbi_range=True,
                 asid_bits=16, faults=()):
        self.faults = check_faults(faults, MMU_FAULTS)
        check_entries(tlb_entries)
        check_walker_params(pa_bits, ha, hd)
        self.tlbi_range = bool(tlbi_range)
        self.tlb = TLB(tlb_entries, tlbi_range=tlbi_range, asid_bits=asid_bits,
                       ppn_bits=pa_bits - 12)
        self.walker = PageTableWalker(pa_bits=pa_bits, ha=ha, hd=hd)
        self.hd = hd
        super().__init__({
            "req": In(stream.Signature(AccessRequest)),
            "resp": Out(stream.Signature(AccessResponse, always_ready=True)),
            "inv": In(stream.Signature(InvalidateRequest)),
            "inv_ack": Out(1),
            "mem_req": Out(stream.Signature(MemRequest)),
            "mem_resp": In(stream.Signature(MemResponse, always_ready=True)),
        })
        self.state = Signal(MMUState)
        self.req_q = Signal(AccessRequest)       # the access being walked
        # The walk's entry is not known until its leaf, so each invalidate during the
        # walk is matched against every entry the walk could install for its VA and ASID
        # (each size, global or not); bit stale_bit(size, ng) records a match.
        self.stale = Signal(len(PageSize) * 2)

    def elaborate(self, platform):
        m = Module()
        m.submodules.tlb = tlb = self.tlb
        m.submodules.walker = walker = self.walker
        connect(m, walker.mem_req, flipped(self.mem_req))
        connect(m, flipped(self.mem_resp), walker.mem_resp)

        state = self.state
        req_q = self.req_q
        stale = self.stale
        named_now = Signal.like(stale)           # what this cycle's invalidate names
        m.d.comb += named_now.eq(Cat(
            invalidate_names(self.inv.payload, req_q.va[12:48] & vpn_mask_of(size),
                             req_q.ttbr.asid, Const(ng, 1), size, self.tlbi_range,
                             tlb.asid_bits)
            for size in range(len(PageSize)) for ng in (0, 1)))
        named = Signal()                         # refill into the entry that hit
        named_index = Signal.like(tlb.hit_index)

        # Invalidates go straight to the TLB, which applies them in one cycle.
        m.d.comb += [
            tlb.inv.valid.eq(self.inv.valid),
            tlb.inv.payload.eq(self.inv.payload),
            self.inv.ready.eq(1),
            self.inv_ack.eq(tlb.inv_ack),
        ]
        inv_fire = self.inv.valid

        req = self.req.payload
        m.d.comb += [
            self.req.ready.eq(state == MMUState.IDLE),
            tlb.lookup_vpn.eq(req.va[12:48]),
            tlb.lookup_asid.eq(req.ttbr.asid),
            walker.walk_req.eq(req_q),
        ]
        hit = tlb.hit_entry
        hit_fault, hit_dirty = check_permission(
            hit.ap1, hit.ap2, hit.uxn, hit.pxn, hit.dbm, req.write, req.exec, req.el0,
            int(self.hd))
        bad_va = req.va[48:64] != 0
        bad_ttbr = (req.ttbr.baddr >> (walker.pa_bits - 12)) != 0

        resp = self.resp.payload
        m.d.sync += self.resp.valid.eq(0)

        # A PA has no bits set above pa_bits, except a 16 GB block's offset (34 bits).
        pa_width = max(walker.pa_bits, PAGE_SHIFT[PageSize.CONT_16G])

        def answer(pa=0, fault=FaultKind.NONE, level=0):
            m.d.sync += [self.resp.valid.eq(1), resp.pa.eq(Value.cast(pa)[:pa_width]),
                         resp.fault.eq(fault), resp.level.eq(level)]

        def walk(named_refill):
            with m.If(bad_ttbr):
                answer(fault=FaultKind.ADDRESS_SIZE, level=0)
            with m.Else():
                m.d.comb += [walker.start.eq(1), walker.walk_req.eq(req)]
                m.d.sync += [req_q.eq(req), stale.eq(0), named.eq(named_refill),
                             named_index.eq(tlb.hit_index), state.eq(MMUState.WALK)]

        with m.Switch(state):
            with m.Case(MMUState.IDLE):
                with m.If(self.req.valid):
                    with m.If(bad_va):
                        answer(fault=FaultKind.TRANSLATION, level=0)
                    with m.Elif(tlb.hit & hit_dirty):
                        walk(named_refill=1)
                    with m.Elif(tlb.hit & hit_fault):
                        answer(fault=FaultKind.PERMISSION, level=leaf_level(hit.size))
                    with m.Elif(tlb.hit):
                        answer(pa=physical_address(hit, req.va))
                    with m.Else():
                        walk(named_refill=0)
            with m.Case(MMUState.WALK):
                with m.If(inv_fire):
                    m.d.sync += stale.eq(stale | named_now)
                with m.If(walker.done):
                    # A walk that installs nothing (a fault) is never stale.
                    entry = walker.entry
                    retry = walker.install & (stale | Mux(inv_fire, named_now, 0)).bit_select(
                        stale_bit(entry.size.as_value(), entry.ng), 1)
                    if "stale_walk_installs" in self.faults:
                        retry = 0
                    with m.If(retry):
                        m.d.sync += state.eq(MMUState.RETRY)
                    with m.Else():
                        m.d.comb += [tlb.fill_en.eq(walker.install),
                                     tlb.fill_named.eq(named),
                                     tlb.fill_index.eq(named_index),
                                     tlb.fill_entry.eq(walker.entry)]
                        # PA on success, level on a fault; zero otherwise.
                        faulted = walker.fault != FaultKind.NONE
                        answer(pa=Mux(faulted, 0, physical_address(walker.entry, req_q.va)),
                               fault=walker.fault, level=Mux(faulted, walker.level, 0))
                        m.d.sync += state.eq(MMUState.IDLE)
            with m.Case(MMUState.RETRY):
                m.d.comb += walker.start.eq(1)
                m.d.sync += [stale.eq(0), state.eq(MMUState.WALK)]
        return m
