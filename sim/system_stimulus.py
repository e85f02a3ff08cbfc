"""Seeded multi-agent environment of the multi-core system: accesses on every CPU and
device at once, host descriptor rewrites through the host port, invalidates and syncs
from every source, shootdowns from the host to CPUs whose interrupts come and go, and a
memory with random stalls and latency. Reacts only to the system's outputs, so RTL and
model see the same inputs; replaying a seed replays the run."""
import random

from hdl.fabric import FabricOp, FabricRequest
from hdl.ports import AccessRequest, MemRequest
from sim.memory_port import MemoryPort
from sim.stimulus import Environment
from sw_model.codec import Codec
from sw_model.mmu_ref import MMUInputs
from sw_model.system_ref import SystemInputs

ACCESS = Codec(AccessRequest)
REQUEST = Codec(FabricRequest)
MEM_REQUEST = Codec(MemRequest)


class SystemEnvironment:
    def __init__(self, seed, cpus, devices):
        self.rng = random.Random(seed)
        # The MMU environment's page tables and access/invalidate generators.
        self.tables = Environment(seed)
        self.cpus, self.devices = cpus, devices
        self.inputs = SystemInputs(cpus, devices)
        self.held = {}                # what each port offers until it is taken
        self.decoded = {}             # port -> (packed, decoded) access it offers
        self.stats = dict(accesses=0, invalidates=0, syncs=0, shootdowns=0, host_writes=0,
                          mem_reads=0, mem_cas=0, mem_cas_failed=0)
        self.port = MemoryPort(self.tables.memory, self.stats)
        self.cycle = 0
        self.next_gen = 1
        self.sync_next = set()        # sources whose next request is a sync (TLBI; DSB)

    def _fabric_request(self, source):
        r = self.rng
        choice = r.random()
        if choice < 0.3 or source in self.sync_next:
            self.sync_next.discard(source)
            self.stats["syncs"] += 1
            return REQUEST.pack(kind=FabricOp.SYNC.value)
        gen_valid = int(r.random() < 0.5)
        gen, self.next_gen = (self.next_gen, self.next_gen + 1) if gen_valid else (0, self.next_gen)
        inv = self.tables.new_invalidate()
        if source == 0 and choice < 0.5:
            self.stats["shootdowns"] += 1
            return REQUEST.pack(kind=FabricOp.SHOOTDOWN.value, inv=inv,
                                mask=r.randrange(1, 1 << self.cpus), gen_valid=gen_valid,
                                gen=gen)
        self.stats["invalidates"] += 1
        if r.random() < 0.5:
            self.sync_next.add(source)
        return REQUEST.pack(kind=FabricOp.INVALIDATE.value, inv=inv, devices=r.randrange(2),
                            gen_valid=gen_valid, gen=gen)

    def _host_write(self):
        r, t = self.rng, self.tables
        addr = r.choice(t.leaves)
        value = t.original[addr] if r.random() < 0.5 else \
            t.memory.read(addr) ^ (1 << r.choice((0, 7, 10, 51)))
        self.stats["host_writes"] += 1
        return MEM_REQUEST.pack(addr=addr, write=1, desired=value)

    def _hold(self, key, ready, offer, make):
        """The payload a port offers this cycle (None: nothing), held until taken."""
        if key in self.held and ready:
            del self.held[key]                   # taken in the previous cycle
        if key not in self.held and self.rng.random() < offer:
            self.held[key] = make()
        return self.held.get(key)

    def step(self, outputs):
        cpus, devs, src_ready, done, host_ready, host_resp, mem_req, gen = outputs
        r, inp = self.rng, self.inputs
        taken_last = self._taken if self.cycle else {}
        for c in range(self.cpus):
            req = self._hold(("cpu", c), taken_last.get(("cpu", c)), 0.5, self._access)
            inp.cpu_req[c] = self._decoded(("cpu", c), req)
        for d in range(self.devices):
            req = self._hold(("dev", d), taken_last.get(("dev", d)), 0.3, self._access)
            inp.dev_req[d] = self._decoded(("dev", d), req)
        inp.src_valid = 0
        for i in range(1 + self.cpus):
            # A sync that follows an invalidate is offered as soon as that is taken.
            req = self._hold(("src", i), taken_last.get(("src", i)),
                             1.0 if i in self.sync_next else 0.008,
                             lambda i=i: self._fabric_request(i))
            if req is not None:
                inp.src_valid |= 1 << i
                inp.src_payload[i] = req
        host = self._hold("host", taken_last.get("host"), 0.02, self._host_write)
        inp.host_mem_valid, inp.host_mem = int(host is not None), host or 0
        inp.irq_enable = sum((r.random() < 0.7) << c for c in range(self.cpus))
        # What is taken this cycle (every ready output is a register: known now).
        self._taken = {("cpu", c): cpus[c][0] and inp.cpu_req[c] is not None
                       for c in range(self.cpus)}
        self._taken.update({("dev", d): devs[d][0] and inp.dev_req[d] is not None
                            for d in range(self.devices)})
        self._taken.update({("src", i): src_ready >> i & inp.src_valid >> i & 1
                            for i in range(1 + self.cpus)})
        self._taken["host"] = host_ready and inp.host_mem_valid
        # Memory.
        mi = MMUInputs()
        self.port.respond(self.cycle, mi)
        inp.mem_resp_valid, inp.mem_resp = mi.mem_resp_valid, mi.mem_resp
        inp.mem_req_ready = int(r.random() < 0.75)
        if mem_req is not None and inp.mem_req_ready:
            self.port.accept(self.cycle, mem_req, r.randint(1, 4))
        self.cycle += 1
        return inp

    def _decoded(self, key, packed):
        """The decoded access a port offers, decoded once per new request."""
        if packed is None:
            return None
        cached = self.decoded.get(key)
        if cached is None or cached[0] != packed:
            cached = self.decoded[key] = (packed, ACCESS.unpack(packed))
        return cached[1]

    def _access(self):
        self.stats["accesses"] += 1
        return self.tables.new_access()
