"""Encode and decode VMSAv8-64 stage-1 descriptors with the shared ``hdl.descriptor`` layout."""
from hdl.descriptor import LEVEL_INDEX_SHIFT, PAGE_LEVEL, TTBR, Descriptor, PageSize

from .codec import Codec

DESCRIPTOR = Codec(Descriptor)
TTBR_CODEC = Codec(TTBR)

#: Access permissions, as (AP[1], AP[2]) pairs: who may read and who may write.
AP_EL1_RW = (0, 0)
AP_RW = (1, 0)         # EL1 and EL0 read/write
AP_EL1_RO = (0, 1)
AP_RO = (1, 1)         # EL1 and EL0 read-only


def encode_table(table_pa):
    """A table descriptor pointing at the 4 KB-aligned table at ``table_pa``."""
    if table_pa & 0xFFF:
        raise ValueError(f"table address {table_pa:#x} is not 4 KB aligned")
    return DESCRIPTOR.pack(valid=1, type=1, addr=table_pa >> 12)


def encode_leaf(size, pa, *, ap=AP_RW, af=1, ng=1, dbm=0, uxn=0, pxn=0, attr_indx=0,
                sh=3, sw=0):
    """A block or page descriptor of a ``size`` mapping whose own output address is
    ``pa`` (for contiguous sizes, one of the 16 entries: the caller writes them all)."""
    size = PageSize(size)
    if pa & ((1 << LEVEL_INDEX_SHIFT[PAGE_LEVEL[size]]) - 1):
        raise ValueError(f"output address {pa:#x} is not aligned to a level-"
                         f"{PAGE_LEVEL[size]} {'page' if PAGE_LEVEL[size] == 3 else 'block'}")
    contiguous = size in (PageSize.CONT_64K, PageSize.CONT_32M, PageSize.CONT_16G)
    return DESCRIPTOR.pack(valid=1, type=int(PAGE_LEVEL[size] == 3), attr_indx=attr_indx,
                           ap1=ap[0], ap2=ap[1], sh=sh, af=af, ng=ng, addr=pa >> 12,
                           dbm=dbm, contiguous=int(contiguous), pxn=pxn, uxn=uxn, sw=sw)


def decode(value):
    """The descriptor's fields as a namespace."""
    return DESCRIPTOR.unpack(value)


def encode_ttbr(table_pa, asid):
    if table_pa & 0xFFF:
        raise ValueError(f"translation table base {table_pa:#x} is not 4 KB aligned")
    if not 0 <= asid < 1 << 16:
        raise ValueError(f"ASID {asid!r} does not fit in 16 bits")
    return TTBR_CODEC.pack(baddr=table_pa >> 12, asid=asid)
