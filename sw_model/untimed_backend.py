"""The untimed platform backend: the golden backend's rules without its clock, for
exploring many interleavings fast (docs/explore.md).

Each agent's MMU is the cycle-matched ``MMURef`` (its TLB, walker and permission
checks), but nothing runs between calls: an access ticks only that MMU, with memory
answering each walker request at once, so a walk reads the page tables in one go. The
invalidate fabric is not simulated; its documented completion rules are applied
directly (``platform.py``):

- a broadcast invalidate completes as it is issued, in every TLB it targets (a ``dsb``
  then has nothing left to wait for);
- shootdowns go out one at a time, in the order they were issued: the one in flight
  reaches each target CPU whose interrupts are on at once, and one whose interrupts are
  off when they come on; the next goes out once every target has acknowledged. A source
  whose shootdown waits behind that one has a full buffer: anything more it issues can
  never complete (RuntimeError, as on the golden backend);
- the completed-generation register is the highest generation completed, below the
  lowest still in flight.

What it does not reproduce (the golden backend does): the cycles an invalidate or a
shootdown takes to reach its targets, in which a TLB hit still uses the old entry and a
walk overlapping it restarts; the round-robin order in which the fabric takes requests
from different sources; cycle counts (``cycles`` counts the MMU ticks of accesses and
the cycles idled, with memory answering in the next tick).
"""
from collections import Counter

from hdl.fabric import FabricOp, check_fabric_params
from hdl.ports import InvalidateOp
from sim.memory_port import MemoryPort

from .golden_backend import (ACCESS, FABRIC_REQUEST, RESPONSE, GoldenBackend, _check_word,
                             _is_int, access_done)
from .memory import SparseMemory
from .mmu_ref import MMUInputs, MMURef
from .platform import Platform, shootdown_targets


class _Shootdown:
    __slots__ = ("ticket", "source", "waiting", "inv", "gen")

    def __init__(self, ticket, source, waiting, inv, gen):
        self.ticket, self.source, self.waiting, self.inv, self.gen = \
            ticket, source, waiting, inv, gen


