"""The herd7 ``.litmus`` front end (AArch64, VMSA catalogue): a file becomes a ``Litmus``.

Read: the name line, the header lines (``Variant=``, ``TTHM=``, ``EL0=``; ``Hash=`` is
ignored), the initial state between braces, the code table (one column per thread), an
optional ``locations [...]`` and the final condition (``exists``, ``~exists``, ``forall``).
Anything else is a ``LitmusError`` naming the test and the construct.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

from .condition import parse_condition, parse_location, parse_value
from .errors import LitmusError

_COMMENT = re.compile(r"\(\*.*?\*\)", re.S)
_REGISTER_TARGET = re.compile(r"^(\d+):([XW]\d+|[xw]\d+)$")
_THREAD = re.compile(r"^P(\d+)$")
_LABEL = re.compile(r"^([A-Za-z_][\w.]*)\s*:\s*(.*)$")
_CONDITION_START = re.compile(r"^\s*(~\s*exists|exists|forall|locations|filter)\b")
#: Header keys read; ``Hash`` only checks herd's own copy of the test.
HEADER_KEYS = ("variant", "tthm", "el0", "hash")


@dataclass
class Litmus:
    name: str
    path: str
    headers: dict                   # lower-case key -> value
    init: list                      # (location, value) pairs, in order
    threads: list                   # per thread: list of (label or None, instruction text)
    quantifier: str                 # "exists", "~exists" or "forall"
    condition: object               # condition.Expr
    locations: list = field(default_factory=list)
    handlers: list = field(default_factory=list)   # columns that are not threads (P1.F)


def parse_file(path):
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise LitmusError(path.name, f"cannot read the file: {e}") from None
    return parse_text(text, str(path))


def parse_text(text, path="<text>"):
    text = _COMMENT.sub(" ", text)
    lines = text.splitlines()
    fallback = Path(path).stem
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise LitmusError(fallback, "empty file")
    first = lines[0].split()
    if len(first) != 2 or first[0] != "AArch64":
        raise LitmusError(fallback, f"first line {lines[0].strip()!r} is not 'AArch64 NAME'")
    name = first[1]
    rest = "\n".join(lines[1:])
    if "{" not in rest or "}" not in rest:
        raise LitmusError(name, "no initial state in braces")
    open_at = rest.index("{")
    close_at = rest.index("}", open_at)
    headers = _headers(name, rest[:open_at])
    init = _init(name, rest[open_at + 1:close_at])
    threads, handlers, tail = _code(name, rest[close_at + 1:])
    locations, quantifier, condition = _final(name, tail, len(threads))
    return Litmus(name, path, headers, init, threads, quantifier, condition, locations,
                  handlers)


def _headers(name, text):
    headers = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        key, eq, value = line.partition("=")
        key = key.strip().lower()
        if not eq or key not in HEADER_KEYS:
            raise LitmusError(name, f"unknown header line {line!r}")
        headers[key] = value.strip()
    return headers


def _split_top(text, seps):
    """Split at ``seps`` characters outside parentheses and brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch in seps and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _init(name, text):
    entries = []
    for item in _split_top(text, ";\n"):
        lhs, eq, rhs = item.partition("=")
        lhs = lhs.strip()
        words = lhs.split()
        if len(words) == 2:                   # a C type first: int x, pteval_t 0:X1
            lhs = words[1]
        elif len(words) != 1:
            raise LitmusError(name, f"initial state entry {item!r}")
        if "[" in lhs and not lhs.startswith("["):
            raise LitmusError(name, f"array {lhs!r} in the initial state")
        location = _init_location(name, lhs)
        value = parse_value(name, rhs.strip()) if eq else 0
        entries.append((location, value))
    return entries


def _init_location(name, text):
    m = _REGISTER_TARGET.match(text)
    if m:
        return ("reg", int(m.group(1)), "X" + m.group(2)[1:])
    return parse_location(name, text)


def _code(name, text):
    lines = text.splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise LitmusError(name, "no code")
    columns = [c.strip() for c in lines[0].strip().rstrip(";").split("|")]
    threads, handlers, slots = [], [], []
    for c in columns:
        m = _THREAD.match(c)
        if m and int(m.group(1)) == len(threads):
            threads.append([])
            slots.append(threads[-1])
        elif re.match(r"^P\d+\.F$", c):
            handlers.append(c)
            slots.append(None)
        else:
            raise LitmusError(name, f"code column header {c!r}")
    pending = [None] * len(slots)           # a label waiting for its instruction
    for n, line in enumerate(lines[1:], 1):
        if _CONDITION_START.match(line):
            for slot, label in zip(slots, pending):
                if label is not None and slot is not None:
                    slot.append((label, None))
            return threads, handlers, "\n".join(lines[n:])
        if not line.strip():
            continue
        cells = line.strip()
        if cells.endswith(";"):
            cells = cells[:-1]
        cells = cells.split("|")
        if len(cells) > len(slots):
            raise LitmusError(name, f"code line {line.strip()!r} has {len(cells)} columns, "
                              f"not {len(slots)}")
        for i, cell in enumerate(cells):
            cell = cell.strip()
            if not cell or slots[i] is None:
                continue
            m = _LABEL.match(cell)
            if m and not cell.upper().startswith(("B.", "CB", "B ")):
                label, cell = m.group(1), m.group(2).strip()
                if pending[i] is not None:
                    slots[i].append((pending[i], None))
                pending[i] = label
            if cell:
                slots[i].append((pending[i], cell))
                pending[i] = None
    raise LitmusError(name, "no final condition (exists, ~exists or forall)")


def _final(name, text, threads):
    text = " ".join(text.split())
    locations = []
    m = re.match(r"^locations\s*\[([^\]]*)\]\s*(.*)$", text)
    if m:
        # Faults are always part of an outcome: a fault listed here adds nothing.
        locations = [parse_location(name, t.strip(), registers=True)
                     for t in m.group(1).split(";")
                     if t.strip() and not t.strip().lower().startswith("fault(")]
        text = m.group(2)
    if text.startswith("filter"):
        raise LitmusError(name, "a 'filter' clause")
    m = re.match(r"^(~\s*exists|exists|forall)\s*(.*)$", text)
    if not m:
        raise LitmusError(name, f"final condition {text[:40]!r}")
    quantifier = m.group(1).replace(" ", "")
    return locations, quantifier, parse_condition(name, m.group(2), threads)
