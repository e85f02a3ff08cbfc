"""The board memory's RTL with its words in the iCE40UP5K's SPRAM (yosys's model of the
SB_SPRAM256KA) on both simulators: ``sim/step_memory_bench.py``'s seeded random
requests, with steps left out at random (between a request's steps c + 1 and c + 2
too), against a Python memory. The block-RAM memory has the same checks in Amaranth's
simulator (tests/test_host_bridge.py) and through the bridge (tests/test_fpga_backend.py)."""
import os
import random

from hdl.export import to_verilog
from hdl.step_memory import StepMemory
from sim.build import build_verilog, cached_verilog
from sim.lockstep import run_bench

TOPLEVEL = "step_memory"
PORTS = ("clk", "rst", "step", "clear", "clearing", "req__valid", "req__payload",
         "resp__valid", "resp__payload", "reads", "writes", "cas", "cas_failed")
#: 128 words, not aligned to their size (the word index is a subtraction).
PARAMS = dict(base=0x1008, size=1024, pa_bits=40, spram=True)


def test_spram_memory_answers_as_the_model(sim, build_root):
    """A random seed each run; SHOOTDOWN_SEED=S replays one."""
    seed = int(os.environ.get("SHOOTDOWN_SEED", random.randrange(1 << 32)))
    print(f"seed {seed} (replay: SHOOTDOWN_SEED={seed})")
    text = cached_verilog(build_root, TOPLEVEL, PARAMS,
                          lambda: to_verilog(StepMemory(**PARAMS), TOPLEVEL))
    runner, build_dir = build_verilog(sim, text, TOPLEVEL, build_root, ports=PORTS)
    cfg = dict(seed=seed, cycles=4000, base=PARAMS["base"], size=PARAMS["size"])
    result, _ = run_bench(runner, build_dir, "sim.step_memory_bench", TOPLEVEL, cfg, False)
    assert result["errors"] == [], (seed, result["errors"])
    # The cases the bench is for happened.
    assert result["requests"] > 500 and result["gaps"] > 50, result
    assert result["back_to_back"] > 50 and result["clears"] > 0, result
