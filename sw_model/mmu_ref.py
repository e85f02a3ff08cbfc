"""Cycle-matched model of ``hdl.mmu.MMU`` (and so of the whole MMU: TLB + walker).

``tick`` is one clock edge: it takes the inputs of the cycle and moves every register the
way the RTL does. ``outputs`` is what the ports show in the current cycle; every output is
a register or a function of registers, so it does not depend on the inputs.
"""
from hdl.descriptor import FaultKind
from hdl.descriptor import PageSize
from hdl.mmu import MMUState, check_staged, stale_bit
from hdl.ports import AccessResponse

from .codec import Codec
from .permissions import check_permission
from .tlb_ref import MASK, VPN_BITS, TLBRef, invalidate_names
from .walker_ref import WalkerRef

ACCESS_RESPONSE = Codec(AccessResponse)

#: Rules of the RTL that the model can be told to break, to show the lockstep diff fails.
BUGS = ("stale_walk_installs",)


def answer(pa=0, fault=FaultKind.NONE, level=0):
    """The packed AccessResponse."""
    return ACCESS_RESPONSE.pack(pa=pa, fault=fault.value, level=level)


class MMUInputs:
    """The inputs of one cycle. ``req`` and ``inv`` are decoded payloads (namespaces of
    AccessRequest / InvalidateRequest fields)."""
    __slots__ = ("req_valid", "req", "inv_valid", "inv", "mem_req_ready",
                 "mem_resp_valid", "mem_resp")

    def __init__(self):
        self.req_valid = self.inv_valid = self.mem_req_ready = self.mem_resp_valid = 0
        self.req = self.inv = None
        self.mem_resp = 0


class MMURef:
    def __init__(self, *, tlb_entries=16, pa_bits=40, ha=True, hd=True, tlbi_range=True,
                 asid_bits=16, staged=False, bugs=()):
        unknown = set(bugs) - set(BUGS)
        if unknown:
            raise ValueError(f"unknown model bug(s) {sorted(unknown)}; known: {BUGS}")
        self.bugs = frozenset(bugs)
        self.staged = check_staged(staged)
        self.tlb = TLBRef(tlb_entries, tlbi_range=tlbi_range, asid_bits=asid_bits,
                          staged=staged)
        self.walker = WalkerRef(pa_bits=pa_bits, ha=ha, hd=hd)
        self.state = MMUState.IDLE
        self.req_q = None
        self.stale = 0            # bit stale_bit(size, ng): an invalidate named such a result
        self.named = False
        self.named_index = 0
        self.resp = None          # packed AccessResponse in the cycle it is valid
        self.hit_index = None     # staged: the entry the access matched in its first cycle
        self.result_q = None      # staged: the walk's result, for the cycle after its end

    @property
    def req_ready(self):
        return self.state == MMUState.IDLE

    @property
    def still(self):
        """Whether a cycle with no request and no invalidate would keep every register:
        no walk under way and no one-cycle output to end."""
        return self.state == MMUState.IDLE and self.resp is None and not self.tlb.inv_ack

    def outputs(self):
        """(req_ready, resp or None, inv_ready, inv_ack, mem_req or None, tlb_valid, tlb_rr):
        the ports, then the TLB's valid bits and round-robin pointer."""
        return (int(self.req_ready), self.resp, 1, self.tlb.inv_ack,
                self.walker.mem_request, self.tlb.valid, self.tlb.rr)

    def _stale_bits(self, inv):
        """The results of this walk that ``inv`` names: every size, global or not."""
        vpn, asid = (self.req_q.va >> 12) & VPN_BITS, self.req_q.ttbr.asid
        bits = 0
        for size in PageSize:
            for ng in (0, 1):
                if invalidate_names(inv, vpn & MASK[size.value], asid, ng, size.value,
                                    self.tlb.tlbi_range, self.tlb.asid_bits):
                    bits |= 1 << stale_bit(size.value, ng)
        return bits

    def _look_up(self, req, hit_index):
        """The access's answer from the TLB, or the walk it starts: (resp, start)."""
        tlb, walker = self.tlb, self.walker
        hit = tlb.store[hit_index] if hit_index is not None else None
        hit_dirty = hit_fault = False
        if hit is not None:
            hit_fault, hit_dirty = check_permission(
                hit.ap1, hit.ap2, hit.uxn, hit.pxn, hit.dbm,
                req.write, req.exec, req.el0, walker.hd)
        if req.va >> 48:
            return answer(fault=FaultKind.TRANSLATION), None
        if hit is not None and hit_fault:
            return answer(fault=FaultKind.PERMISSION, level=hit.level), None
        if hit is not None and not hit_dirty:
            return answer(pa=hit.physical_address(req.va)), None
        if req.ttbr.baddr >> (walker.pa_bits - 12):
            return answer(fault=FaultKind.ADDRESS_SIZE), None
        self.req_q, self.stale = req, 0
        self.named = hit is not None          # dirty update of an entry that hit
        self.named_index = hit_index if hit is not None else 0
        self.state = MMUState.WALK
        return None, req

    def _finish(self, result):
        """Install and answer a walk's result, or retry the walk if it is stale:
        (resp, fill, fill_index)."""
        entry = result.entry
        # A walk that installs nothing (a fault) is never stale.
        stale = entry is not None and self.stale >> stale_bit(entry.size, entry.ng) & 1
        if stale and "stale_walk_installs" not in self.bugs:
            self.state = MMUState.RETRY
            return None, None, None
        self.state = MMUState.IDLE
        fill_index = self.named_index if self.named else None
        if result.fault == FaultKind.NONE:
            return answer(pa=entry.physical_address(self.req_q.va)), entry, fill_index
        return answer(fault=result.fault, level=result.level), entry, fill_index

    def tick(self, inp):
        if self.state == MMUState.IDLE and not inp.req_valid and not inp.inv_valid:
            # Nothing arrives and no walk is in flight (the walker runs only in WALK):
            # only the one-cycle outputs end.
            self.resp = None
            self.tlb.inv_ack = 0
            return
        tlb, walker = self.tlb, self.walker
        inv = inp.inv if inp.inv_valid else None
        resp = None
        start = None                 # walk request to start this cycle
        fill = fill_index = None
        state = self.state

        if state == MMUState.IDLE and inp.req_valid:
            req = inp.req
            hit_index = tlb.lookup((req.va >> 12) & VPN_BITS, req.ttbr.asid)
            if self.staged:
                self.req_q, self.hit_index = req, hit_index
                self.state = MMUState.LOOKUP
            else:
                resp, start = self._look_up(req, hit_index)
        elif state == MMUState.LOOKUP:
            self.state = MMUState.IDLE
            resp, start = self._look_up(self.req_q, self.hit_index)
        elif state == MMUState.RETRY:
            start = self.req_q
            self.stale = 0
            self.state = MMUState.WALK

        result = walker.tick(start is not None, start, inp.mem_req_ready,
                             inp.mem_resp_valid, inp.mem_resp)

        if state == MMUState.WALK:
            if inv is not None:
                self.stale |= self._stale_bits(inv)
            if result is not None and self.staged:
                self.result_q = result
                self.state = MMUState.FINISH
            elif result is not None:
                resp, fill, fill_index = self._finish(result)
        elif state == MMUState.FINISH:
            # An invalidate now is not matched here: the TLB drops a fill it names.
            resp, fill, fill_index = self._finish(self.result_q)

        tlb.tick(fill=fill, fill_index=fill_index, inv=inv)
        self.resp = resp
