"""A test's verdict against the outcomes the model showed.

``exists P`` (and ``~exists P``: the verdict is about P all the same): Forbidden passes
when P held in no outcome, Required when it held in every one; Allowed is coverage,
observed or not, never a failure. ``forall P`` is judged only when Required (P in every
outcome). An exploration cut short by its execution bound passes a Forbidden or Required
test only for what it explored: it is reported as incomplete.
"""
from dataclasses import dataclass, field

from .errors import Unsupported

PASS, FAIL = "pass", "FAIL"
OBSERVED, NOT_OBSERVED = "allowed, observed", "allowed, not observed"


@dataclass
class Judged:
    status: str                 # PASS, FAIL, OBSERVED or NOT_OBSERVED
    outcomes: list = field(default_factory=list)   # (text, executions, condition holds)
    ets2_observed: bool = False  # P seen, though Forbidden under FEAT_ETS2


class _View:
    """A final state as the condition reads it."""

    def __init__(self, state, memory_map):
        self.state, self.map, self.faults = state, memory_map, state.faults

    def location(self, location):
        return self.state.location(location)

    def encode(self, value, location):
        owner = location[1].var if location[0] == "mem" else None
        return self.map.encode(value, owner)


def check_judgeable(test, verdict):
    """Unsupported unless the verdict can be judged from outcomes."""
    if verdict.base is None:
        raise Unsupported("no verdict in the kinds files")
    if verdict.base not in ("Allowed", "Forbidden", "Required"):
        raise Unsupported(f"verdict {verdict.base!r}")
    if test.quantifier == "forall" and verdict.base != "Required":
        raise Unsupported(f"verdict {verdict.base} on a forall condition")


def holds(prepared, state):
    """Whether the test's condition holds in the final state ``state``."""
    return prepared.test.condition.holds(_View(state, prepared.map))


def judge(prepared, exploration, verdict):
    rows, held = [], []
    for state, count in sorted(exploration.outcomes.items(), key=lambda kv: -kv[1]):
        held.append(holds(prepared, state))
        rows.append((describe(state, prepared.map), count, held[-1]))
    sometimes, always = any(held), bool(held) and all(held)
    if verdict.base == "Forbidden":
        status = FAIL if sometimes else PASS
    elif verdict.base == "Required":
        status = PASS if always else FAIL
    else:
        status = OBSERVED if sometimes else NOT_OBSERVED
    return Judged(status, rows, sometimes and verdict.ets2 == "Forbidden")


def describe(state, memory_map):
    """An outcome as herd prints one: ``0:X4=1; x=2; fault(P1:L1,x,PERMISSION)``, or
    ``0:X4=1; no fault``."""
    parts = []
    for location, value in state.values:
        if location[0] == "reg":
            name = f"{location[1]}:{location[2]}"
        else:
            name = str(location[1])
        parts.append(f"{name}={memory_map.describe(value)}")
    for thread, label, var, kind in sorted(state.faults, key=str):
        where = f"P{thread}" + (f":{label}" if label else "")
        parts.append(f"fault({where},{var},{kind})")
    if not state.faults:
        parts.append("no fault")
    return "; ".join(parts)
