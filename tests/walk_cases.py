"""Directed MMU cases as one script: every fault kind, every page and block size,
contiguous runs, hardware AF/dirty updates (and races against them), invalidates during
walks. Built once, run on the model alone and on the RTL in lockstep."""
from dataclasses import dataclass, field

from hdl.descriptor import FaultKind, PageSize
from hdl.ports import InvalidateOp
from sim.scripted import ScriptedEnvironment
from sw_model.descriptors import (AP_EL1_RW, AP_RO, AP_RW, DESCRIPTOR, encode_leaf,
                                  encode_table, encode_ttbr)
from sw_model.memory import SparseMemory
from sw_model.page_table import AddressSpace, TableAllocator

PA_BITS = 40
ASID = 5
OTHER_ASID = 6


@dataclass
class Expect:
    fault: FaultKind = FaultKind.NONE
    level: int = 0
    pa: int | None = None
    reads: int | None = None        # descriptor reads the access made
    cas: int | None = None          # compare-and-swaps it made


@dataclass
class Case:
    name: str
    expects: list = field(default_factory=list)    # (access index, Expect)


class CaseBuilder:
    def __init__(self):
        self.memory = SparseMemory(PA_BITS)
        alloc = TableAllocator(0x10_0000, 0x40_0000)
        self.space = AddressSpace(self.memory, alloc, ASID)
        self.other = AddressSpace(self.memory, alloc, OTHER_ASID)
        self.script, self.hooks, self.cases = [], [], []
        self.accesses = 0

    def case(self, name):
        self.cases.append(Case(name))
        return self

    def access(self, va, *, write=0, exec_=0, el0=0, ttbr=None, expect=None):
        self.script.append({"access": dict(va=va, ttbr=ttbr or self.space.ttbr, write=write,
                                           exec=exec_, el0=el0)})
        if expect is not None:
            self.cases[-1].expects.append((self.accesses, expect))
        self.accesses += 1

    def invalidate(self, op, va=0, end=0, asid=ASID):
        self.script.append({"invalidate": dict(op=op.value, asid=asid, va=va >> 12,
                                               end=end >> 12)})

    def write(self, addr, value):
        self.script.append({"write": [addr, value]})

    def hook(self, on, addr, do, nth=1):
        self.hooks.append({"on": on, "addr": addr, "nth": nth, "do": do})

    def leaf(self, va, level=3):
        return self.space.descriptor_address(va, level)

    def environment_json(self):
        return ScriptedEnvironment(self.memory.words, self.script, self.hooks,
                                   pa_bits=PA_BITS).to_json()


