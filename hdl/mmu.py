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


class MMUState(enum.Enum, shape=3):
    IDLE = 0
    WALK = 1
    RETRY = 2
    LOOKUP = 3        # staged: the cycle after an access is taken
    FINISH = 4        # staged: the cycle after a walk's last memory response


def check_staged(staged):
    """Validate the ``staged`` option; shared by the RTL and the model."""
    if not isinstance(staged, bool):
        raise ValueError(f"staged must be True or False, not {staged!r}")
    return staged


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
    8 or 16, the ASID bits the TLB matches. ``staged``: a register stage after the TLB
    match and one after a walk's last memory response, for FPGA clock rates (a hit
    answers at *t*+2, a walk a cycle later; docs/timing.md)."""

    def __init__(self, *, tlb_entries=16, pa_bits=40, ha=True, hd=True, tlbi_range=True,
                 asid_bits=16, staged=False, faults=()):
        self.faults = check_faults(faults, MMU_FAULTS)
        check_entries(tlb_entries)
        check_walker_params(pa_bits, ha, hd)
        self.tlbi_range = bool(tlbi_range)
        self.staged = check_staged(staged)
        self.tlb = TLB(tlb_entries, tlbi_range=tlbi_range, asid_bits=asid_bits,
                       ppn_bits=pa_bits - 12, staged=staged)
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
        # Staged, an access is looked at from its register in the cycle after it is taken.
        acc = req_q if self.staged else req
        m.d.comb += [
            self.req.ready.eq(state == MMUState.IDLE),
            tlb.lookup_vpn.eq(req.va[12:48]),
            tlb.lookup_asid.eq(req.ttbr.asid),
            walker.walk_req.eq(req_q),
        ]
        hit = tlb.hit_entry
        bad_va = req.va[48:64] != 0
        bad_ttbr = (req.ttbr.baddr >> (walker.pa_bits - 12)) != 0
        if self.staged:
            # The permission check of every entry against the access, and the address
            # checks, in the cycle the access is taken, beside the match: the next
            # cycle selects their answers with the winning entry.
            entry_faults, entry_dirties = zip(*(check_permission(
                e.ap1, e.ap2, e.uxn, e.pxn, e.dbm, req.write, req.exec, req.el0,
                int(self.hd)) for e in tlb.store))
            fault_q, dirty_q = Signal(tlb.entries), Signal(tlb.entries)
            bad_va_q, bad_ttbr_q = Signal(), Signal()
            m.d.sync += [fault_q.eq(Cat(entry_faults)), dirty_q.eq(Cat(entry_dirties)),
                         bad_va_q.eq(bad_va), bad_ttbr_q.eq(bad_ttbr)]
            hit_fault = (tlb.hit_onehot & fault_q).any()
            hit_dirty = (tlb.hit_onehot & dirty_q).any()
            bad_va, bad_ttbr = bad_va_q, bad_ttbr_q
        else:
            hit_fault, hit_dirty = check_permission(
                hit.ap1, hit.ap2, hit.uxn, hit.pxn, hit.dbm, req.write, req.exec, req.el0,
                int(self.hd))

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
                m.d.comb += walker.start.eq(1)
                if not self.staged:
                    m.d.comb += walker.walk_req.eq(req)
                    m.d.sync += req_q.eq(req)
                if not self.staged:
                    m.d.sync += [stale.eq(0), named.eq(named_refill),
                                 named_index.eq(tlb.hit_index)]
                m.d.sync += state.eq(MMUState.WALK)

        def look_up():
            """Answer the access from the TLB, or walk."""
            with m.If(bad_va):
                answer(fault=FaultKind.TRANSLATION, level=0)
            with m.Elif(tlb.hit & hit_dirty):
                walk(named_refill=1)
            with m.Elif(tlb.hit & hit_fault):
                answer(fault=FaultKind.PERMISSION, level=leaf_level(hit.size))
            with m.Elif(tlb.hit):
                answer(pa=physical_address(hit, acc.va))
            with m.Else():
                walk(named_refill=0)

        def is_stale(install, kind, stale_bits):
            """Whether a walk's result must be retried: an invalidate named its kind
            (one-hot over the stale bits)."""
            if "stale_walk_installs" in self.faults:
                return 0
            # A walk that installs nothing (a fault) is never stale.
            return install & (stale_bits & kind).any()

        def kind_of(entry):
            """One-hot: the stale bit of a result like ``entry``."""
            return 1 << stale_bit(entry.size.as_value(), entry.ng)

        def finish(fault, level, install, entry, retry):
            """Install and answer a walk's result, or retry the walk if it is stale."""
            with m.If(retry):
                m.d.sync += state.eq(MMUState.RETRY)
            with m.Else():
                m.d.comb += [tlb.fill_en.eq(install), tlb.fill_named.eq(named),
                             tlb.fill_index.eq(named_index), tlb.fill_entry.eq(entry)]
                # PA on success, level on a fault; zero otherwise.
                faulted = fault != FaultKind.NONE
                answer(pa=Mux(faulted, 0, physical_address(entry, req_q.va)),
                       fault=fault, level=Mux(faulted, level, 0))
                m.d.sync += state.eq(MMUState.IDLE)

        # Staged: the walker's result, kept for the cycle after its done; and what the
        # invalidate of the last cycle of the walk named, registered as it is found
        # (so the invalidate's comparisons end in a register, not in the TLB's write).
        done_fault, done_level = Signal(FaultKind), Signal(2)
        done_install, done_entry = Signal(), Signal.like(walker.entry)
        done_kind = Signal.like(stale)
        named_last = Signal.like(stale)
        if self.staged:
            m.d.sync += named_last.eq(Mux(inv_fire & (state == MMUState.WALK), named_now, 0))

        with m.Switch(state):
            with m.Case(MMUState.IDLE):
                with m.If(self.req.valid):
                    if self.staged:
                        m.d.sync += [req_q.eq(req), state.eq(MMUState.LOOKUP)]
                    else:
                        look_up()
            if self.staged:
                with m.Case(MMUState.LOOKUP):
                    # What a walk starting now needs, loaded whether or not it starts
                    # (nothing reads them outside a walk): a hit walks only to refill
                    # its own entry.
                    m.d.sync += [state.eq(MMUState.IDLE), stale.eq(0), named.eq(tlb.hit),
                                 named_index.eq(tlb.hit_index)]
                    look_up()
            with m.Case(MMUState.WALK):
                if self.staged:
                    m.d.sync += stale.eq(stale | named_last)
                else:
                    with m.If(inv_fire):
                        m.d.sync += stale.eq(stale | named_now)
                with m.If(walker.done):
                    if self.staged:
                        m.d.sync += [done_fault.eq(walker.fault), done_level.eq(walker.level),
                                     done_install.eq(walker.install),
                                     done_entry.eq(walker.entry),
                                     done_kind.eq(kind_of(walker.entry)),
                                     state.eq(MMUState.FINISH)]
                    else:
                        finish(walker.fault, walker.level, walker.install, walker.entry,
                               is_stale(walker.install, kind_of(walker.entry),
                                        stale | Mux(inv_fire, named_now, 0)))
            if self.staged:
                # An invalidate now is not matched here: the TLB drops a fill it names.
                with m.Case(MMUState.FINISH):
                    finish(done_fault, done_level, done_install, done_entry,
                           is_stale(done_install, done_kind, stale | named_last))
            with m.Case(MMUState.RETRY):
                m.d.comb += walker.start.eq(1)
                m.d.sync += [stale.eq(0), state.eq(MMUState.WALK)]
        return m
