"""A litmus test's initial state laid out on the platform: every variable gets a virtual
page, a physical page and a last-level descriptor in one address space (ASID 0).

Virtual addresses start at 2**40, above every physical address of the system (40-bit
PAs), so an address in a register says by its value alone whether it is virtual (an
access translates through the thread's TLB and walker) or physical (a descriptor the
thread reads or writes directly, as herd's threads do with ``pte_x``).

herd's descriptor fields map onto the project's layout (``hdl.descriptor``): ``valid`` to
valid, ``af`` to AF, ``db`` (dirty: writable) to AP[2] inverted, ``dbm`` to DBM, ``el0`` to
AP[1]; every leaf is a non-global 4 KB page (nG, ASID 0) in inner-shareable memory.
"""
from hdl.descriptor import PageSize

from ..descriptors import decode, encode_leaf
from ..page_table import AddressSpace, TableAllocator
from .condition import PteVal, Sym
from .errors import Unsupported

VA_BASE = 1 << 40
DATA_BASE = 0x10_0000
TABLE_BASE, TABLE_LIMIT = 0x80_0000, 0x90_0000
PAGE = 0x1000
ASID = 0
MAX_VARIABLES = 64


def variables(test):
    """The test's variables, in order of first mention."""
    names = []

    def add(value):
        if isinstance(value, Sym) and value.var not in names:
            names.append(value.var)
        elif isinstance(value, PteVal) and value.oa is not None:
            add(value.oa)
    for location, value in test.init:
        if location[0] == "mem":
            add(location[1])
        add(value)
    for atom in test.condition.atoms():
        if hasattr(atom, "location"):
            if atom.location[0] == "mem":
                add(atom.location[1])
            add(atom.value)
        elif atom.var is not None:
            add(Sym("va", atom.var))
    for location in test.locations:
        if location[0] == "mem":
            add(location[1])
    if len(names) > MAX_VARIABLES:
        raise Unsupported(f"more than {MAX_VARIABLES} variables")
    return names


class MemoryMap:
    """Addresses of a test's variables, and descriptor values as words."""

    def __init__(self, test):
        self.vars = variables(test)
        self.index = {v: i for i, v in enumerate(self.vars)}
        self.pte_address = {}         # filled by ``install``

    def va(self, var):
        return VA_BASE + self.index[var] * PAGE

    def phy(self, var):
        return DATA_BASE + self.index[var] * PAGE

    def is_virtual(self, address):
        return address >= VA_BASE

    def var_of_va(self, va):
        i = (va - VA_BASE) // PAGE
        return self.vars[i] if 0 <= i < len(self.vars) else None

    def encode(self, value, owner=None):
        """The number a value stands for; a descriptor without ``oa`` points at its
        ``owner`` variable's own page."""
        if isinstance(value, int):
            return value & ((1 << 64) - 1)
        if isinstance(value, Sym):
            if value.kind == "va":
                return self.va(value.var)
            if value.kind == "phy":
                return self.phy(value.var)
            return self.pte_address[value.var]
        oa = value.oa.var if value.oa is not None else owner
        if oa is None:
            raise Unsupported(f"descriptor value {value} names no output address")
        word = encode_leaf(PageSize.PAGE_4K, self.phy(oa), ap=(value.el0, 1 - value.db),
                           af=value.af, dbm=value.dbm, ng=1)
        return word if value.valid else word & ~1

    def describe(self, value):
        """A value as herd would print it: a symbol, a descriptor or a number."""
        names = {self.va(v): v for v in self.vars}
        names.update({self.phy(v): f"phy_{v}" for v in self.vars})
        names.update({a: f"pte_{v}" for v, a in self.pte_address.items()})
        if value in names:
            return names[value]
        d = decode(value)
        pa = d.addr << 12
        if value >= DATA_BASE and d.type and d.sh == 3 and pa in names:
            return (f"(oa:{names[pa]}, valid:{d.valid}, af:{d.af}, db:{1 - d.ap2}, "
                    f"dbm:{d.dbm}, el0:{d.ap1})")
        return str(value) if value < 1 << 32 else hex(value)

    def install(self, test, memory):
        """Write the page tables and the initial memory values into ``memory`` (the
        backend's physical memory, before the clock runs); returns the TTBR."""
        space = AddressSpace(memory, TableAllocator(TABLE_BASE, TABLE_LIMIT), ASID)
        for var in self.vars:
            (self.pte_address[var],) = space.map(self.va(var), self.phy(var), ng=1)
        for location, value in test.init:
            if location[0] != "mem":
                continue
            sym = location[1]
            if sym.kind == "pte":
                if not isinstance(value, PteVal):
                    raise Unsupported(f"descriptor {sym} initialised to a non-descriptor "
                                      "value")
                memory.write(self.pte_address[sym.var], self.encode(value, sym.var))
            else:
                memory.write(self.phy(sym.var), self.encode(value, sym.var))
        return space.ttbr

    def registers(self, test, thread):
        """Thread ``thread``'s initial registers (X0..X30; unnamed ones are 0)."""
        regs = [0] * 31
        for location, value in test.init:
            if location[0] == "reg" and location[1] == thread:
                n = int(location[2][1:])
                if n > 30:
                    raise Unsupported(f"register {location[2]}")
                regs[n] = self.encode(value)
        return regs
