"""Four-level Armv8-A stage-1 page-table walker with hardware AF/dirty update.

One memory request in flight at a time, over a ``lib.stream`` request channel and a
response channel. A walk ends with ``done`` for one cycle, in the cycle the last memory
response arrives; ``install`` then says whether ``entry`` may be cached. When hardware
updates are on and the leaf needs AF or dirty set, the walker issues a compare-and-swap of
the descriptor; if memory no longer holds what was read, the walk starts again from level 0.
The model twin is ``sw_model.walker_ref.WalkerRef``.
"""
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .descriptor import LEVEL_INDEX_SHIFT, Descriptor, FaultKind, PageSize, vpn_mask_of
from .permissions import check_permission
from .ports import AccessRequest, MemRequest, MemResponse
from .tlb import TLBEntry

MIN_PA_BITS = 32
MAX_PA_BITS = 48


class WalkState(enum.Enum, shape=3):
    IDLE = 0
    READ = 1          # descriptor read request offered
    READ_WAIT = 2     # waiting for the descriptor
    CAS = 3           # compare-and-swap request offered
    CAS_WAIT = 4      # waiting for the old value


def check_walker_params(pa_bits, ha, hd):
    """Validate walker parameters; shared by the RTL and the model."""
    if not isinstance(pa_bits, int) or isinstance(pa_bits, bool) \
            or not MIN_PA_BITS <= pa_bits <= MAX_PA_BITS:
        raise ValueError(f"pa_bits must be an integer from {MIN_PA_BITS} to {MAX_PA_BITS}, "
                         f"not {pa_bits!r}")
    if hd and not ha:
        raise ValueError("hardware dirty update (hd) needs hardware access flag update (ha)")
    return pa_bits, bool(ha), bool(hd)


