"""Fully associative TLB with a combinational lookup, a fill port and an invalidate port.

Replacement: a fill takes the lowest-numbered invalid entry; when every entry is valid it
takes the entry under a round-robin pointer, which then advances. A fill may instead name
its entry (the MMU does this to replace a clean entry after a hardware dirty update).
The model twin is ``sw_model.tlb_ref.TLBRef``.
"""
from functools import reduce
from operator import or_

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .descriptor import PageSize, same_region, vpn_mask_of
from .ports import InvalidateRequest

MIN_ENTRIES = 4
MAX_ENTRIES = 64
#: ASID widths an MMU can match (ID_AA64MMFR0_EL1.ASIDBits: 8 or 16).
ASID_BITS = (8, 16)


class TLBEntry(data.Struct):
    """A cached translation. ``vpn`` and ``ppn`` are aligned to ``size``."""
    vpn: 36           # VA[47:12]
    asid: 16
    ng: 1
    size: PageSize
    ppn: 36           # PA[47:12]
    ap1: 1
    ap2: 1
    uxn: 1
    pxn: 1
    dbm: 1


def lowest_set(bits):
    """One-hot of the lowest set bit of ``bits`` (0 if none): each bit tests the ones
    below it at once, not through a chain of priority multiplexers (a long path on an
    FPGA)."""
    return Cat(bits[i] & ~bits[:i].any() for i in range(len(bits)))


def check_entries(entries):
    """Validate the TLB size parameter; shared by the RTL and the model."""
    if not isinstance(entries, int) or isinstance(entries, bool):
        raise ValueError(f"TLB entries must be an integer, not {entries!r}")
    if not MIN_ENTRIES <= entries <= MAX_ENTRIES:
        raise ValueError(f"TLB entries must be between {MIN_ENTRIES} and {MAX_ENTRIES}, "
                         f"not {entries}")
    return entries


def check_asid_bits(asid_bits):
    """Validate the ASID width; shared by the RTL and the model."""
    if asid_bits not in ASID_BITS or isinstance(asid_bits, bool):
        raise ValueError(f"asid_bits must be 8 or 16, not {asid_bits!r}")
    return asid_bits


def invalidate_names(req, vpn, asid, ng, size, tlbi_range=True, asid_bits=16):
    """Whether invalidate ``req`` names an entry with these fields (``vpn`` aligned to
    ``size``). Shared by the TLB and by the MMU's stale-walk check. Without
    ``tlbi_range`` (no FEAT_TLBIRANGE) a range form is taken as covering every VA: it
    invalidates more than asked, never less, and needs no comparator. ASIDs match on
    their low ``asid_bits`` (with 8, the upper ones are ignored, as TCR_EL1.AS=0 does)."""
    mask = vpn_mask_of(size)
    low = ~mask & ((1 << 36) - 1)
    has_va = same_region(req.va, vpn, size)
    in_range = (vpn < req.end) & ((vpn | low) >= req.va) if tlbi_range else 1
    same_asid = asid[:asid_bits] == req.asid[:asid_bits]
    asid_ok = ~ng | same_asid
    return Array([
        1,                                  # VMALLE1
        ng & same_asid,                     # ASIDE1
        has_va & asid_ok,                   # VAE1
        has_va & asid_ok,                   # VALE1 (no walk cache: same as VAE1)
        has_va,                             # VAAE1
        has_va,                             # VAALE1
        in_range & asid_ok,                 # RVAE1
        in_range,                           # RVAAE1
    ])[req.op.as_value()]


