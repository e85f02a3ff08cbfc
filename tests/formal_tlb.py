"""Formal harness of the TLB: after any invalidate, a lookup of anything it names misses.

The invalidate, fills and the probe lookup are free inputs. The properties are written
with the lookup port's meaning (an entry covering the VA, of the ASID or global), not
with the TLB's own invalidate-matching logic, so they check that logic rather than
restate it. Only the assumption about a fill in the cycle of an invalidate uses that
logic, and a fill it wrongly lets through makes the probe assertion fail."""
from amaranth.hdl import Assert, Assume, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hdl.descriptor import vpn_mask_of
from hdl.ports import InvalidateOp, InvalidateRequest
from hdl.tlb import TLB, TLBEntry, invalidate_names


class TLBInvalidateProperties(wiring.Component):
    def __init__(self, entries=4):
        self.entries = entries
        super().__init__({
            "inv_valid": In(1), "inv": In(InvalidateRequest),
            "fill_en": In(1), "fill_named": In(1), "fill_index": In(range(entries)),
            "fill_entry": In(TLBEntry), "probe_vpn": In(36), "probe_asid": In(16),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.tlb = tlb = TLB(self.entries)
        m.d.comb += [
            tlb.inv.valid.eq(self.inv_valid), tlb.inv.payload.eq(self.inv),
            tlb.fill_en.eq(self.fill_en), tlb.fill_named.eq(self.fill_named),
            tlb.fill_index.eq(self.fill_index), tlb.fill_entry.eq(self.fill_entry),
            tlb.lookup_vpn.eq(self.probe_vpn), tlb.lookup_asid.eq(self.probe_asid),
        ]
        # What the MMU guarantees of its fills: a real size, an aligned page number, and
        # never an entry named by the invalidate of the same cycle.
        fill = self.fill_entry
        m.d.comb += Assume(~(self.fill_en & self.inv_valid & invalidate_names(
            self.inv, fill.vpn, fill.asid, fill.ng, fill.size.as_value())))
        m.d.comb += Assume(fill.size.as_value() <= 5)
        m.d.comb += Assume((fill.vpn & ~vpn_mask_of(fill.size.as_value())
                            & ((1 << 36) - 1)) == 0)

        last = Signal(InvalidateRequest)
        checking = Signal()
        m.d.sync += [checking.eq(self.inv_valid), last.eq(self.inv)]
        m.d.comb += Assert(tlb.inv_ack == checking)

        hit, e = tlb.hit, tlb.hit_entry
        probe_va_named = Mux(
            (last.op == InvalidateOp.RVAE1) | (last.op == InvalidateOp.RVAAE1),
            (self.probe_vpn >= last.va) & (self.probe_vpn < last.end),
            self.probe_vpn == last.va)
        same_asid_or_global = ~e.ng | (e.asid == last.asid)
        with m.If(checking):
            with m.Switch(last.op):
                with m.Case(InvalidateOp.VMALLE1):
                    m.d.comb += Assert(~hit)
                with m.Case(InvalidateOp.ASIDE1):
                    m.d.comb += Assert(~(hit & e.ng & (e.asid == last.asid)))
                with m.Case(InvalidateOp.VAE1, InvalidateOp.VALE1, InvalidateOp.RVAE1):
                    m.d.comb += Assert(~(hit & probe_va_named & same_asid_or_global))
                with m.Case(InvalidateOp.VAAE1, InvalidateOp.VAALE1, InvalidateOp.RVAAE1):
                    m.d.comb += Assert(~(hit & probe_va_named))
        return m
