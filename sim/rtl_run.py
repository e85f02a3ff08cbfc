"""``shootdown run --backend rtl``: a kernel scenario on the system RTL (Verilator or
Icarus through cocotb), in lockstep with the model; on a divergence, a replay with
waveforms dumped up to a few cycles past it."""
import shutil
from dataclasses import dataclass
from pathlib import Path

from sim.build import DEFAULT_BUILD_ROOT, build_verilog
from sim.lockstep import run_bench
from sim.system_lockstep import TOPLEVEL, system_verilog


@dataclass
class RTLRun:
    met: bool
    summary: str
    report: dict                  # sim.run_report.as_json of the runs
    cycles: int
    divergence: dict | None       # cycle, where (step), signals (expected, actual)
    waves: str | None = None


def rtl_system(scenario):
    """The RTL configuration a scenario's system settings ask for (as the golden
    backend's model: 40-bit PAs, hardware AF and dirty updates)."""
    s = scenario.system
    return dict(cpus=s["cpus"], devices=s["devices"], tlb_entries=s["tlb"], pa_bits=40,
                ha=True, hd=True)


def run_on_rtl(scenario, *, sim="verilator", seed=None, runs=None, waves=None, faults=(),
               waves_on_divergence=False, report=None, build_root=DEFAULT_BUILD_ROOT):
    """Run ``scenario`` (parsed; its ``path`` is read again by the simulator) on the RTL.
    ``waves``: a path to copy the full run's waveform to; ``waves_on_divergence``: replay
    a divergent run with waveforms (the window around the divergence); ``report``: a
    directory for the files of ``shootdown run --report``."""
    text = system_verilog(rtl_system(scenario), faults, build_root)
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
