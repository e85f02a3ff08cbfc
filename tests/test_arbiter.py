"""The memory arbiter: RTL against its model in Amaranth's simulator under random
requesters and a memory with random readiness and latency; formal fairness bound."""
import gc
import random

import pytest
from amaranth.hdl import Assert, Assume, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hdl.arbiter import MemoryArbiter
from hdl.ports import MemRequest
from sim.formal import prove
from sim.pysim import run_testbench
from sw_model.arbiter_ref import ArbiterInputs, ArbiterRef
from sw_model.codec import Codec

REQUEST = Codec(MemRequest)


def run_arbiter_lockstep(seed, cycles, requesters):
    rng = random.Random(seed)
    dut, ref = MemoryArbiter(requesters), ArbiterRef(requesters)
    inp = ArbiterInputs(requesters)
    outcome = {"divergence": None, "served": [0] * requesters}

    async def bench(ctx):
        due = None
        for cycle in range(cycles):
            # Requesters: a request stays offered until taken.
            for i in range(requesters):
                if not inp.req_valid >> i & 1 and rng.random() < 0.4:
                    inp.req_valid |= 1 << i
                    inp.req_payload[i] = REQUEST.pack(addr=rng.randrange(1 << 20) * 8,
                                                      cas=rng.randrange(2))
            inp.mem_ready = int(rng.random() < 0.7)
            inp.mem_resp_valid = int(due == cycle)
            inp.mem_resp = rng.randrange(1 << 64) if due == cycle else 0
            for i in range(requesters):
                ctx.set(dut.req[i].valid, inp.req_valid >> i & 1)
                ctx.set(dut.req[i].payload.as_value(), inp.req_payload[i])
            ctx.set(dut.mem_req.ready, inp.mem_ready)
            ctx.set(dut.mem_resp.valid, inp.mem_resp_valid)
            ctx.set(dut.mem_resp.payload.as_value(), inp.mem_resp)
            ready, resp, mem_valid, payload = ref.outputs(inp)
            rtl = (sum(ctx.get(dut.req[i].ready) << i for i in range(requesters)),
                   sum(ctx.get(dut.resp[i].valid) << i for i in range(requesters)),
                   ctx.get(dut.mem_req.valid),
                   ctx.get(dut.mem_req.payload.as_value()) if mem_valid else None)
            if rtl != (ready, resp, mem_valid, payload):
                outcome["divergence"] = (cycle, rtl, (ready, resp, mem_valid, payload))
                return
            if mem_valid and inp.mem_ready:
                due = cycle + rng.randint(1, 4)
                outcome["served"][ref.owner] += 1
            ref.tick(inp)
            inp.req_valid &= ~ready
            await ctx.tick()

    run_testbench(dut, bench)
    return outcome


@pytest.mark.parametrize("requesters", [1, 3, 6])
def test_arbiter_matches_model(requesters):
    outcome = run_arbiter_lockstep(requesters, 3000, requesters)
    assert outcome["divergence"] is None, outcome["divergence"]
    served = outcome["served"]
    assert min(served) > 0.8 * max(served) and sum(served) > 300   # fair and busy


class ArbiterFairness(wiring.Component):
    """With a memory that takes a request at once and answers the next cycle, a held
    request is taken within 3 cycles per requester."""

    def __init__(self, requesters):
        self.requesters = requesters
        super().__init__({"req_valid": In(requesters), "mem_resp_valid": In(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.arb = arb = MemoryArbiter(self.requesters)
        taken = Signal()
        m.d.comb += [arb.mem_req.ready.eq(1), arb.mem_resp.valid.eq(self.mem_resp_valid)]
        m.d.sync += taken.eq(arb.mem_req.valid & arb.mem_req.ready)
        m.d.comb += Assume(self.mem_resp_valid == taken)
        bound = 3 * self.requesters
        for i in range(self.requesters):
            m.d.comb += arb.req[i].valid.eq(self.req_valid[i])
            held = Signal(name=f"held{i}")
            m.d.sync += held.eq(self.req_valid[i] & ~arb.req[i].ready)
            with m.If(held):
                m.d.comb += Assume(self.req_valid[i])     # a request stays until taken
            waited = Signal(range(bound + 2), name=f"waited{i}")
            with m.If(self.req_valid[i] & ~arb.req[i].ready):
                m.d.sync += waited.eq(waited + 1)
            with m.Else():
                m.d.sync += waited.eq(0)
            m.d.comb += Assert(waited <= bound)
        return m


def test_arbiter_fairness_formal(build_root):
    result = prove(ArbiterFairness(4), build_root / "formal-arbiter", depth=20)
    assert result.status == "PASS", (result.failed_assertions, result.workdir)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
@pytest.mark.parametrize("cls", [MemoryArbiter, ArbiterRef])
def test_arbiter_params(cls):
    with pytest.raises(ValueError, match="requesters must be an integer from 1 to 16"):
        cls(17)
    gc.collect()
