"""Runs a parsed scenario on a platform backend: builds the kernel and its address
spaces, gives each agent its operations, interleaves them, and checks every access."""
import random
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from ..platform import Divergence
from ..platform_recorder import PlatformRecorder
from .hugetlb import HugetlbPoolEmpty
from .kernel import Kernel
from .minimize import minimize, segments
from .pgtable import HugePmdNotModelled
from .sched import Agent, Deadlock, Scheduler, ScheduleError


class _Stop(Exception):
    """The first violation ends a run: its trace is the interleaving to report."""


@dataclass
class RunOutcome:
    seed: int | None
    trace: list                   # (agent, step label)
    violations: list              # checker.Violation
    error: str | None             # a deadlock or an impossible explicit order
    cycles: int
    stats: Counter
    divergence: object = None     # platform.Divergence: the RTL left the model here
    recording: object = None      # a PlatformRecorder, when the run was recorded
    step_cycles: list = field(default_factory=list)   # the clock at the end of each step

    @property
    def flagged(self):
        """Whether the run found a violation or ended in an error."""
        return bool(self.violations or self.error)

    def segments(self, last=None):
        """The interleaving up to step ``last`` as runs of one agent's steps:
        [[agent, number of steps], ...]."""
        steps = self.trace if last is None else self.trace[:last + 1]
        return segments([agent for agent, _ in steps])

    def interleaving(self, last=None):
        steps = self.trace if last is None else self.trace[:last + 1]
        return [f"{i + 1:4d}  {agent:5s} {label}" for i, (agent, label) in enumerate(steps)]


@dataclass
class ScenarioResult:
    scenario: object
    backend: str = "golden"
    runs: list = field(default_factory=list)

    @property
    def violation_kinds(self):
        return sorted({v.kind for r in self.runs for v in r.violations})

    @property
    def stuck_accesses(self):
        """Accesses that kept faulting after every fault was handled (liveness)."""
        return sum(r.stats["stuck_accesses"] for r in self.runs)

    @property
    def errors(self):
        return [r.error for r in self.runs if r.error]

    @property
    def met(self):
        """Whether the scenario's expectation holds over all its runs."""
        if self.errors:
            return False
        if self.scenario.expect == "clean":
            return not self.violation_kinds and not self.stuck_accesses
        return self.scenario.expect in self.violation_kinds

    @cached_property
    def minimal(self):
        """The first flagged run shrunk to a minimal interleaving (``minimize.Minimal``),
        or None if no run was flagged."""
        flagged = [r for r in self.runs if r.violations]
        return minimize(self.scenario, flagged[0], backend=self.backend) if flagged else None


def make_backend(name, system):
    if callable(name):
        return name(system)
    if name == "untimed":
        from ..untimed_backend import UntimedBackend
        return UntimedBackend(cpus=system["cpus"], devices=system["devices"],
                              tlb_entries=system["tlb"])
    if name != "golden":
        raise ValueError(f"unknown backend {name!r}; available: golden, untimed")
    from ..golden_backend import GoldenBackend
    return GoldenBackend(cpus=system["cpus"], devices=system["devices"],
                         tlb_entries=system["tlb"])


def _agent_id(name):
    return ("cpu", int(name[3:])) if name.startswith("cpu") else ("dev", int(name[3:]))


