"""Builds Armv8-A stage-1 translation tables (4 KB granule, 48-bit VA) in a SparseMemory."""
from hdl.descriptor import (CONTIGUOUS_ENTRIES, LEVEL_INDEX_SHIFT, PAGE_LEVEL, PAGE_SHIFT,
                            VA_BITS, PageSize)

from .descriptors import decode, encode_leaf, encode_table, encode_ttbr


class TableAllocator:
    """Hands out 4 KB table pages from a physical region [base, limit)."""

    def __init__(self, base, limit):
        if base & 0xFFF or limit & 0xFFF or not base < limit:
            raise ValueError(f"table region [{base:#x}, {limit:#x}) is not a 4 KB-aligned "
                             "non-empty range")
        self.next, self.limit = base, limit

    def alloc(self):
        if self.next >= self.limit:
            raise ValueError("out of page-table memory")
        page, self.next = self.next, self.next + 0x1000
        return page


class AddressSpace:
    """One translation regime: a level-0 table and the ASID that tags its entries."""

    def __init__(self, memory, allocator, asid):
        self.memory, self.allocator, self.asid = memory, allocator, asid
        self.root = allocator.alloc()
        self.ttbr = encode_ttbr(self.root, asid)

    def descriptor_address(self, va, level, create=False):
        """Address of the level-``level`` descriptor for ``va``; with ``create``, missing
        intermediate tables are allocated. None if a table on the way is missing."""
        table = self.root
        for lvl in range(level):
            addr = table | (((va >> LEVEL_INDEX_SHIFT[lvl]) & 0x1FF) << 3)
            d = decode(self.memory.read(addr))
            if d.valid and d.type:
                table = d.addr << 12
            elif d.valid:
                raise ValueError(f"VA {va:#x}: a level-{lvl} block is mapped where a "
                                 f"level-{level} entry is wanted")
            elif create:
                table = self.allocator.alloc()
                self.memory.write(addr, encode_table(table))
            else:
                return None
        return table | (((va >> LEVEL_INDEX_SHIFT[level]) & 0x1FF) << 3)

    def map(self, va, pa, size=PageSize.PAGE_4K, **attrs):
        """Map [va, va+size) to pa. ``attrs`` go to ``encode_leaf``. Returns the addresses
        of the descriptors written (16 for a contiguous run)."""
        size = PageSize(size)
        span = 1 << PAGE_SHIFT[size]
        if not 0 <= va < 1 << VA_BITS or va + span > 1 << VA_BITS:
            raise ValueError(f"VA {va:#x} is outside the 48-bit VA range")
        if va & (span - 1):
            raise ValueError(f"VA {va:#x} is not aligned to the {size.name} mapping size")
        if pa & (span - 1):
            raise ValueError(f"PA {pa:#x} is not aligned to the {size.name} mapping size")
        if not 0 <= pa or (pa + span) > 1 << self.memory.pa_bits:
            raise ValueError(f"PA {pa:#x} is outside the {self.memory.pa_bits}-bit "
                             "physical address space")
        level = PAGE_LEVEL[size]
        count = CONTIGUOUS_ENTRIES if size.value & 1 else 1
        step = 1 << LEVEL_INDEX_SHIFT[level]
        written = []
        for n in range(count):
            addr = self.descriptor_address(va + n * step, level, create=True)
            self.memory.write(addr, encode_leaf(size, pa + n * step, **attrs))
            written.append(addr)
        return written
