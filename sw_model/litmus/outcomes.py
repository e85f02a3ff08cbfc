"""Outcome exploration: every interleaving of a test's threads at instruction granularity,
each on a fresh backend, and the set of final states they reach.

Only visible instructions (``a64.VISIBLE``) are interleaved: a thread's local ones run
straight after the visible one before them, since no other thread can see them. After a
TLBI, each gap of ``gaps`` idle cycles is tried before the next instruction: 0 lets the
next access race the invalidate's delivery (a walk in flight, a TLB hit just before it
lands), a longer one lets it reach every TLB first; that is where the cycle-matched
backends' timing shows. The gap is chosen once per execution, for all its TLBIs. The search is a stateless depth-first one: an execution replays
the choices of a prefix and takes the first choice after it, queueing the others.
"""
from collections import Counter
from dataclasses import dataclass

from .a64 import LoopBound
from .execution import Execution

#: Idle cycles tried after each TLBI.
GAPS = (0, 6)
#: Executions explored at most per test; past it the test is reported incomplete.
MAX_EXECUTIONS = 20_000


@dataclass
class Exploration:
    outcomes: Counter           # FinalState -> executions that reached it
    executions: int
    cut: int                    # executions ended by the loop bound (no outcome)
    complete: bool              # every interleaving and gap explored


class _Chooser:
    """The choices of one execution: a replayed prefix, then first choices."""

    def __init__(self, forced, pending):
        self.forced, self.pending, self.taken = forced, pending, []

    def __call__(self, n):
        if n == 1:
            return 0
        k = len(self.taken)
        if k < len(self.forced):
            choice = self.forced[k]
        else:
            choice = 0
            self.pending.extend(tuple(self.taken) + (alt,) for alt in range(n - 1, 0, -1))
        self.taken.append(choice)
        return choice


def explore(prepared, make_backend, gaps=GAPS, max_executions=MAX_EXECUTIONS):
    """Run every schedule of ``prepared`` on backends from ``make_backend()``."""
    outcomes, cut, executions = Counter(), 0, 0
    pending = [()]
    while pending and executions < max_executions:
        choose = _Chooser(pending.pop(), pending)
        executions += 1
        try:
            execution = run_schedule(prepared, make_backend(), choose, gaps)
        except LoopBound:
            cut += 1
            continue
        outcomes[execution.final_state()] += 1
    return Exploration(outcomes, executions, cut, not pending)


def run_schedule(prepared, backend, choose, gaps=GAPS):
    """One execution; ``choose(n)`` picks among n options (the gap after a TLBI, then
    each time the thread to run)."""
    execution = Execution(prepared, backend)
    gap = gaps[choose(len(gaps))] if prepared.tlbis else 0
    while True:
        ready = [t for t in execution.threads if not t.done]
        if not ready:
            return execution
        thread = ready[choose(len(ready))]
        tlbi = thread.code[thread.pc].op == "TLBI"
        thread.step(execution)
        if tlbi:
            backend.idle(gap)
