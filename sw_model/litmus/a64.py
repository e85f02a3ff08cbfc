"""An in-order A64 thread: registers, flags and one instruction at a time, over the
platform backend.

Instructions that touch nothing outside the thread (MOV, arithmetic, CMP, branches, DMB,
ISB) are *local*; the others (loads, stores, atomics, TLBI, DSB) are *visible* and are
the points where another thread may run (``outcomes``). Every instruction completes
before the next starts: the thread is sequentially consistent, so DMB and ISB have
nothing left to order. A DSB of any kind waits for the thread's TLB invalidates
(``Platform.dsb``); a TLBI without IS is broadcast too (invalidating more is allowed).

A virtual access translates through the thread's CPU (``Platform.access``) and then reads
or writes the physical word; an address below ``VA_BASE`` is a descriptor, reached
directly. A translation, access-flag or permission fault is recorded with the
instruction's label and the variable, and ends the thread (herd's ``fatal`` faults: no
handler, nothing after the faulting instruction runs).
"""
import re
from dataclasses import dataclass

from hdl.ports import InvalidateOp

from .errors import LitmusError, Unsupported

MASK64 = (1 << 64) - 1
MASK32 = (1 << 32) - 1
#: Instructions a thread may run before it is cut (a loop that does not end).
MAX_INSTRUCTIONS = 200

_TLBI = {"VMALLE1": InvalidateOp.VMALLE1, "ASIDE1": InvalidateOp.ASIDE1,
         "VAE1": InvalidateOp.VAE1, "VALE1": InvalidateOp.VALE1,
         "VAAE1": InvalidateOp.VAAE1, "VAALE1": InvalidateOp.VAALE1}
_CONDITIONS = ("EQ", "NE", "CS", "HS", "CC", "LO", "MI", "PL", "VS", "VC", "HI", "LS",
               "GE", "LT", "GT", "LE", "AL")
LOADS = {"LDR", "LDAR", "LDAPR"}
STORES = {"STR", "STLR"}
CAS = {"CAS", "CASA", "CASL", "CASAL"}
SWP = {"SWP", "SWPA", "SWPL", "SWPAL"}
LD_OPS = {f"LD{op}{order}": op for op in ("SET", "CLR", "ADD", "EOR")
          for order in ("", "A", "L", "AL")}
ST_OPS = {f"ST{op}{order}": op for op in ("SET", "CLR", "ADD", "EOR") for order in ("", "L")}
LOCAL = {"MOV", "ADD", "SUB", "AND", "ORR", "EOR", "BIC", "LSR", "LSL", "CMP", "CSEL",
         "CSET", "CBZ", "CBNZ", "B", "DMB", "ISB", "NOP"}
VISIBLE = LOADS | STORES | CAS | SWP | set(LD_OPS) | set(ST_OPS) | {"TLBI", "DSB"}


class LoopBound(Exception):
    """A thread ran ``MAX_INSTRUCTIONS`` without finishing: the execution is cut."""


@dataclass(frozen=True)
class Reg:
    n: int          # 31: the zero register
    wide: bool      # X (64 bits) or W (32)


@dataclass(frozen=True)
class Mem:
    base: Reg
    offset: object = 0          # an int, or (Reg, extend, shift)


@dataclass(frozen=True)
class Instr:
    op: str
    args: tuple
    label: str | None
    text: str


def _split(text):
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


_REG = re.compile(r"^([XW])(\d+|ZR)$", re.I)


def _operand(test, text, labels):
    m = _REG.match(text)
    if m:
        n = 31 if m.group(2).upper() == "ZR" else int(m.group(2))
        if n > 31:
            raise LitmusError(test, f"register {text!r}")
        return Reg(n, m.group(1).upper() == "X")
    if text.startswith("#") or text.isdigit():
        try:
            return int(text.lstrip("#"), 0)
        except ValueError:
            raise LitmusError(test, f"immediate {text!r}") from None
    if text.startswith("[") and text.endswith("]"):
        inner = _split(text[1:-1])
        base = _operand(test, inner[0], labels)
        if not isinstance(base, Reg):
            raise LitmusError(test, f"address {text!r}")
        if len(inner) == 1:
            return Mem(base)
        offset = _operand(test, inner[1], labels)
        if isinstance(offset, int) and len(inner) == 2:
            return Mem(base, offset)
        if isinstance(offset, Reg):
            extend, shift = _extend(test, inner[2:], text)
            return Mem(base, (offset, extend, shift))
        raise LitmusError(test, f"address {text!r}")
    if text.upper() in _CONDITIONS:
        return text.upper()
    if text in labels:
        return text
    if text.upper().startswith("LSL") or text.upper().startswith(("SXTW", "UXTW")):
        return text.upper()
    raise LitmusError(test, f"operand {text!r}")


