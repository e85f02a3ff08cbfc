"""Runs the lockstep diff (RTL against the model, every output every cycle) and the two
baselines it is measured against: the RTL bench without the model, and the model alone."""
import json
import os
import resource
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sim.build import DEFAULT_BUILD_ROOT, TOPLEVEL, build
from sim.buses import OutputBus
from sim.scripted import ScriptedEnvironment
from sim.stimulus import Environment, Rates
from sw_model.mmu_ref import MMURef

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MMU = dict(tlb_entries=16, pa_bits=40, ha=True, hd=True)


@dataclass
class RunResult:
    status: str                     # "ok" or "diverged"
    cycles: int
    elapsed: float
    seed: int
    sim: str
    mode: str
    divergence: dict | None = None
    waves: str | None = None
    stats: dict = field(default_factory=dict)
    results: list | None = None     # per access, for scripted runs
    peak_rss_kb: int = 0

    @property
    def cycles_per_second(self):
        return self.cycles / self.elapsed if self.elapsed else 0.0


def run_rtl(sim="verilator", *, cycles=10_000, seed=1, mode="lockstep", mmu=None, bugs=(),
            faults=(), script=None, rates=None, build_root=DEFAULT_BUILD_ROOT,
            waves_on_divergence=True, waves=False):
    """One cocotb run. ``mode`` is "lockstep" (model compared every cycle) or "plain"
    (the same stimulus, no model). ``bugs`` break the model, ``faults`` (hdl.faults) the
    RTL. ``script`` (a ScriptedEnvironment's JSON) replaces the
    seeded random environment, and the run ends when the script does; ``rates`` (a dict of
    ``sim.stimulus.Rates`` fields) changes the random one's mix. On a divergence the
    run is replayed with waveform dumping, up to a few cycles past the divergence."""
    mmu = dict(DEFAULT_MMU, **(mmu or {}))
    rates = dict(rates or {})
    Rates(**rates)                          # refuse a bad mix here, not in the simulator
    runner, build_dir = build(sim, mmu, build_root, waves=waves, faults=faults)
    cfg = dict(cycles=cycles, seed=seed, mode=mode, mmu=mmu, bugs=list(bugs),
               script=script, rates=rates)
    raw, test_dir = run_bench(runner, build_dir, "sim.lockstep_bench", TOPLEVEL, cfg, waves)
    result = RunResult(status=raw["status"], cycles=raw["cycles"], elapsed=raw["elapsed"],
                       seed=seed, sim=sim, mode=mode, divergence=raw.get("divergence"),
                       stats=raw.get("stats", {}), results=raw.get("results"),
                       peak_rss_kb=raw.get("peak_rss_kb", 0))
    if result.status == "diverged" and waves_on_divergence and not waves:
        replay = run_rtl(sim, cycles=result.cycles + 8, seed=seed, mode=mode, mmu=mmu,
                         bugs=bugs, faults=faults, script=script, rates=rates,
                         build_root=build_root, waves=True)
        result.waves = replay.waves
    elif waves:
        found = sorted(test_dir.glob("*.vcd")) + sorted(build_dir.glob("*.fst"))
        result.waves = str(found[0]) if found else None
    return result


def run_bench(runner, build_dir, test_module, toplevel, cfg, waves):
    """Run the cocotb bench ``test_module`` with ``cfg`` (JSON in $SHOOTDOWN_LOCKSTEP, plus
    where to write its result); returns (the result it wrote, the run's directory)."""
    test_dir = build_dir / "runs" / uuid.uuid4().hex[:8]
    test_dir.mkdir(parents=True)
    result_path = test_dir / "result.json"
    env = {"SHOOTDOWN_LOCKSTEP": json.dumps(dict(cfg, result=str(result_path))),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                test_dir=test_dir, extra_env=env, waves=waves, log_file=test_dir / "sim.log")
    if not result_path.exists():
        raise RuntimeError(f"the simulation ended without a result; see {test_dir / 'sim.log'}")
    return json.loads(result_path.read_text()), test_dir


def run_model(*, cycles=10_000, seed=1, mmu=None):
    """The model and environment alone, as fast as Python runs them."""
    mmu = dict(DEFAULT_MMU, **(mmu or {}))
    env = Environment(seed, pa_bits=mmu["pa_bits"])
    ref = MMURef(**mmu)
    bus = OutputBus(mmu["tlb_entries"])
    start = time.perf_counter()
    for _ in range(cycles):
        outputs = ref.outputs()
        bus.pack(outputs)
        inp = env.step(outputs[0], outputs[4], outputs[1])
        ref.tick(inp)
    elapsed = time.perf_counter() - start
    return RunResult(status="ok", cycles=cycles, elapsed=elapsed, seed=seed, sim="model",
                     mode="model", stats=env.stats,
                     peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def run_script_on_model(script, *, mmu=None, max_cycles=100_000, bugs=()):
    """A ScriptedEnvironment's JSON run on the model alone; returns the environment (its
    ``results`` per access, its ``memory`` as the run left it) and the model."""
    mmu = dict(DEFAULT_MMU, **(mmu or {}))
    env = ScriptedEnvironment.from_json(script, mmu["pa_bits"])
    ref = MMURef(**mmu, bugs=bugs)
    for _ in range(max_cycles):
        if env.finished:
            return env, ref
        outputs = ref.outputs()
        inp = env.step(outputs[0], outputs[4], outputs[1])
        ref.tick(inp)
    raise RuntimeError(f"script did not finish in {max_cycles} cycles")


def describe(result):
    """Human-readable lines about a run."""
    lines = [f"{result.mode} on {result.sim}: seed {result.seed}, {result.cycles} cycles, "
             f"{result.cycles_per_second:,.0f} cycles/s"]
    if result.status == "diverged":
        d = result.divergence
        lines.append(f"DIVERGED at cycle {d['cycle']} (seed {result.seed}):")
        for s in d["signals"]:
            lines.append(f"  {s['signal']}: expected {s['expected']:#x}, actual {s['actual']:#x}")
        if result.waves:
            lines.append(f"  waveform: {result.waves}")
    return lines


if __name__ == "__main__":
    print("\n".join(describe(run_rtl(sys.argv[1] if len(sys.argv) > 1 else "verilator"))))
