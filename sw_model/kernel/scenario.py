"""What a scenario file says, once parsed (format: docs/scenarios.md)."""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Operation:
    name: str                 # a key of vocabulary.CPU_OPERATIONS / DEVICE_OPERATIONS
    args: tuple               # converted: mm names as str, numbers as int, perms as str
    line: int                 # where the file says it


@dataclass(frozen=True)
class VMA:
    start: int                # page-aligned VA
    pages: int
    perms: str                # vocabulary.PERMS
    kind: str                 # vocabulary.VMA_KINDS
    line: int


@dataclass
class MMSpec:
    name: str
    vmas: list = field(default_factory=list)        # of VMA
    populate: list = field(default_factory=list)    # (va, pages, write) faulted in first
    line: int = 0


@dataclass
class Schedule:
    kind: str = "order"       # "order": explicit, then the rest in CPU order; "random"
    order: tuple = ()         # (agent name, steps: an int, or "op": to the end of its operation)
    seed: int = 1
    runs: int = 1


@dataclass
class Scenario:
    name: str
    path: str
    system: dict              # vocabulary.SYSTEM_SETTINGS keys, defaults filled in
    mms: dict                 # name -> MMSpec
    threads: dict             # agent name ("cpu0", "dev1") -> list of Operation
    schedule: Schedule
    expect: str               # "clean" or a vocabulary.VIOLATIONS key
    description: str = ""


class ScenarioError(Exception):
    """A malformed scenario: ``str()`` is "file:line: reason"."""

    def __init__(self, path, line, reason):
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}:{line}: {reason}" if line else f"{path}: {reason}")