class PageTableWalker(wiring.Component):
    """Ports: ``start`` with ``walk_req`` (taken when idle, and held by the MMU from then
    until ``done``, so the walker keeps no copy; its table base fits in ``pa_bits``, as
    the MMU checks before it walks); ``busy``; ``done`` with ``fault``, ``level``,
    ``install`` and ``entry``; ``mem_req``/``mem_resp``."""

    def __init__(self, *, pa_bits=40, ha=True, hd=True):
        self.pa_bits, self.ha, self.hd = check_walker_params(pa_bits, ha, hd)
        super().__init__({
            "start": In(1),
            "walk_req": In(AccessRequest),
            "busy": Out(1),
            "done": Out(1),
            "fault": Out(FaultKind),
            "level": Out(2),
            "install": Out(1),
            "entry": Out(TLBEntry),
            "mem_req": Out(stream.Signature(MemRequest)),
            "mem_resp": In(stream.Signature(MemResponse, always_ready=True)),
        })
        self.state = Signal(WalkState)

    def elaborate(self, platform):
        m = Module()
        req = self.walk_req
        level = Signal(2)
        table = Signal(self.pa_bits - 12)     # a wider table is an address size fault
        expected = Signal(64)
        desired = Signal(64)
        state = self.state

        index = Array(req.va[s:s + 9] for s in LEVEL_INDEX_SHIFT)[level]
        m.d.comb += [
            self.busy.eq(state != WalkState.IDLE),
            self.mem_req.valid.eq((state == WalkState.READ) | (state == WalkState.CAS)),
            self.mem_req.payload.addr.eq(Cat(Const(0, 3), index, table)),
            self.mem_req.payload.cas.eq(state == WalkState.CAS),
            self.mem_req.payload.expected.eq(expected),
            self.mem_req.payload.desired.eq(desired),
            self.level.eq(level),
        ]

        # Idle, the walk's first table is loaded whether or not it starts (nothing reads
        # it before), so the decision to walk drives only the state.
        with m.If(state == WalkState.IDLE):
            m.d.sync += [level.eq(0), table.eq(req.ttbr.baddr)]
            with m.If(self.start):
                m.d.sync += state.eq(WalkState.READ)
        with m.If((state == WalkState.READ) & self.mem_req.ready):
            m.d.sync += state.eq(WalkState.READ_WAIT)
        with m.If((state == WalkState.CAS) & self.mem_req.ready):
            m.d.sync += state.eq(WalkState.CAS_WAIT)

        # Decode of the descriptor arriving this cycle.
        d = Descriptor(self.mem_resp.payload.data)
        is_table = d.valid & d.type & (level != 3)
        is_leaf = d.valid & Mux(level == 3, d.type, (level != 0) & ~d.type)
        too_wide = (d.addr >> (self.pa_bits - 12)) != 0
        size = Signal(PageSize)
        m.d.comb += size.eq(Cat(d.contiguous, (3 - level)[:2]))   # 2*(3-level) + contiguous
        mask = vpn_mask_of(size.as_value())
        fault, needs_dirty = check_permission(
            d.ap1, d.ap2, d.uxn, d.pxn, d.dbm,
            req.write, req.exec, req.el0, int(self.hd))
        needs_af = ~d.af
        leaf_entry = Signal(TLBEntry)
        m.d.comb += [
            leaf_entry.vpn.eq(req.va[12:48] & mask),
            leaf_entry.asid.eq(req.ttbr.asid),
            leaf_entry.ng.eq(d.ng),
            leaf_entry.size.eq(size),
            leaf_entry.ppn.eq(d.addr & mask),
            leaf_entry.ap1.eq(d.ap1),
            leaf_entry.ap2.eq(d.ap2),
            leaf_entry.uxn.eq(d.uxn),
            leaf_entry.pxn.eq(d.pxn),
            leaf_entry.dbm.eq(d.dbm),
        ]
        update = Signal(64)
        m.d.comb += update.eq(self.mem_resp.payload.data | (1 << 10))   # AF
        with m.If(needs_dirty):
            m.d.comb += update[7].eq(0)                                     # AP[2]: dirty

        with m.If((state == WalkState.READ_WAIT) & self.mem_resp.valid):
            with m.If(is_table & ~too_wide):
                m.d.sync += [level.eq(level + 1), table.eq(d.addr), state.eq(WalkState.READ)]
            with m.Elif(~is_table & ~is_leaf):
                m.d.comb += [self.done.eq(1), self.fault.eq(FaultKind.TRANSLATION)]
                m.d.sync += state.eq(WalkState.IDLE)
            with m.Elif(too_wide):
                m.d.comb += [self.done.eq(1), self.fault.eq(FaultKind.ADDRESS_SIZE)]
                m.d.sync += state.eq(WalkState.IDLE)
            with m.Elif(needs_af & Const(int(not self.ha), 1)):
                m.d.comb += [self.done.eq(1), self.fault.eq(FaultKind.ACCESS_FLAG)]
                m.d.sync += state.eq(WalkState.IDLE)
            with m.Elif(fault):
                m.d.comb += [self.done.eq(1), self.fault.eq(FaultKind.PERMISSION),
                             self.install.eq(d.af), self.entry.eq(leaf_entry)]
                m.d.sync += state.eq(WalkState.IDLE)
            with m.Elif(needs_af | needs_dirty):
                m.d.sync += [expected.eq(self.mem_resp.payload.data), desired.eq(update),
                             state.eq(WalkState.CAS)]
            with m.Else():
                m.d.comb += [self.done.eq(1), self.install.eq(1), self.entry.eq(leaf_entry)]
                m.d.sync += state.eq(WalkState.IDLE)

        with m.If((state == WalkState.CAS_WAIT) & self.mem_resp.valid):
            with m.If(self.mem_resp.payload.data == expected):
                m.d.comb += [self.done.eq(1), self.install.eq(1), self.entry.eq(leaf_entry),
                             self.entry.ap2.eq(desired[7])]
                m.d.sync += state.eq(WalkState.IDLE)
            with m.Else():
                m.d.sync += [level.eq(0), table.eq(req.ttbr.baddr), state.eq(WalkState.READ)]
        return m
