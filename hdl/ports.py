"""Payload layouts of the MMU's channels: access, response, invalidate, memory."""
from amaranth.lib import data, enum

from .descriptor import TTBR, FaultKind


class AccessRequest(data.Struct):
    """A load, store or instruction fetch by a CPU at EL0 or EL1."""
    va: 64
    ttbr: TTBR
    write: 1
    exec: 1
    el0: 1


class AccessResponse(data.Struct):
    """The physical address of an access, or the fault it took and at which level."""
    pa: 48
    fault: FaultKind
    level: 2


class InvalidateOp(enum.Enum, shape=3):
    """TLB maintenance operations, named after the A64 TLBI instructions they model."""
    VMALLE1 = 0       # everything
    ASIDE1 = 1        # non-global entries of one ASID
    VAE1 = 2          # one VA: global entries, and non-global ones of the ASID
    VALE1 = 3         # the same, last level only
    VAAE1 = 4         # one VA, any ASID
    VAALE1 = 5        # the same, last level only
    RVAE1 = 6         # pages [va, end) of the ASID, and global ones
    RVAAE1 = 7        # pages [va, end), any ASID


class InvalidateRequest(data.Struct):
    """One invalidate. ``va`` and ``end`` are page numbers (VA[47:12]); ``end`` is
    exclusive and used by the range forms only."""
    op: InvalidateOp
    asid: 16
    va: 36
    end: 36


class MemRequest(data.Struct):
    """A 64-bit read; an atomic compare-and-swap (CASAL-like) when ``cas`` is set; a
    write of ``desired`` when ``write`` is set (only the host writes)."""
    addr: 48
    cas: 1
    expected: 64
    desired: 64
    write: 1


class MemResponse(data.Struct):
    """The old value of the word: read data; for a CAS, the swap happened iff it equals
    ``expected``; for a write, what it overwrote."""
    data: 64
