"""A platform that records what was asked of the hardware, and when: a wrapper around any
``Platform`` (it uses that interface only, so it records the golden backend and the RTL
backend alike) for run reports (``sim/timeline.py`` draws it).

Recording is opt-in: a run that does not ask for it wraps nothing and pays nothing.

Each call becomes an ``Event`` on a lane (``cpu0``, ``dev1``, ``host``) with the cycles
it began and ended, and the kernel step that was running (the runner says when the
set-up before the first step is over, ``setup_done``, and when each step ends,
``step_done``). A shootdown's ``end`` is the first cycle at which every
target was seen to have acknowledged it: pending tickets are polled after every call, so
that cycle is exact to within the call that was running. An exception a call raises (a
divergence the RTL backend found, an operation that can never complete) is recorded as
an ``error`` event, placed at the cycle its message names, else at the cycle it was
raised, and raised on.
"""
import re
from dataclasses import asdict, dataclass, field

from hdl.ports import InvalidateOp

from .platform import HOST, Platform

_NAMED_CYCLE = re.compile(r"\bcycle (\d+)")


@dataclass
class Event:
    kind: str           # access, tlbi, dsb, shootdown, read, write, cas, irqs, error
    lane: str | None    # cpuN, devN, host; None for an error (it concerns the system)
    start: int          # an access: its request cycle (the call may wait before it)
    end: int | None     # a shootdown: every target acknowledged (None: never seen)
    step: int | None    # index of the kernel step running (in the run's trace);
                        # None: setting up, before the first step
    info: dict = field(default_factory=dict)


@dataclass
class Step:
    index: int
    agent: str
    label: str
    start: int          # the step's first hardware call (its end if it made none)
    end: int


def lane(agent):
    """``("cpu", 0)`` -> ``"cpu0"``, ``HOST`` -> ``"host"``."""
    return "host" if agent == HOST else f"{agent[0]}{agent[1]}"


class PlatformRecorder(Platform):
    def __init__(self, platform):
        self.platform = platform
        self.cpus, self.devices = platform.cpus, platform.devices
        self.events = []
        self.steps = []
        self.setup_end = None             # the cycle the first step could start
        self._step_start = None           # cycle of the running step's first call
        self._unacked = {}                # shootdown ticket -> its Event

    @property
    def cycles(self):
        return self.platform.cycles

    @property
    def stats(self):
        return self.platform.stats

    def setup_done(self):
        """The set-up (address spaces, populated pages) is over: steps begin."""
        self.setup_end = self.cycles
        self._step_start = None

    def step_done(self, agent, label):
        """The kernel step that was running has ended (the runner calls this)."""
        end = self.cycles
        start = end if self._step_start is None else self._step_start
        self.steps.append(Step(len(self.steps), agent, label, start, end))
        self._step_start = None

    def violation_cycle(self, violation):
        """The cycle of ``violation`` (a checker Violation): the end of the last access
        its step made by its agent to its page, else the end of its step."""
        step = self.steps[violation.step]
        for e in reversed(self.events):
            if e.step is None or e.step < violation.step:
                break
            if (e.kind == "access" and e.step == violation.step and e.lane == violation.agent
                    and e.info["va"] >> 12 == violation.va >> 12):
                return e.end
        return step.end

    def as_json(self):
        return {"setup_end": self.setup_end, "steps": [asdict(s) for s in self.steps],
                "events": [asdict(e) for e in self.events]}

    # The Platform interface: each call goes through, and is recorded.
    def read(self, pa):
        event, value = self._call("read", HOST, lambda: self.platform.read(pa))
        event.info.update(pa=pa, value=value)
        return value

    def write(self, pa, value):
        event, _ = self._call("write", HOST, lambda: self.platform.write(pa, value))
        event.info.update(pa=pa, value=value)

    def cas(self, pa, expected, desired):
        event, old = self._call("cas", HOST, lambda: self.platform.cas(pa, expected, desired))
        event.info.update(pa=pa, expected=expected, desired=desired, old=old)
        return old

    def tlbi(self, source, inv, gen=None):
        event, _ = self._call("tlbi", source, lambda: self.platform.tlbi(source, inv, gen))
        event.info.update(_invalidate(inv), gen=gen)

    def dsb(self, source):
        self._call("dsb", source, lambda: self.platform.dsb(source))

    def shootdown(self, source, cpus, inv, gen=None):
        event, ticket = self._call("shootdown", source,
                                   lambda: self.platform.shootdown(source, cpus, inv, gen))
        event.info.update(_invalidate(inv), gen=gen, targets=sorted(cpus), ticket=ticket,
                          taken=event.end)
        event.end = None
        self._unacked[ticket] = event
        self._poll()
        return ticket

    def shootdown_done(self, ticket):
        return self._guard(lambda: self.platform.shootdown_done(ticket))

    def completed_gen(self):
        return self._guard(self.platform.completed_gen)

    def set_irqs(self, cpu, enabled):
        event, _ = self._call("irqs", ("cpu", cpu), lambda: self.platform.set_irqs(cpu, enabled))
        event.info["enabled"] = bool(enabled)

    def access(self, agent, va, ttbr, *, write=False, exec=False, el0=True):
        before = self.platform.stats
        event, t = self._call("access", agent, lambda: self.platform.access(
            agent, va, ttbr, write=write, exec=exec, el0=el0))
        after = self.platform.stats
        event.start = max(event.start, event.end - t.cycles)
        event.info.update(va=va, write=bool(write), exec=bool(exec), pa=t.pa, fault=t.fault,
                          walked=after["walks"] > before["walks"],
                          fills=after["tlb_fills"] - before["tlb_fills"])
        return t

    def idle(self, cycles=1):
        self._guard(lambda: self.platform.idle(cycles))

    # Recording.
    def _call(self, kind, agent, call):
        """Run ``call``; record it as a ``kind`` event on ``agent``'s lane. Returns
        (the Event, the call's result)."""
        start = self.cycles
        if self._step_start is None:
            self._step_start = start
        result = self._guard(call)
        event = Event(kind, lane(agent), start, self.cycles, self._step())
        self.events.append(event)
        return event, result

    def _guard(self, call):
        try:
            result = call()
        except Exception as e:
            named = _NAMED_CYCLE.search(str(e))
            at = int(named[1]) if named else self.cycles
            self.events.append(Event("error", None, at, at, self._step(),
                                     {"message": str(e), "type": type(e).__name__}))
            raise
        if self._unacked:
            self._poll()
        return result

    def _step(self):
        return None if self.setup_end is None else len(self.steps)

    def _poll(self):
        for ticket, event in list(self._unacked.items()):
            if self.platform.shootdown_done(ticket):
                event.end = self.cycles
                del self._unacked[ticket]


def _invalidate(inv):
    return dict(op=InvalidateOp(inv.op).name, asid=inv.asid, va=inv.va, end=inv.end,
                devices=inv.devices)
