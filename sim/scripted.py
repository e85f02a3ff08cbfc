"""A scripted environment for directed tests: fixed page tables, accesses one at a time,
and actions tied to the walker's memory requests (to land a host write between a
descriptor read and its compare-and-swap, or an invalidate in the middle of a walk).

It has the same ``step`` interface as the random ``sim.stimulus.Environment``, is built
from plain JSON so the cocotb bench can rebuild it, and records what every access got.
"""
from hdl.ports import AccessRequest, InvalidateRequest
from sim.memory_port import MemoryPort
from sw_model.codec import Codec
from sw_model.memory import SparseMemory
from sw_model.mmu_ref import MMUInputs

ACCESS = Codec(AccessRequest)
INVALIDATE = Codec(InvalidateRequest)


class ScriptedEnvironment:
    """``script`` is a list of steps, each a dict:

    - ``{"access": {AccessRequest fields}}``: offer it, wait for the response;
    - ``{"invalidate": {InvalidateRequest fields}}``: offer it for one cycle;
    - ``{"write": [addr, value]}``: the host writes memory;
    - ``{"idle": n}``: n cycles with nothing offered.

    ``hooks`` are actions run when the memory accepts a request: each
    ``{"on": "read"|"cas", "addr": a, "nth": k, "do": step}`` fires at the k-th (from 1)
    such request to ``a``; ``do`` is a ``write`` or ``invalidate`` step. An invalidate is
    offered in the next cycle, or ``"delay": d`` cycles later.
    """

    def __init__(self, memory_words, script, hooks=(), *, pa_bits=40, latency=2):
        self.memory = SparseMemory(pa_bits)
        for addr, value in memory_words.items():
            self.memory.write(int(addr), value)
        self.script = list(script)
        self.hooks = [dict(h, seen=0) for h in hooks]
        self.latency = latency
        self.inputs = MMUInputs()
        self.position = 0
        self.waiting = False        # an access was accepted, its response not yet seen
        self.offered = False        # an access is being offered
        self.idle = 0
        self.pending_invalidates = []    # (cycle to offer it in, packed invalidate)
        self.cycle = 0
        self.results = []           # per access: {"step", "resp", "cycles", "mem": [...]}
        self.stats = dict(accesses=0, invalidates=0, host_writes=0, mem_reads=0, mem_cas=0,
                          mem_cas_failed=0)
        self.port = MemoryPort(self.memory, self.stats)
        self.req_payload = self.inv_payload = 0
        self._taken = False

    @property
    def finished(self):
        return self.position >= len(self.script) and not self.waiting and not self.offered

    def to_json(self):
        return {"memory": {str(a): v for a, v in self.memory.words.items()},
                "script": self.script, "hooks": [{k: v for k, v in h.items() if k != "seen"}
                                                 for h in self.hooks],
                "latency": self.latency}

    @classmethod
    def from_json(cls, data, pa_bits):
        return cls(data["memory"], data["script"], data["hooks"], pa_bits=pa_bits,
                   latency=data["latency"])

    def _do(self, step, delay=0):
        if "write" in step:
            addr, value = step["write"]
            self.memory.write(addr, value)
            self.stats["host_writes"] += 1
        elif "invalidate" in step:
            self.pending_invalidates.append((self.cycle + 1 + delay,
                                             INVALIDATE.pack(**step["invalidate"])))
        else:
            raise ValueError(f"a hook can only write or invalidate, not {step}")

    def step(self, req_ready, mem_req, resp=None):
        """Inputs of this cycle given the MMU's outputs (``resp`` is the packed response
        shown this cycle, or None); ``req_payload``/``inv_payload`` hold the packed
        payloads."""
        inp = self.inputs
        if self.offered and self._taken:
            self.offered, self.waiting = False, True
            inp.req_valid = 0
        if resp is not None and self.waiting:
            self.results[-1]["resp"] = resp
            self.results[-1]["cycles"] = self.cycle - self.results[-1]["start"]
            self.waiting = False
        inv = None
        due = [p for p in self.pending_invalidates if p[0] == self.cycle]
        if due:
            self.pending_invalidates.remove(due[0])
            inv = due[0][1]
        # Advance the script while nothing is in flight.
        while inv is None and not self.offered and not self.waiting and not self.idle \
                and self.position < len(self.script):
            step = self.script[self.position]
            self.position += 1
            if "access" in step:
                self.req_payload = ACCESS.pack(**step["access"])
                inp.req = ACCESS.unpack(self.req_payload)
                inp.req_valid = 1
                self.offered = True
                self.results.append({"step": self.position - 1, "start": self.cycle,
                                     "mem": []})
                self.stats["accesses"] += 1
            elif "invalidate" in step:
                inv = INVALIDATE.pack(**step["invalidate"])
            elif "idle" in step:
                self.idle = step["idle"]
            else:
                self._do(step)
        if self.idle:
            self.idle -= 1
        self._taken = self.offered and req_ready
        inp.inv_valid = int(inv is not None)
        if inv is not None:
            self.inv_payload = inv
            inp.inv = INVALIDATE.unpack(inv)
            self.stats["invalidates"] += 1
        # Memory: fixed latency, always ready; hooks run as a request is accepted.
        self.port.respond(self.cycle, inp)
        inp.mem_req_ready = 1
        if mem_req is not None:
            req = self.port.accept(self.cycle, mem_req, self.latency)
            if self.results:
                self.results[-1]["mem"].append(["cas" if req.cas else "read", req.addr])
            for hook in self.hooks:
                if hook["on"] == ("cas" if req.cas else "read") and hook["addr"] == req.addr:
                    hook["seen"] += 1
                    if hook["seen"] == hook.get("nth", 1):
                        self._do(hook["do"], hook.get("delay", 0))
        self.cycle += 1
        return inp
