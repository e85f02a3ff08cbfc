"""The multi-core system with its ports gathered into one input bus and one output bus,
for the cocotb bench (one read and one write per cycle), and the packing of those buses
on the Python side. Payloads are zeroed while their valid is low."""
from amaranth.hdl import Module, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hdl.fabric import GEN_BITS, FabricRequest
from hdl.ports import AccessRequest, AccessResponse, MemRequest
from hdl.system import System
from sw_model.codec import Codec


def input_bus(cpus, devices):
    fields = {}
    for kind, count in (("cpu", cpus), ("dev", devices)):
        for k in range(count):
            fields[f"{kind}{k}_req_valid"] = 1
            fields[f"{kind}{k}_req"] = AccessRequest
    for i in range(1 + cpus):
        fields[f"src{i}_valid"] = 1
        fields[f"src{i}"] = FabricRequest
    fields.update(irq_enable=cpus, host_mem_valid=1, host_mem=MemRequest, mem_req_ready=1,
                  mem_resp_valid=1, mem_resp=64)
    return data.StructLayout(fields)


def output_bus(cpus, devices):
    fields = {}
    for kind, count in (("cpu", cpus), ("dev", devices)):
        for k in range(count):
            fields[f"{kind}{k}_req_ready"] = 1
            fields[f"{kind}{k}_resp_valid"] = 1
            fields[f"{kind}{k}_resp"] = AccessResponse
    fields.update(src_ready=1 + cpus, done=1 + cpus, host_mem_ready=1, host_resp_valid=1,
                  host_resp=64, mem_req_valid=1, mem_req=MemRequest, completed_gen=GEN_BITS)
    return data.StructLayout(fields)


class SystemBusTop(wiring.Component):
    def __init__(self, **system_params):
        self.system = System(**system_params)
        cpus, devices = self.system.cpus, self.system.devices
        super().__init__({"i_bus": In(input_bus(cpus, devices)),
                          "o_bus": Out(output_bus(cpus, devices))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.system = s = self.system
        i, o = self.i_bus, self.o_bus
        for kind, reqs, resps, count in (("cpu", "cpu_req", "cpu_resp", s.cpus),
                                         ("dev", "dev_req", "dev_resp", s.devices)):
            for k in range(count):
                req, resp = getattr(s, reqs)[k], getattr(s, resps)[k]
                m.d.comb += [
                    req.valid.eq(i[f"{kind}{k}_req_valid"]),
                    req.payload.eq(i[f"{kind}{k}_req"]),
                    o[f"{kind}{k}_req_ready"].eq(req.ready),
                    o[f"{kind}{k}_resp_valid"].eq(resp.valid),
                    o[f"{kind}{k}_resp"].eq(Mux(resp.valid, resp.payload.as_value(), 0)),
                ]
        for k in range(1 + s.cpus):
            m.d.comb += [s.src[k].valid.eq(i[f"src{k}_valid"]),
                         s.src[k].payload.eq(i[f"src{k}"]),
                         o.src_ready[k].eq(s.src[k].ready)]
        m.d.comb += [
            s.irq_enable.eq(i.irq_enable),
            s.host_mem.valid.eq(i.host_mem_valid),
            s.host_mem.payload.eq(i.host_mem),
            s.mem_req.ready.eq(i.mem_req_ready),
            s.mem_resp.valid.eq(i.mem_resp_valid),
            s.mem_resp.payload.data.eq(i.mem_resp),
            o.done.eq(s.done),
            o.host_mem_ready.eq(s.host_mem.ready),
            o.host_resp_valid.eq(s.host_mem_resp.valid),
            o.host_resp.eq(Mux(s.host_mem_resp.valid, s.host_mem_resp.payload.as_value(), 0)),
            o.mem_req_valid.eq(s.mem_req.valid),
            o.mem_req.eq(Mux(s.mem_req.valid, s.mem_req.payload.as_value(), 0)),
            o.completed_gen.eq(s.completed_gen),
        ]
        return m


class SystemBuses:
    """Python side of the two buses."""

    def __init__(self, cpus, devices):
        self.cpus, self.devices = cpus, devices
        self.inputs = Codec(input_bus(cpus, devices))
        self.outputs = Codec(output_bus(cpus, devices))

    def pack_outputs(self, outputs):
        """Integer of the output bus for ``SystemRef.outputs()``."""
        cpus, devs, src_ready, done, host_ready, host_resp, mem_req, gen = outputs
        fields = dict(src_ready=src_ready, done=done, host_mem_ready=host_ready,
                      host_resp_valid=int(host_resp is not None), host_resp=host_resp or 0,
                      mem_req_valid=int(mem_req is not None), mem_req=mem_req or 0,
                      completed_gen=gen)
        for kind, ports in (("cpu", cpus), ("dev", devs)):
            for k, (ready, resp) in enumerate(ports):
                fields[f"{kind}{k}_req_ready"] = ready
                fields[f"{kind}{k}_resp_valid"] = int(resp is not None)
                fields[f"{kind}{k}_resp"] = resp or 0
        return self.outputs.pack(**fields)

    def pack_inputs(self, inp, held):
        """Integer of the input bus for SystemInputs ``inp``; ``held`` holds the packed
        access payloads by ("cpu"|"dev", index)."""
        fields = dict(irq_enable=inp.irq_enable, host_mem_valid=inp.host_mem_valid,
                      host_mem=inp.host_mem if inp.host_mem_valid else 0,
                      mem_req_ready=inp.mem_req_ready, mem_resp_valid=inp.mem_resp_valid,
                      mem_resp=inp.mem_resp if inp.mem_resp_valid else 0)
        for kind, reqs in (("cpu", inp.cpu_req), ("dev", inp.dev_req)):
            for k, req in enumerate(reqs):
                if req is not None:
                    fields[f"{kind}{k}_req_valid"] = 1
                    fields[f"{kind}{k}_req"] = held[(kind, k)]
        for k in range(1 + self.cpus):
            if inp.src_valid >> k & 1:
                fields[f"src{k}_valid"] = 1
                fields[f"src{k}"] = inp.src_payload[k]
        return self.inputs.pack(**fields)

    def diff(self, expected, actual):
        from sim.buses import _diff
        out = []
        _diff(self.outputs.unpack(expected), self.outputs.unpack(actual), "", out)
        return out
