"""What the cocotb lockstep benches share: clock and reset, and the result file."""
import json
import resource
import time

from cocotb.clock import Clock
from cocotb.triggers import FallingEdge


async def start(dut):
    """Start the clock, hold reset for two cycles; returns at a falling edge with the
    design out of reset and ``dut.i_bus`` zero."""
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.i_bus.value = 0
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


def divergence(cycle, differences):
    return {"status": "diverged", "cycles": cycle,
            "divergence": {"cycle": cycle, "signals": [
                {"signal": s, "expected": e, "actual": a} for s, e, a in differences]}}


def write_result(path, result, started, env, **extra):
    """Write the run's result with its time, the environment's statistics and the peak
    memory of this process (simulator, cocotb, model and stimulus together)."""
    result = dict(result, elapsed=time.perf_counter() - started, stats=env.stats,
                  peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, **extra)
    with open(path, "w") as f:
        json.dump(result, f)
