"""``shootdown run --backend rtl``: a kernel scenario on the system RTL (Verilator or
Icarus through cocotb), in lockstep with the model; on a divergence, a replay with
waveforms dumped up to a few cycles past it."""
import shutil
from dataclasses import dataclass
from pathlib import Path

from hdl.fabric import check_fabric_params
from sim.build import DEFAULT_BUILD_ROOT, build_verilog
from sim.lockstep import run_bench
from sim.system_lockstep import TOPLEVEL, system_verilog

#: Physical address bits of the RTL a scenario runs on (the golden backend's default).
PA_BITS = 40


@dataclass
class RTLRun:
    met: bool
    summary: str
    report: dict                  # sim.run_report.as_json of the runs
    cycles: int
    divergence: dict | None       # cycle, where (step), signals (expected, actual)
    waves: str | None = None


def rtl_system(system):
    """The RTL top's parameters for a scenario's ``system``: those of the golden
    backend's ``SystemRef`` (40-bit PAs, hardware AF and dirty updates). A system the
    RTL cannot build is a ValueError."""
    check_fabric_params(system["cpus"], system["devices"])
    return dict(cpus=system["cpus"], devices=system["devices"], tlb_entries=system["tlb"],
                pa_bits=PA_BITS, ha=True, hd=True)


def run_on_rtl(scenario, *, sim="verilator", seed=None, runs=None, waves=None, faults=(),
               waves_on_divergence=False, report=None, build_root=DEFAULT_BUILD_ROOT):
    """Run ``scenario`` (parsed; its ``path`` is read again by the simulator) on the RTL.
    ``waves``: a path to copy the full run's waveform to; ``waves_on_divergence``: replay
    a divergent run with waveforms (the window around the divergence); ``report``: a
    directory for the files of ``shootdown run --report``."""
    text = system_verilog(rtl_system(scenario.system), faults, build_root)
    dump = waves is not None
    runner, build_dir = build_verilog(sim, text, TOPLEVEL, build_root, dump)
    cfg = dict(scenario=str(Path(scenario.path).resolve()), sim=sim, seed=seed, runs=runs,
               waves=dump, report=str(Path(report).resolve()) if report else None)
    raw, test_dir = run_bench(runner, build_dir, "sim.rtl_scenario_bench", TOPLEVEL, cfg,
                              dump)
    result = RTLRun(raw["met"], raw["summary"], raw["report"], raw["cycles"],
                    raw["divergence"])
    if dump:
        found = sorted(test_dir.glob("*.vcd")) + sorted(build_dir.glob("*.fst"))
        if found:
            shutil.copyfile(found[0], waves)
            result.waves = str(waves)
    elif result.divergence and waves_on_divergence:
        replay = run_on_rtl(scenario, sim=sim, seed=seed, runs=runs, faults=faults,
                            waves=test_dir / f"divergence.{'fst' if sim == 'verilator' else 'vcd'}",
                            build_root=build_root)
        result.waves = replay.waves
    return result
