"""cocotb bench: the multi-core system RTL and its model driven by one seeded multi-agent
environment, every output compared every cycle ("lockstep"), or the same RTL and
stimulus without the model ("plain", the baseline that shows the cost of diffing).
Configured by $SHOOTDOWN_LOCKSTEP (see sim.system_lockstep); writes its result as JSON
to the path named there."""
import json
import os
import time

import cocotb
from cocotb.triggers import FallingEdge

from sim.bench_support import divergence, drive, start, write_result
from sim.system_bus_top import SystemBuses
from sim.system_stimulus import SystemEnvironment
from sw_model.system_ref import SystemRef


@cocotb.test()
async def system_lockstep(dut):
    cfg = json.loads(os.environ["SHOOTDOWN_LOCKSTEP"])
    params = cfg["system"]
    compare = cfg["mode"] == "lockstep"
    ref = SystemRef(**params, bugs=cfg.get("bugs", ())) if compare else None
    env = SystemEnvironment(cfg["seed"], params["cpus"], params["devices"],
                            **cfg.get("stimulus", {}))
    buses = SystemBuses(params["cpus"], params["devices"])

    await start(dut)

    o_bus, i_bus, falling = dut.o_bus, dut.i_bus, FallingEdge(dut.clk)
    result = {"status": "ok", "cycles": cfg["cycles"]}
    started = time.perf_counter()
    for cycle in range(cfg["cycles"]):
        actual = o_bus.value.to_unsigned()
        if compare:
            outputs = ref.outputs()
            expected = buses.pack_outputs(outputs)
            if expected != actual:
                result = divergence(cycle, buses.diff(expected, actual))
                break
        else:
            outputs = buses.split_outputs(actual)
        inp = env.step(outputs)
        drive(i_bus, buses.pack_inputs(inp, env.req_payload))
        if compare:
            ref.tick(inp)
        await falling
    write_result(cfg["result"], result, started, env)
