"""Lockstep diff of the multi-core system RTL against its model on Verilator or Icarus,
and its two baselines: the RTL bench without the model, and the model alone."""
import resource
import time

from amaranth.back import verilog

from sim.build import DEFAULT_BUILD_ROOT, build_verilog, cached_verilog
from sim.lockstep import RunResult, run_bench
from sim.system_bus_top import SystemBusTop, SystemBuses
from sim.system_stimulus import SystemEnvironment
from sw_model.system_ref import SystemRef

TOPLEVEL = "system_bus_top"
DEFAULT_SYSTEM = dict(cpus=4, devices=1, tlb_entries=8, pa_bits=40, ha=True, hd=True)


def system_verilog(system, faults=(), build_root=DEFAULT_BUILD_ROOT):
    """The system's Verilog (cached: sim.build.cached_verilog)."""
    return cached_verilog(build_root, TOPLEVEL, dict(system, faults=sorted(faults)),
                          lambda: verilog.convert(SystemBusTop(**system, faults=faults),
                                                  name=TOPLEVEL, emit_src=False))


def run_system_rtl(sim="verilator", *, cycles=10_000, seed=1, mode="lockstep", system=None,
                   bugs=(), faults=(), build_root=DEFAULT_BUILD_ROOT, waves=False,
                   stimulus=None):
    """One cocotb run of the system: in lockstep with ``SystemRef`` (``mode``
    "lockstep"), or under the same stimulus without it ("plain"). ``stimulus``: more
    SystemEnvironment arguments (``asids``, ``first_gen``)."""
    system = dict(DEFAULT_SYSTEM, **(system or {}))
    text = system_verilog(system, faults, build_root)
    runner, build_dir = build_verilog(sim, text, TOPLEVEL, build_root, waves)
    cfg = dict(cycles=cycles, seed=seed, mode=mode, system=system, bugs=list(bugs),
               stimulus=stimulus or {})
    raw, _ = run_bench(runner, build_dir, "sim.system_lockstep_bench", TOPLEVEL, cfg, waves)
    return RunResult(status=raw["status"], cycles=raw["cycles"], elapsed=raw["elapsed"],
                     seed=seed, sim=sim, mode=mode, divergence=raw.get("divergence"),
                     stats=raw.get("stats", {}), peak_rss_kb=raw.get("peak_rss_kb", 0))


def run_system_model(*, cycles=10_000, seed=1, system=None):
    """The Python half of a lockstep cycle alone (model, environment, packing of both
    buses), as fast as Python runs it."""
    system = dict(DEFAULT_SYSTEM, **(system or {}))
    ref = SystemRef(**system)
    env = SystemEnvironment(seed, system["cpus"], system["devices"])
    buses = SystemBuses(system["cpus"], system["devices"])
    start = time.perf_counter()
    for _ in range(cycles):
        outputs = ref.outputs()
        buses.pack_outputs(outputs)
        inp = env.step(outputs)
        buses.pack_inputs(inp, env.req_payload)
        ref.tick(inp)
    elapsed = time.perf_counter() - start
    return RunResult(status="ok", cycles=cycles, elapsed=elapsed, seed=seed, sim="model",
                     mode="model", stats=env.stats,
                     peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