class UntimedBackend(Platform):
    def __init__(self, cpus=4, devices=1, tlb_entries=16, pa_bits=40):
        check_fabric_params(cpus, devices)
        self.cpus, self.devices, self.pa_bits = cpus, devices, pa_bits
        self.mmus = [MMURef(tlb_entries=tlb_entries, pa_bits=pa_bits)
                     for _ in range(cpus + devices)]
        self.memory = SparseMemory(pa_bits)
        self._stats = dict(tlb_fills=0, walks=0, invalidates=Counter(), shootdowns=0,
                           syncs=0, accesses=0, mem_reads=0, mem_writes=0, mem_cas=0,
                           mem_cas_failed=0)
        self._port = MemoryPort(self.memory, self._stats)
        self._irqs = (1 << cpus) - 1
        self._cycles = 0
        self._shootdowns = []             # _Shootdown, in the order issued; [0] in flight
        self._next_ticket = 0
        self._done_gen = 0                # the highest generation completed
        self._completed_gen = 0

    # The golden backend's argument checks, which read only ``cpus`` and the system
    # options (Platform's defaults: the untimed backend models the full system), and its
    # clock and counters, read from the same attributes.
    _source = GoldenBackend._source
    _cpu = GoldenBackend._cpu
    _fabric_request = GoldenBackend._fabric_request
    _check_asid = GoldenBackend._check_asid
    cycles = GoldenBackend.cycles
    stats = GoldenBackend.stats

    # Memory.
    def read(self, pa):
        self.memory._check(pa)
        self._stats["mem_reads"] += 1
        return self.memory.read(pa)

    def write(self, pa, value):
        self.memory._check(pa)
        _check_word("value", value)
        self._stats["mem_writes"] += 1
        self.memory.write(pa, value)

    def cas(self, pa, expected, desired):
        self.memory._check(pa)
        _check_word("expected value", expected)
        _check_word("desired value", desired)
        old = self.memory.cas(pa, expected, desired)
        self._stats["mem_cas"] += 1
        self._stats["mem_cas_failed"] += old != expected
        return old

    # The fabric.
    def tlbi(self, source, inv, gen=None):
        i = self._source(source)
        decoded = self._decode(FabricOp.INVALIDATE, inv, gen)
        self._buffer_free(i, f"tlbi from {source!r}")
        for mmu in self.mmus if inv.devices else self.mmus[:self.cpus]:
            mmu.tlb.tick(inv=decoded)
        if gen is not None:
            self._done_gen = max(self._done_gen, gen)
        self._stats["invalidates"][InvalidateOp(inv.op).name] += 1

    def dsb(self, source):
        i = self._source(source)
        self._buffer_free(i, f"dsb from {source!r}")
        self._stats["syncs"] += 1

    def shootdown(self, source, cpus, inv, gen=None):
        i = self._source(source)
        cpus = shootdown_targets(cpus, inv, self._cpu)
        decoded = self._decode(FabricOp.SHOOTDOWN, inv, gen)
        self._buffer_free(i, f"shootdown from {source!r}")
        ticket, self._next_ticket = self._next_ticket, self._next_ticket + 1
        self._shootdowns.append(_Shootdown(ticket, i, sum(1 << c for c in cpus), decoded,
                                           gen))
        self._stats["shootdowns"] += 1
        self._deliver()
        return ticket

    def shootdown_done(self, ticket):
        if not _is_int(ticket) or not 0 <= ticket < self._next_ticket:
            raise ValueError(f"unknown shootdown ticket {ticket!r}")
        return all(s.ticket != ticket for s in self._shootdowns)

    def completed_gen(self):
        in_flight = [s.gen for s in self._shootdowns if s.gen is not None]
        reachable = min(self._done_gen, min(in_flight, default=1 << 32) - 1)
        self._completed_gen = max(self._completed_gen, reachable)
        return self._completed_gen

    def set_irqs(self, cpu, enabled):
        bit = 1 << self._cpu(cpu)
        self._irqs = self._irqs | bit if enabled else self._irqs & ~bit
        self._deliver()

    # Agents.
    def access(self, agent, va, ttbr, *, write=False, exec=False, el0=True):
        mmu = self._mmu(agent)
        _check_word("VA", va)
        _check_word("TTBR", ttbr)
        inp = MMUInputs()
        inp.req_valid, inp.mem_req_ready = 1, 1
        inp.req = ACCESS.unpack(ACCESS.pack(va=va, ttbr=ttbr, write=int(bool(write)),
                                            exec=int(bool(exec)), el0=int(bool(el0))))
        tlb, port = mmu.tlb, self._port
        before = tlb.store[:]
        ticks = 0
        while True:
            port.respond(ticks, inp)
            request = mmu.walker.mem_request
            mmu.tick(inp)
            ticks += 1
            if mmu.resp is not None:
                break
            inp.req_valid = 0
            if request is not None:            # taken this tick, answered in the next
                port.accept(ticks - 1, request, 1)
        self._cycles += ticks
        return access_done(self._stats, RESPONSE.unpack(mmu.resp), before, tlb.store, ticks)

    def idle(self, cycles=1):
        if not _is_int(cycles) or cycles < 0:
            raise ValueError(f"cycles must be a non-negative integer, not {cycles!r}")
        self._cycles += cycles

    # The shootdown queue.
    def _deliver(self):
        """Take the shootdown in flight to its targets whose interrupts are on; when
        every target has it, the next one goes out."""
        while self._shootdowns:
            head = self._shootdowns[0]
            reached = head.waiting & self._irqs
            for c in range(self.cpus):
                if reached >> c & 1:
                    self.mmus[c].tlb.tick(inv=head.inv)
            head.waiting &= ~reached
            if head.waiting:
                return
            self._shootdowns.pop(0)
            if head.gen is not None:
                self._done_gen = max(self._done_gen, head.gen)

    def _buffer_free(self, i, what):
        """Source ``i`` issues another request: its buffer must be empty, which it is not
        while its shootdown waits behind the one in flight (for interrupts to come on)."""
        if any(s.source == i for s in self._shootdowns[1:]):
            waiting = [c for c in range(self.cpus) if self._shootdowns[0].waiting >> c & 1]
            raise RuntimeError(f"{what} can never complete: the shootdown in flight waits "
                               f"for CPU(s) {waiting} with interrupts off, and a source's "
                               "buffer is full behind it")

    # Arguments.
    def _decode(self, kind, inv, gen):
        """The InvalidateRequest the TLBs take, checked as the golden backend checks."""
        return FABRIC_REQUEST.unpack(self._fabric_request(kind, inv, gen)).inv

    def _mmu(self, agent):
        if isinstance(agent, tuple) and len(agent) == 2 and _is_int(agent[1]):
            kind, k = agent
            if kind == "cpu" and 0 <= k < self.cpus:
                return self.mmus[k]
            if kind == "dev" and 0 <= k < self.devices:
                return self.mmus[self.cpus + k]
        devices = f" or ('dev', 0..{self.devices - 1})" if self.devices else ""
        raise ValueError(f"unknown agent {agent!r}: expected ('cpu', 0..{self.cpus - 1})"
                         f"{devices}")

