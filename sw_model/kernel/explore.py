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

What counts as a preemption (``count``): ``"switch"`` (CHESS), any switch away from an
agent that could go on; ``"in-op"``, only a switch away from an agent inside an
operation: between two operations a CPU is back in user space, where it may be delayed
for any time, so switching there is free. Deep races need the second: race 6's
interleaving takes four switches, three of them inside operations (docs/explore.md).

State hashing (``prune``, from the ``hash_after``-th run on): at every step past its
given choices (counting "switch": only where the agent that ran last is between two
operations), a run computes the signature of the whole state (``state_signature``:
kernel, platform, the agents' generators mid-operation) with the agent a switch would
preempt (none if a switch is free). If an earlier run reached that
state with no more preemptions spent, everything from here was or will be explored
from there, within the same bound: the run stops (it is counted as pruned, not
explored) and branches only where it went before. The fewest-preemptions property
holds: a violation below the pruned state is one below the earlier state, with no more
preemptions.

The default backend is the untimed one (``untimed_backend``); a violation it finds is
replayed on the golden backend (the cycle-matched model), step by step, to confirm it.

Not explored: letting the clock run while an agent could step (an explicit order may wait
for a hardware-blocked agent; this search only waits when no agent can run).
"""
import time
from collections import Counter, deque
from dataclasses import dataclass, replace

from .scenario import Schedule
from .state_signature import signature

#: Where a violation found on another backend is confirmed: the cycle-matched model.
CONFIRM_BACKEND = "golden"
#: Runs before state hashing starts: a signature costs about a quarter of a small run,
#: which a search this small does not win back (docs/explore.md).
HASH_AFTER = 500
#: What counts as a preemption (module docstring); the first is the default.
COUNTS = ("switch", "in-op")


@dataclass
class Exploration:
    bound: int
    explored: int               # interleavings run to their end
    seconds: float
    run: object = None          # the first violating run found (fewest preemptions)
    preemptions: int = None     # the preemptions in ``run``'s interleaving
    errors: list = None         # the runs that ended in an error (a deadlock): messages
    complete: bool = True       # False: stopped at the run limit before the bound
    pruned: int = 0             # runs stopped at a state an earlier run had reached
    backend: str = "untimed"
    confirmation: object = None     # the violating order replayed on CONFIRM_BACKEND
    count: str = COUNTS[0]          # what counts as a preemption

    @property
    def rate(self):
        return self.explored / self.seconds if self.seconds else 0.0

    @property
    def confirmed(self):
        """Whether the confirmation replay shows the same violation (None: none
        needed)."""
        if self.run is None or self.confirmation is None:
            return None
        again = self.confirmation.violations
        return bool(again) and again[0].describe() == self.run.violations[0].describe()

    @property
    def witness(self):
        """The violating run to report: on the confirming backend when confirmed, so
        that its order replays there (its steps may differ: waits for the hardware)."""
        return self.confirmation if self.confirmed else self.run


class _Pruned(Exception):
    """The run reached a state an earlier run reached with no more preemptions."""


class _Chooser:
    """The policy of one run (sched.Scheduler): the given choices, then the default;
    records, at each step past the choices, the agents that could run, and stops the
    run at a state in ``seen`` (signature -> fewest preemptions it was reached with)."""

    def __init__(self, choices, seen=None, count=COUNTS[0]):
        self.choices, self.seen, self.count = choices, seen, count
        self.taken = []                 # the agent picked at each step
        self.branches = []              # (step, runnable names, agent a switch preempts)
        self.preemptions = 0            # so far
        self.roots = ()

    def start(self, kernel, sched):
        self.roots = (kernel, sched.agents)

    def _in_operation(self, last):
        """Whether the agent that ran last is inside an operation."""
        return last is not None and self.roots[1][last].current is not None

    def _worth_hashing(self, last):
        """Counting "switch": only states where the agent that ran last is between two
        operations (fewer, and cheaper: one generator fewer); counting "in-op", every
        state, which prunes more where most switches are free (docs/explore.md)."""
        return self.count == "in-op" or not self._in_operation(last)

    def __call__(self, runnable):
        names = [a.name for a in runnable]
        step = len(self.taken)
        last = self.taken[-1] if self.taken else None
        # The agent that picking another would preempt, if any.
        costly = last if last in names and (self.count == "switch" or
                                            self._in_operation(last)) else None
        if step < len(self.choices):
            pick = self.choices[step]
        else:
            if self.seen is not None and self._worth_hashing(last):
                key = (costly, signature(*self.roots))
                before = self.seen.get(key)
                if before is not None and before <= self.preemptions:
                    raise _Pruned
                self.seen[key] = self.preemptions
            pick = last if last in names else names[0]
            self.branches.append((step, names, costly))
        self.preemptions += costly is not None and pick != costly
        self.taken.append(pick)
        return runnable[names.index(pick)]


def explore(scenario, bound=2, *, backend="untimed", prune=True, hash_after=HASH_AFTER,
            max_runs=None, run_once=None, confirm=True, count=COUNTS[0]):
    """Runs ``scenario``'s interleavings with at most ``bound`` preemptions, fewest first,
    until one ends in a violation (see the module docstring). ``prune``: state hashing,
    from run ``hash_after`` on; ``max_runs``: stop after that many runs (explored and
    pruned); ``confirm``: replay a violation found on another backend on
    CONFIRM_BACKEND; ``count``: what counts as a preemption (COUNTS)."""
    if count not in COUNTS:
        raise ValueError(f"unknown preemption count {count!r}; known: {', '.join(COUNTS)}")
    if run_once is None:
        from .runner import run_once
    free = replace(scenario, schedule=Schedule(kind="order", order=()))
    levels = [deque() for _ in range(bound + 1)]     # choice tuples, by preemptions
    levels[0].append(())
    seen = {} if prune else None
    found = Exploration(bound, 0, 0.0, errors=[], backend=backend, count=count)
    started = time.perf_counter()
    for preemptions, queue in enumerate(levels):
        while queue and found.run is None:
            if max_runs is not None and found.explored + found.pruned >= max_runs:
                found.complete = False
                break
            hashing = seen is not None and found.explored + found.pruned >= hash_after
            chooser = _Chooser(queue.popleft(), seen if hashing else None, count)
            try:
                run = run_once(free, None, backend, policy=chooser, on_start=chooser.start)
            except _Pruned:
                found.pruned += 1
            else:
                found.explored += 1
                if run.violations:
                    found.run, found.preemptions = run, preemptions
                elif run.error:
                    found.errors.append(run.error)
            for step, names, costly in chooser.branches:
                default = chooser.taken[step]
                cost = preemptions + (costly is not None)
                if cost <= bound:
                    levels[cost].extend(tuple(chooser.taken[:step]) + (other,)
                                        for other in names if other != default)
    found.seconds = time.perf_counter() - started
    if found.run is not None and confirm and backend != CONFIRM_BACKEND:
        follow = _Follow(found.run)
        found.confirmation = run_once(free, None, CONFIRM_BACKEND, policy=follow,
                                      on_start=follow.start)
    return found


WAITS = ": waits for "


class _Follow:
    """The policy that takes a run found on another backend step by step on this one.
    The cycle-matched backend has waits the untimed one has not (a flush's IPIs being
    acknowledged): such a step is an extra step of the same agent, which runs again once
    the hardware has answered. Where the run waited and this backend did not, the agent
    did at once what it resumed to do later: that later step is passed over."""

    def __init__(self, run):
        self.steps = run.trace[:run.violations[0].step + 1]
        self.at = 0                     # the next step of ``steps`` to take
        self.ahead = Counter()          # per agent: later steps already taken
        self.sched = None

    def start(self, kernel, sched):
        self.sched = sched

    def __call__(self, runnable):
        trace = self.sched.trace
        if trace and self.at <= len(self.steps):
            agent, label = trace[-1]
            expected = self.steps[self.at - 1][1]
            if WAITS in label and WAITS not in expected:
                return self.sched.agents[agent]
            if WAITS in expected and WAITS not in label:
                self.ahead[agent] += 1
        while self.at < len(self.steps):
            want = self.steps[self.at][0]
            self.at += 1
            if self.ahead[want]:
                self.ahead[want] -= 1
                continue
            return self.sched.agents[want]
        self.at = len(self.steps) + 1   # followed to its end: the default from here
        return runnable[0]


def replay(scenario, run):
    """``scenario`` with the explicit order of ``run``'s steps up to its violation."""
    return replace(scenario, schedule=Schedule(kind="order", order=tuple(
        (agent, n) for agent, n in run.segments(run.violations[0].step))))


def summary(exploration):
    """The exploration's outcome, on one line, with its speed and what was pruned."""
    e = exploration
    speed = (f"{e.seconds:.2f} s, {e.rate:.0f} interleavings/s, {e.pruned} pruned, "
             f"{e.backend}" + ("" if e.count == COUNTS[0] else f", counting {e.count}"))
    if e.run is not None:
        return (f"violation after {e.explored} interleavings ({speed}), with "
                f"{e.preemptions} preemption{'s' * (e.preemptions != 1)}: "
                f"{e.run.violations[0].describe()}")
    stop = "" if e.complete else f" (stopped at the limit of {e.explored + e.pruned} runs)"
    return (f"no violation within bound {e.bound}, {e.explored} interleavings "
            f"explored{stop} ({speed})")


def confirmation(exploration):
    """One line on the replay of the violation on CONFIRM_BACKEND, or None."""
    e = exploration
    if e.confirmed is None:
        return None
    if e.confirmed:
        return f"confirmed on the {CONFIRM_BACKEND} backend"
    again = e.confirmation
    seen = again.violations[0].describe() if again.violations else \
        again.error or "no violation"
    return f"NOT confirmed on the {CONFIRM_BACKEND} backend, which shows: {seen}"
