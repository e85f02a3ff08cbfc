"""Armv8-A VMSA stage-1 translation descriptors (4 KB granule, 48-bit VA).

This module is the single bit-level definition of the descriptor format: the RTL views
memory words through these layouts and the Python model packs and unpacks with the same
field offsets (see ``sw_model.codec``).
"""
from amaranth.hdl import Array, Cat, Const, Value
from amaranth.lib import data, enum

GRANULE_SHIFT = 12
VA_BITS = 48
LEVELS = 4
ENTRIES_PER_TABLE = 512
#: VA bit at which each level's 9-bit table index starts.
LEVEL_INDEX_SHIFT = (39, 30, 21, 12)
#: Number of descriptors that a contiguous-hint run spans with a 4 KB granule.
CONTIGUOUS_ENTRIES = 16


class Descriptor(data.Struct):
    """A 64-bit VMSAv8-64 stage-1 descriptor (table, block or page).

    ``addr`` holds bits [47:12]: the next-level table for a table descriptor, the output
    address for a block/page. The upper attribute bits of table descriptors (APTable,
    XNTable, NSTable) fall in ``upper`` and are ignored, as with TCR_ELx.HPD=1.
    """
    valid: 1          # [0]
    type: 1           # [1]  1: table (L0-L2) or page (L3); 0: block (L1, L2)
    attr_indx: 3      # [4:2]
    ns: 1             # [5]
    ap1: 1            # [6]  AP[1]: accessible from EL0
    ap2: 1            # [7]  AP[2]: read-only
    sh: 2             # [9:8]
    af: 1             # [10] access flag
    ng: 1             # [11] not global: tagged with the ASID
    addr: 36          # [47:12]
    res0: 2           # [49:48]
    gp: 1             # [50]
    dbm: 1            # [51] dirty bit modifier
    contiguous: 1     # [52]
    pxn: 1            # [53]
    uxn: 1            # [54]
    sw: 4             # [58:55] ignored by hardware, for software
    upper: 5          # [63:59] ignored (PBHA / hierarchical table attributes)


class TTBR(data.Struct):
    """TTBR0_EL1: translation table base and ASID.

    The level-0 table of a 48-bit VA space with a 4 KB granule is 4 KB and aligned to it,
    so BADDR[11:1] are RES0 and kept apart from the base page number ``baddr``.
    """
    cnp: 1
    baddr_low: 11
    baddr: 36         # bits [47:12] of the level-0 table address
    asid: 16


class PageSize(enum.Enum, shape=3):
    """Size of a translation held in a TLB entry (contiguous runs count as one)."""
    PAGE_4K = 0
    CONT_64K = 1      # 16 contiguous level-3 pages
    BLOCK_2M = 2
    CONT_32M = 3      # 16 contiguous level-2 blocks
    BLOCK_1G = 4
    CONT_16G = 5      # 16 contiguous level-1 blocks


#: log2 of the size in bytes of each PageSize code.
PAGE_SHIFT = {PageSize.PAGE_4K: 12, PageSize.CONT_64K: 16,
              PageSize.BLOCK_2M: 21, PageSize.CONT_32M: 25,
              PageSize.BLOCK_1G: 30, PageSize.CONT_16G: 34}
#: Translation level whose descriptor provides each PageSize.
PAGE_LEVEL = {PageSize.PAGE_4K: 3, PageSize.CONT_64K: 3,
              PageSize.BLOCK_2M: 2, PageSize.CONT_32M: 2,
              PageSize.BLOCK_1G: 1, PageSize.CONT_16G: 1}


def leaf_size(level, contiguous):
    """PageSize code of a leaf descriptor at ``level`` (1..3) with its contiguous bit."""
    return PageSize(2 * (3 - level) + int(bool(contiguous)))


def vpn_mask(size):
    """Mask over a 36-bit page number that keeps the bits naming a ``size`` region."""
    return ((1 << 36) - 1) & ~((1 << (PAGE_SHIFT[PageSize(size)] - GRANULE_SHIFT)) - 1)


def vpn_mask_of(size):
    """``vpn_mask`` as logic, for a PageSize-valued expression ``size``."""
    return Array(Const(vpn_mask(PageSize(min(code, 5))), 36) for code in range(8))[size]


def same_region(a, b, size):
    """Whether page numbers ``a`` and ``b`` lie in one ``size`` region, as logic: equal
    above the region's offset bits. Each piece of the page number between two region
    sizes is compared once and the size picks the pieces that count, which takes fewer
    LUTs than masking every bit by the size."""
    size = Value.cast(size)
    bounds = sorted({PAGE_SHIFT[s] - GRANULE_SHIFT for s in PageSize} | {36})
    pieces = []
    for low, high in zip(bounds, bounds[1:]):
        # The piece counts for the sizes whose offset ends at or below it (the unused
        # codes 6 and 7 are the largest size, as in vpn_mask_of).
        sizes = sum(1 for s in PageSize if PAGE_SHIFT[s] - GRANULE_SHIFT <= low)
        counts = Const(1) if sizes == len(PageSize) else size < sizes
        pieces.append((a[low:high] == b[low:high]) | ~counts)
    return Cat(pieces).all()


class FaultKind(enum.Enum, shape=3):
    """Stage-1 fault reported on the access port (FSC classes of ESR_ELx)."""
    NONE = 0
    TRANSLATION = 1
    ACCESS_FLAG = 2
    PERMISSION = 3
    ADDRESS_SIZE = 4
