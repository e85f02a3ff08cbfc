"""The golden platform backend: the cycle-matched model of the whole system
(``SystemRef``), driven cycle by cycle, with a memory that answers its requests.

Every method holds its offer on a port for the one cycle in which the port is ready, so
between calls (and while a call waits) no input is offered: the system just runs, with
the interrupt enables the caller set. A wait that can never end (the system has stopped
moving, e.g. a source's buffer holds a shootdown that waits for CPUs with interrupts
off) raises RuntimeError instead of hanging.

Whether an operation has done what it promises is read from the system's outputs (each
wait reads the one port it waits on, not every output every cycle), with one exception:
when a shootdown completes. Its ``done`` pulse is ORed with its source's invalidate and
sync completions, so a shootdown that completes in the same cycle as one of those is
invisible on ``done``; this backend reads the fabric's shootdown register instead (the
RTL backend needs that bit as an output). The ``tlb_fills`` counter looks into the
agent's TLB.

When nothing is moving, ``idle`` skips the remaining cycles at once: a cycle then changes
no state (see ``_quiescent``), so skipping is exact.
"""
from collections import Counter

from hdl.descriptor import FaultKind
from hdl.fabric import GEN_BITS, FabricOp, FabricRequest
from hdl.ports import AccessRequest, AccessResponse, InvalidateOp
from sim.memory_port import MEM_REQUEST, MemoryPort

from .codec import Codec
from .memory import SparseMemory
from .platform import (HOST, Invalidate, Platform, SystemLimit, Translation,
                       shootdown_targets)
from .system_ref import SystemInputs, SystemRef

ACCESS = Codec(AccessRequest)
RESPONSE = Codec(AccessResponse)
FABRIC_REQUEST = Codec(FabricRequest)
SYNC = FABRIC_REQUEST.pack(kind=FabricOp.SYNC.value)
RANGE_OPS = (InvalidateOp.RVAE1, InvalidateOp.RVAAE1)
PAGE_NUMBERS = 1 << 36            # the fabric names VA[47:12]


def invalidate_request(inv):
    """The fabric's InvalidateRequest fields for ``inv`` (byte addresses become page
    numbers; a range covers every page that [va, end) touches)."""
    if not isinstance(inv, Invalidate):
        raise ValueError(f"expected an Invalidate, not {inv!r}")
    op = InvalidateOp(inv.op)
    if not _is_int(inv.asid) or not 0 <= inv.asid < 1 << 16:
        raise ValueError(f"ASID {inv.asid!r} does not fit in 16 bits")
    for name in ("va", "end"):
        value = getattr(inv, name)
        if not _is_int(value) or not 0 <= value < 1 << 48:
            raise ValueError(f"invalidate {name} {value!r} is outside the 48-bit VA range")
    end = 0
    if op in RANGE_OPS:
        end = -(-inv.end >> 12)               # round up: a partly covered page is named
        if end >= PAGE_NUMBERS:
            raise ValueError(f"invalidate end {inv.end:#x} rounds up past the last page "
                             "the fabric can name")
    return dict(op=op.value, asid=inv.asid, va=inv.va >> 12, end=end)


