"""Values, locations and the final-condition language of a litmus test.

Values: integers, symbols (``x`` a virtual address, ``pte_x`` / ``PTE(x)`` the address of
x's last-level descriptor, ``phy_x`` / ``PA(x)`` x's physical page) and descriptor values
``(oa:phy_x, valid:0, af:1, db:0, dbm:1, el0:1)`` whose missing fields take herd's
defaults. A condition is built of ``/\\``, ``\\/``, ``~``, parentheses, ``true``, ``false``,
``loc=value`` and ``fault(P1:L0,x[,MMU:Kind])`` / ``Fault(P1,x)``. Evaluation is against
a final state (``FinalState``) that turns symbols into numbers.
"""
import re
from dataclasses import dataclass

from .errors import LitmusError

#: herd's AArch64 descriptor defaults (AArch64PteVal.prot_default).
PTE_DEFAULTS = dict(valid=1, af=1, db=1, dbm=0, el0=1)
#: herd's fault types, as the platform names them.
FAULT_TYPES = {"MMU:Translation": "TRANSLATION", "MMU:AccessFlag": "ACCESS_FLAG",
               "MMU:Permission": "PERMISSION"}


@dataclass(frozen=True)
class Sym:
    kind: str        # "va", "pte" or "phy"
    var: str

    def __str__(self):
        return self.var if self.kind == "va" else f"{self.kind}_{self.var}"


@dataclass(frozen=True)
class PteVal:
    oa: Sym | None           # a "phy" symbol; None: the variable's own page
    valid: int = 1
    af: int = 1
    db: int = 1
    dbm: int = 0
    el0: int = 1

    def __str__(self):
        return f"(oa:{self.oa}, valid:{self.valid}, af:{self.af}, db:{self.db}, " \
               f"dbm:{self.dbm}, el0:{self.el0})"


_SYM = re.compile(r"^(?:(pte|phy)_([A-Za-z]\w*)|(PTE|PA)\(\s*([A-Za-z]\w*)\s*\)|"
                  r"([A-Za-z]\w*))$")
_INT = re.compile(r"^-?(0x[0-9a-fA-F]+|\d+)$")


def parse_symbol(test, text):
    m = _SYM.match(text)
    if not m:
        raise LitmusError(test, f"symbol {text!r}")
    if m.group(1):
        return Sym(m.group(1), m.group(2))
    if m.group(3):
        return Sym("pte" if m.group(3) == "PTE" else "phy", m.group(4))
    return Sym("va", m.group(5))


def parse_value(test, text):
    text = text.strip()
    if _INT.match(text):
        return int(text, 0)
    if text.startswith("(") and text.endswith(")"):
        return _pteval(test, text[1:-1])
    if text.startswith("label:"):
        raise LitmusError(test, f"label value {text!r}")
    return parse_symbol(test, text)


def _pteval(test, text):
    fields, oa = {}, None
    for item in text.split(","):
        key, colon, value = (s.strip() for s in item.partition(":"))
        if not colon:
            raise LitmusError(test, f"descriptor field {item.strip()!r}")
        if key == "oa":
            oa = parse_symbol(test, value)
            if oa.kind != "phy":
                raise LitmusError(test, f"descriptor output address {value!r}: only "
                                        "physical pages (phy_x, PA(x))")
        elif key in PTE_DEFAULTS and value in ("0", "1"):
            fields[key] = int(value)
        else:
            raise LitmusError(test, f"descriptor field {key}:{value}")
    return PteVal(oa, **fields)


def parse_location(test, text, registers=False):
    """A memory location (``x``, ``[x]``, ``pte_x``, ``[PTE(x)]``), or with ``registers``
    also ``N:Xn``."""
    text = text.strip()
    m = re.match(r"^P?(\d+):([XW])(\d+)$", text)
    if m:
        if not registers:
            raise LitmusError(test, f"register {text!r} where a memory location is wanted")
        return ("reg", int(m.group(1)), f"X{m.group(3)}")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].strip()
    sym = parse_symbol(test, text)
    if sym.kind == "phy":
        raise LitmusError(test, f"physical location {text!r}")
    return ("mem", sym)