def _extend(test, rest, text):
    if not rest:
        return None, 0
    words = " ".join(rest).upper().split()
    kind = words[0]
    if kind not in ("LSL", "SXTW", "UXTW", "SXTX", "UXTX"):
        raise LitmusError(test, f"address {text!r}")
    shift = int(words[1].lstrip("#"), 0) if len(words) > 1 else 0
    return kind, shift


def decode(test, thread_code):
    """A thread's (label, text) lines as Instrs, and the labels' positions."""
    labels, code, position = {}, [], 0
    for label, text in thread_code:
        if label is not None:
            labels[label] = position
        position += text is not None
    for label, text in thread_code:
        if text is None:
            continue
        words = text.replace("\t", " ").split(None, 1)
        op = words[0].upper()
        rest = words[1] if len(words) > 1 else ""
        if op == "TLBI":
            code.append(_tlbi(test, label, text, rest, labels))
            continue
        if op.startswith("B.") and op[2:] in _CONDITIONS:
            op, rest = "B.cond", f"{op[2:]},{rest}"
        if op in ("DMB", "DSB", "ISB"):
            code.append(Instr(op, (), label, text))
            continue
        if op not in LOCAL and op not in VISIBLE and op != "B.cond":
            raise Unsupported(f"unsupported instruction {op}")
        args = tuple(_operand(test, a, labels) for a in _split(rest))
        code.append(Instr(op, args, label, text))
    return code, labels


def _tlbi(test, label, text, rest, labels):
    parts = _split(rest)
    name = parts[0].upper() if parts else ""
    base = name[:-2] if name.endswith("IS") else name
    if base not in _TLBI:
        raise Unsupported(f"TLBI {name}: EL2, stage 2 or range invalidates are not "
                          "modelled" if name else "TLBI without an operation")
    args = (_TLBI[base],) + tuple(_operand(test, a, labels) for a in parts[1:])
    return Instr("TLBI", args, label, text)