class GoldenBackend(Platform):
    def __init__(self, cpus=4, devices=1, tlb_entries=16, mem_latency=2, pa_bits=40,
                 faults=(), tlbi_range=True, asid_bits=16, gen_bits=GEN_BITS, staged=False):
        if not _is_int(mem_latency) or mem_latency < 1:
            raise ValueError(f"mem_latency must be an integer of at least 1, not "
                             f"{mem_latency!r}")
        #: The model being driven (for inspection; drive it only through the methods).
        #: ``faults``: fabric faults of hdl/faults.py the model is broken with.
        self.system = SystemRef(cpus=cpus, devices=devices, tlb_entries=tlb_entries,
                                pa_bits=pa_bits, tlbi_range=tlbi_range,
                                asid_bits=asid_bits, gen_bits=gen_bits, staged=staged,
                                faults=faults)
        self.cpus, self.devices, self.pa_bits = cpus, devices, pa_bits
        self.tlbi_range, self.asid_bits, self.gen_bits = bool(tlbi_range), asid_bits, gen_bits
        #: Physical memory: may be filled directly before (or between) calls.
        self.memory = SparseMemory(pa_bits)
        self._latency = mem_latency
        self._stats = dict(tlb_fills=0, walks=0, invalidates=Counter(), shootdowns=0,
                           syncs=0, accesses=0, mem_reads=0, mem_writes=0, mem_cas=0,
                           mem_cas_failed=0)
        self._port = MemoryPort(self.memory, self._stats)
        self._inp = SystemInputs(cpus, devices)
        self._inp.mem_req_ready = 1               # the memory takes a request at once
        self._inp.irq_enable = (1 << cpus) - 1
        self._fabric = self.system.fabric
        self._cycles = 0
        self._sd_buffered = {}                    # source -> ticket in its buffer
        self._sd_flight = None                    # ticket the fabric is delivering
        self._sd_pending = set()                  # tickets not complete
        self._next_ticket = 0

    @property
    def cycles(self):
        return self._cycles

    @property
    def stats(self):
        return {**self._stats, "invalidates": dict(self._stats["invalidates"])}

    # Memory, through the host port.
    def read(self, pa):
        self.memory._check(pa)
        return self._host(MEM_REQUEST.pack(addr=pa), f"read of {pa:#x}")

    def write(self, pa, value):
        self.memory._check(pa)
        _check_word("value", value)
        self._host(MEM_REQUEST.pack(addr=pa, write=1, desired=value), f"write of {pa:#x}")

    def cas(self, pa, expected, desired):
        self.memory._check(pa)
        _check_word("expected value", expected)
        _check_word("desired value", desired)
        return self._host(MEM_REQUEST.pack(addr=pa, cas=1, expected=expected,
                                           desired=desired), f"CAS of {pa:#x}")

    # The fabric.
    def tlbi(self, source, inv, gen=None):
        i = self._source(source)
        request = self._fabric_request(FabricOp.INVALIDATE, inv, gen)
        self._offer(i, request, f"tlbi from {source!r}")
        self._stats["invalidates"][InvalidateOp(inv.op).name] += 1

    def dsb(self, source):
        i = self._source(source)
        what = f"dsb from {source!r}"
        self._offer(i, SYNC, what)
        self._stats["syncs"] += 1
        # A sync completes as the fabric takes it from the buffer: done pulses then.
        self._until(lambda: self._src_ready() >> i & 1, what)

    def shootdown(self, source, cpus, inv, gen=None):
        i = self._source(source)
        cpus = shootdown_targets(cpus, inv, self._cpu)
        mask = sum(1 << c for c in cpus)
        request = self._fabric_request(FabricOp.SHOOTDOWN, inv, gen, mask=mask)
        self._offer(i, request, f"shootdown from {source!r}")
        self._stats["shootdowns"] += 1
        ticket, self._next_ticket = self._next_ticket, self._next_ticket + 1
        self._sd_buffered[i] = ticket
        self._sd_pending.add(ticket)
        return ticket

    def shootdown_done(self, ticket):
        if not _is_int(ticket) or not 0 <= ticket < self._next_ticket:
            raise ValueError(f"unknown shootdown ticket {ticket!r}")
        return ticket not in self._sd_pending

    def completed_gen(self):
        return self._fabric.completed_gen

    def set_irqs(self, cpu, enabled):
        bit = 1 << self._cpu(cpu)
        inp = self._inp
        inp.irq_enable = inp.irq_enable | bit if enabled else inp.irq_enable & ~bit

    # Agents.
    def access(self, agent, va, ttbr, *, write=False, exec=False, el0=True):
        ports, k, mmu = self._agent(agent)
        _check_word("VA", va)
        _check_word("TTBR", ttbr)
        self._check_asid(ttbr >> 48)
        req = ACCESS.unpack(ACCESS.pack(va=va, ttbr=ttbr, write=int(bool(write)),
                                        exec=int(bool(exec)), el0=int(bool(el0))))
        what = f"access by {agent!r}"
        self._until(lambda: mmu.req_ready, what)
        tlb = mmu.tlb
        before = tlb.store[:]
        ports[k] = req
        self._tick()
        ports[k] = None
        start = self._cycles - 1
        self._until(lambda: mmu.resp is not None, what)
        resp = RESPONSE.unpack(mmu.resp)
        return access_done(self._stats, resp, before, tlb.store, self._cycles - start)

    def idle(self, cycles=1):
        if not _is_int(cycles) or cycles < 0:
            raise ValueError(f"cycles must be a non-negative integer, not {cycles!r}")
        for left in range(cycles, 0, -1):
            if self._quiescent():
                self._skip(left)
                return
            self._tick()

    # The clock.
    def _tick(self):
        """Run the current cycle with the held inputs, answering memory."""
        inp, port, cycle, system = self._inp, self._port, self._cycles, self.system
        port.respond(cycle, inp)
        mem_req = system.mem_request()
        if mem_req is not None:
            port.accept(cycle, mem_req, self._latency)
        self._clock(inp)
        self._cycles = cycle + 1
        if self._sd_buffered or self._sd_flight is not None:
            self._track_shootdowns(self._src_ready())

    def _clock(self, inp):
        """The clock edge of the current cycle (the RTL backend's edge also clocks the
        RTL)."""
        self.system.tick(inp)

    def _skip(self, cycles):
        """Let ``cycles`` quiescent cycles pass: they change no register."""
        self._cycles += cycles

    def _track_shootdowns(self, src_ready):
        # A source's buffer empties when the fabric takes its request, one per cycle.
        for i, ticket in self._sd_buffered.items():
            if src_ready >> i & 1:
                del self._sd_buffered[i]
                self._sd_flight = ticket
                break
        if self._sd_flight is not None and not self._fabric.sd_wait:
            self._sd_pending.discard(self._sd_flight)
            self._sd_flight = None

    def _src_ready(self):
        """The fabric sources' ready bits (the system's ``src_ready`` output)."""
        return self._fabric.outputs()[0]

    def _until(self, condition, what):
        while not condition():
            if self._quiescent():
                raise RuntimeError(f"{what} can never complete: {self._why_stuck()}")
            self._tick()

    def _quiescent(self):
        """Whether a cycle, with nothing offered, would leave every register as it is."""
        system, f = self.system, self._fabric
        if (self._port.pending is not None or system.host_full or system.arbiter.busy
                or system.host_mem_resp is not None or system.from_ipi or f.done or f.busy
                or f.sd_send != f.sd_wait or f.sd_send & self._inp.irq_enable):
            return False
        if system.awake:                          # an MMU is not still
            return False
        if f.pending and f.grant() is not None:
            return False
        return f.completed_gen >= min(f.max_done_gen, f.lowest_pending_gen() - 1)

    def _why_stuck(self):
        waiting = [c for c in range(self.cpus) if self._fabric.sd_wait >> c & 1]
        if waiting:
            return (f"the shootdown in flight waits for CPU(s) {waiting} with interrupts "
                    "off, and a source's buffer is full behind it")
        return "the system has stopped"

    # Ports and arguments.
    def _host(self, request, what):
        """Put ``request`` through the host port; the old word once memory performed it."""
        inp, system = self._inp, self.system
        self._until(lambda: not system.host_full, what)     # host_mem_ready
        inp.host_mem_valid, inp.host_mem = 1, request
        self._tick()
        inp.host_mem_valid = 0
        self._until(lambda: system.host_mem_resp is not None, what)
        return system.host_mem_resp

    def _offer(self, i, request, what):
        """Offer ``request`` on fabric source ``i`` until its buffer takes it."""
        inp = self._inp
        self._until(lambda: self._src_ready() >> i & 1, what)
        inp.src_valid, inp.src_payload[i] = 1 << i, request
        self._tick()
        inp.src_valid = 0

    def _check_asid(self, asid):
        """An ASID wider than the TLBs match would alias another (the arm64 kernel
        allocates no more than ASIDBits give)."""
        if asid >> self.asid_bits:
            raise SystemLimit(f"ASID {asid:#x} does not fit in this system's "
                             f"{self.asid_bits}-bit ASIDs")

    def _fabric_request(self, kind, inv, gen, mask=0):
        fields = invalidate_request(inv)
        self._check_asid(fields["asid"])
        if gen is not None and not _is_int(gen):
            raise ValueError(f"generation {gen!r} is not an integer")
        if gen is not None and not 0 <= gen < 1 << self.gen_bits:
            raise SystemLimit(f"generation {gen} does not fit in {self.gen_bits} bits")
        return FABRIC_REQUEST.pack(kind=kind.value, inv=fields, devices=int(inv.devices),
                                   gen_valid=int(gen is not None), gen=gen or 0, mask=mask)

    def _source(self, source):
        """Fabric source index: 0 for the host, 1+c for CPU c."""
        if source == HOST:
            return 0
        if isinstance(source, tuple) and len(source) == 2 and source[0] == "cpu":
            return 1 + self._cpu(source[1])
        raise ValueError(f"unknown fabric source {source!r}: expected HOST or "
                         f"('cpu', 0..{self.cpus - 1})")

    def _cpu(self, cpu):
        if not _is_int(cpu) or not 0 <= cpu < self.cpus:
            raise ValueError(f"CPU {cpu!r} is out of range: this system has CPUs "
                             f"0..{self.cpus - 1}")
        return cpu

    def _agent(self, agent):
        """(the agent's request inputs, its index in them, its MMU)."""
        if isinstance(agent, tuple) and len(agent) == 2 and _is_int(agent[1]):
            kind, k = agent
            if kind == "cpu" and 0 <= k < self.cpus:
                return self._inp.cpu_req, k, self.system.cpu_mmus[k]
            if kind == "dev" and 0 <= k < self.devices:
                return self._inp.dev_req, k, self.system.dev_mmus[k]
        devices = f" or ('dev', 0..{self.devices - 1})" if self.devices else ""
        raise ValueError(f"unknown agent {agent!r}: expected ('cpu', 0..{self.cpus - 1})"
                         f"{devices}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_word(name, value):
    if not _is_int(value) or not 0 <= value < 1 << 64:
        raise ValueError(f"{name} {value!r} is not a 64-bit word")


def access_done(stats, resp, before, store, cycles):
    """Count an access that took ``cycles`` (TLB entries ``before`` it, ``store`` after)
    and return its Translation."""
    stats["accesses"] += 1
    stats["walks"] += cycles > 1          # a hit or an early fault answers at once
    # A fill writes a new entry object into its slot (an invalidate clears bits only).
    stats["tlb_fills"] += sum(a is not b for a, b in zip(before, store))
    if resp.fault == FaultKind.NONE.value:
        return Translation(resp.pa, None, 0, cycles)
    return Translation(None, FaultKind(resp.fault).name, resp.level, cycles)