class TLB(wiring.Component):
    """Ports:

    - ``lookup_vpn``/``lookup_asid`` → ``hit``, ``hit_index``, ``hit_entry`` (same cycle),
      and ``hit_onehot`` when staged;
    - ``fill_en`` writes ``fill_entry`` at the next edge into ``fill_index`` if
      ``fill_named``, else into the replacement victim;
    - ``inv`` (always ready): the matching entries are invalid from the next edge on, and
      ``inv_ack`` pulses in that cycle to say so.

    ``tlbi_range``: range invalidates compare their bounds; ``asid_bits``: the ASID bits
    that count (see ``invalidate_names``).
    ``ppn_bits``: the stored width of ``ppn`` (the MMU's walker never installs a wider
    one; the bits above read as 0).
    ``staged``: the lookup takes two cycles: the entries are matched against
    ``lookup_vpn``/``lookup_asid`` in one cycle and ``hit``, ``hit_index`` and
    ``hit_entry`` say what matched in the next (from a register of the winning entry);
    and an invalidate in the cycle of a fill that names the filled entry leaves it
    invalid (unstaged, the fill wins: the MMU never fills an entry an invalidate of
    that cycle names).
    """

    def __init__(self, entries=16, *, tlbi_range=True, asid_bits=16, ppn_bits=36,
                 staged=False):
        self.entries = check_entries(entries)
        self.asid_bits = check_asid_bits(asid_bits)
        if not isinstance(ppn_bits, int) or isinstance(ppn_bits, bool) \
                or not 1 <= ppn_bits <= 36:
            raise ValueError(f"ppn_bits must be an integer from 1 to 36, not {ppn_bits!r}")
        self.tlbi_range = bool(tlbi_range)
        self.ppn_bits = ppn_bits
        self.staged = bool(staged)
        super().__init__({
            "lookup_vpn": In(36),
            "lookup_asid": In(16),
            "hit": Out(1),
            "hit_index": Out(range(self.entries)),
            "hit_entry": Out(TLBEntry),
            "hit_onehot": Out(self.entries),
            "fill_en": In(1),
            "fill_named": In(1),
            "fill_index": In(range(self.entries)),
            "fill_entry": In(TLBEntry),
            "inv": In(stream.Signature(InvalidateRequest, always_ready=True)),
            "inv_ack": Out(1),
        })
        self.valid = Signal(self.entries)
        self.store = Array(Signal(TLBEntry, name=f"entry{i}") for i in range(self.entries))
        self.rr = Signal(range(self.entries))

    def elaborate(self, platform):
        m = Module()

        # Lookup: the lowest-numbered matching entry wins.
        matches = []
        for i, e in enumerate(self.store):
            matches.append(self.valid[i]
                           & same_region(self.lookup_vpn, e.vpn, e.size.as_value())
                           & (~e.ng | (e.asid[:self.asid_bits]
                                       == self.lookup_asid[:self.asid_bits])))
        if self.staged:
            # The winner is kept one-hot, so the next cycle selects its entry with an
            # AND-OR of the entries rather than a priority chain.
            first_q = Signal(self.entries)
            m.d.sync += first_q.eq(lowest_set(Cat(matches)))
            index_bits, entry_bits = len(self.hit_index), len(self.hit_entry.as_value())
            m.d.comb += [
                self.hit_onehot.eq(first_q),
                self.hit.eq(first_q.any()),
                self.hit_index.eq(reduce(or_, (first_q[i].replicate(index_bits) & i
                                               for i in range(self.entries)))),
                self.hit_entry.eq(reduce(or_, (first_q[i].replicate(entry_bits)
                                               & self.store[i].as_value()
                                               for i in range(self.entries)))),
            ]
        else:
            for i in reversed(range(self.entries)):
                with m.If(matches[i]):
                    m.d.comb += [self.hit.eq(1), self.hit_index.eq(i),
                                 self.hit_entry.eq(self.store[i])]

        # Replacement victim: lowest invalid entry, else the round-robin pointer; the
        # slot a fill writes, one-hot.
        any_invalid = ~self.valid.all()
        fill_slot = Signal(self.entries)
        m.d.comb += fill_slot.eq(Mux(self.fill_named, 1 << self.fill_index,
                                     Mux(any_invalid, lowest_set(~self.valid),
                                         1 << self.rr)))
        with m.If(self.fill_en & ~self.fill_named & ~any_invalid):
            m.d.sync += self.rr.eq(Mux(self.rr == self.entries - 1, 0, self.rr + 1))

        # Invalidate: which entries the operation names.
        inv_hits = Signal(self.entries)
        for i, e in enumerate(self.store):
            m.d.comb += inv_hits[i].eq(self.inv.valid & invalidate_names(
                self.inv.payload, e.vpn, e.asid, e.ng, e.size.as_value(), self.tlbi_range,
                self.asid_bits))
        m.d.sync += self.inv_ack.eq(self.inv.valid)

        fill_kept = 1
        if self.staged:
            fill_kept = ~(self.inv.valid & invalidate_names(
                self.inv.payload, self.fill_entry.vpn, self.fill_entry.asid,
                self.fill_entry.ng, self.fill_entry.size.as_value(), self.tlbi_range,
                self.asid_bits))
        for i in range(self.entries):
            filled = self.fill_en & fill_slot[i]
            with m.If(filled):
                m.d.sync += [self.store[i].eq(self.fill_entry), self.valid[i].eq(fill_kept)]
                m.d.sync += self.store[i].ppn[self.ppn_bits:].eq(0)
            with m.Elif(inv_hits[i]):
                m.d.sync += self.valid[i].eq(0)
        return m
