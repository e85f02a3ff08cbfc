"""cocotb bench: the MMU RTL and its model driven by one seeded environment, every output
compared every cycle. Configured by the JSON in $SHOOTDOWN_LOCKSTEP (see sim.lockstep);
writes its result as JSON to the path named there."""
import json
import os
import time

import cocotb
from cocotb.triggers import FallingEdge

from sim.bench_support import divergence, drive, start, write_result
from sim.buses import InputBus, OutputBus
from sim.scripted import ScriptedEnvironment
from sim.stimulus import Environment, Rates
from sw_model.mmu_ref import MMURef


@cocotb.test()
async def lockstep(dut):
    cfg = json.loads(os.environ["SHOOTDOWN_LOCKSTEP"])
    params = cfg["mmu"]
    if cfg.get("script"):
        env = ScriptedEnvironment.from_json(cfg["script"], params["pa_bits"])
    else:
        env = Environment(cfg["seed"], pa_bits=params["pa_bits"],
                          rates=Rates(**cfg.get("rates", {})))
    bus = OutputBus(params["tlb_entries"])
    in_bus = InputBus()
    compare = cfg["mode"] == "lockstep"
    ref = MMURef(**params, bugs=cfg.get("bugs", ())) if compare else None
    cycles = cfg["cycles"]

    await start(dut)

    o_bus, i_bus, falling = dut.o_bus, dut.i_bus, FallingEdge(dut.clk)
    result = {"status": "ok", "cycles": cycles}
    started = time.perf_counter()
    for cycle in range(cycles):
        if getattr(env, "finished", False):
            result["cycles"] = cycle
            break
        actual = o_bus.value.to_unsigned()
        if compare:
            outputs = ref.outputs()
            expected = bus.pack(outputs)
            if expected != actual:
                result = divergence(cycle, bus.diff(expected, actual))
                break
            inp = env.step(outputs[0], outputs[4], outputs[1])
            ref.tick(inp)
        else:
            inp = env.step(*bus.split(actual))
        drive(i_bus, in_bus.pack(inp, env.req_payload, env.inv_payload))
        await falling
    write_result(cfg["result"], result, started, env, results=getattr(env, "results", None))
