"""The scenario parser: a good file read field by field, and every kind of mistake named
with its line and a reason (docs/scenarios.md)."""
import re
from pathlib import Path

import pytest

from sw_model.kernel.scenario import VMA, MMSpec, Operation, Scenario, ScenarioError, Schedule
from sw_model.kernel.scenario_parser import parse_scenario, parse_scenario_text
from sw_model.kernel.vocabulary import (CPU_OPERATIONS, DEVICE_OPERATIONS, SYSTEM_SETTINGS,
                                        VIOLATIONS)

DOC = Path(__file__).resolve().parent.parent / "docs" / "scenarios.md"

# Every directive, written out of order on purpose: blocks before the system line, an mm
# used before it is declared, a populate before its VMA, the scenario line last.
GOOD = """\
# A good scenario.

cpu 2
  write A 0x400008
  mprotect A 0x400000 2 r
  irq_off
  madvise_dontneed B 0x10000 3     # B is declared further down
cpu 0
  reclaim A 0x404000
  try_to_unmap_flush
dev 0
  read A 0x401000
mm A
  vma 0x400000 4 rw anon
  vma 0x404000 2 r file            # touches the first one
\tpopulate 0x400000 4 write        # a tab indents as well as spaces
  populate 0x404000 2 read
mm B
  populate 0x10000 3 write
  vma 65536 3 rwx pfnmap
schedule order cpu2 dev0:op cpu02:3 cpu0
bug nested_flush
expect write-to-clean
description  a   long    description   # the comment is dropped
system cpus=3 devices=1 tlb=0x20 arch=x86 reclaim=eager
scenario good-one
"""


def test_good_file():
    assert parse_scenario_text(GOOD, "good.scn") == Scenario(
        name="good-one",
        path="good.scn",
        system={**{key: default for key, (default, _) in SYSTEM_SETTINGS.items()},
                **dict(cpus=3, devices=1, tlb=32, arch="x86", reclaim="eager", frames=64,
                       bugs=("nested_flush",))},
        mms={
            "A": MMSpec("A", vmas=[VMA(0x400000, 4, "rw", "anon", 14),
                                   VMA(0x404000, 2, "r", "file", 15)],
                        populate=[(0x400000, 4, True), (0x404000, 2, False)], line=13),
            "B": MMSpec("B", vmas=[VMA(0x10000, 3, "rwx", "pfnmap", 20)],
                        populate=[(0x10000, 3, True)], line=18),
        },
        threads={
            "cpu0": [Operation("reclaim", ("A", 0x404000), 9),
                     Operation("try_to_unmap_flush", (), 10)],
            "cpu2": [Operation("write", ("A", 0x400008), 4),
                     Operation("mprotect", ("A", 0x400000, 2, "r"), 5),
                     Operation("irq_off", (), 6),
                     Operation("madvise_dontneed", ("B", 0x10000, 3), 7)],
            "dev0": [Operation("read", ("A", 0x401000), 12)],
        },
        schedule=Schedule("order", (("cpu2", 1), ("dev0", "op"), ("cpu2", 3), ("cpu0", 1))),
        expect="write-to-clean",
        description="a long description",
    )


def test_threads_in_agent_order():
    """CPUs by index, then devices: the order the remaining steps run in."""
    assert list(parse_scenario_text(GOOD).threads) == ["cpu0", "cpu2", "dev0"]


def test_defaults():
    scenario = parse_scenario_text("scenario s\ncpu 0\n  irq_off\nexpect clean\n")
    assert scenario.system == {key: default for key, (default, _) in SYSTEM_SETTINGS.items()} \
        | {"bugs": ()}
    assert scenario.schedule == Schedule("order", ())
    assert (scenario.mms, scenario.description, scenario.path) == ({}, "", "<string>")


