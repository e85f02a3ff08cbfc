"""Cycle-matched model of ``hdl.walker.PageTableWalker``."""
from dataclasses import dataclass

from hdl.descriptor import LEVEL_INDEX_SHIFT, Descriptor, FaultKind, leaf_size
from hdl.ports import MemRequest
from hdl.walker import WalkState, check_walker_params

from .codec import Codec
from .permissions import check_permission
from .tlb_ref import MASK, VPN_BITS, Entry

DESCRIPTOR = Codec(Descriptor)
MEM_REQUEST = Codec(MemRequest)
AF_BIT = 1 << 10
AP2_BIT = 1 << 7


@dataclass(slots=True)
class WalkResult:
    """What the walker says in its ``done`` cycle."""
    fault: FaultKind
    level: int
    entry: Entry | None       # set when the result may be installed in the TLB


class WalkerRef:
    def __init__(self, *, pa_bits=40, ha=True, hd=True):
        self.pa_bits, self.ha, self.hd = check_walker_params(pa_bits, ha, hd)
        self.req = None
        self.level = 0
        self.table = 0
        self.expected = 0
        self.desired = 0
        self.state = WalkState.IDLE

    @property
    def busy(self):
        return self.state != WalkState.IDLE

    @property
    def state(self):
        return self._state

    @state.setter
    def state(self, state):
        # The request offered in READ and CAS depends only on registers set on the way in,
        # so it is packed once per state change rather than every cycle.
        self._state = state
        self.mem_request = None
        if state in (WalkState.READ, WalkState.CAS):
            self.mem_request = MEM_REQUEST.pack(
                addr=self.descriptor_address(), cas=int(state == WalkState.CAS),
                expected=self.expected, desired=self.desired)

    def descriptor_address(self):
        index = (self.req.va >> LEVEL_INDEX_SHIFT[self.level]) & 0x1FF
        return (self.table << 12) | (index << 3)

    def tick(self, start, walk_req, mem_req_ready, mem_resp_valid, mem_resp_data):
        """One clock edge; returns the WalkResult if the walk is done this cycle."""
        state = self.state
        if state == WalkState.IDLE and start:
            self.req, self.level, self.table = walk_req, 0, walk_req.ttbr.baddr
            self.state = WalkState.READ
        elif state == WalkState.READ and mem_req_ready:
            self.state = WalkState.READ_WAIT
        elif state == WalkState.CAS and mem_req_ready:
            self.state = WalkState.CAS_WAIT
        elif state == WalkState.READ_WAIT and mem_resp_valid:
            return self._descriptor(mem_resp_data)
        elif state == WalkState.CAS_WAIT and mem_resp_valid:
            if mem_resp_data == self.expected:
                self.state = WalkState.IDLE
                entry = self._leaf_entry(DESCRIPTOR.unpack(self.expected),
                                         ap2=(self.desired >> 7) & 1)
                return WalkResult(FaultKind.NONE, self.level, entry)
            self.level, self.table = 0, self.req.ttbr.baddr
            self.state = WalkState.READ
        return None

    def _descriptor(self, data):
        """Decode the descriptor read at the current level (READ_WAIT, response valid)."""
        d = DESCRIPTOR.unpack(data)
        level = self.level
        is_table = d.valid and d.type and level != 3
        is_leaf = d.valid and (d.type if level == 3 else (level != 0 and not d.type))
        too_wide = (d.addr >> (self.pa_bits - 12)) != 0
        if is_table and not too_wide:
            self.level, self.table = level + 1, d.addr
            self.state = WalkState.READ
            return None
        self.state = WalkState.IDLE
        if not is_table and not is_leaf:
            return WalkResult(FaultKind.TRANSLATION, level, None)
        if too_wide:
            return WalkResult(FaultKind.ADDRESS_SIZE, level, None)
        if not d.af and not self.ha:
            return WalkResult(FaultKind.ACCESS_FLAG, level, None)
        req = self.req
        fault, needs_dirty = check_permission(d.ap1, d.ap2, d.uxn, d.pxn, d.dbm,
                                              req.write, req.exec, req.el0, self.hd)
        if fault:
            return WalkResult(FaultKind.PERMISSION, level,
                              self._leaf_entry(d) if d.af else None)
        if not d.af or needs_dirty:
            self.expected = data
            self.desired = (data | AF_BIT) & ~(AP2_BIT if needs_dirty else 0)
            self.state = WalkState.CAS
            return None
        return WalkResult(FaultKind.NONE, level, self._leaf_entry(d))

    def _leaf_entry(self, d, ap2=None):
        size = leaf_size(self.level, d.contiguous).value
        mask = MASK[size]
        ap2 = d.ap2 if ap2 is None else ap2
        return Entry(vpn=(self.req.va >> 12) & VPN_BITS & mask, asid=self.req.ttbr.asid,
                     ng=d.ng, size=size, ppn=d.addr & mask, ap1=d.ap1, ap2=ap2,
                     uxn=d.uxn, pxn=d.pxn, dbm=d.dbm)
