"""Cycle-matched model of ``hdl.tlb.TLB``: same lookup priority, same replacement."""
from dataclasses import dataclass

from hdl.descriptor import PAGE_LEVEL, PageSize, vpn_mask
from hdl.ports import InvalidateOp
from hdl.tlb import check_asid_bits, check_entries

MASK = [vpn_mask(PageSize(min(code, 5))) for code in range(8)]
VPN_BITS = (1 << 36) - 1


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached translation (the fields of ``hdl.tlb.TLBEntry``)."""
    vpn: int
    asid: int
    ng: int
    size: int
    ppn: int
    ap1: int
    ap2: int
    uxn: int
    pxn: int
    dbm: int

    @property
    def level(self):
        return PAGE_LEVEL[PageSize(self.size)]

    def physical_address(self, va):
        mask = MASK[self.size]
        return ((((self.ppn & mask) | ((va >> 12) & VPN_BITS & ~mask)) << 12)
                | (va & 0xFFF))


_OP = InvalidateOp
_RANGE_OPS = {_OP.RVAE1.value, _OP.RVAAE1.value}
_ANY_ASID_OPS = {_OP.VAAE1.value, _OP.VAALE1.value, _OP.RVAAE1.value}


def invalidate_names(inv, vpn, asid, ng, size, tlbi_range=True, asid_bits=16):
    """``hdl.tlb.invalidate_names``: whether ``inv`` names an entry with these fields
    (without ``tlbi_range``, a range form covers every VA; ASIDs match on their low
    ``asid_bits``)."""
    op = inv.op
    if op == _OP.VMALLE1.value:
        return True
    same_asid = not (asid ^ inv.asid) & ((1 << asid_bits) - 1)
    if op == _OP.ASIDE1.value:
        return bool(ng) and same_asid
    mask = MASK[size]
    if op in _RANGE_OPS and not tlbi_range:
        va_ok = True
    elif op in _RANGE_OPS:
        va_ok = vpn < inv.end and (vpn | (~mask & VPN_BITS)) >= inv.va
    else:
        va_ok = not (inv.va ^ vpn) & mask
    if op in _ANY_ASID_OPS:
        return va_ok
    return va_ok and (not ng or same_asid)


class TLBRef:
    def __init__(self, entries=16, *, tlbi_range=True, asid_bits=16, staged=False):
        self.entries = check_entries(entries)
        self.staged = bool(staged)
        self.tlbi_range = bool(tlbi_range)
        self.asid_bits = check_asid_bits(asid_bits)
        self._asid_mask = (1 << asid_bits) - 1
        self.valid = 0                     # bit i: entry i is valid (as in the RTL)
        self.store = [None] * self.entries
        self.rr = 0
        self.inv_ack = 0

    def lookup(self, vpn, asid):
        """Index of the lowest-numbered matching entry, or None."""
        valid = self.valid
        for i, e in enumerate(self.store):
            if (valid >> i & 1 and not (vpn ^ e.vpn) & MASK[e.size]
                    and (not e.ng or not (e.asid ^ asid) & self._asid_mask)):
                return i
        return None

    @property
    def full(self):
        return self.valid == (1 << self.entries) - 1

    def victim(self):
        for i in range(self.entries):
            if not self.valid >> i & 1:
                return i
        return self.rr

    def invalidate_hits(self, inv):
        """Indices of the entries that invalidate ``inv`` names (as in the RTL)."""
        # An entry never filled has its valid bit clear already.
        return [i for i, e in enumerate(self.store)
                if e is not None and invalidate_names(inv, e.vpn, e.asid, e.ng, e.size,
                                                      self.tlbi_range, self.asid_bits)]

    def tick(self, fill=None, fill_index=None, inv=None):
        """One clock edge. ``fill`` is an Entry to write into ``fill_index`` (or into the
        victim when None); ``inv`` an invalidate request accepted this cycle."""
        inv_hits = self.invalidate_hits(inv) if inv is not None else ()
        self.inv_ack = int(inv is not None)
        slot = None
        if fill is not None:
            if fill_index is None:
                slot = self.victim()
                if self.full:
                    self.rr = 0 if self.rr == self.entries - 1 else self.rr + 1
            else:
                slot = fill_index
        for i in inv_hits:
            self.valid &= ~(1 << i)
        if slot is not None:
            self.store[slot] = fill
            self.valid |= 1 << slot
            # Staged, an invalidate of the fill's cycle that names it leaves it invalid.
            if self.staged and inv is not None and invalidate_names(
                    inv, fill.vpn, fill.asid, fill.ng, fill.size, self.tlbi_range,
                    self.asid_bits):
                self.valid &= ~(1 << slot)
