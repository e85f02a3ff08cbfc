"""Lockstep diff of the multi-core system RTL against its model on Verilator or Icarus."""
from amaranth.back import verilog

from sim.build import DEFAULT_BUILD_ROOT, build_verilog
from sim.lockstep import RunResult, run_bench
from sim.system_bus_top import SystemBusTop

TOPLEVEL = "system_bus_top"
DEFAULT_SYSTEM = dict(cpus=4, devices=1, tlb_entries=8, pa_bits=40, ha=True, hd=True)


def run_system_rtl(sim="verilator", *, cycles=10_000, seed=1, system=None, bugs=(),
                   faults=(), build_root=DEFAULT_BUILD_ROOT, waves=False):
    """One cocotb run of the system in lockstep with ``SystemRef``."""
    system = dict(DEFAULT_SYSTEM, **(system or {}))
    text = verilog.convert(SystemBusTop(**system, faults=faults), name=TOPLEVEL,
                           emit_src=False)
    runner, build_dir = build_verilog(sim, text, TOPLEVEL, build_root, waves)
    cfg = dict(cycles=cycles, seed=seed, system=system, bugs=list(bugs))
    raw, _ = run_bench(runner, build_dir, "sim.system_lockstep_bench", TOPLEVEL, cfg, waves)
    return RunResult(status=raw["status"], cycles=raw["cycles"], elapsed=raw["elapsed"],
                     seed=seed, sim=sim, mode="lockstep", divergence=raw.get("divergence"),
                     stats=raw.get("stats", {}), peak_rss_kb=raw.get("peak_rss_kb", 0))
