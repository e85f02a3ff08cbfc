"""Cycle-matched model of ``hdl.tlb.TLB``: same lookup priority, same replacement."""
from dataclasses import dataclass

from hdl.descriptor import PAGE_LEVEL, PageSize, vpn_mask
from hdl.ports import InvalidateOp
from hdl.tlb import check_entries

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


class TLBRef:
    def __init__(self, entries=16):
        self.entries = check_entries(entries)
        self.valid = 0                     # bit i: entry i is valid (as in the RTL)
        self.store = [None] * self.entries
        self.rr = 0
        self.inv_ack = 0

    def lookup(self, vpn, asid):
        """Index of the lowest-numbered matching entry, or None."""
        valid = self.valid
        for i, e in enumerate(self.store):
            if (valid >> i & 1 and (vpn & MASK[e.size]) == e.vpn
                    and (not e.ng or e.asid == asid)):
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
        hits = []
        op = InvalidateOp(inv.op)
        for i, e in enumerate(self.store):
            if e is None:
                continue    # never filled: its valid bit is already clear
            mask = MASK[e.size]
            has_va = (inv.va & mask) == e.vpn
            in_range = e.vpn < inv.end and (e.vpn | (~mask & VPN_BITS)) >= inv.va
            asid_ok = not e.ng or e.asid == inv.asid
            if op == InvalidateOp.VMALLE1:
                hit = True
            elif op == InvalidateOp.ASIDE1:
                hit = e.ng and e.asid == inv.asid
            elif op in (InvalidateOp.VAE1, InvalidateOp.VALE1):
                hit = has_va and asid_ok
            elif op in (InvalidateOp.VAAE1, InvalidateOp.VAALE1):
                hit = has_va
            elif op == InvalidateOp.RVAE1:
                hit = in_range and asid_ok
            else:   # RVAAE1
                hit = in_range
            if hit:
                hits.append(i)
        return hits

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
