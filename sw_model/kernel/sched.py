"""Kernel threads as sequences of steps, and the scheduler that interleaves them.

An operation is a generator. Everything it does between two ``yield``s is one atomic
step; it yields the step's label (``"zap_pte_range: ptep_get_and_clear 0x400000"``) or a
``Blocked`` when it cannot go on (a lock held, a shootdown not yet acknowledged). The
scheduler runs one step of one agent at a time, so an interleaving is a list of
(agent, label) pairs, which is also what a violation report shows.
"""
from dataclasses import dataclass


@dataclass
class Blocked:
    """Yielded by a step that must wait: the agent is runnable again when ``ready()``.
    ``hardware``: the wait ends by itself as the clock runs (an IPI being acknowledged),
    so the scheduler lets the clock run when nothing else can."""
    ready: object
    why: str
    hardware: bool = False


class ScheduleError(Exception):
    """An explicit order named an agent that cannot run at that point."""


class Deadlock(Exception):
    pass


class Agent:
    """A CPU or a device: its operations, run one after another."""

    def __init__(self, name, operations):
        self.name = name
        self.pending = list(operations)     # (label, generator factory) not yet started
        self.current = None                 # the running generator
        self.current_label = None
        self.blocked = None                 # the Blocked it last yielded

    @property
    def finished(self):
        return self.current is None and not self.pending

    def runnable(self):
        if self.finished:
            return False
        return self.blocked is None or self.blocked.ready()

    def step(self):
        """Run one step; returns its label. A step that finds it must wait is a step
        too ("waits for ..."): the agent runs again once the wait is over."""
        while True:
            if self.current is None:
                self.current_label, factory = self.pending.pop(0)
                self.current = factory()
            self.blocked = None
            try:
                out = next(self.current)
            except StopIteration:
                self.current = None         # back to user space: a step of its own
                return f"{self.current_label}: done"
            if isinstance(out, Blocked):
                self.blocked = out
                if not out.ready():
                    return f"{self.current_label}: waits for {out.why}"
                continue
            return out


class Scheduler:
    """Interleaves agents' steps: first the explicit ``order``, then the rest either in
    agent order (``rng`` None) or picked at random among the runnable, or by ``policy``
    (called with the runnable agents, returns one of them, or an agent waiting for the
    hardware, which runs once the wait is over). An order entry is
    an agent name (one step), or (name, n) for n steps, or (name, "op") for the steps
    up to the end of the agent's current operation."""

    #: Cycles the clock may run with every agent waiting before it is a deadlock.
    IDLE_LIMIT = 100_000

    def __init__(self, agents, backend, *, order=(), rng=None, policy=None):
        self.agents = {a.name: a for a in agents}
        self.backend = backend
        self.order = []
        for entry in order:
            name, amount = (entry, 1) if isinstance(entry, str) else entry
            self.order += [(name, "op")] if amount == "op" else [(name, 1)] * amount
        self.rng = rng
        self.policy = policy
        self.trace = []                     # (agent name, label) per step taken
        self.running = None                 # the agent whose step is being taken

    def _choose(self):
        if self.order:
            name, _ = self.order[0]
            return self._wait_for(self.agents[name], "the order")
        runnable = [a for a in self.agents.values() if a.runnable()]
        if not runnable:
            return None
        if self.policy:
            return self._wait_for(self.policy(runnable), "the policy")
        return self.rng.choice(runnable) if self.rng else runnable[0]

    def _wait_for(self, agent, who):
        """``agent``, once runnable: the clock runs while it waits for the hardware (an
        order or a policy may pick an agent whose IPIs are still being acknowledged)."""
        idle = 0
        while (not agent.runnable() and not agent.finished and agent.blocked.hardware
               and idle < self.IDLE_LIMIT):
            self.backend.idle(1)         # waiting for the hardware, not a step
            idle += 1
        if not agent.runnable():
            why = "it has finished" if agent.finished else \
                f"it waits for {agent.blocked.why}"
            raise ScheduleError(f"step {len(self.trace) + 1} of {who} names "
                                f"{agent.name}, but {why}")
        return agent

    def _consume_order(self, agent):
        """Drop the order entry the step just taken completes."""
        if self.order and self.order[0][0] == agent.name:
            _, amount = self.order[0]
            if amount == 1 or agent.current is None:
                self.order.pop(0)

    def run(self, on_step=None):
        idle = 0
        while not all(a.finished for a in self.agents.values()):
            agent = self._choose()
            if agent is None:
                waiting = [a for a in self.agents.values() if not a.finished]
                if idle >= self.IDLE_LIMIT or not any(a.blocked.hardware for a in waiting):
                    raise Deadlock("every agent waits: " + "; ".join(
                        f"{a.name} for {a.blocked.why}" for a in waiting))
                self.backend.idle(1)
                idle += 1
                continue
            idle = 0
            self.running = agent
            label = agent.step()
            self._consume_order(agent)
            self.trace.append((agent.name, label))
            if on_step:
                on_step(agent.name, label)
        return self.trace
