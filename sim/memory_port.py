"""The memory end of the walker's channels, shared by the environments: one request in
flight, performed (read or compare-and-swap) in the cycle its response is given, so a
host write landing during the latency is seen."""
from hdl.ports import MemRequest
from sw_model.codec import Codec

MEM_REQUEST = Codec(MemRequest)


class MemoryPort:
    def __init__(self, memory, stats):
        self.memory, self.stats = memory, stats
        stats.setdefault("mem_writes", 0)
        self.pending = None            # (due cycle, MemRequest fields)

    def respond(self, cycle, inp):
        """Set this cycle's response inputs of ``inp``."""
        inp.mem_resp_valid = 0
        if self.pending is None or self.pending[0] != cycle:
            return
        req = self.pending[1]
        if req.cas:
            inp.mem_resp = self.memory.cas(req.addr, req.expected, req.desired)
            self.stats["mem_cas"] += 1
            self.stats["mem_cas_failed"] += inp.mem_resp != req.expected
        elif req.write:
            inp.mem_resp = self.memory.read(req.addr)
            self.memory.write(req.addr, req.desired)
            self.stats["mem_writes"] += 1
        else:
            inp.mem_resp = self.memory.read(req.addr)
            self.stats["mem_reads"] += 1
        inp.mem_resp_valid = 1
        self.pending = None

    def accept(self, cycle, mem_req, latency):
        """Take the packed request offered (and accepted) this cycle; returns its fields."""
        req = MEM_REQUEST.unpack(mem_req)
        self.pending = (cycle + latency, req)
        return req
