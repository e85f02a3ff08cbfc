"""The shared descriptor layout against the architecture's bit positions, and the
encode/decode helpers and page-table builder built on it."""
import pytest
from hypothesis import given, strategies as st

from hdl.descriptor import LEVEL_INDEX_SHIFT, PageSize, leaf_size, vpn_mask
from sw_model.descriptors import (AP_RO, AP_RW, DESCRIPTOR, decode, encode_leaf, encode_table,
                                  encode_ttbr)
from sw_model.memory import SparseMemory
from sw_model.page_table import AddressSpace, TableAllocator

# VMSAv8-64 stage-1 descriptor bits (Arm ARM D8.3, 4 KB granule).
ARCH_BITS = {"valid": 0, "type": 1, "attr_indx": 2, "ns": 5, "ap1": 6, "ap2": 7, "sh": 8,
             "af": 10, "ng": 11, "addr": 12, "gp": 50, "dbm": 51, "contiguous": 52,
             "pxn": 53, "uxn": 54, "sw": 55}


@pytest.mark.parametrize("name,bit", ARCH_BITS.items())
def test_descriptor_field_positions(name, bit):
    assert DESCRIPTOR.field(name)[0] == bit


def test_ttbr_layout():
    assert encode_ttbr(0x1234_5000, 0xBEEF) == (0xBEEF << 48) | 0x1234_5000


def test_level_indices_and_sizes():
    assert LEVEL_INDEX_SHIFT == (39, 30, 21, 12)
    assert [leaf_size(l, c) for l in (3, 2, 1) for c in (0, 1)] == list(PageSize)
    assert vpn_mask(PageSize.PAGE_4K) == (1 << 36) - 1
    assert vpn_mask(PageSize.BLOCK_2M) == ((1 << 36) - 1) & ~0x1FF


@given(addr=st.integers(0, (1 << 36) - 1), ap=st.sampled_from([AP_RO, AP_RW]),
       af=st.integers(0, 1), ng=st.integers(0, 1), dbm=st.integers(0, 1),
       uxn=st.integers(0, 1), pxn=st.integers(0, 1))
def test_page_round_trip(addr, ap, af, ng, dbm, uxn, pxn):
    d = decode(encode_leaf(PageSize.PAGE_4K, addr << 12, ap=ap, af=af, ng=ng, dbm=dbm,
                           uxn=uxn, pxn=pxn))
    assert (d.valid, d.type, d.addr, d.ap1, d.ap2, d.af, d.ng, d.dbm, d.uxn, d.pxn) == \
        (1, 1, addr, ap[0], ap[1], af, ng, dbm, uxn, pxn)


def test_block_and_table_encodings():
    block = decode(encode_leaf(PageSize.BLOCK_2M, 0x4020_0000))
    assert (block.valid, block.type, block.contiguous) == (1, 0, 0)
    cont = decode(encode_leaf(PageSize.CONT_64K, 0x8000_1000))
    assert (cont.type, cont.contiguous) == (1, 1)
    table = decode(encode_table(0x5000))
    assert (table.valid, table.type, table.addr) == (1, 1, 5)


@pytest.mark.parametrize("call,message", [
    (lambda: encode_leaf(PageSize.BLOCK_2M, 0x1000), "not aligned to a level-2 block"),
    (lambda: encode_table(0x1008), "not 4 KB aligned"),
    (lambda: encode_ttbr(0x10, 1), "not 4 KB aligned"),
    (lambda: encode_ttbr(0x1000, 1 << 16), "ASID"),
    (lambda: DESCRIPTOR.pack(af=2), "does not fit"),
    (lambda: DESCRIPTOR.pack(colour=1), "unknown field"),
])
def test_encoding_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.fixture
def space():
    memory = SparseMemory(40)
    return AddressSpace(memory, TableAllocator(0x1000, 0x10_000), asid=3)


def test_builder_writes_a_four_level_walk(space):
    written = space.map(0x1234_5000, 0x8765_4000, ap=AP_RW)
    assert written == [space.descriptor_address(0x1234_5000, 3)]
    d = decode(space.memory.read(written[0]))
    assert d.addr == 0x87654 and d.valid and d.type


def test_builder_contiguous_run_writes_sixteen(space):
    written = space.map(0x10_0000, 0x20_0000, PageSize.CONT_64K)
    assert len(written) == 16
    addrs = [decode(space.memory.read(a)).addr for a in written]
    assert addrs == [0x200 + n for n in range(16)]
    assert all(decode(space.memory.read(a)).contiguous for a in written)


@pytest.mark.parametrize("va,pa,size,message", [
    (0x1000, 0x20_0000, PageSize.BLOCK_2M, "VA 0x1000 is not aligned"),
    (0x20_0000, 0x1000, PageSize.BLOCK_2M, "PA 0x1000 is not aligned"),
    (1 << 48, 0, PageSize.PAGE_4K, "outside the 48-bit VA range"),
    (0, 1 << 40, PageSize.PAGE_4K, "outside the 40-bit physical"),
])
def test_builder_rejects_bad_mappings(space, va, pa, size, message):
    with pytest.raises(ValueError, match=message):
        space.map(va, pa, size)


def test_builder_rejects_table_under_block(space):
    space.map(0x4000_0000, 0x4000_0000, PageSize.BLOCK_1G)
    with pytest.raises(ValueError, match="level-1 block is mapped"):
        space.map(0x4000_1000, 0x1000)


def test_table_memory_runs_out():
    alloc = TableAllocator(0x1000, 0x2000)
    alloc.alloc()
    with pytest.raises(ValueError, match="out of page-table memory"):
        alloc.alloc()


@pytest.mark.parametrize("addr,message", [(0x1004, "not 8-byte aligned"),
                                          (1 << 40, "outside the 40-bit"), (-8, "outside")])
def test_memory_rejects_bad_addresses(addr, message):
    with pytest.raises(ValueError, match=message):
        SparseMemory(40).read(addr)