def build_cases(hw_update=True):
    """(script JSON, cases, memory after setup) for an MMU with or without FEAT_HAFDBS."""
    b = CaseBuilder()
    s = b.space
    walk = Expect

    # Sizes: a page, a 64 KB contiguous run, blocks, contiguous blocks.
    s.map(0x1000_0000, 0x8000_0000, PageSize.PAGE_4K, ap=AP_RW)
    b.case("4K page: walk, then hit")
    b.access(0x1000_0123, expect=walk(pa=0x8000_0123, reads=4, cas=0))
    b.access(0x1000_0ff8, el0=1, expect=walk(pa=0x8000_0ff8, reads=0, cas=0))

    s.map(0x1010_0000, 0x9000_0000, PageSize.CONT_64K, ap=AP_RW)
    b.case("64K contiguous run is one TLB entry")
    b.access(0x1010_0010, expect=walk(pa=0x9000_0010, reads=4))
    b.access(0x1010_5008, expect=walk(pa=0x9000_5008, reads=0))
    b.access(0x1010_f000, expect=walk(pa=0x9000_f000, reads=0))

    s.map(0x4000_0000, 0xA000_0000, PageSize.BLOCK_2M, ap=AP_RW)
    b.case("2M block at level 2")
    b.access(0x4001_2340, expect=walk(pa=0xA001_2340, reads=3))
    b.access(0x401f_fff8, expect=walk(pa=0xA01f_fff8, reads=0))

    s.map(0x8000_0000, 0xC000_0000, PageSize.CONT_32M, ap=AP_RW)
    b.case("32M contiguous blocks")
    b.access(0x8123_4560, expect=walk(pa=0xC123_4560, reads=3))
    b.access(0x81e0_0008, expect=walk(pa=0xC1e0_0008, reads=0))

    s.map(0x1_0000_0000, 0x40_0000_0000, PageSize.BLOCK_1G, ap=AP_RW)
    b.case("1G block at level 1")
    b.access(0x1_2345_6788, expect=walk(pa=0x40_2345_6788, reads=2))

    s.map(0x40_0000_0000, 0x80_0000_0000, PageSize.CONT_16G, ap=AP_RW)
    b.case("16G contiguous blocks")
    b.access(0x43_0000_0010, expect=walk(pa=0x83_0000_0010, reads=2))
    b.access(0x40_8000_0000, expect=walk(pa=0x80_8000_0000, reads=0))

    # Translation faults: invalid at each level, reserved encodings, VA out of range.
    b.case("translation fault: invalid level-3 entry")
    b.access(0x1000_1000, expect=walk(FaultKind.TRANSLATION, 3, reads=4))
    b.case("translation fault: invalid level-0 entry")
    b.access(0x8000_0000_0000, expect=walk(FaultKind.TRANSLATION, 0, reads=1))
    b.case("translation fault: invalid level-1 entry")
    b.access(0x2_0000_0000, expect=walk(FaultKind.TRANSLATION, 1, reads=2))
    b.case("translation fault: block descriptor at level 0 is reserved")
    b.memory.write(s.descriptor_address(0x80_0000_0000, 0),
                   DESCRIPTOR.pack(valid=1, type=0, af=1, ap1=1))
    b.access(0x80_0000_0000, expect=walk(FaultKind.TRANSLATION, 0, reads=1))
    b.case("translation fault: type 0 at level 3 is reserved")
    b.memory.write(s.descriptor_address(0x1000_2000, 3, create=True),
                   DESCRIPTOR.pack(valid=1, type=0, af=1, ap1=1, addr=0x1234))
    b.access(0x1000_2000, expect=walk(FaultKind.TRANSLATION, 3, reads=4))
    b.case("translation fault: VA bits [63:48] not zero, no walk")
    b.access(0xFFFF_0000_1000_0000, expect=walk(FaultKind.TRANSLATION, 0, reads=0))

    # Address size faults: output address, next-level table, TTBR.
    b.case("address size fault: page output address beyond PA size")
    b.memory.write(s.descriptor_address(0x1000_3000, 3, create=True),
                   DESCRIPTOR.pack(valid=1, type=1, af=1, ap1=1, addr=1 << (44 - 12)))
    b.access(0x1000_3000, expect=walk(FaultKind.ADDRESS_SIZE, 3, reads=4))
    b.case("address size fault: table address beyond PA size")
    b.memory.write(s.descriptor_address(0x4020_0000, 2, create=True),
                   encode_table(1 << 41))
    b.access(0x4020_0000, expect=walk(FaultKind.ADDRESS_SIZE, 2, reads=3))
    b.case("address size fault: TTBR beyond PA size, no walk")
    b.access(0x1000_0000, ttbr=encode_ttbr(1 << 42, OTHER_ASID),
             expect=walk(FaultKind.ADDRESS_SIZE, 0, reads=0))

    # Permission faults.
    s.map(0x1000_4000, 0x8000_4000, ap=AP_RO)
    s.map(0x1000_5000, 0x8000_5000, ap=AP_EL1_RW)
    s.map(0x1000_6000, 0x8000_6000, ap=AP_RO, uxn=1, pxn=1)
    s.map(0x1000_7000, 0x8000_7000, ap=AP_RW)
    b.case("permission fault: write to read-only")
    b.access(0x1000_4000, write=1, expect=walk(FaultKind.PERMISSION, 3, reads=4))
    b.access(0x1000_4008, el0=1, expect=walk(pa=0x8000_4008, reads=0))
    b.access(0x1000_4000, write=1, expect=walk(FaultKind.PERMISSION, 3, reads=0))
    b.case("permission fault: EL0 access to an EL1-only page")
    b.access(0x1000_5000, el0=1, expect=walk(FaultKind.PERMISSION, 3, reads=4))
    b.access(0x1000_5000, write=1, expect=walk(pa=0x8000_5000, reads=0))
    b.case("permission fault: execute-never at EL0 (UXN) and EL1 (PXN)")
    b.access(0x1000_6000, exec_=1, el0=1, expect=walk(FaultKind.PERMISSION, 3, reads=4))
    b.access(0x1000_6000, exec_=1, expect=walk(FaultKind.PERMISSION, 3, reads=0))
    b.access(0x1000_6000, expect=walk(pa=0x8000_6000, reads=0))
    b.case("permission fault: EL1 may not execute an EL0-writable page")
    b.access(0x1000_7000, exec_=1, expect=walk(FaultKind.PERMISSION, 3, reads=4))
    b.access(0x1000_7000, exec_=1, el0=1, expect=walk(pa=0x8000_7000, reads=0))

    s.map(0x1000_e000, 0x8000_e000, ap=AP_EL1_RW, uxn=0, pxn=1)
    b.case("EL0 execute-only page: fetch allowed, data access faults")
    b.access(0x1000_e000, exec_=1, el0=1, expect=walk(pa=0x8000_e000, reads=4))
    b.access(0x1000_e000, el0=1, expect=walk(FaultKind.PERMISSION, 3, reads=0))
    s.map(0x1000_f000, 0x8000_f000, ap=AP_RO, dbm=1)
    if hw_update:
        b.case("writable-clean (DBM) page counts as EL0-writable: no EL1 execution")
        b.access(0x1000_f000, exec_=1, expect=walk(FaultKind.PERMISSION, 3, reads=4))
    else:
        b.case("without hardware dirty update a DBM page is read-only: EL1 may execute")
        b.access(0x1000_f000, exec_=1, expect=walk(pa=0x8000_f000, reads=4))

    # Access flag and dirty state.
    s.map(0x1000_8000, 0x8000_8000, ap=AP_RW, af=0)
    s.map(0x1000_9000, 0x8000_9000, ap=AP_RO, dbm=1)
    s.map(0x1000_a000, 0x8000_a000, ap=AP_RO, dbm=1)
    if hw_update:
        b.case("hardware access flag update (CAS)")
        b.access(0x1000_8000, expect=walk(pa=0x8000_8000, reads=4, cas=1))
        b.access(0x1000_8008, expect=walk(pa=0x8000_8008, reads=0, cas=0))
        b.case("hardware dirty update on a write to a clean DBM page")
        b.access(0x1000_9000, write=1, expect=walk(pa=0x8000_9000, reads=4, cas=1))
        b.access(0x1000_9008, write=1, expect=walk(pa=0x8000_9008, reads=0))
        b.case("write hitting a clean entry re-walks, updates, and refills in place")
        b.access(0x1000_a000, expect=walk(pa=0x8000_a000, reads=4, cas=0))
        b.access(0x1000_a000, write=1, expect=walk(pa=0x8000_a000, reads=4, cas=1))
        b.access(0x1000_a010, write=1, expect=walk(pa=0x8000_a010, reads=0))
    else:
        b.case("access flag fault without hardware update")
        b.access(0x1000_8000, expect=walk(FaultKind.ACCESS_FLAG, 3, reads=4, cas=0))
        b.access(0x1000_8000, expect=walk(FaultKind.ACCESS_FLAG, 3, reads=4, cas=0))
        b.case("write to a clean DBM page without hardware update")
        b.access(0x1000_9000, write=1, expect=walk(FaultKind.PERMISSION, 3, reads=4, cas=0))
        b.access(0x1000_a000, expect=walk(pa=0x8000_a000, reads=4))

    # A descriptor changed between the walker's read and its compare-and-swap.
    raced = s.map(0x1000_b000, 0x8000_b000, ap=AP_RW, af=0)[0]
    moved = encode_leaf(PageSize.PAGE_4K, 0x8800_b000, ap=AP_RW)
    raced2 = s.map(0x1000_c000, 0x8000_c000, ap=AP_RO, dbm=1)[0]
    if hw_update:
        b.case("AF update races a host write: CAS fails, walk retried, new descriptor used")
        b.hook("cas", raced, {"write": [raced, moved]})
        b.access(0x1000_b000, expect=walk(pa=0x8800_b000, reads=8, cas=1))
        b.case("dirty update races a write-protect: retried walk faults")
        b.hook("cas", raced2, {"write": [raced2, encode_leaf(PageSize.PAGE_4K, 0x8000_c000,
                                                             ap=AP_RO)]})
        b.access(0x1000_c000, write=1, expect=walk(FaultKind.PERMISSION, 3, reads=8, cas=1))

    # An invalidate while a walk is in flight: the refill is dropped, the walk retried.
    s.map(0x2000_d000, 0x8000_d000, ap=AP_RW)
    l2 = s.descriptor_address(0x2000_d000, 2)
    b.case("invalidate during a walk: refill dropped, walk retried")
    b.hook("read", l2, {"invalidate": dict(op=InvalidateOp.VAE1.value, asid=ASID,
                                           va=0x2000_d000 >> 12, end=0)})
    b.access(0x2000_d000, expect=walk(pa=0x8000_d000, reads=8))
    b.access(0x2000_d000, expect=walk(pa=0x8000_d000, reads=0))

    # Invalidate operations against cached entries.
    glob = 0x7f00_0000_0000
    s.map(glob, 0x8001_0000, ap=AP_RW, ng=0)
    b.other.map(glob, 0x8001_0000, ap=AP_RW, ng=0)
    b.other.map(0x1000_0000, 0x8100_0000, ap=AP_RW)
    b.case("VAE1 removes the VA's entry; other VAs stay")
    b.invalidate(InvalidateOp.VMALLE1)     # room for what follows, with no eviction
    b.access(0x1000_0000, expect=walk(pa=0x8000_0000))
    b.access(0x1010_0000, expect=walk(pa=0x9000_0000))
    b.invalidate(InvalidateOp.VAE1, 0x1000_0000)
    b.access(0x1000_0000, expect=walk(pa=0x8000_0000, reads=4))
    b.access(0x1010_0000, expect=walk(pa=0x9000_0000, reads=0))
    b.case("ASID tagging: same VA, two ASIDs, two entries")
    other = b.other.ttbr
    b.access(0x1000_0000, ttbr=other, expect=walk(pa=0x8100_0000, reads=4))
    b.access(0x1000_0000, expect=walk(pa=0x8000_0000, reads=0))
    b.case("ASIDE1 keeps global entries and other ASIDs")
    b.access(glob, expect=walk(pa=0x8001_0000, reads=4))
    b.access(glob + 8, ttbr=other, expect=walk(pa=0x8001_0008, reads=0))
    b.invalidate(InvalidateOp.ASIDE1, asid=ASID)
    b.access(glob, expect=walk(pa=0x8001_0000, reads=0))
    b.access(0x1000_0000, ttbr=other, expect=walk(pa=0x8100_0000, reads=0))
    b.access(0x1000_0000, expect=walk(pa=0x8000_0000, reads=4))
    b.case("VAE1 of another ASID removes a global entry; VAAE1 removes every ASID's")
    b.invalidate(InvalidateOp.VAE1, glob, asid=OTHER_ASID)
    b.access(glob, expect=walk(pa=0x8001_0000, reads=4))
    b.invalidate(InvalidateOp.VAAE1, 0x1000_0000, asid=0)
    b.access(0x1000_0000, ttbr=other, expect=walk(pa=0x8100_0000, reads=4))
    b.access(0x1000_0000, expect=walk(pa=0x8000_0000, reads=4))
    b.case("RVAE1 removes entries overlapping the range, including a block")
    b.access(0x4000_0000, expect=walk(pa=0xA000_0000))
    b.access(0x1010_0000, expect=walk(pa=0x9000_0000))
    b.invalidate(InvalidateOp.RVAE1, 0x401f_f000, 0x4020_1000)
    b.access(0x4000_0000, expect=walk(pa=0xA000_0000, reads=3))
    b.access(0x1010_0000, expect=walk(pa=0x9000_0000, reads=0))
    b.case("VMALLE1 removes everything")
    b.invalidate(InvalidateOp.VMALLE1)
    b.access(0x1010_0000, expect=walk(pa=0x9000_0000, reads=4))
    b.access(glob, expect=walk(pa=0x8001_0000, reads=4))
    return b.environment_json(), b.cases, b.memory


def check(results, cases):
    """[(case, access, problem)] for every expectation that results break."""
    from hdl.ports import AccessResponse
    from sw_model.codec import Codec
    codec = Codec(AccessResponse)
    problems = []
    for case in cases:
        for index, exp in case.expects:
            got = results[index]
            if "resp" not in got:
                problems.append((case.name, index, "no response"))
                continue
            r = codec.unpack(got["resp"])
            reads = sum(1 for kind, _ in got["mem"] if kind == "read")
            cas = sum(1 for kind, _ in got["mem"] if kind == "cas")
            want = dict(fault=exp.fault.value, level=exp.level,
                        pa=exp.pa if exp.pa is not None else r.pa, reads=exp.reads, cas=exp.cas)
            have = dict(fault=r.fault, level=r.level, pa=r.pa, reads=reads, cas=cas)
            for key, value in want.items():
                if value is not None and have[key] != value:
                    problems.append((case.name, index, f"{key}: expected {value:#x}, "
                                                       f"got {have[key]:#x}"))
    return problems