# The condition language.
@dataclass(frozen=True)
class Eq:
    location: tuple
    value: object

    def holds(self, state):
        return state.location(self.location) == state.encode(self.value, self.location)

    def atoms(self):
        yield self


@dataclass(frozen=True)
class FaultAtom:
    thread: int
    label: str | None         # None: any instruction of the thread
    var: str | None
    kind: str | None          # platform fault name, None: any

    def holds(self, state):
        return any(t == self.thread and (self.label is None or lab == self.label)
                   and (self.var is None or v == self.var)
                   and (self.kind is None or k == self.kind)
                   for t, lab, v, k in state.faults)

    def atoms(self):
        yield self


@dataclass(frozen=True)
class Not:
    arg: object

    def holds(self, state):
        return not self.arg.holds(state)

    def atoms(self):
        yield from self.arg.atoms()


@dataclass(frozen=True)
class Junction:
    op: str                   # "and" or "or"
    args: tuple

    def holds(self, state):
        results = (a.holds(state) for a in self.args)
        return all(results) if self.op == "and" else any(results)

    def atoms(self):
        for a in self.args:
            yield from a.atoms()


@dataclass(frozen=True)
class Const:
    value: bool

    def holds(self, state):
        return self.value

    def atoms(self):
        return iter(())


_TOKEN = re.compile(r"\s*(/\\|\\/|~|not\b|\(|\)|[Ff]ault\([^)]*\)|true\b|false\b|"
                    r"[^\s=()~/\\]+\s*=\s*(?:\([^)]*\)|label:\"[^\"]*\"|[^\s()~/\\]+))")


def parse_condition(test, text, threads):
    tokens, pos, text = [], 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise LitmusError(test, f"condition syntax at {text[pos:pos + 30]!r}")
        tokens.append(m.group(1))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    parser = _ConditionParser(test, tokens, threads)
    expr = parser.disjunction()
    if parser.pos != len(tokens):
        raise LitmusError(test, f"condition syntax at {' '.join(tokens[parser.pos:])!r}")
    return expr


class _ConditionParser:
    def __init__(self, test, tokens, threads):
        self.test, self.tokens, self.threads, self.pos = test, tokens, threads, 0

    def _peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self):
        token = self._peek()
        if token is None:
            raise LitmusError(self.test, "condition ends too early")
        self.pos += 1
        return token

    def disjunction(self):
        args = [self.conjunction()]
        while self._peek() == "\\/":
            self.pos += 1
            args.append(self.conjunction())
        return args[0] if len(args) == 1 else Junction("or", tuple(args))

    def conjunction(self):
        args = [self.unary()]
        while self._peek() == "/\\":
            self.pos += 1
            args.append(self.unary())
        return args[0] if len(args) == 1 else Junction("and", tuple(args))

    def unary(self):
        token = self._take()
        if token in ("~", "not"):
            return Not(self.unary())
        if token == "(":
            expr = self.disjunction()
            if self._take() != ")":
                raise LitmusError(self.test, "condition: ')' expected")
            return expr
        if token in ("true", "false"):
            return Const(token == "true")
        if token[:6].lower() == "fault(":
            return self._fault(token[6:-1])
        if "=" in token:
            lhs, _, rhs = token.partition("=")
            location = parse_location(self.test, lhs, registers=True)
            self._check_thread(location)
            return Eq(location, parse_value(self.test, rhs))
        raise LitmusError(self.test, f"condition term {token!r}")

    def _check_thread(self, location):
        if location[0] == "reg" and location[1] >= self.threads:
            raise LitmusError(self.test, f"condition names thread P{location[1]}, which "
                                         "does not exist")

    def _fault(self, args):
        parts = [p.strip() for p in args.split(",")]
        m = re.match(r"^P(\d+)(?::(\w+))?$", parts[0])
        if not m or len(parts) > 3:
            raise LitmusError(self.test, f"fault predicate fault({args})")
        thread = int(m.group(1))
        self._check_thread(("reg", thread))
        var = parse_symbol(self.test, parts[1]).var if len(parts) > 1 else None
        kind = None
        if len(parts) == 3:
            if parts[2] not in FAULT_TYPES:
                raise LitmusError(self.test, f"fault type {parts[2]!r}")
            kind = FAULT_TYPES[parts[2]]
        return FaultAtom(thread, m.group(2), var, kind)
