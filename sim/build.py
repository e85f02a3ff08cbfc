"""Verilog generation and cached simulator builds of the bus-wrapped MMU."""
import hashlib
import re
from pathlib import Path

from amaranth.back import verilog
from cocotb_tools.runner import get_runner

from sim.bus_top import BusTop
from sim.toolchain import setup_simulator

TOPLEVEL = "bus_top"
DEFAULT_BUILD_ROOT = Path("build")


def bus_top_verilog(mmu_params, faults=()):
    return verilog.convert(BusTop(**mmu_params, faults=faults), name=TOPLEVEL,
                           emit_src=False)


_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$",
                      re.MULTILINE)


def retrigger_comb_blocks(text):
    """Make every `always @*` block of Yosys' Verilog run once after time 0 on Icarus.

    Yosys puts a dummy register in each such block so that its initialisation wakes the
    block at time 0; Icarus 11 may initialise it before the block waits on it, and logic
    fed only by unchanging registers then stays X (a TLB victim of X never fills). Toggling
    the register at 1 ns wakes every block again, before the first reset edge is sampled.
    """
    return _TRIGGER.sub(lambda m: f"{m[1]}reg {m[2]} = 0;\n{m[1]}initial #1 {m[2]} = 1;", text)


def build(sim, mmu_params, build_root=DEFAULT_BUILD_ROOT, waves=False, faults=()):
    """Build (or reuse) the simulation of ``mmu_params`` (with simulation-only hardware
    ``faults``) on ``sim``; returns (runner, build_dir)."""
    return build_verilog(sim, bus_top_verilog(mmu_params, faults), TOPLEVEL, build_root,
                         waves)


def build_verilog(sim, text, toplevel, build_root=DEFAULT_BUILD_ROOT, waves=False):
    """Build (or reuse) a simulation of Verilog ``text`` with top module ``toplevel``;
    returns (runner, build_dir). A build is keyed by the Verilog text, so a changed
    design or parameter rebuilds and an unchanged one does not."""
    setup_simulator(sim)
    if sim == "icarus":
        text = retrigger_comb_blocks(text)
    key = hashlib.sha256(text.encode()).hexdigest()[:12]
    build_dir = Path(build_root).resolve() / f"{sim}-{toplevel}-{key}{'-waves' if waves else ''}"
    source = build_dir / f"{toplevel}.v"
    build_dir.mkdir(parents=True, exist_ok=True)
    if not source.exists() or source.read_text() != text:
        source.write_text(text)
    runner = get_runner(sim)
    extra = {}
    if sim == "verilator":
        extra["build_args"] = ["-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "fast"]
    # always=False: cocotb skips the build when the outputs are newer than the source.
    runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir, waves=waves,
                 timescale=("1ns", "1ps"), always=False, log_file=build_dir / "build.log",
                 **extra)
    return runner, build_dir
