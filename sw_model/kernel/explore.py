"""Systematic exploration of a scenario's interleavings, bounded by preemptions.

The agents are Python generators, which cannot be copied, so the search is stateless
(as in CHESS): every interleaving is a replay from the start. A run is named by its
choices, the agent picked at each step; after the given choices it goes on with the
default: the agent that ran last if it can go on, else the first runnable one. A
*preemption* is picking another agent while the last one could go on; switching when it
cannot (it finished or waits) is free.

Each run records, at every step past its given choices, which agents could run; each
other pick there is a child run whose choices are this run's up to that step plus the
other agent. Children only branch past their parent's choices, so every interleaving is
run once and none is a prefix of another run (the tree of choice sequences). Runs are
taken breadth first by preemptions, so the first violation found has the fewest.

What is not pruned, and why: the kernel's state (its generators mid-step, the page
tables, the platform's TLBs and clock) has no cheap signature that is known complete, so
two prefixes that reach the same state are both explored; and steps do not say what
they touch, so no two steps of different agents are known independent (no sleep sets).
The bound alone keeps the count polynomial: O(steps^K) runs for bound K.

Not explored: letting the clock run while an agent could step (an explicit order may wait
for a hardware-blocked agent; this search only waits when no agent can run).
"""
import time
from collections import deque
from dataclasses import dataclass, replace

from .scenario import Schedule


@dataclass
class Exploration:
    bound: int
    explored: int               # interleavings run
    seconds: float
    run: object = None          # the first violating run found (fewest preemptions)
    preemptions: int = None     # the preemptions in ``run``'s interleaving
    errors: list = None         # the runs that ended in an error (a deadlock): messages
    complete: bool = True       # False: stopped at the run limit before the bound

    @property
    def rate(self):
        return self.explored / self.seconds if self.seconds else 0.0


class _Chooser:
    """The policy of one run (sched.Scheduler): the given choices, then the default;
    records, at each step past the choices, the agents that could run."""

    def __init__(self, choices):
        self.choices = choices
        self.taken = []                 # the agent picked at each step
        self.branches = []              # (step, runnable names, agent that ran last)

    def __call__(self, runnable):
        names = [a.name for a in runnable]
        step = len(self.taken)
        last = self.taken[-1] if self.taken else None
        if step < len(self.choices):
            pick = self.choices[step]
        else:
            pick = last if last in names else names[0]
            self.branches.append((step, names, last))
        self.taken.append(pick)
        return runnable[names.index(pick)]


def explore(scenario, bound=2, *, backend="golden", max_runs=None, run_once=None):
    """Runs ``scenario``'s interleavings with at most ``bound`` preemptions, fewest first,
    until one ends in a violation (see the module docstring). ``max_runs``: stop there."""
    if run_once is None:
        from .runner import run_once
    free = replace(scenario, schedule=Schedule(kind="order", order=()))
    levels = [deque() for _ in range(bound + 1)]     # choice tuples, by preemptions
    levels[0].append(())
    explored, errors = 0, []
    started = time.perf_counter()
    for preemptions, queue in enumerate(levels):
        while queue:
            if max_runs is not None and explored >= max_runs:
                return Exploration(bound, explored, time.perf_counter() - started,
                                   errors=errors, complete=False)
            choices = queue.popleft()
            chooser = _Chooser(choices)
            run = run_once(free, None, backend, policy=chooser)
            explored += 1
            if run.violations:
                return Exploration(bound, explored, time.perf_counter() - started,
                                   run, preemptions, errors)
            if run.error:
                errors.append(run.error)
            for step, names, last in chooser.branches:
                default = chooser.taken[step]
                for other in names:
                    if other == default:
                        continue
                    cost = preemptions + (last in names)
                    if cost <= bound:
                        levels[cost].append(tuple(chooser.taken[:step]) + (other,))
    return Exploration(bound, explored, time.perf_counter() - started, errors=errors)


def summary(exploration):
    """The exploration's outcome, on one line, with its speed."""
    e = exploration
    speed = f"{e.seconds:.2f} s, {e.rate:.0f} interleavings/s"
    if e.run is not None:
        return (f"violation after {e.explored} interleavings ({speed}), with "
                f"{e.preemptions} preemption{'s' * (e.preemptions != 1)}: "
                f"{e.run.violations[0].describe()}")
    stop = "" if e.complete else f" (stopped at the limit of {e.explored} runs)"
    return (f"no violation within bound {e.bound}, {e.explored} interleavings "
            f"explored{stop} ({speed})")
