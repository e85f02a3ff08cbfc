"""The MMU with its ports gathered into one input bus and one output bus.

cocotb pays per signal access, so the lockstep bench reads every observable with one read
and drives every input with one write. The bus layouts are built from the same
``lib.data`` layouts as the ports, so the model packs them with ``sw_model.codec``.
"""
from amaranth.hdl import Module, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hdl.mmu import MMU
from hdl.ports import AccessRequest, AccessResponse, InvalidateRequest, MemRequest

INPUT_BUS = data.StructLayout({
    "req_valid": 1,
    "req": AccessRequest,
    "inv_valid": 1,
    "inv": InvalidateRequest,
    "mem_req_ready": 1,
    "mem_resp_valid": 1,
    "mem_resp": 64,
})


def output_bus(tlb_entries):
    """Every output port, plus the TLB's valid bits and round-robin pointer (internal
    observables, so that a wrong fill, invalidate or replacement choice shows up in the
    cycle it happens)."""
    return data.StructLayout({
        "req_ready": 1,
        "resp_valid": 1,
        "resp": AccessResponse,
        "inv_ready": 1,
        "inv_ack": 1,
        "mem_req_valid": 1,
        "mem_req": MemRequest,
        "tlb_valid": tlb_entries,
        "tlb_rr": range(tlb_entries),
    })


class BusTop(wiring.Component):
    def __init__(self, **mmu_params):
        self.mmu = MMU(**mmu_params)
        super().__init__({"i_bus": In(INPUT_BUS),
                          "o_bus": Out(output_bus(self.mmu.tlb.entries))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mmu = mmu = self.mmu
        i, o = self.i_bus, self.o_bus
        m.d.comb += [
            mmu.req.valid.eq(i.req_valid),
            mmu.req.payload.eq(i.req),
            mmu.inv.valid.eq(i.inv_valid),
            mmu.inv.payload.eq(i.inv),
            mmu.mem_req.ready.eq(i.mem_req_ready),
            mmu.mem_resp.valid.eq(i.mem_resp_valid),
            mmu.mem_resp.payload.data.eq(i.mem_resp),
            o.req_ready.eq(mmu.req.ready),
            o.resp_valid.eq(mmu.resp.valid),
            # Payloads are compared only while valid: zero them otherwise.
            o.resp.eq(Mux(mmu.resp.valid, mmu.resp.payload.as_value(), 0)),
            o.inv_ready.eq(mmu.inv.ready),
            o.inv_ack.eq(mmu.inv_ack),
            o.mem_req_valid.eq(mmu.mem_req.valid),
            o.mem_req.eq(Mux(mmu.mem_req.valid, mmu.mem_req.payload.as_value(), 0)),
            o.tlb_valid.eq(mmu.tlb.valid),
            o.tlb_rr.eq(mmu.tlb.rr),
        ]
        return m
