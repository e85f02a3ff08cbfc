"""Lockstep of the whole system (CPU MMUs, device TLBs, fabric, arbiter, host port) in
Amaranth's simulator against ``SystemRef``, every output every cycle, under seeded
multi-agent stimulus: accesses on every CPU and device at once, host descriptor rewrites
through the host port, invalidates and syncs from every source, shootdowns from the
host to CPUs whose interrupts come and go, and a memory with random stalls and latency."""
import random


from hdl.fabric import FabricOp, FabricRequest
from hdl.ports import AccessRequest, MemRequest
from hdl.system import System
from sim.memory_port import MemoryPort
from sim.stimulus import Environment
from sim.pysim import run_testbench
from sw_model.codec import Codec
from sw_model.mmu_ref import MMUInputs
from sw_model.system_ref import SystemInputs, SystemRef

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
        self.stats = dict(accesses=0, invalidates=0, syncs=0, shootdowns=0, host_writes=0,
                          mem_reads=0, mem_cas=0, mem_cas_failed=0)
        self.port = MemoryPort(self.tables.memory, self.stats)
        self.cycle = 0
        self.next_gen = 1

    def _fabric_request(self, source):
        r = self.rng
        choice = r.random()
        if choice < 0.3:
            self.stats["syncs"] += 1
            return REQUEST.pack(kind=FabricOp.SYNC.value)
        gen_valid = int(r.random() < 0.5)
        gen, self.next_gen = (self.next_gen, self.next_gen + 1) if gen_valid else (0, self.next_gen)
        inv = self.tables._new_invalidate()
        if source == 0 and choice < 0.5:
            self.stats["shootdowns"] += 1
            return REQUEST.pack(kind=FabricOp.SHOOTDOWN.value, inv=inv,
                                mask=r.randrange(1, 1 << self.cpus), gen_valid=gen_valid,
                                gen=gen)
        self.stats["invalidates"] += 1
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
            inp.cpu_req[c] = ACCESS.unpack(req) if req is not None else None
        for d in range(self.devices):
            req = self._hold(("dev", d), taken_last.get(("dev", d)), 0.3, self._access)
            inp.dev_req[d] = ACCESS.unpack(req) if req is not None else None
        inp.src_valid = 0
        for i in range(1 + self.cpus):
            req = self._hold(("src", i), taken_last.get(("src", i)), 0.008,
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

    def _access(self):
        self.stats["accesses"] += 1
        return self.tables._new_access()


def run_system_lockstep(seed, cycles, *, cpus=2, devices=1, tlb_entries=4, faults=()):
    """Returns (first divergence or None, environment stats)."""
    dut = System(cpus=cpus, devices=devices, tlb_entries=tlb_entries, faults=faults)
    ref = SystemRef(cpus=cpus, devices=devices, tlb_entries=tlb_entries)
    env = SystemEnvironment(seed, cpus, devices)
    outcome = {"divergence": None}

    def rtl_outputs(ctx):
        def port(req, resp):
            valid = ctx.get(resp.valid)
            return (ctx.get(req.ready), ctx.get(resp.payload.as_value()) if valid else None)
        host_valid = ctx.get(dut.host_mem_resp.valid)
        mem_valid = ctx.get(dut.mem_req.valid)
        return ([port(dut.cpu_req[c], dut.cpu_resp[c]) for c in range(cpus)],
                [port(dut.dev_req[d], dut.dev_resp[d]) for d in range(devices)],
                sum(ctx.get(dut.src[i].ready) << i for i in range(1 + cpus)),
                ctx.get(dut.done), ctx.get(dut.host_mem.ready),
                ctx.get(dut.host_mem_resp.payload.as_value()) if host_valid else None,
                ctx.get(dut.mem_req.payload.as_value()) if mem_valid else None,
                ctx.get(dut.completed_gen))

    async def bench(ctx):
        for cycle in range(cycles):
            expected, actual = ref.outputs(), rtl_outputs(ctx)
            if expected != actual:
                outcome["divergence"] = dict(cycle=cycle, expected=expected, actual=actual)
                return
            inp = env.step(expected)
            for c in range(cpus):
                req = inp.cpu_req[c]
                ctx.set(dut.cpu_req[c].valid, req is not None)
                ctx.set(dut.cpu_req[c].payload.as_value(), env.held.get(("cpu", c), 0))
            for d in range(devices):
                req = inp.dev_req[d]
                ctx.set(dut.dev_req[d].valid, req is not None)
                ctx.set(dut.dev_req[d].payload.as_value(), env.held.get(("dev", d), 0))
            for i in range(1 + cpus):
                ctx.set(dut.src[i].valid, inp.src_valid >> i & 1)
                ctx.set(dut.src[i].payload.as_value(), inp.src_payload[i])
            ctx.set(dut.irq_enable, inp.irq_enable)
            ctx.set(dut.host_mem.valid, inp.host_mem_valid)
            ctx.set(dut.host_mem.payload.as_value(), inp.host_mem)
            ctx.set(dut.mem_req.ready, inp.mem_req_ready)
            ctx.set(dut.mem_resp.valid, inp.mem_resp_valid)
            ctx.set(dut.mem_resp.payload.as_value(), inp.mem_resp)
            ref.tick(inp)
            await ctx.tick()

    run_testbench(dut, bench)
    return outcome["divergence"], env.stats