def run_once(scenario, seed=None, backend="golden", record=False, policy=None,
             on_start=None):
    """One run of ``scenario`` on ``backend`` (a name for make_backend, or a callable
    taking the scenario's system settings and returning a Platform); ``record``: through
    a PlatformRecorder, kept as the outcome's ``recording``; ``policy``: picks the next
    agent once the explicit order is spent (sched.Scheduler); ``on_start``: called with
    the kernel and the scheduler before the first step (the explorer reads the state)."""
    system = scenario.system
    platform = make_backend(backend, system)
    if record:
        platform = PlatformRecorder(platform)
    kernel = Kernel(platform, arch=system["arch"], reclaim=system["reclaim"],
                    frames=system["frames"], device_tlb=system["device_tlb"],
                    mmu_notifier=system["mmu_notifier"],
                    fixes={name: False for name in system.get("bugs", ())},
                    pae=system.get("pae") == "on", mthp=system.get("mthp") == "on",
                    pending=system["pending"], zap_rmap=system["zap_rmap"],
                    highpte=system["highpte"] == "on")
    agents = []
    for name, ops in scenario.threads.items():
        agent_id = _agent_id(name)
        agents.append(Agent(name, [
            (f"{op.name} {' '.join(_show(a) for a in op.args)}".strip(),
             lambda op=op, name=name, agent_id=agent_id:
                 kernel.operation(name, agent_id, op.name, op.args))
            for op in ops]))
    sched = Scheduler(agents, platform, order=scenario.schedule.order,
                      rng=random.Random(seed) if scenario.schedule.kind == "random" else None,
                      policy=policy)

    step_cycles = []

    def on_step(agent, label):
        if record:
            platform.step_done(agent, label)
        kernel.step_index = len(sched.trace)
        step_cycles.append(platform.cycles)
        if kernel.checker.violations:
            raise _Stop

    error = divergence = None
    try:
        for spec in scenario.mms.values():
            mm = kernel.create_mm(spec.name)
            for vma in spec.vmas:
                kernel.add_vma(mm, vma.start, vma.pages, vma.perms, vma.kind)
            for va, pages, write in spec.populate:
                for page in range(pages):
                    kernel.populate(mm, va + page * 0x1000, write)
        if record:
            platform.setup_done()
        if on_start:
            on_start(kernel, sched)
        sched.run(on_step)
    except _Stop:
        pass
    except (Deadlock, ScheduleError, HugePmdNotModelled, HugetlbPoolEmpty) as e:
        error = str(e)
    except Divergence as e:
        divergence = e
        agent = sched.running
        where = (f"in step {len(sched.trace) + 1} ({agent.name}: {agent.current_label})"
                 if agent is not None else "while the address spaces were set up")
        error = f"{e} {where}"
    stats = Counter(kernel.stats)
    stats.update({f"hw_{k}": v for k, v in _flat(platform.stats).items()})
    return RunOutcome(seed, sched.trace, list(kernel.checker.violations), error,
                      platform.cycles, stats, divergence, platform if record else None,
                      step_cycles)


def _flat(stats):
    out = {}
    for key, value in stats.items():
        if isinstance(value, dict):
            out.update({f"{key}_{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _show(arg):
    return f"{arg:#x}" if isinstance(arg, int) and arg >= 0x1000 else str(arg)


def run_scenario(scenario, *, backend="golden", seed=None, runs=None, progress=None,
                 record=False):
    """All runs of ``scenario``: one for an explicit order; ``runs`` seeded random
    interleavings (seeds seed, seed+1, ...) for a random schedule. ``record``: record
    every run, keeping the recordings of the first run and the first flagged one."""
    result = ScenarioResult(scenario, backend)
    if scenario.schedule.kind == "random":
        first = scenario.schedule.seed if seed is None else seed
        count = scenario.schedule.runs if runs is None else runs
        seeds = range(first, first + count)
    else:
        seeds = [None]
    for i, s in enumerate(seeds):
        outcome = run_once(scenario, s, backend, record)
        if record and result.runs and (not outcome.flagged
                                       or any(r.flagged for r in result.runs)):
            outcome.recording = None
        result.runs.append(outcome)
        if progress:
            progress(i + 1, len(seeds))
        if result.runs[-1].divergence:          # the hardware is not the model's now
            break
    return result


def replay_text(scenario_text, run, dropped=(), seed=None, origin=None):
    """The scenario, with its schedule replaced by the explicit order of ``run``'s steps
    up to its first violation, its expectation by that violation, and the lines of the
    operations in ``dropped`` (scenario Operations) removed: a file that replays the
    violation. ``seed``: the random run ``run`` was shrunk from, if it was; ``origin``:
    where the run came from, said in the file's comment, if not from a seeded run."""
    v = run.violations[0]
    order = run.segments(v.step)
    gone = {op.line for op in dropped}
    kept = [line for number, line in enumerate(scenario_text.splitlines(), 1)
            if number not in gone and
            line.split("#", 1)[0].split()[:1] not in (["schedule"], ["expect"])]
    entries = " ".join(name if n == 1 else f"{name}:{n}" for name, n in order)
    if origin is None:
        origin = f"run seed={run.seed}" if seed is None else \
            f"the minimal interleaving of run seed={seed}"
    return "\n".join(kept + [f"# Replays {origin}: {v.describe()}",
                             f"schedule order {entries}", f"expect {v.kind}", ""])
