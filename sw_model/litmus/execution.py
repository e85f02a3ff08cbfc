"""One execution of a litmus test on a platform backend: the initial state installed, the
threads built, their memory operations carried out, and the final state read.

A test is prepared once (``Prepared``: parsed, checked for what the model can express,
decoded); each execution then takes a fresh backend."""
from dataclasses import dataclass

from hdl.ports import InvalidateOp

from ..descriptors import decode
from ..platform import Invalidate
from . import a64
from .errors import Unsupported
from .memory_map import MemoryMap

MAX_THREADS = 4
#: Fault names of the platform that herd's fault predicates can name.
FAULTS = ("TRANSLATION", "ACCESS_FLAG", "PERMISSION")
_VA_PAGES = (1 << 36) - 1           # TLBI operand: VA[47:12] (this system's VAs)


def hardware_management(test, threads):
    """Per thread (HA, HD) from the ``TTHM`` header: ``HA``, ``HD`` (which implies HA),
    for all threads or as ``P1:HD``; absent, both off (software management)."""
    flags = [(False, False)] * threads
    for word in test.headers.get("tthm", "").replace(",", " ").split():
        thread, colon, what = word.rpartition(":")
        what = what.upper()
        if what not in ("HA", "HD"):
            raise Unsupported(f"TTHM={word}")
        chosen = range(threads)
        if colon:
            if not (thread.startswith("P") and thread[1:].isdigit()
                    and int(thread[1:]) < threads):
                raise Unsupported(f"TTHM={word}")
            chosen = [int(thread[1:])]
        for t in chosen:
            ha, hd = flags[t]
            flags[t] = (True, hd or what == "HD")
    return flags


def el0_threads(test, threads):
    words = test.headers.get("el0", "").replace(",", " ").split()
    chosen = set()
    for word in words:
        if not (word.startswith("P") and word[1:].isdigit() and int(word[1:]) < threads):
            raise Unsupported(f"EL0={word}")
        chosen.add(int(word[1:]))
    return chosen


class Prepared:
    """A test made ready to run: its memory map, threads' code, hardware management."""

    def __init__(self, test):
        if test.handlers:
            raise Unsupported("fault handler code (" + ", ".join(test.handlers) + ")")
        if len(test.threads) > MAX_THREADS:
            raise Unsupported(f"{len(test.threads)} threads: the system has at most "
                              f"{MAX_THREADS} CPUs")
        self.test = test
        self.threads = len(test.threads)
        self.code = [a64.decode(test.name, t) for t in test.threads]
        self.tlbis = any(i.op == "TLBI" for code, _ in self.code for i in code)
        self.hw = hardware_management(test, self.threads)
        self.el0 = el0_threads(test, self.threads)
        self.map = MemoryMap(test)
        self.locations = _observed(test)


def _observed(test):
    """The locations an outcome reports: those the condition and ``locations`` name."""
    seen = []
    for atom in test.condition.atoms():
        location = getattr(atom, "location", None)
        if location is not None and location not in seen:
            seen.append(location)
    for location in test.locations:
        if location not in seen:
            seen.append(location)
    return seen


@dataclass(frozen=True)
class FinalState:
    """An outcome: the observed locations' values and the faults taken."""
    values: tuple               # (location, value) in ``Prepared.locations`` order
    faults: frozenset           # (thread, label, variable, fault name)

    def location(self, location):
        return dict(self.values)[location]


class Execution:
    """The platform side of one execution: what the threads' memory operations do."""

    def __init__(self, prepared, backend):
        self.p, self.backend = prepared, backend
        pmap = prepared.map
        self.ttbr = pmap.install(prepared.test, backend.memory)
        for cpu, (ha, hd) in enumerate(prepared.hw):
            walker = backend.system.cpu_mmus[cpu].walker
            walker.ha, walker.hd = ha, hd
        self.threads = []
        for i, (code, labels) in enumerate(prepared.code):
            thread = a64.Thread(i, code, labels, pmap.registers(prepared.test, i),
                                el0=i in prepared.el0)
            thread.run_local()
            self.threads.append(thread)
        self.faults = set()

    def warm(self):
        """Fill every CPU's TLB with the initial translations it may hold (the valid
        ones with AF set: no hardware update needed), as a TLB may at any time."""
        pmap, memory = self.p.map, self.backend.memory
        for var in pmap.vars:
            d = decode(memory.read(pmap.pte_address[var]))
            if d.valid and d.af:
                for cpu in range(self.p.threads):
                    self.backend.access(("cpu", cpu), pmap.va(var), self.ttbr)

    # What the threads call.
    def record_fault(self, thread, label, va, kind):
        self.faults.add((thread, label, self.p.map.var_of_va(va), kind))

    def dsb(self, thread):
        self.backend.dsb(("cpu", thread))

    def tlbi(self, thread, op, operand):
        asid = operand >> 48 & 0xFFFF
        va = (operand & _VA_PAGES) << 12
        if op == InvalidateOp.VMALLE1:
            inv = Invalidate(op)
        elif op == InvalidateOp.ASIDE1:
            inv = Invalidate(op, asid=asid)
        else:
            inv = Invalidate(op, asid=asid, va=va)
        self.backend.tlbi(("cpu", thread), inv)

    def _physical(self, thread, address, write):
        """The physical address an access reaches (raising the fault it takes)."""
        if not self.p.map.is_virtual(address):
            if thread.el0:
                raise Unsupported("an EL0 thread reads or writes a descriptor")
            return address
        t = self.backend.access(("cpu", thread.index), address, self.ttbr, write=write,
                                el0=thread.el0)
        if t.fault is not None:
            if t.fault not in FAULTS:
                raise Unsupported(f"a {t.fault} fault")
            raise a64.fault(address, t.fault)
        return t.pa

    def _word(self, pa, wide):
        word_pa, shift = pa & ~7, (pa & 7) * 8
        if shift and (wide or shift != 32):
            raise Unsupported(f"a misaligned access at {pa:#x}")
        return word_pa, shift, (a64.MASK64 if wide else a64.MASK32)

    def load(self, thread, address, wide):
        word_pa, shift, mask = self._word(self._physical(thread, address, False), wide)
        return self.backend.read(word_pa) >> shift & mask

    def store(self, thread, address, value, wide):
        if wide:
            word_pa, _, _ = self._word(self._physical(thread, address, True), wide)
            self.backend.write(word_pa, value)
        else:
            self.rmw(thread, address, wide, lambda old: value)

    def rmw(self, thread, address, wide, update):
        """Replace the value at ``address`` by ``update(old)`` atomically (a CAS loop on
        the word: a walker's hardware update may come between); returns the old value."""
        word_pa, shift, mask = self._word(self._physical(thread, address, True), wide)
        backend = self.backend
        word = backend.read(word_pa)
        while True:
            old = word >> shift & mask
            new = update(old) & mask
            desired = word & ~(mask << shift) | new << shift
            if desired == word:
                return old
            seen = backend.cas(word_pa, word, desired)
            if seen == word:
                return old
            word = seen

    # The end.
    def final_state(self):
        pmap, memory = self.p.map, self.backend.memory
        values = []
        for location in self.p.locations:
            if location[0] == "reg":
                thread = self.threads[location[1]]
                value = thread.regs[int(location[2][1:])]
            elif location[1].kind == "pte":
                value = memory.read(pmap.pte_address[location[1].var])
            else:
                value = memory.read(pmap.phy(location[1].var))
            values.append((location, value))
        return FinalState(tuple(values), frozenset(self.faults))
