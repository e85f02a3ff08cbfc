"""Seeded random environment of one MMU: page tables in memory, a memory with variable
latency, a host that rewrites descriptors, and streams of accesses and invalidates.

Everything it does follows from the seed and from the MMU's outputs, so the RTL and the
model see the same inputs in the same cycles; replaying a seed replays the run.
"""
import random
from dataclasses import dataclass

from hdl.descriptor import PAGE_SHIFT, PageSize
from hdl.ports import AccessRequest, InvalidateOp, InvalidateRequest
from sim.memory_port import MemoryPort
from sw_model.codec import Codec
from sw_model.descriptors import AP_EL1_RO, AP_EL1_RW, AP_RO, AP_RW, DESCRIPTOR, encode_ttbr
from sw_model.memory import SparseMemory
from sw_model.mmu_ref import MMUInputs
from sw_model.page_table import AddressSpace, TableAllocator

ACCESS = Codec(AccessRequest)
INVALIDATE = Codec(InvalidateRequest)

TABLE_REGION = (0x0100_0000, 0x0180_0000)
ASIDS = (1, 2, 3, 7)
GLOBAL_VA = 0x7F00_0000_0000


@dataclass(frozen=True)
class Rates:
    """Per-cycle probabilities of the environment's actions."""
    access: float = 0.6          # offer a new access when none is pending
    invalidate: float = 0.01
    host_write: float = 0.01
    mem_ready: float = 0.75
    max_latency: int = 4         # memory answers 1..max_latency cycles after a request
    cas_race: float = 0.25       # per cycle of a CAS in flight: the host rewrites that word

    def __post_init__(self):
        for name in ("access", "invalidate", "host_write", "mem_ready", "cas_race"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"rate {name}={getattr(self, name)!r} is not in [0, 1]")
        if self.mem_ready == 0:
            raise ValueError("mem_ready=0 would stall every walk forever")
        if not isinstance(self.max_latency, int) or self.max_latency < 1:
            raise ValueError(f"max_latency={self.max_latency!r} must be an integer >= 1")