@pytest.mark.parametrize("line,schedule", [
    ("schedule random seed=0x10 runs=5", Schedule("random", (), 16, 5)),
    ("schedule random runs=3", Schedule("random", (), 1, 3)),
    ("schedule random", Schedule("random", (), 1, 1)),
])
def test_random_schedule(line, schedule):
    text = f"scenario s\ncpu 0\n  irq_off\n{line}\nexpect clean\n"
    assert parse_scenario_text(text).schedule == schedule


def test_file(tmp_path):
    path = tmp_path / "good.scn"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())      # an editor's BOM is accepted
    assert parse_scenario(path) == parse_scenario_text(GOOD, str(path))


# Lines 1-6; the cases below add theirs from line 7 on.
HEAD = """\
scenario t
expect clean
mm A
  vma 0x400000 4 rw anon
cpu 0
  read A 0x400000
"""

AFTER_HEAD = [
    # Unknown directives and operations.
    ("frobnicate 1\n", 7, "unknown directive 'frobnicate'; directives are scenario, "
                          "description, system, bug, mm, cpu, dev, schedule, expect"),
    ("cpu1\n", 7, "unknown directive 'cpu1' (a block is opened by 'cpu 1')"),
    ("cpu 1\n  madvise A 0x400000 1\n", 8,
     "unknown CPU operation 'madvise'; CPU operations are " + ", ".join(CPU_OPERATIONS)),
    ("system devices=1\ndev 0\n  munmap A 0x400000 1\n", 9,
     "unknown device operation 'munmap'; device operations are read, write"),
    # Lines outside the block they belong in.
    ("write A 0x400000\n", 7, "operation 'write' outside a cpu or dev block (indent it"),
    ("mm B\n  write A 0x400000\n", 8,
     "operation 'write' outside a cpu or dev block (an mm block holds only vma and populate"),
    ("vma 0x1000 1 r anon\n", 7, "'vma' outside an mm block"),
    ("mm B\n  zap 0x1000\n", 8, "unknown line 'zap' in an mm block"),
    ("system cpus=2\n  read A 0x400000\n", 8, "indented line outside a block"),
    # Argument counts.
    ("cpu 1\n  write A\n", 8, "'write' takes 2 arguments (mm va), got 1"),
    ("cpu 1\n  mprotect A 0x400000 1\n", 8,
     "'mprotect' takes 4 arguments (mm va pages perms), got 3"),
    ("cpu 1\n  irq_off now\n", 8, "'irq_off' takes no arguments, got 1"),
    ("mm B\n  vma 0x1000 4 rw\n", 8, "'vma' takes 4 arguments (start pages perms kind), got 3"),
    ("mm B\n  vma 0x1000 1 r anon\n  populate 0x1000 1\n", 9,
     "'populate' takes 3 arguments (va pages mode), got 2"),
    ("cpu\n", 7, "'cpu' takes 1 argument (index), got 0"),
    ("mm B C\n", 7, "'mm' takes 1 argument (name), got 2"),
    ("description\n", 7, "'description' needs a line of text"),
    # Numbers.
    ("cpu 1\n  read A 0x40g000\n", 8, "va '0x40g000' is not a number (decimal, or hex with 0x)"),
    ("cpu 1\n  read A -4096\n", 8, "va '-4096' is not a number"),
    ("cpu one\n", 7, "index 'one' is not a number"),
    ("cpu 1\n  read A " + "9" * 5000 + "\n", 8, "is too large"),
    ("cpu 1\n  read A 0x1000000000000\n", 8,
     "va 0x1000000000000 is beyond the 48-bit address space"),
    ("mm B\n  vma 0x1000000000000 1 r anon\n", 8, "start 0x1000000000000 is beyond the 48-bit"),
    ("cpu 1\n  munmap A 0x400000 0\n", 8, "pages must be at least 1, not 0"),
    ("cpu 1\n  munmap A 0xfffffffff000 2\n", 8,
     "2 pages from 0xfffffffff000 run past the 48-bit address space"),
    # Alignment.
    ("mm B\n  vma 0x400800 1 rw anon\n", 8, "address 0x400800 is not page-aligned"),
    ("mm B\n  vma 0x1000 2 rw anon\n  populate 0x1800 1 read\n", 9,
     "address 0x1800 is not page-aligned"),
    ("cpu 1\n  madvise_dontneed A 0x400010 1\n", 8, "address 0x400010 is not page-aligned"),
    # Names and values.
    ("cpu 1\n  read Z 0x400000\n", 8, "unknown mm 'Z'; declared: A"),
    ("mm 0x1\n", 7, "mm name '0x1' must start with a letter"),
    ("mm B\n  vma 0x1000 1 wr anon\n", 8, "unknown perms 'wr'; perms are none, r, rw, rx, rwx"),
    ("cpu 1\n  mprotect A 0x400000 1 x\n", 8, "unknown perms 'x'"),
    ("mm B\n  vma 0x1000 1 rw shmem\n", 8,
     "unknown VMA kind 'shmem'; kinds are anon, file, shared, pfnmap"),
    # VMAs and populate.
    ("mm B\n  vma 0x1000 4 rw anon\n  vma 0x4000 1 r file\n", 9,
     "this VMA overlaps the one at line 8 (0x1000, 4 pages)"),
    ("mm B\n  vma 0x1000 2 rw anon\n  populate 0x2000 2 write\n", 9,
     "populate reaches 0x3000, outside every VMA of mm B"),
    ("mm B\n  vma 0x1000 1 r anon\n  populate 0x1000 1 write\n", 9,
     "populate write needs the VMA at line 8 to allow it, but its perms are 'r'"),
    ("mm B\n  vma 0x1000 1 r anon\n  populate 0x1000 1 exec\n", 9,
     "populate mode must be write or read, not 'exec'"),
    # System settings.
    ("system cpus=9\n", 7, "cpus=9 is out of range: cpus is from 1 to 8"),
    ("system arch=riscv\n", 7, "arch=riscv is not allowed: arch is one of arm64, x86"),
    ("system smt=2\n", 7,
     "unknown system setting 'smt'; settings are cpus, devices, tlb, arch, reclaim, frames"),
    ("system cpus\n", 7, "system setting 'cpus' is not key=value"),
    ("system cpus=2 cpus=3\n", 7, "system setting 'cpus' given twice"),
    ("system devices=1 pending=per-table mmu_notifier=v4.15\n", 7,
     "pending=per-table with devices needs mmu_notifier=v6.6"),
    ("system tlb=lots\n", 7, "tlb 'lots' is not a number"),
    # CPU and device indices against the system, wherever the system line is.
    ("cpu 2\n  read A 0x400000\n", 7,
     "cpu 2 does not exist: the system has 2 CPUs (set cpus= on the system line)"),
    ("dev 0\n  read A 0x400000\n", 7, "dev 0 does not exist: the system has 0 devices"),
    ("cpu 1\n  read A 0x400000\nsystem cpus=1\n", 7,
     "cpu 1 does not exist: the system has 1 CPU "),
    # Duplicates.
    ("cpu 0\n", 7, "a second 'cpu 0' block (the first is line 5)"),
    ("mm A\n", 7, "a second 'mm A' block (the first is line 3)"),
    ("expect clean\n", 7, "a second 'expect' line (the first is line 2)"),
    ("system\nsystem cpus=1\n", 8, "a second 'system' line (the first is line 7)"),
    ("scenario u\n", 7, "a second 'scenario' line (the first is line 1)"),
    # Schedules.
    ("schedule order cpu0 cpu3\n", 7,
     "schedule names cpu3, which does not exist (the system has 2 CPUs)"),
    ("schedule order cpu0 cpu1\n", 7, "schedule names cpu1, which has no operations"),
    ("cpu 1\nschedule order cpu1\n", 8, "schedule names cpu1, which has no operations"),
    ("schedule order cpu0 thread1\n", 7,
     "schedule entry 'thread1' is not an agent like cpu0 or dev1, optionally with :N"),
    ("schedule order cpu0:all\n", 7, "schedule entry 'cpu0:all' is not an agent like cpu0"),
    ("schedule order cpu0:0\n", 7, "schedule entry 'cpu0:0' asks for no step"),
    # Bugs.
    ("bug flush_everything\n", 7, "unknown fix 'flush_everything' for 'bug'; fixes are "
     "batched_pending, nested_flush, pfnmap_flush"),
    ("bug nested_flush\nbug nested_flush\n", 8, "'bug nested_flush' given twice"),
    ("bug\n", 7, "'bug' takes 1 argument (fix), got 0"),
    ("schedule random seed=x\n", 7, "seed 'x' is not a number"),
    ("schedule random seed=-1\n", 7, "seed '-1' is not a number"),
    ("schedule random runs=0\n", 7, "schedule runs must be at least 1"),
    ("schedule random seed 7\n", 7, "'schedule random' takes seed=N and runs=N, not 'seed'"),
    ("schedule random runs=2 runs=3\n", 7, "schedule runs given twice"),
    ("schedule shuffle\n", 7, "'schedule' is 'schedule order AGENT...' or 'schedule random"),
    ("schedule\n", 7, "'schedule' is 'schedule order AGENT...'"),
]

