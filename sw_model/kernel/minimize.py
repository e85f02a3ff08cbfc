"""Shrinks a violating run to a minimal interleaving that still shows the violation.

A run that a random schedule flags is usually long: every agent ran every step it could
before the race lined up. The report a person wants is the race alone. Two greedy passes,
each kept only if a replay on the same backend still ends in a violation of the same
kind:

1. drop whole operations (with all their steps) that the violation does not need;
2. remove context switches: move a run of one agent's steps next to that agent's
   previous or next run, so that fewer, longer runs remain.

What is left is 1-minimal: no single operation can be dropped and no single run of steps
can be joined to its neighbour of the same agent. A replay uses an explicit order, so the
result is a scenario that reproduces the violation exactly.
"""
from dataclasses import dataclass, replace

from .scenario import Schedule

#: Replays a minimization may spend; each is one run of the scenario.
MAX_REPLAYS = 400


@dataclass
class Minimal:
    scenario: object            # the scenario with unneeded operations removed
    run: object                 # its replay: the minimal interleaving is run.trace
    dropped: list               # the Operations removed (their .line says where)
    seed: int | None            # the seed of the run it was shrunk from
    replays: int                # how many runs the search took


def segments(steps):
    """[agent, agent, ...] -> [[agent, count], ...]: the runs of one agent's steps."""
    out = []
    for agent in steps:
        if out and out[-1][0] == agent:
            out[-1][1] += 1
        else:
            out.append([agent, 1])
    return out


def _flatten(runs):
    return [agent for agent, n in runs for _ in range(n)]


def _op_of_each_step(trace):
    """Which operation of its agent (0, 1, ...) each step of ``trace`` belongs to: an
    operation's last step is the one labelled "...: done"."""
    done, out = {}, []
    for agent, label in trace:
        out.append(done.get(agent, 0))
        if label.endswith(": done"):
            done[agent] = done.get(agent, 0) + 1
    return out


def _cost(steps):
    return (len(segments(steps)), len(steps))


class _Search:
    def __init__(self, scenario, kind, run_once, backend):
        self.kind, self.run_once, self.backend = kind, run_once, backend
        self.replays = 0
        self.scenario = scenario

    def attempt(self, threads, steps):
        """Replay ``steps`` (one agent name per step) with ``threads``; the run if it
        still ends in a violation of the kind sought, else None."""
        if self.replays >= MAX_REPLAYS:
            return None
        self.replays += 1
        order = tuple(a if n == 1 else (a, n) for a, n in segments(steps))
        candidate = replace(self.scenario, threads=threads,
                            schedule=Schedule(kind="order", order=order))
        run = self.run_once(candidate, None, self.backend)
        if run.error or not run.violations or run.violations[0].kind != self.kind:
            return None
        return candidate, run


def _steps(run):
    return [agent for agent, _ in run.trace[:run.violations[0].step + 1]]


def minimize(scenario, run, *, backend="golden", run_once=None):
    """The minimal interleaving of ``run``'s first violation (see the module docstring)."""
    if run_once is None:
        from .runner import run_once
    search = _Search(scenario, run.violations[0].kind, run_once, backend)
    best = search.attempt(scenario.threads, _steps(run))
    if best is None:            # the explicit order does not replay it: nothing to shrink
        return Minimal(scenario, run, [], run.seed, search.replays)
    dropped = []

    # 1. Operations: those never started go at once; then each started one in turn.
    current, current_run = best
    started = {}
    for (agent, _), op in zip(current_run.trace, _op_of_each_step(current_run.trace)):
        started[agent] = max(started.get(agent, 0), op + 1)
    threads = {a: ops[:started.get(a, 0)] for a, ops in current.threads.items()}
    dropped += [op for a, ops in current.threads.items() for op in ops[started.get(a, 0):]]
    threads = {a: ops for a, ops in threads.items() if ops}
    found = search.attempt(threads, _steps(current_run))
    if found:
        current, current_run = found
    else:
        dropped = []
    agent_ops = [(a, i) for a, ops in current.threads.items() for i in range(len(ops))]
    for agent, index in reversed(agent_ops):
        trace = current_run.trace[:current_run.violations[0].step + 1]
        ops_of = _op_of_each_step(trace)
        steps = [a for (a, _), op in zip(trace, ops_of) if not (a == agent and op == index)]
        ops = current.threads[agent]
        threads = dict(current.threads)
        threads[agent] = ops[:index] + ops[index + 1:]
        if not threads[agent]:
            del threads[agent]
        if not threads:
            continue
        found = search.attempt(threads, steps)
        if found:
            dropped.append(ops[index])
            current, current_run = found

    # 2. Context switches: join a run of steps to the agent's previous or next run.
    improved = True
    while improved:
        improved = False
        runs = segments(_steps(current_run))
        for i, (agent, n) in enumerate(runs):
            same = [j for j, (a, _) in enumerate(runs) if a == agent and j != i]
            for j in [j for j in same if j < i][-1:] + [j for j in same if j > i][:1]:
                moved = [list(s) for s in runs]
                moved[j][1] += n
                del moved[i]
                steps = _flatten(moved)
                found = search.attempt(current.threads, steps)
                if found and _cost(_steps(found[1])) < _cost(_steps(current_run)):
                    current, current_run = found
                    improved = True
                    break
            if improved:
                break
    return Minimal(current, current_run, dropped, run.seed, search.replays)
