"""Outcome exploration: every interleaving of a test's threads at instruction granularity,
and the set of final states they reach.

Each execution starts with cold TLBs, or with every CPU's TLB warm: holding every initial
translation it could (``Execution.warm``); the model never fills a TLB speculatively, so
without warm starts a TLBI would matter only to a CPU that had used the page itself.

Only visible instructions (``a64.VISIBLE``) are interleaved: a thread's local ones run
straight after the visible one before them, since no other thread can see them. After a
TLBI, ``gap`` idle cycles pass before the next instruction, one gap per execution taken
from ``gaps``: 0 lets the next access race the invalidate's delivery (a walk in flight,
a TLB hit just before it lands), a longer one lets it reach every TLB first; that is
where the cycle-matched backends' timing shows.

The search is depth first. On the golden backend an execution is copied at each choice
(``copy.deepcopy``) and every branch goes on from its copy; a backend that cannot be
copied (the RTL in a simulator) replays each schedule from a fresh backend instead.
"""
import copy
from collections import Counter
from dataclasses import dataclass

from .a64 import LoopBound
from .execution import Execution

#: Idle cycles tried after each TLBI.
GAPS = (0, 6)
#: Executions explored at most per test; past it the test is reported incomplete.
MAX_EXECUTIONS = 5_000


@dataclass
class Exploration:
    outcomes: Counter           # FinalState -> executions that reached it
    executions: int = 0
    cut: int = 0                # executions ended by the loop bound (no outcome)
    complete: bool = True       # every interleaving, start and gap explored


def explore(prepared, make_backend, gaps=GAPS, max_executions=MAX_EXECUTIONS,
            snapshots=True):
    """Run every schedule of ``prepared`` on backends from ``make_backend()``; with
    ``snapshots``, branch by copying executions, else replay each schedule."""
    found = Exploration(Counter())
    starts = [(warm, gap) for warm in (False, True)
              for gap in (gaps if prepared.tlbis else gaps[:1])]
    if snapshots:
        # Each start gets its share of the executions.
        for n, (warm, gap) in enumerate(starts, 1):
            execution = Execution(prepared, make_backend())
            if warm:
                execution.warm()
            _branch(execution, gap, found, max_executions * n // len(starts),
                    {id(prepared): prepared})
        return found
    pending = [(s,) for s in range(len(starts))]
    while pending:
        if found.executions >= max_executions:
            found.complete = False
            break
        forced = pending.pop()
        warm, gap = starts[forced[0]]
        chooser = _Chooser(forced[1:], pending, forced[:1])
        execution = Execution(prepared, make_backend())
        if warm:
            execution.warm()
        _finish(execution, gap, found, chooser)
    return found


def _finish(execution, gap, found, choose):
    """Run ``execution`` to its end, ``choose(n)`` picking the thread each time."""
    found.executions += 1
    try:
        while True:
            ready = [t for t in execution.threads if not t.done]
            if not ready:
                break
            _step(execution, ready[choose(len(ready))], gap)
    except LoopBound:
        found.cut += 1
        return
    found.outcomes[execution.final_state()] += 1


def _branch(execution, gap, found, limit, memo):
    """Depth-first from ``execution``: each other ready thread on a copy, then the first
    on the execution itself."""
    try:
        while True:
            ready = [t for t in execution.threads if not t.done]
            if not ready:
                break
            for thread in ready[1:]:
                if found.executions >= limit:
                    found.complete = False
                    return
                branch = copy.deepcopy(execution, dict(memo))
                try:
                    _step(branch, branch.threads[thread.index], gap)
                except LoopBound:
                    found.executions += 1
                    found.cut += 1
                    continue
                _branch(branch, gap, found, limit, memo)
            _step(execution, ready[0], gap)
    except LoopBound:
        found.executions += 1
        found.cut += 1
        return
    found.executions += 1
    found.outcomes[execution.final_state()] += 1


def _step(execution, thread, gap):
    tlbi = thread.code[thread.pc].op == "TLBI"
    thread.step(execution)
    if tlbi and gap:
        execution.backend.idle(gap)


class _Chooser:
    """The choices of one replayed execution: a forced prefix, then first choices (the
    others queued, each as the prefix that takes it)."""

    def __init__(self, forced, pending, start):
        self.forced, self.pending, self.start, self.taken = forced, pending, start, []

    def __call__(self, n):
        if n == 1:
            return 0
        k = len(self.taken)
        if k < len(self.forced):
            choice = self.forced[k]
        else:
            choice = 0
            self.pending.extend(self.start + tuple(self.taken) + (alt,)
                                for alt in range(n - 1, 0, -1))
        self.taken.append(choice)
        return choice