class Environment:
    def __init__(self, seed, *, pa_bits=40, rates=Rates(), asids=ASIDS):
        self.seed = seed
        self.asids = asids         # one address space each
        self.rng = random.Random(seed)
        self.rates = rates
        self.pa_bits = pa_bits
        self.memory = SparseMemory(pa_bits)
        self.spaces = []
        self.leaves = []           # descriptor addresses the host may rewrite
        self.vas = {}              # ASID -> VAs worth accessing in that space
        self.original = {}         # descriptor address -> value it was built with
        self._build_tables()
        self.inputs = MMUInputs()
        self.req_payload = 0
        self.inv_payload = 0
        self._taken = False        # the access offered last cycle was accepted
        self.recent = []           # (space, va) of the last few new accesses
        self.last_read = None      # address of the walker's last memory request
        self.cycle = 0
        self.stats = dict(accesses=0, invalidates=0, host_writes=0, mem_reads=0, mem_cas=0,
                          mem_cas_failed=0)
        self.port = MemoryPort(self.memory, self.stats)

    # -- page tables ------------------------------------------------------------------
    def _attrs(self):
        r = self.rng
        return dict(ap=r.choice((AP_RW, AP_RW, AP_RO, AP_EL1_RW, AP_EL1_RO)),
                    af=int(r.random() < 0.8), dbm=int(r.random() < 0.4),
                    uxn=int(r.random() < 0.3), pxn=int(r.random() < 0.3))

    def _pa(self, size):
        span_pages = 1 << (PAGE_SHIFT[PageSize(size)] - 12)
        top = (1 << (self.pa_bits - 12)) - span_pages
        return (self.rng.randrange(0x2000, top) & ~(span_pages - 1)) << 12

    def _map(self, space, va, size, **attrs):
        self.leaves += space.map(va, self._pa(size), size, **(attrs or self._attrs()))
        self.vas[space.asid].append(va)

    def _build_tables(self):
        r = self.rng
        alloc = TableAllocator(*TABLE_REGION)
        for asid in self.asids:
            space = AddressSpace(self.memory, alloc, asid)
            self.spaces.append(space)
            self.vas[asid] = [GLOBAL_VA]
            base = 0x40_0000_0000 * r.randrange(1, 8)
            for k in range(12):
                self._map(space, base + 0x1000 * r.randrange(0, 256), PageSize.PAGE_4K)
            for k in range(2):
                self._map(space, base + 0x20_0000 + 0x1_0000 * k * 3, PageSize.CONT_64K)
            self._map(space, base + 0x4000_0000 + 0x20_0000 * r.randrange(0, 16),
                      PageSize.BLOCK_2M)
            self._map(space, base + 0x8000_0000, PageSize.CONT_32M)
            self._map(space, base + 0x1_0000_0000, PageSize.BLOCK_1G)
            # Descriptors the architecture treats as faults.
            bad = base + 0x2_0000_0000
            l3 = space.descriptor_address(bad, 3, create=True)
            self.memory.write(l3, DESCRIPTOR.pack(valid=1, type=0, af=1, addr=0x3000))
            l3b = l3 + 8
            self.memory.write(l3b, DESCRIPTOR.pack(valid=1, type=1, af=1, ap1=1,
                                                   addr=(1 << 36) - 1))
            self.leaves += [l3, l3b]
            l0 = space.descriptor_address(0x8000_0000_0000 - (1 << 39), 0)
            self.memory.write(l0, DESCRIPTOR.pack(valid=1, type=0, af=1, addr=0))
            self.vas[asid] += [bad, bad + 0x1000, 0x8000_0000_0000 - (1 << 39)]
            space.map(GLOBAL_VA, 0x10_0000, PageSize.PAGE_4K, ap=AP_RW, ng=0, dbm=1)
        self.original = {addr: self.memory.read(addr) for addr in self.leaves}

    # -- stimulus -----------------------------------------------------------------------
    def new_access(self):
        """A random packed AccessRequest (the system environment draws from here too)."""
        r = self.rng
        if self.recent and r.random() < 0.5:
            # Locality: go back to a recent page, so that accesses also hit in the TLB.
            space, va = r.choice(self.recent)
            va = (va & ~0xFFF) | (r.randrange(0, 0x1000) & ~7)
            return self._pack_access(space.ttbr, va)
        space = r.choice(self.spaces)
        ttbr = space.ttbr
        vas = self.vas[space.asid]
        choice = r.random()
        if choice < 0.65:
            va = r.choice(vas) + (r.randrange(0, 0x1000) & ~7)
        elif choice < 0.85:
            va = r.choice(vas) + (r.randrange(0, 0x2_0000) & ~7)
        elif choice < 0.97:
            va = r.randrange(0, 1 << 48) & ~7
        elif choice < 0.99:
            va = (r.randrange(1, 1 << 16) << 48) | r.choice(vas)
        else:
            ttbr = encode_ttbr(((1 << 48) - 1) & ~0xFFF, space.asid)
            va = r.choice(vas)
        self.recent = (self.recent + [(space, va)])[-8:]
        return self._pack_access(ttbr, va)

    def _pack_access(self, ttbr, va):
        r = self.rng
        kind = r.random()
        return ACCESS.pack(va=va, ttbr=ttbr, write=int(kind < 0.35),
                           exec=int(0.35 <= kind < 0.5), el0=int(r.random() < 0.5))

    def new_invalidate(self):
        """A random packed InvalidateRequest over this environment's address spaces."""
        r = self.rng
        op = r.choice(list(InvalidateOp))
        asid = r.choice(self.asids)
        va = (r.choice(self.vas[asid]) >> 12) + r.randrange(0, 32)
        end = va + r.randrange(1, 1 << r.randrange(1, 20))
        return INVALIDATE.pack(op=op.value, asid=asid, va=va & ((1 << 36) - 1),
                               end=min(end, (1 << 36) - 1))

    def _host_write(self, addr=None):
        r = self.rng
        if addr is None:
            if self.last_read in self.original and r.random() < 0.5:
                addr = self.last_read       # what the walker just read, or filled from
            else:
                addr = r.choice(self.leaves)
        old = self.memory.read(addr)
        how = r.randrange(8)
        if how >= 6:
            new = self.original[addr]                   # put it back as built
        elif how == 0:
            new = old ^ (1 << 10)                       # AF
        elif how == 1:
            new = old ^ (1 << 7)                        # AP[2]: clean / dirty
        elif how == 2:
            new = old ^ 1                               # valid
        elif how == 3:
            new = old ^ (1 << 51)                       # DBM
        elif how == 4:
            new = old ^ (r.randrange(1, 1 << 8) << 12)  # output address
        else:
            new = r.randrange(0, 1 << 64)               # garbage
        self.memory.write(addr, new)
        self.stats["host_writes"] += 1

    def step(self, req_ready, mem_req, resp=None):
        """Inputs of this cycle, given the MMU's outputs (``resp`` is not needed here).
        Returns the MMUInputs; ``req_payload``/``inv_payload`` hold the packed payloads."""
        r, rates, inp = self.rng, self.rates, self.inputs
        # Access channel: hold the payload until the MMU takes it.
        if self._taken:
            inp.req_valid = 0
        if not inp.req_valid and r.random() < rates.access:
            self.req_payload = self.new_access()
            inp.req = ACCESS.unpack(self.req_payload)
            inp.req_valid = 1
            self.stats["accesses"] += 1
        self._taken = inp.req_valid and req_ready
        # Invalidates are always accepted in the cycle they are offered.
        inp.inv_valid = int(r.random() < rates.invalidate)
        if inp.inv_valid:
            self.inv_payload = self.new_invalidate()
            inp.inv = INVALIDATE.unpack(self.inv_payload)
            self.stats["invalidates"] += 1
        if r.random() < rates.host_write:
            self._host_write()
        pending = self.port.pending
        if pending is not None and pending[1].cas and r.random() < rates.cas_race:
            self._host_write(pending[1].addr)       # lands before the CAS is performed
        self.port.respond(self.cycle, inp)
        inp.mem_req_ready = int(r.random() < rates.mem_ready)
        if mem_req is not None and inp.mem_req_ready:
            req = self.port.accept(self.cycle, mem_req, r.randint(1, rates.max_latency))
            self.last_read = req.addr
        self.cycle += 1
        return inp
