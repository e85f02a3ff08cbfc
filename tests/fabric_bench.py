"""Unit lockstep of the invalidate fabric: RTL in Amaranth's simulator against
``FabricRef``, every output every cycle, under a seeded random environment of sources
(invalidates, syncs, shootdowns, generations), targets (random readiness, acks 1-3 cycles
after they take an invalidate) and CPUs taking shootdowns when their interrupts allow."""
import random


from hdl.fabric import FabricOp, FabricRequest, InvalidateFabric
from hdl.ports import InvalidateOp
from sim.pysim import run_testbench
from sw_model.codec import Codec
from sw_model.fabric_ref import FabricInputs, FabricRef

REQUEST = Codec(FabricRequest)


class FabricEnvironment:
    def __init__(self, seed, sources, targets, *, offer=0.3, ready=0.7, sync_share=0.3,
                 shootdown_share=0.2, irq_on=0.5):
        self.rng = random.Random(seed)
        self.sources, self.targets, self.cpus = sources, targets, sources - 1
        self.offer, self.ready, self.sync_share = offer, ready, sync_share
        self.shootdown_share, self.irq_on = shootdown_share, irq_on
        self.ipi_due = {}             # cpu -> cycle its shootdown ack is due
        self.inputs = FabricInputs(sources)
        self.next_gen = 1
        self.ack_due = {}             # target -> cycle its ack is due
        self.cycle = 0
        self.stats = dict(invalidates=0, syncs=0, shootdowns=0, done=0)

    def _request(self):
        r = self.rng
        if r.random() < self.sync_share:
            self.stats["syncs"] += 1
            return REQUEST.pack(kind=FabricOp.SYNC.value)
        gen_valid = int(r.random() < 0.5)
        gen = self.next_gen if gen_valid else 0
        self.next_gen += gen_valid
        shootdown = r.random() < self.shootdown_share
        self.stats["shootdowns" if shootdown else "invalidates"] += 1
        kind = FabricOp.SHOOTDOWN if shootdown else FabricOp.INVALIDATE
        return REQUEST.pack(kind=kind.value, devices=r.randrange(2),
                            mask=r.randrange(1 << 8) if shootdown else 0,
                            gen_valid=gen_valid, gen=gen,
                            inv=dict(op=r.choice(list(InvalidateOp)).value,
                                     asid=r.randrange(4), va=r.randrange(1 << 20),
                                     end=r.randrange(1 << 20)))

    def step(self, src_ready, done, tgt_valid, ipi_valid):
        r, inp = self.rng, self.inputs
        self.stats["done"] += bin(done).count("1")
        for i in range(self.sources):
            if inp.src_valid >> i & 1 and self._ready_seen >> i & 1:
                inp.src_valid &= ~(1 << i)            # taken last cycle
            if not inp.src_valid >> i & 1 and r.random() < self.offer:
                inp.src_payload[i] = self._request()
                inp.src_valid |= 1 << i
        self._ready_seen = src_ready
        inp.tgt_ack, inp.tgt_ready = self._receivers(self.ack_due, self.targets,
                                                     self.ready, tgt_valid)
        inp.ipi_ack, inp.ipi_ready = self._receivers(self.ipi_due, self.cpus, self.irq_on,
                                                     ipi_valid)
        self.cycle += 1
        return inp

    def _receivers(self, due, count, p_ready, offered):
        """(acks due this cycle, ready mask) of ``count`` receivers that are ready with
        probability ``p_ready`` and acknowledge 1-3 cycles after taking what is offered."""
        acks = 0
        for k, cycle in list(due.items()):
            if cycle == self.cycle:
                acks |= 1 << k
                del due[k]
        ready = 0
        for k in range(count):
            if self.rng.random() < p_ready:
                ready |= 1 << k
                if offered >> k & 1:
                    due[k] = self.cycle + self.rng.randint(1, 3)
        return acks, ready

    _ready_seen = 0


def run_fabric_lockstep(seed, cycles, *, cpus=4, devices=1, faults=(), **env_args):
    """Returns (first divergence or None, environment stats). ``faults`` go to the RTL
    only (hdl.faults)."""
    dut = InvalidateFabric(cpus=cpus, devices=devices, faults=faults)
    ref = FabricRef(cpus=cpus, devices=devices)
    env = FabricEnvironment(seed, ref.sources, ref.targets, **env_args)
    outcome = {"divergence": None}

    async def bench(ctx):
        for cycle in range(cycles):
            src_ready, done, tgt_valid, inv, gen, ipi_valid, ipi_inv = ref.outputs()
            rtl = dict(
                src_ready=sum(ctx.get(dut.src[i].ready) << i for i in range(ref.sources)),
                done=ctx.get(dut.done),
                tgt_valid=sum(ctx.get(dut.tgt[j].valid) << j for j in range(ref.targets)),
                completed_gen=ctx.get(dut.completed_gen),
                ipi_valid=sum(ctx.get(dut.ipi[c].valid) << c for c in range(ref.cpus)),
                tgt_payloads={ctx.get(dut.tgt[j].payload.as_value())
                              for j in range(ref.targets) if tgt_valid >> j & 1},
                ipi_payloads={ctx.get(dut.ipi[c].payload.as_value())
                              for c in range(ref.cpus) if ipi_valid >> c & 1})
            model = dict(src_ready=src_ready, done=done, tgt_valid=tgt_valid,
                         completed_gen=gen, ipi_valid=ipi_valid,
                         tgt_payloads={inv} if tgt_valid else set(),
                         ipi_payloads={ipi_inv} if ipi_valid else set())
            if rtl != model:
                outcome["divergence"] = dict(cycle=cycle, signals={
                    k: (model[k], rtl[k]) for k in model if model[k] != rtl[k]})
                return
            inp = env.step(src_ready, done, tgt_valid, ipi_valid)
            for i in range(ref.sources):
                ctx.set(dut.src[i].valid, inp.src_valid >> i & 1)
                ctx.set(dut.src[i].payload.as_value(), inp.src_payload[i])
            for j in range(ref.targets):
                ctx.set(dut.tgt[j].ready, inp.tgt_ready >> j & 1)
            for c in range(ref.cpus):
                ctx.set(dut.ipi[c].ready, inp.ipi_ready >> c & 1)
            ctx.set(dut.tgt_ack, inp.tgt_ack)
            ctx.set(dut.ipi_ack, inp.ipi_ack)
            ref.tick(inp)
            await ctx.tick()

    run_testbench(dut, bench)
    return outcome["divergence"], env.stats
