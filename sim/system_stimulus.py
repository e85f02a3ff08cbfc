"""Seeded multi-agent environment of the multi-core system: accesses on every CPU and
device at once, host descriptor rewrites through the host port, invalidates and syncs
from every source, shootdowns from the host to CPUs whose interrupts come and go, and a
memory with random stalls and latency. Reacts only to the system's outputs, so RTL and
model see the same inputs; replaying a seed replays the run."""
import random

from hdl.fabric import FabricOp, FabricRequest
from hdl.ports import AccessRequest, MemRequest
from sim.memory_port import MemoryPort
from sim.stimulus import ASIDS, Environment
from sw_model.codec import Codec
from sw_model.system_ref import SystemInputs

ACCESS = Codec(AccessRequest)
REQUEST = Codec(FabricRequest)
MEM_REQUEST = Codec(MemRequest)


class Offer:
    """What one input port offers: a request made at random while the port has none, held
    until the system takes it (the port is ready in a cycle it is offered)."""
    __slots__ = ("make", "payload", "taken")

    def __init__(self, make):
        self.make = make
        self.payload = None
        self.taken = False

    def step(self, rng, rate, ready):
        """The payload offered this cycle (None: nothing): made with probability ``rate``
        when there is none. ``ready`` is the port's ready output (a register, so known
        before the inputs are chosen)."""
        if self.taken:
            self.payload = None                  # taken in the previous cycle
        if self.payload is None and rng.random() < rate:
            self.payload = self.make()
        self.taken = ready and self.payload is not None
        return self.payload


class SystemEnvironment:
    def __init__(self, seed, cpus, devices, asids=ASIDS, first_gen=1):
        self.rng = random.Random(seed)
        # The MMU environment's page tables and access/invalidate generators.
        self.tables = Environment(seed, asids=asids)
        self.cpus, self.devices = cpus, devices
        self.inputs = SystemInputs(cpus, devices)
        # Access ports (CPUs, then devices), fabric sources (host, then CPUs), host port.
        self.accesses = [Offer(lambda k=k: self._access(k)) for k in range(cpus + devices)]
        self.access_rates = [0.5] * cpus + [0.3] * devices
        self.decoded = [None] * (cpus + devices)   # each access port's request, decoded
        self.req_payload = [None] * (cpus + devices)   # and packed (None: not offered)
        self.sources = [Offer(lambda i=i: self._fabric_request(i)) for i in range(1 + cpus)]
        self.host = Offer(self._host_write)
        self.stats = dict(accesses=0, invalidates=0, syncs=0, shootdowns=0, host_writes=0,
                          mem_reads=0, mem_cas=0, mem_cas_failed=0)
        self.port = MemoryPort(self.tables.memory, self.stats)
        self.cycle = 0
        self.next_gen = first_gen
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

    def step(self, outputs):
        cpus, devs, src_ready, done, host_ready, host_resp, mem_req, gen = outputs
        r, inp = self.rng, self.inputs
        for k, ((ready, _), offer) in enumerate(zip(cpus + devs, self.accesses)):
            payload = self.req_payload[k] = offer.step(r, self.access_rates[k], ready)
            req = None if payload is None else self.decoded[k]
            if k < self.cpus:
                inp.cpu_req[k] = req
            else:
                inp.dev_req[k - self.cpus] = req
        inp.src_valid = 0
        for i, offer in enumerate(self.sources):
            # A sync that follows an invalidate is offered as soon as that is taken.
            payload = offer.step(r, 1.0 if i in self.sync_next else 0.008, src_ready >> i & 1)
            if payload is not None:
                inp.src_valid |= 1 << i
                inp.src_payload[i] = payload
        host = self.host.step(r, 0.02, host_ready)
        inp.host_mem_valid, inp.host_mem = int(host is not None), host or 0
        irq_enable = 0
        for c in range(self.cpus):
            irq_enable |= (r.random() < 0.7) << c
        inp.irq_enable = irq_enable
        # Memory.
        self.port.respond(self.cycle, inp)
        inp.mem_req_ready = int(r.random() < 0.75)
        if mem_req is not None and inp.mem_req_ready:
            self.port.accept(self.cycle, mem_req, r.randint(1, 4))
        self.cycle += 1
        return inp

    def _access(self, k):
        """A new access for port ``k``, decoded once here for the model."""
        self.stats["accesses"] += 1
        payload = self.tables.new_access()
        self.decoded[k] = ACCESS.unpack(payload)
        return payload
