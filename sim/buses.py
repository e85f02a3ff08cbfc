"""The bus-wrapped MMU's two buses as integers: the input bus built from an environment's
inputs, the output bus packed from the model's outputs, split for an environment, and
compared field by field."""
from sim.bus_top import INPUT_BUS, output_bus
from sw_model.codec import Codec


class InputBus:
    def __init__(self):
        codec = Codec(INPUT_BUS)
        self.off = {name: codec.field(name)[0] for name in
                    ("req_valid", "req", "inv_valid", "inv", "mem_req_ready",
                     "mem_resp_valid", "mem_resp")}

    def pack(self, inp, req, inv):
        """Integer of the bus for MMUInputs ``inp``; ``req``/``inv`` are the packed
        payloads (used only while valid)."""
        off = self.off
        value = inp.mem_req_ready << off["mem_req_ready"]
        if inp.req_valid:
            value |= 1 << off["req_valid"] | req << off["req"]
        if inp.inv_valid:
            value |= 1 << off["inv_valid"] | inv << off["inv"]
        if inp.mem_resp_valid:
            value |= 1 << off["mem_resp_valid"] | inp.mem_resp << off["mem_resp"]
        return value


class OutputBus:
    def __init__(self, tlb_entries):
        self.codec = Codec(output_bus(tlb_entries))
        off = {name: self.codec.field(name)[0] for name in
               ("req_ready", "resp_valid", "resp", "inv_ready", "inv_ack", "mem_req_valid",
                "mem_req", "tlb_valid", "tlb_rr")}
        self.off = off
        self.resp_mask = self.codec.field("resp")[1]
        self.mem_req_mask = self.codec.field("mem_req")[1]

    def pack(self, outputs):
        """Integer of the bus for the model's ``MMURef.outputs()`` tuple."""
        req_ready, resp, inv_ready, inv_ack, mem_req, tlb_valid, tlb_rr = outputs
        off = self.off
        value = (req_ready << off["req_ready"] | inv_ready << off["inv_ready"]
                 | inv_ack << off["inv_ack"] | tlb_valid << off["tlb_valid"]
                 | tlb_rr << off["tlb_rr"])
        if resp is not None:
            value |= 1 << off["resp_valid"] | resp << off["resp"]
        if mem_req is not None:
            value |= 1 << off["mem_req_valid"] | mem_req << off["mem_req"]
        return value

    def split(self, value):
        """(req_ready, mem_req or None, resp or None): what an environment reads."""
        off = self.off
        mem_req = resp = None
        if value >> off["mem_req_valid"] & 1:
            mem_req = value >> off["mem_req"] & self.mem_req_mask
        if value >> off["resp_valid"] & 1:
            resp = value >> off["resp"] & self.resp_mask
        return value >> off["req_ready"] & 1, mem_req, resp

    def diff(self, expected, actual):
        """[(signal, expected, actual)] for every leaf field that differs."""
        return field_differences(self.codec.unpack(expected), self.codec.unpack(actual))


def field_differences(expected, actual):
    """[(dotted field name, expected, actual)] for every leaf field of two unpacked
    values that differs."""
    out = []
    _diff(expected, actual, "", out)
    return out


def _diff(exp, act, prefix, out):
    for name, e in exp._asdict().items():
        a = getattr(act, name)
        if hasattr(e, "_asdict"):
            _diff(e, a, f"{prefix}{name}.", out)
        elif e != a:
            out.append((prefix + name, e, a))
