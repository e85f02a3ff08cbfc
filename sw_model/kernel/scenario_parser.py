"""Read a scenario file (format: docs/scenarios.md) into a ``Scenario``.

Every mistake raises ``ScenarioError`` naming the file, the line and the reason. Each line is
checked on its own as it is read; what ties lines together (mm names, CPU and device indices
against the ``system`` line, populate ranges, schedule entries) is checked once the whole
file is read, so top-level directives may come in any order.
"""
import re
from collections import namedtuple
from pathlib import Path

from .scenario import VMA, MMSpec, Operation, Scenario, ScenarioError, Schedule
from .vocabulary import (CPU_OPERATIONS, DEVICE_OPERATIONS, FIXES, PERMS, SYSTEM_SETTINGS,
                         VIOLATIONS, VMA_KINDS)

PAGE_SIZE = 4096            # the 4 KB granule: VMAs and ranges are counted in these pages
VA_LIMIT = 1 << 48          # user VAs are 48-bit
HPAGE_SIZE = 1 << 21        # a hugetlb page
HPAGE_PAGES = HPAGE_SIZE // PAGE_SIZE

DIRECTIVES = ("scenario", "description", "system", "bug", "mm", "cpu", "dev", "schedule",
              "expect")
POPULATE_MODES = ("write", "read")

_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|[0-9]+")
_MM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_AGENT = re.compile(r"(cpu|dev)([0-9]+)")
_ORDER_ENTRY = re.compile(r"((?:cpu|dev)[0-9]+)(?::([0-9]+|op))?")

# What each kind of agent is counted by on the system line, and what a message calls it.
_AGENT_COUNTS = {"cpu": ("cpus", "CPU"), "dev": ("devices", "device")}

_Agent = namedtuple("_Agent", "kind index line ops")


def parse_scenario(path):
    """Read and check the scenario file at ``path``."""
    path = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ScenarioError(path, 0, f"cannot read the file: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8-sig")        # tolerate the BOM some editors write
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ScenarioError(path, line, "not UTF-8 text") from None
    return parse_scenario_text(text, path)


def parse_scenario_text(text, path="<string>"):
    """Check scenario ``text``; ``path`` only names it in errors and in the result."""
    return _Parser(path).parse(text)


def _plural(count, word):
    return f"{count} {word}" + ("" if count == 1 else "s")