WHOLE_FILE = [
    ("scenario t\nexpect uaf\n", 2, "unknown expectation 'uaf'; expect clean or one of "
                                    + ", ".join(VIOLATIONS)),
    ("scenario t\nexpect\n", 2, "'expect' takes 1 argument (outcome), got 0"),
    ("  read A 0x1000\n", 1, "indented line outside a block"),
    ("scenario a b\n", 1, "'scenario' takes 1 argument (name), got 2"),
    ("expect clean\ncpu 0\n  irq_off\n", 0, "missing the 'scenario NAME' line"),
    ("scenario t\ncpu 0\n  irq_off\n", 0, "missing the 'expect' line: expect clean, or one of"),
    ("scenario t\nexpect clean\ncpu 0\n", 0,
     "nothing to run: no cpu or dev block has an operation"),
    ("", 0, "empty scenario file"),
    ("# only a comment\n\n   \n", 0, "empty scenario file"),
]


@pytest.mark.parametrize("text,line,fragment",
                         [(HEAD + text, line, fragment) for text, line, fragment in AFTER_HEAD]
                         + WHOLE_FILE)
def test_mistake(text, line, fragment):
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_text(text, "bad.scn")
    error = caught.value
    assert (error.path, error.line) == ("bad.scn", line), error.reason
    assert fragment in error.reason
    assert str(error) == (f"bad.scn:{line}: {error.reason}" if line
                          else f"bad.scn: {error.reason}")


def test_file_not_found(tmp_path):
    path = tmp_path / "missing.scn"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(path)
    assert str(caught.value) == f"{path}: cannot read the file: No such file or directory"


def test_directory(tmp_path):
    with pytest.raises(ScenarioError, match="cannot read the file") as caught:
        parse_scenario(tmp_path)
    assert caught.value.line == 0


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.scn"
    path.write_bytes("scenario t\ndescription café\nexpect clean\n".encode("latin-1"))
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(path)
    assert str(caught.value) == f"{path}:2: not UTF-8 text"


def test_documented_example_parses():
    example = re.search(r"## Complete example.*?```\n(.*?)```", DOC.read_text(), re.S)[1]
    scenario = parse_scenario_text(example, "docs/scenarios.md")
    assert scenario.name == "parallel-dontneed" and scenario.expect == "clean"


def test_documentation_names_the_whole_vocabulary():
    doc = DOC.read_text()
    names = [*CPU_OPERATIONS, *DEVICE_OPERATIONS, *SYSTEM_SETTINGS, *VIOLATIONS]
    assert [name for name in names if f"`{name}`" not in doc] == []
