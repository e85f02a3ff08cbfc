"""The multi-core system with its ports gathered into one input bus and one output bus,
for the cocotb bench (one read and one write per cycle), and the packing of those buses
on the Python side. Payloads are zeroed while their valid is low."""
from amaranth.hdl import Module, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from hdl.fabric import GEN_BITS, FabricRequest
from hdl.ports import AccessRequest, AccessResponse, MemRequest
from hdl.system import System
from sim.buses import field_differences
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
        self._in = ins = {name: field.offset for name, field in self.inputs.layout}
        self._out = outs = {name: field.offset for name, field in self.outputs.layout}
        self._out_mask = {name: self.outputs.field(name)[1] for name in outs}
        # Access ports (CPUs, then devices) and the offsets of their fields.
        self._ports = [f"cpu{c}" for c in range(cpus)] + [f"dev{d}" for d in range(devices)]
        self._req = [(ins[f"{p}_req_valid"], ins[f"{p}_req"]) for p in self._ports]
        self._src = [(ins[f"src{k}_valid"], ins[f"src{k}"]) for k in range(1 + cpus)]
        self._resp = [(outs[f"{p}_req_ready"], outs[f"{p}_resp_valid"], outs[f"{p}_resp"])
                      for p in self._ports]
        self._resp_mask = self._out_mask[f"{self._ports[0]}_resp"]

    def pack_outputs(self, outputs):
        """Integer of the output bus for ``SystemRef.outputs()``."""
        cpus, devs, src_ready, done, host_ready, host_resp, mem_req, gen = outputs
        off = self._out
        value = (src_ready << off["src_ready"] | done << off["done"]
                 | host_ready << off["host_mem_ready"] | gen << off["completed_gen"])
        if host_resp is not None:
            value |= 1 << off["host_resp_valid"] | host_resp << off["host_resp"]
        if mem_req is not None:
            value |= 1 << off["mem_req_valid"] | mem_req << off["mem_req"]
        for (ready_at, valid_at, resp_at), (ready, resp) in zip(self._resp, cpus + devs):
            value |= ready << ready_at
            if resp is not None:
                value |= 1 << valid_at | resp << resp_at
        return value

    def split_outputs(self, value):
        """``SystemRef.outputs()`` read from the output bus's integer: what the plain
        bench, which has no model, gives the environment."""
        off, mask = self._out, self._out_mask

        def field(name):
            return value >> off[name] & mask[name]

        ports = [(value >> ready_at & 1,
                  value >> resp_at & self._resp_mask if value >> valid_at & 1 else None)
                 for ready_at, valid_at, resp_at in self._resp]
        return (ports[:self.cpus], ports[self.cpus:], field("src_ready"), field("done"),
                field("host_mem_ready"),
                field("host_resp") if field("host_resp_valid") else None,
                field("mem_req") if field("mem_req_valid") else None, field("completed_gen"))

    def pack_inputs(self, inp, req_payload):
        """Integer of the input bus for SystemInputs ``inp``; ``req_payload`` holds each
        access port's packed request (CPUs, then devices; None: not offered)."""
        off = self._in
        value = (inp.irq_enable << off["irq_enable"] | inp.mem_req_ready << off["mem_req_ready"])
        if inp.host_mem_valid:
            value |= 1 << off["host_mem_valid"] | inp.host_mem << off["host_mem"]
        if inp.mem_resp_valid:
            value |= 1 << off["mem_resp_valid"] | inp.mem_resp << off["mem_resp"]
        for (valid_at, req_at), payload in zip(self._req, req_payload):
            if payload is not None:
                value |= 1 << valid_at | payload << req_at
        src_valid = inp.src_valid
        for k, (valid_at, src_at) in enumerate(self._src):
            if src_valid >> k & 1:
                value |= 1 << valid_at | inp.src_payload[k] << src_at
        return value

    def diff(self, expected, actual):
        return field_differences(self.outputs.unpack(expected), self.outputs.unpack(actual))
