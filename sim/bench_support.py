"""What the cocotb lockstep benches share: clock and reset, writing the input bus, and
the result file."""
import json
import os
import resource
import time

from cocotb.clock import Clock
from cocotb.handle import Immediate
from cocotb.triggers import FallingEdge

# cocotb's runner sets this for Verilator (not Icarus): plain writes then go straight to
# the simulator instead of waiting for a ReadWrite phase.
_TRUSTED_WRITES = os.environ.get("COCOTB_TRUST_INERTIAL_WRITES") == "1"


async def start(dut):
    """Start the clock, hold reset for two cycles; returns at a falling edge with the
    design out of reset and ``dut.i_bus`` zero."""
    # cocotb's C++ clock: the Python one wakes Python at every edge to toggle it.
    Clock(dut.clk, 10, unit="ns", impl="gpi").start()
    dut.rst.value = 1
    dut.i_bus.value = 0
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


def drive(bus, value):
    """Write ``bus`` at a falling edge. Nothing samples it before the rising edge, so it
    need not wait for a ReadWrite phase (one more wake-up of Python a cycle): on Icarus
    the write is Immediate; on Verilator a plain write already goes straight to the
    simulator, and costs less than an Immediate one."""
    bus.value = value if _TRUSTED_WRITES else Immediate(value)


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
