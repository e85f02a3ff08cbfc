"""Unit lockstep of the invalidate fabric: RTL in Amaranth's simulator against
``FabricRef``, every output every cycle, under a seeded random environment of sources
(invalidates, syncs, generations) and targets (random readiness, acks 1-3 cycles after
they take an invalidate)."""
import random

from amaranth.sim import Simulator

from hdl.fabric import FabricOp, FabricRequest, InvalidateFabric
from hdl.ports import InvalidateOp
from sw_model.codec import Codec
from sw_model.fabric_ref import FabricInputs, FabricRef

REQUEST = Codec(FabricRequest)


class FabricEnvironment:
    def __init__(self, seed, sources, targets, *, offer=0.3, ready=0.7, sync_share=0.3):
        self.rng = random.Random(seed)
        self.sources, self.targets = sources, targets
        self.offer, self.ready, self.sync_share = offer, ready, sync_share
        self.inputs = FabricInputs(sources)
        self.next_gen = 1
        self.ack_due = {}             # target -> cycle its ack is due
        self.cycle = 0
        self.stats = dict(invalidates=0, syncs=0, done=0)

    def _request(self):
        r = self.rng
        if r.random() < self.sync_share:
            self.stats["syncs"] += 1
            return REQUEST.pack(kind=FabricOp.SYNC.value)
        self.stats["invalidates"] += 1
        gen_valid = int(r.random() < 0.5)
        gen = self.next_gen if gen_valid else 0
        self.next_gen += gen_valid
        return REQUEST.pack(kind=FabricOp.INVALIDATE.value, devices=r.randrange(2),
                            gen_valid=gen_valid, gen=gen,
                            inv=dict(op=r.choice(list(InvalidateOp)).value,
                                     asid=r.randrange(4), va=r.randrange(1 << 20),
                                     end=r.randrange(1 << 20)))

    def step(self, src_ready, done, tgt_valid):
        r, inp = self.rng, self.inputs
        self.stats["done"] += bin(done).count("1")
        for i in range(self.sources):
            if inp.src_valid >> i & 1 and self._ready_seen >> i & 1:
                inp.src_valid &= ~(1 << i)            # taken last cycle
            if not inp.src_valid >> i & 1 and r.random() < self.offer:
                inp.src_payload[i] = self._request()
                inp.src_valid |= 1 << i
        self._ready_seen = src_ready
        inp.tgt_ack = 0
        for j, due in list(self.ack_due.items()):
            if due == self.cycle:
                inp.tgt_ack |= 1 << j
                del self.ack_due[j]
        inp.tgt_ready = 0
        for j in range(self.targets):
            if r.random() < self.ready:
                inp.tgt_ready |= 1 << j
                if tgt_valid >> j & 1:
                    self.ack_due[j] = self.cycle + r.randint(1, 3)
        self.cycle += 1
        return inp

    _ready_seen = 0


def run_fabric_lockstep(seed, cycles, *, cpus=4, devices=1, **env_args):
    """Returns (first divergence or None, environment stats)."""
    dut = InvalidateFabric(cpus=cpus, devices=devices)
    ref = FabricRef(cpus=cpus, devices=devices)
    env = FabricEnvironment(seed, ref.sources, ref.targets, **env_args)
    outcome = {"divergence": None}

    async def bench(ctx):
        for cycle in range(cycles):
            rtl = (sum(ctx.get(dut.src[i].ready) << i for i in range(ref.sources)),
                   ctx.get(dut.done),
                   sum(ctx.get(dut.tgt[j].valid) << j for j in range(ref.targets)),
                   ctx.get(dut.completed_gen))
            src_ready, done, tgt_valid, inv, gen = ref.outputs()
            rtl_inv = {ctx.get(dut.tgt[j].payload.as_value())
                       for j in range(ref.targets) if tgt_valid >> j & 1}
            want_inv = {inv} if tgt_valid else set()
            if rtl != (src_ready, done, tgt_valid, gen) or rtl_inv != want_inv:
                outcome["divergence"] = dict(cycle=cycle, rtl=rtl, model=(src_ready, done,
                                             tgt_valid, gen), rtl_inv=rtl_inv,
                                             model_inv=want_inv)
                return
            inp = env.step(src_ready, done, tgt_valid)
            for i in range(ref.sources):
                ctx.set(dut.src[i].valid, inp.src_valid >> i & 1)
                ctx.set(dut.src[i].payload.as_value(), inp.src_payload[i])
            for j in range(ref.targets):
                ctx.set(dut.tgt[j].ready, inp.tgt_ready >> j & 1)
            ctx.set(dut.tgt_ack, inp.tgt_ack)
            ref.tick(inp)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return outcome["divergence"], env.stats