class Thread:
    """Thread ``index`` on CPU ``index``: registers X0..X30, NZCV, the program counter,
    the faults it took."""

    def __init__(self, index, code, labels, regs, el0=False):
        self.index, self.code, self.labels = index, code, labels
        self.regs, self.el0 = list(regs), el0
        self.flags = (0, 0, 0, 0)
        self.pc = 0
        self.executed = 0
        self.faulted = False

    @property
    def done(self):
        return self.faulted or self.pc >= len(self.code)

    # Registers.
    def get(self, reg):
        if isinstance(reg, int):
            return reg & MASK64
        value = 0 if reg.n == 31 else self.regs[reg.n]
        return value if reg.wide else value & MASK32

    def set(self, reg, value):
        if reg.n != 31:
            self.regs[reg.n] = value & (MASK64 if reg.wide else MASK32)

    def _address(self, mem):
        address = self.get(mem.base)
        if isinstance(mem.offset, int):
            return (address + mem.offset) & MASK64
        reg, extend, shift = mem.offset
        offset = self.get(reg)
        if extend == "SXTW" and offset >> 31 & 1:
            offset -= 1 << 32
        return (address + (offset << shift)) & MASK64

    # Execution.
    def run_local(self):
        """Run local instructions up to the next visible one (or the end)."""
        while not self.done and self.code[self.pc].op not in VISIBLE:
            self._count()
            self._local(self.code[self.pc])

    def step(self, memory):
        """Run the visible instruction at the pc through ``memory`` (a ``ThreadMemory``),
        then the local ones after it."""
        self._count()
        ins = self.code[self.pc]
        self.pc += 1
        try:
            self._visible(ins, memory)
        except _Fault as fault:
            memory.record_fault(self.index, ins.label, fault.va, fault.kind)
            self.faulted = True
            return
        self.run_local()

    def _count(self):
        self.executed += 1
        if self.executed > MAX_INSTRUCTIONS:
            raise LoopBound(f"P{self.index} ran {MAX_INSTRUCTIONS} instructions")

    def _local(self, ins):
        op, a = ins.op, ins.args
        self.pc += 1
        if op in ("DMB", "ISB", "NOP"):
            return
        if op == "MOV":
            self.set(a[0], self.get(a[1]))
        elif op in ("ADD", "SUB", "AND", "ORR", "EOR", "BIC", "LSR", "LSL"):
            x, y = self.get(a[1]), self._shifted(a[2:])
            result = {"ADD": lambda: x + y, "SUB": lambda: x - y, "AND": lambda: x & y,
                      "ORR": lambda: x | y, "EOR": lambda: x ^ y, "BIC": lambda: x & ~y,
                      "LSR": lambda: x >> y, "LSL": lambda: x << y}[op]()
            self.set(a[0], result)
        elif op == "CMP":
            self._compare(a[0], self.get(a[0]), self._shifted(a[1:]))
        elif op == "CSEL":
            self.set(a[0], self.get(a[1]) if self._holds(a[3]) else self.get(a[2]))
        elif op == "CSET":
            self.set(a[0], int(self._holds(a[1])))
        elif op in ("CBZ", "CBNZ"):
            if (self.get(a[0]) == 0) == (op == "CBZ"):
                self._jump(a[1])
        elif op == "B":
            self._jump(a[0])
        elif op == "B.cond":
            if self._holds(a[0]):
                self._jump(a[1])

    def _shifted(self, args):
        value = self.get(args[0])
        if len(args) > 1:
            kind, _, amount = str(args[1]).partition(" ")
            if kind != "LSL":
                raise Unsupported(f"operand shift {args[1]}")
            value <<= int(amount.lstrip("#"), 0)
        return value & MASK64

    def _jump(self, label):
        self.pc = self.labels[label]          # decode checked that the label exists

    def _compare(self, reg, x, y):
        bits = 64 if reg.wide else 32
        mask = (1 << bits) - 1
        x, y = x & mask, y & mask
        result = (x - y) & mask
        sign = 1 << (bits - 1)
        n, z, c = int(bool(result & sign)), int(result == 0), int(x >= y)
        v = int(bool((x ^ y) & (x ^ result) & sign))
        self.flags = (n, z, c, v)

    def _holds(self, cond):
        n, z, c, v = self.flags
        base = {"EQ": z, "CS": c, "HS": c, "MI": n, "VS": v, "HI": c and not z,
                "GE": n == v, "GT": not z and n == v, "AL": True}
        negated = {"NE": "EQ", "CC": "CS", "LO": "HS", "PL": "MI", "VC": "VS", "LS": "HI",
                   "LT": "GE", "LE": "GT"}
        return bool(base[cond]) if cond in base else not base[negated[cond]]

    def _visible(self, ins, memory):
        op, a = ins.op, ins.args
        if op == "DSB":
            memory.dsb(self.index)
        elif op == "TLBI":
            memory.tlbi(self.index, a[0], self.get(a[1]) if len(a) > 1 else 0)
        elif op in LOADS:
            self.set(a[0], memory.load(self, self._address(a[1]), a[0].wide))
        elif op in STORES:
            memory.store(self, self._address(a[1]), self.get(a[0]), a[0].wide)
        elif op in CAS:
            expected, new = self.get(a[0]), self.get(a[1])
            old = memory.rmw(self, self._address(a[2]), a[0].wide,
                             lambda old: new if old == expected else old)
            self.set(a[0], old)
        elif op in SWP:
            new = self.get(a[0])
            self.set(a[1], memory.rmw(self, self._address(a[2]), a[0].wide, lambda _: new))
        else:
            kind = LD_OPS.get(op) or ST_OPS[op]
            operand = self.get(a[0])
            update = {"SET": lambda old: old | operand, "CLR": lambda old: old & ~operand,
                      "ADD": lambda old: old + operand, "EOR": lambda old: old ^ operand}[kind]
            old = memory.rmw(self, self._address(a[-1]), a[0].wide, update)
            if op in LD_OPS:
                self.set(a[1], old)


class _Fault(Exception):
    def __init__(self, va, kind):
        self.va, self.kind = va, kind


def fault(va, kind):
    """What ``ThreadMemory`` raises when an access faults."""
    return _Fault(va, kind)