class _Parser:
    def __init__(self, path):
        self.path = path
        self.line = 0               # the line being read, named by every error
        self.given = {}             # once-only directive -> its line
        self.name = None
        self.description = ""
        self.system = {key: default for key, (default, _) in SYSTEM_SETTINGS.items()}
        self.system["bugs"] = ()
        self.mms = {}               # name -> MMSpec
        self.agents = {}            # "cpu0" -> _Agent
        self.mm_uses = []           # (mm name, line) of every operation, checked at the end
        self.populates = []         # (MMSpec, va, pages, write, line), checked at the end
        self.schedule = Schedule()
        self.expect = None
        self.block = None           # what indented lines belong to: an MMSpec or an agent

    def fail(self, reason, line=None):
        raise ScenarioError(self.path, self.line if line is None else line, reason)

    def parse(self, text):
        empty = True
        # Split on newlines only, so that line numbers match what an editor shows.
        for self.line, raw in enumerate(text.split("\n"), 1):
            words = raw.split("#", 1)[0].split()
            if not words:
                continue
            empty = False
            if raw[0].isspace():
                self.block_line(words)
            else:
                self.block = None
                self.directive(words[0], words[1:])
        self.line = 0
        if empty:
            self.fail("empty scenario file")
        self.check_whole_file()
        # CPUs first ("cpu" < "dev"), each kind by index: the order remaining steps run in.
        agents = sorted(self.agents.items(), key=lambda item: (item[1].kind, item[1].index))
        return Scenario(name=self.name, path=self.path, system=self.system, mms=self.mms,
                        threads={name: agent.ops for name, agent in agents},
                        schedule=self.schedule, expect=self.expect,
                        description=self.description)

    # -- helpers -------------------------------------------------------------------------

    def once(self, directive):
        if directive in self.given:
            self.fail(f"a second '{directive}' line (the first is line {self.given[directive]})")
        self.given[directive] = self.line

    def count_args(self, what, args, names):
        if len(args) != len(names):
            wanted = f"{_plural(len(names), 'argument')} ({' '.join(names)})" if names \
                else "no arguments"
            self.fail(f"'{what}' takes {wanted}, got {len(args)}")

    def number(self, what, word):
        if not _NUMBER.fullmatch(word):
            self.fail(f"{what} '{word}' is not a number (decimal, or hex with 0x)")
        try:
            return int(word, 16) if word[:2] in ("0x", "0X") else int(word)
        except ValueError:      # more decimal digits than int() will convert
            self.fail(f"{what} '{word[:20]}...' is too large")

    def va(self, word, what="va"):
        value = self.number(what, word)
        if value >= VA_LIMIT:
            self.fail(f"{what} {word} is beyond the 48-bit address space "
                      f"(must be below {VA_LIMIT:#x})")
        return value

    def pages(self, word):
        value = self.number("pages", word)
        if value < 1:
            self.fail(f"pages must be at least 1, not {word}")
        return value

    def perms(self, word):
        if word not in PERMS:
            self.fail(f"unknown perms '{word}'; perms are {', '.join(PERMS)}")
        return word

    def page_range(self, va, pages):
        if va % PAGE_SIZE:
            self.fail(f"address {va:#x} is not page-aligned (a multiple of {PAGE_SIZE:#x})")
        if va + pages * PAGE_SIZE > VA_LIMIT:
            self.fail(f"{_plural(pages, 'page')} from {va:#x} run past the 48-bit address space")

    # -- top-level directives ------------------------------------------------------------

    def directive(self, word, args):
        if word in DIRECTIVES:
            getattr(self, f"directive_{word}")(args)
        elif word in CPU_OPERATIONS or word in DEVICE_OPERATIONS:
            self.fail(f"operation '{word}' outside a cpu or dev block "
                      f"(indent it under 'cpu N' or 'dev N')")
        elif word in ("vma", "populate"):
            self.fail(f"'{word}' outside an mm block (indent it under 'mm NAME')")
        elif match := _AGENT.fullmatch(word):
            self.fail(f"unknown directive '{word}' (a block is opened by "
                      f"'{match[1]} {int(match[2])}')")
        else:
            self.fail(f"unknown directive '{word}'; directives are {', '.join(DIRECTIVES)}")

    def directive_scenario(self, args):
        self.once("scenario")
        self.count_args("scenario", args, ("name",))
        self.name = args[0]

    def directive_description(self, args):
        self.once("description")
        if not args:
            self.fail("'description' needs a line of text")
        self.description = " ".join(args)

    def directive_system(self, args):
        self.once("system")
        seen = set()
        for arg in args:
            key, equals, value = arg.partition("=")
            if not equals:
                self.fail(f"system setting '{arg}' is not key=value")
            if key not in SYSTEM_SETTINGS:
                self.fail(f"unknown system setting '{key}'; settings are "
                          f"{', '.join(SYSTEM_SETTINGS)}")
            if key in seen:
                self.fail(f"system setting '{key}' given twice")
            seen.add(key)
            allowed = SYSTEM_SETTINGS[key][1]
            if isinstance(allowed, range):
                value = self.number(key, value)
                if value not in allowed:
                    self.fail(f"{arg} is out of range: {key} is from {allowed[0]} "
                              f"to {allowed[-1]}")
            elif value not in allowed:
                self.fail(f"{arg} is not allowed: {key} is one of {', '.join(allowed)}")
            self.system[key] = value
        if "device_tlb" in seen and self.system["arch"] == "x86" and \
                self.system["device_tlb"] == "broadcast":
            self.fail("device_tlb=broadcast needs arch=arm64: x86 shootdowns are IPIs, "
                      "which no IOMMU snoops (x86 device TLBs are always invalidated "
                      "through the mmu notifier)")

    def directive_bug(self, args):
        self.count_args("bug", args, ("fix",))
        if args[0] not in FIXES:
            self.fail(f"unknown fix '{args[0]}' for 'bug'; fixes are {', '.join(FIXES)}")
        if args[0] in self.system["bugs"]:
            self.fail(f"'bug {args[0]}' given twice")
        self.system["bugs"] += (args[0],)

    def directive_mm(self, args):
        self.count_args("mm", args, ("name",))
        name = args[0]
        if not _MM_NAME.fullmatch(name):
            self.fail(f"mm name '{name}' must start with a letter and hold only letters, "
                      f"digits, '_' and '-'")
        if name in self.mms:
            self.fail(f"a second 'mm {name}' block (the first is line {self.mms[name].line})")
        self.block = self.mms[name] = MMSpec(name, line=self.line)

    def directive_cpu(self, args):
        self.open_agent("cpu", args)

    def directive_dev(self, args):
        self.open_agent("dev", args)

    def open_agent(self, kind, args):
        self.count_args(kind, args, ("index",))
        index = self.number("index", args[0])
        name = f"{kind}{index}"
        if name in self.agents:
            self.fail(f"a second '{kind} {index}' block (the first is line "
                      f"{self.agents[name].line})")
        self.block = self.agents[name] = _Agent(kind, index, self.line, [])

    def directive_schedule(self, args):
        self.once("schedule")
        kind, entries = (args[0], args[1:]) if args else (None, ())
        if kind == "order":
            order = []
            for entry in entries:
                match = _ORDER_ENTRY.fullmatch(entry)
                if not match:
                    self.fail(f"schedule entry '{entry}' is not an agent like cpu0 or dev1, "
                              f"optionally with :N steps or :op")
                agent = _AGENT.fullmatch(match[1])
                amount = match[2] or "1"
                if amount != "op" and int(amount) < 1:
                    self.fail(f"schedule entry '{entry}' asks for no step")
                order.append((f"{agent[1]}{int(agent[2])}",
                              "op" if amount == "op" else int(amount)))
            self.schedule = Schedule("order", tuple(order))
        elif kind == "random":
            options = {}
            for entry in entries:
                key, equals, value = entry.partition("=")
                if key not in ("seed", "runs") or not equals:
                    self.fail(f"'schedule random' takes seed=N and runs=N, not '{entry}'")
                if key in options:
                    self.fail(f"schedule {key} given twice")
                options[key] = self.number(key, value)
            if options.get("runs", 1) < 1:
                self.fail("schedule runs must be at least 1")
            self.schedule = Schedule("random", **options)
        else:
            self.fail("'schedule' is 'schedule order AGENT...' or "
                      "'schedule random [seed=N] [runs=N]'")

    def directive_expect(self, args):
        self.once("expect")
        self.count_args("expect", args, ("outcome",))
        if args[0] != "clean" and args[0] not in VIOLATIONS:
            self.fail(f"unknown expectation '{args[0]}'; expect clean or one of "
                      f"{', '.join(VIOLATIONS)}")
        self.expect = args[0]

    # -- block contents ------------------------------------------------------------------

    def block_line(self, words):
        if self.block is None:
            self.fail("indented line outside a block (only mm, cpu and dev lines open one)")
        if isinstance(self.block, MMSpec):
            self.mm_line(self.block, words[0], words[1:])
        else:
            self.operation(self.block, words[0], words[1:])

    def mm_line(self, mm, word, args):
        if word == "vma":
            self.count_args("vma", args, ("start", "pages", "perms", "kind"))
            start, pages = self.va(args[0], "start"), self.pages(args[1])
            self.page_range(start, pages)
            perms, kind = self.perms(args[2]), args[3]
            if kind not in VMA_KINDS:
                self.fail(f"unknown VMA kind '{kind}'; kinds are {', '.join(VMA_KINDS)}")
            if kind == "hugetlb" and (start % HPAGE_SIZE or pages % HPAGE_PAGES):
                self.fail(f"a hugetlb VMA maps whole 2 MB pages: its start must be 2 MB "
                          f"aligned and its pages a multiple of {HPAGE_PAGES}")
            for other in mm.vmas:
                if start < other.start + other.pages * PAGE_SIZE and \
                        other.start < start + pages * PAGE_SIZE:
                    self.fail(f"this VMA overlaps the one at line {other.line} "
                              f"({other.start:#x}, {_plural(other.pages, 'page')})")
            mm.vmas.append(VMA(start, pages, perms, kind, self.line))
        elif word == "populate":
            self.count_args("populate", args, ("va", "pages", "mode"))
            va, pages = self.va(args[0]), self.pages(args[1])
            self.page_range(va, pages)
            write = self.mode(args[2], "populate") == "write"
            mm.populate.append((va, pages, write))
            self.populates.append((mm, va, pages, write, self.line))
        elif word in CPU_OPERATIONS or word in DEVICE_OPERATIONS:
            self.fail(f"operation '{word}' outside a cpu or dev block "
                      f"(an mm block holds only vma and populate lines)")
        else:
            self.fail(f"unknown line '{word}' in an mm block "
                      f"(it holds only vma and populate lines)")

    def operation(self, agent, word, args):
        table, who = ((CPU_OPERATIONS, "CPU") if agent.kind == "cpu"
                      else (DEVICE_OPERATIONS, "device"))
        if word not in table:
            self.fail(f"unknown {who} operation '{word}'; {who} operations are "
                      f"{', '.join(table)}")
        kinds = table[word][0]
        self.count_args(word, args, kinds)
        convert = {"mm": self.mm_use, "va": self.va, "pages": self.pages, "perms": self.perms,
                   "mode": self.mode}
        values = tuple(convert[arg_kind](arg) for arg_kind, arg in zip(kinds, args))
        if "pages" in kinds:
            self.page_range(values[kinds.index("va")], values[kinds.index("pages")])
        agent.ops.append(Operation(word, values, self.line))

    def mode(self, word, what="the"):
        if word not in POPULATE_MODES:
            self.fail(f"{what} mode must be write or read, not '{word}'")
        return word

    def mm_use(self, name):
        self.mm_uses.append((name, self.line))      # the mm may be declared further down
        return name

    # -- what ties lines together ----------------------------------------------------------

    def check_whole_file(self):
        if self.name is None:
            self.fail("missing the 'scenario NAME' line")
        if self.expect is None:
            self.fail(f"missing the 'expect' line: expect clean, or one of "
                      f"{', '.join(VIOLATIONS)}")
        for agent in self.agents.values():
            setting, noun = _AGENT_COUNTS[agent.kind]
            if agent.index >= self.system[setting]:
                self.fail(f"{agent.kind} {agent.index} does not exist: the system has "
                          f"{_plural(self.system[setting], noun)} (set {setting}= on the "
                          f"system line)", agent.line)
        for name, line in self.mm_uses:
            if name not in self.mms:
                self.fail(f"unknown mm '{name}'; declared: {', '.join(self.mms) or 'none'}",
                          line)
        for mm, va, pages, write, line in self.populates:
            self.check_populate(mm, va, pages, write, line)
        for entry, _ in self.schedule.order:
            kind, index = _AGENT.fullmatch(entry).groups()
            setting, noun = _AGENT_COUNTS[kind]
            if int(index) >= self.system[setting]:
                self.fail(f"schedule names {entry}, which does not exist (the system has "
                          f"{_plural(self.system[setting], noun)})", self.given["schedule"])
            if entry not in self.agents or not self.agents[entry].ops:
                self.fail(f"schedule names {entry}, which has no operations",
                          self.given["schedule"])
        if not any(agent.ops for agent in self.agents.values()):
            self.fail("nothing to run: no cpu or dev block has an operation")
        if self.system["pae"] == "on" and self.system["arch"] != "x86":
            self.fail("pae=on needs arch=x86 (PAE is x86's 32-bit page-table format)",
                      self.given["system"])
        if self.system["highpte"] == "on" and self.system["pae"] != "on":
            self.fail("highpte=on needs pae=on (CONFIG_HIGHPTE puts PTE tables above "
                      "4 GB, which only PAE reaches)", self.given["system"])
        if self.system["mthp"] == "on" and self.system["arch"] != "arm64":
            self.fail("mthp=on needs arch=arm64 (64 KB folios are mapped as arm64 contpte "
                      "blocks)", self.given["system"])
        if (self.system["pending"] == "per-table" and self.system["devices"]
                and self.system["mmu_notifier"] == "v4.15"):
            # The 2017 ->invalidate_range() calls carry no generation, so the completed
            # register could pass one whose device-TLB invalidate has not been done.
            self.fail("pending=per-table with devices needs mmu_notifier=v6.6 (the 2017 "
                      "notifier's device invalidates carry no flush generation)",
                      self.given["system"])

    def check_populate(self, mm, va, pages, write, line):
        mode, needed = ("write", "w") if write else ("read", "r")
        # Walk the range VMA by VMA (it may span adjacent ones), not page by page.
        address, end = va, va + pages * PAGE_SIZE
        while address < end:
            vma = next((vma for vma in mm.vmas
                        if vma.start <= address < vma.start + vma.pages * PAGE_SIZE), None)
            if vma is None:
                self.fail(f"populate reaches {address:#x}, outside every VMA of mm {mm.name}",
                          line)
            # A fault the VMA does not allow would be a SIGSEGV, not a populated page.
            if needed not in vma.perms:
                self.fail(f"populate {mode} needs the VMA at line {vma.line} to allow it, "
                          f"but its perms are '{vma.perms}'", line)
            address = vma.start + vma.pages * PAGE_SIZE
