"""Trace mode: a scenario run on the golden backend, recorded as the RTL top's buses, then
replayed on the RTL by a testbench with no Python in the loop, which stops at the first
cycle whose outputs differ. The kernel model is deterministic given the backend's
answers, and the golden backend is cycle-exact, so the golden run fixes every cycle's
inputs; a divergence is reported as lockstep reports it (cycle, signals, expected and
actual), placed in the scenario's run and step."""
import resource
import tempfile
import time
from dataclasses import dataclass, field

from sim.build import DEFAULT_BUILD_ROOT
from sim.golden_recorder import RecordingBackend
from sim.system_bus_top import SystemBuses
from sim.rtl_run import PA_BITS, rtl_system
from sim.system_lockstep import TOPLEVEL, system_verilog
from sim.trace_bench import Replay, build_replay
from sw_model.kernel.runner import run_scenario


@dataclass
class TraceDivergence:
    """Where a trace replay first differed from the recorded golden run (the trace-mode
    counterpart of ``sw_model.platform.Divergence``, which the lockstep backend raises)."""
    run_seed: int | None
    cycle: int                        # within the run
    step: int | None                  # 1-based scenario step; None: after the last step
    agent: str | None
    label: str | None
    signals: list                     # (field, expected, actual)
    unknown_bits: bool = False

    def describe(self):
        where = (f"scenario step {self.step} ({self.agent}: {self.label})"
                 if self.step else "after the last step")
        lines = [f"DIVERGED in run seed={self.run_seed}: {where}, cycle {self.cycle}"]
        lines += [f"  {s}: expected {e:#x}, actual {a:#x}" for s, e, a in self.signals]
        if self.unknown_bits:
            lines.append("  (the RTL showed X/Z bits, read here as 0)")
        return lines


@dataclass
class TraceResult:
    result: object                    # the golden run's ScenarioResult
    sim: str
    cycles: int                       # cycles recorded, over every run
    records: int                      # run-length records replayed
    checked: int                      # cycles the replay checked
    divergence: TraceDivergence | None
    #: Wall-clock seconds: build (Verilog too), record (the golden runs), total
    #: (recording and replay, which overlap); CPU seconds: record_cpu (this process),
    #: replay_cpu (the simulator's).
    seconds: dict = field(default_factory=dict)

    @property
    def ok(self):
        return self.divergence is None and self.checked == self.cycles

    def describe(self):
        s = self.seconds
        lines = [f"trace mode on {self.sim}: {self.cycles} cycles in {len(self.result.runs)} "
                 f"run(s), {self.records} records; Verilog and build {s['build']:.2f} s; "
                 f"golden recording {s['record']:.2f} s (CPU {s['record_cpu']:.2f}); replay "
                 f"CPU {s['replay_cpu']:.2f} s ({_rate(self.checked, s['replay_cpu'])} "
                 f"cycles/s); recording and replay together {s['total']:.2f} s "
                 f"({_rate(self.checked, s['total'])} cycles/s)"]
        if self.divergence:
            lines += self.divergence.describe()
        elif self.ok:
            lines.append(f"no divergence in {self.cycles} cycles")
        else:
            lines.append(f"the replay stopped after {self.checked} of {self.cycles} cycles")
        return lines


    def as_json(self):
        d = self.divergence
        return {"sim": self.sim, "cycles": self.cycles, "records": self.records,
                "checked": self.checked, "ok": self.ok, "seconds": self.seconds,
                "divergence": d and {
                    "run_seed": d.run_seed, "cycle": d.cycle, "step": d.step,
                    "agent": d.agent, "label": d.label, "unknown_bits": d.unknown_bits,
                    "signals": [{"signal": s, "expected": e, "actual": a}
                                for s, e, a in d.signals]}}


def run_trace(scenario, *, sim="verilator", seed=None, runs=None, faults=(),
              build_root=DEFAULT_BUILD_ROOT):
    """Record ``scenario``'s runs (as ``run_scenario`` chooses them) on the golden
    backend and replay them on the RTL (with simulation-only hardware ``faults``)."""
    params = rtl_system(scenario.system)
    buses = SystemBuses(params["cpus"], params["devices"])
    timer = time.perf_counter
    started = timer()
    design = system_verilog(params, faults, build_root)
    command = build_replay(sim, design, TOPLEVEL, buses.inputs.width, buses.outputs.width,
                           build_root)
    built, child_cpu = timer(), _children_cpu()
    with tempfile.TemporaryDirectory(prefix="shootdown-trace-") as workdir, \
            Replay(command, buses.inputs.width, buses.outputs.width, workdir) as replay:
        recorder = None

        def recording(system):
            nonlocal recorder
            if recorder:                        # the previous run is over
                replay.run(recorder.records)
            recorder = RecordingBackend(cpus=params["cpus"], devices=params["devices"],
                                        tlb_entries=params["tlb_entries"], pa_bits=PA_BITS)
            return recorder

        started_cpu = time.process_time()
        result = run_scenario(scenario, backend=recording, seed=seed, runs=runs)
        replay.run(recorder.records)
        recorded, record_cpu = timer(), time.process_time() - started_cpu
        outcome = replay.finish()
    done, replay_cpu = timer(), _children_cpu() - child_cpu
    divergence = locate(result.runs, outcome, buses) if outcome.diverged else None
    return TraceResult(result, sim, sum(r.cycles for r in result.runs),
                       replay.records, outcome.cycles, divergence,
                       dict(build=built - started, record=recorded - built,
                            total=done - built, record_cpu=record_cpu,
                            replay_cpu=replay_cpu))


def _rate(cycles, seconds):
    return f"{cycles / max(seconds, 1e-9):,.0f}"


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def locate(runs, outcome, buses):
    """The TraceDivergence of a replay (``outcome``) that diverged at its cycle, counted over
    all of ``runs`` (RunOutcomes, in replay order), placed in its run and step."""
    cycle = outcome.cycles
    for run in runs:
        if cycle < run.cycles:
            break
        cycle -= run.cycles
    step = next((i for i, end in enumerate(run.step_cycles) if end > cycle), None)
    agent, label = run.trace[step] if step is not None else (None, None)
    return TraceDivergence(run.seed, cycle, None if step is None else step + 1, agent, label,
                           buses.diff(outcome.expected, outcome.actual), outcome.unknown_bits)
