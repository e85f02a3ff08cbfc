"""hugetlbfs mappings and their shared PMD tables (mm/hugetlb.c, v5.15, the kernel of
race 7, CVE-2021-4002).

A ``hugetlb`` VMA maps the one hugetlbfs file of the model shared (MAP_SHARED), at its
own address: two mms whose hugetlb VMAs sit at the same address map the same 2 MB
pages, as two processes mapping the file at one address do. Each 2 MB page is a PMD
block. When a VMA covers a whole 1 GB PUD-aligned range (vma_shareable()), a fault
that finds its PUD none shares the PMD table another mm already has for that range
(huge_pmd_share()): its PUD entry points to that table, whose share count goes up.
huge_pmd_unshare(), on munmap() or MADV_DONTNEED, clears the PUD entry of an mm that
shares the table and drops its share, leaving the table and its entries to the
others; every 2 MB page it mapped is gone from that mm at once. Race 7: the unshare
path left the gathered flush range as it was, so without the 2021 fix
(tlb_flush_pmd_range() of the whole PUD range) nothing flushed the mm's TLB entries
for those pages.
"""
from ..descriptors import decode, encode_table
from .khugepaged import HPAGE_PMD_SIZE, mk_huge_pmd
from .page_alloc import PAGE_SIZE
from .pgtable import pte_index_address

PUD_SIZE = 1 << 30
SUBPAGES = HPAGE_PMD_SIZE // PAGE_SIZE


class HugetlbPoolEmpty(Exception):
    """No 2 MB run of free frames for a hugetlb page."""


class HugetlbFS:
    """The hugetlbfs file's page cache and the PMD tables mms share."""

    def __init__(self):
        self.pages = {}              # 2 MB-aligned file offset (= VA) -> its 512 folios
        self.sharers = {}            # PMD table address -> names of the mms using it

    def share_count(self, table):
        """How many mms besides one use the table (the kernel's extra page references)."""
        return len(self.sharers.get(table, ())) - 1


def vma_shareable(vma, addr):
    """vma_shareable(): a shared mapping covering the whole PUD range of ``addr``."""
    base = addr & ~(PUD_SIZE - 1)
    return vma.kind == "hugetlb" and vma.start <= base and base + PUD_SIZE <= vma.end


def pud_offset(k, mm, addr):
    """The address of the PUD entry for ``addr``, the table above it allocated if
    missing (pud_alloc())."""
    pt = k.pgtables
    pgdp = pte_index_address(mm.root, addr, 0)
    pgd = pt.backend.read(pgdp)
    if not pgd & 1:
        pgd = encode_table(pt.alloc_table().pa)
        pt.write(pgdp, pgd)
    return pte_index_address(decode(pgd).addr << 12, addr, 1)


def _pud_table(k, mm, addr):
    """The PMD table the PUD entry of ``addr`` points to, or None."""
    pgd = k.pgtables.backend.read(pte_index_address(mm.root, addr, 0))
    if not pgd & 1:
        return None
    pud = k.pgtables.backend.read(pte_index_address(decode(pgd).addr << 12, addr, 1))
    return decode(pud).addr << 12 if pud & 1 else None


def _map_block(k, mm_name, haddr, folios, pmd):
    """The rmap entries of a 2 MB block for one mm (its 512 subpages)."""
    mm = k.mms[mm_name]
    for i, folio in enumerate(folios):
        k.folio_add_rmap(mm, haddr + i * PAGE_SIZE, folio)
        k.pte_changed(mm, haddr + i * PAGE_SIZE, folio, pmd)


def _blocks(k, table, base, vma):
    """(2 MB VA, pmd) of each block the PMD table ``table`` (mapping from ``base``) holds
    inside ``vma``."""
    pt = k.pgtables
    for pmdp in sorted(pt.written.get(table, ())):
        haddr = base + (pmdp & 0xFFF) // 8 * HPAGE_PMD_SIZE
        pmd = pt.backend.read(pmdp)
        if pmd & 1 and vma.start <= haddr < vma.end:
            yield haddr, pmd


def huge_pmd_share(k, mm, vma, addr, pudp):
    """huge_pmd_share(): point the none PUD entry at the PMD table another mm's VMA of
    the same file range already has, and count the share; the table's blocks are
    this mm's mappings from now on. Returns the table, or None if none was found."""
    base = addr & ~(PUD_SIZE - 1)
    for other in k.mms.values():
        svma = other.find_vma(addr) if other is not mm else None
        table = svma is not None and vma_shareable(svma, addr) and _pud_table(k, other, addr)
        if table:
            k.pgtables.write(pudp, encode_table(table))
            k.hugetlbfs.sharers[table].append(mm.name)
            for haddr, pmd in _blocks(k, table, base, vma):
                _map_block(k, mm.name, haddr, k.hugetlbfs.pages[haddr], pmd)
            return table
    return None


def huge_pte_alloc(k, mm, vma, addr):
    """huge_pte_alloc(): the address of the pmd for ``addr``, sharing another mm's PMD
    table or allocating one when the PUD entry is none. Returns (pmdp, note)."""
    pt = k.pgtables
    pudp = pud_offset(k, mm, addr)
    pud = pt.backend.read(pudp)
    note = ""
    if pud & 1:
        table = decode(pud).addr << 12
    else:
        table = vma_shareable(vma, addr) and huge_pmd_share(k, mm, vma, addr, pudp)
        if table:
            note = f", huge_pmd_share: pmd table {table:#x} " \
                f"(shared by {', '.join(k.hugetlbfs.sharers[table])})"
        else:
            table = pt.alloc_table().pa                      # pmd_alloc()
            pt.write(pudp, encode_table(table))
            k.hugetlbfs.sharers[table] = [mm.name]
    return pte_index_address(table, addr, 2), note


def hugetlb_fault(k, agent, mm, vma, va):
    """hugetlb_fault() → hugetlb_no_page(): the file's 2 MB page (allocated and added to
    the page cache on first use) mapped by a PMD block under the table's lock; a block
    already there (mapped by a sharer, or a racing fault) leaves nothing to do."""
    haddr = va & ~(HPAGE_PMD_SIZE - 1)
    pmdp, note = huge_pte_alloc(k, mm, vma, haddr)
    yield f"hugetlb_fault {va:#x}: pmd {pmdp:#x}{note}"
    ptl = k.pgtables.pte_lockptr(pmdp)                   # huge_pte_lock()
    yield from ptl.lock(agent)
    if k.pgtables.backend.read(pmdp) & 1:
        ptl.unlock(agent)
        yield f"hugetlb_fault {va:#x}: already mapped"
        return
    folios = k.hugetlbfs.pages.get(haddr)
    if folios is None:
        folios = k.allocator.alloc_huge("file")       # alloc_huge_page()
        if folios is None:
            ptl.unlock(agent)
            raise HugetlbPoolEmpty(f"no free 2 MB run of frames for the hugetlb page at "
                                   f"{haddr:#x} (raise frames=)")
        k.hugetlbfs.pages[haddr] = folios             # huge_add_to_page_cache()
    pmd = mk_huge_pmd(folios[0].pa, vma.may_write, vma.may_exec)
    k.pgtables.write(pmdp, pmd)                       # set_huge_pte_at()
    table = pmdp & ~0xFFF
    for name in k.hugetlbfs.sharers[table]:           # every sharer maps it now
        _map_block(k, name, haddr, folios, pmd)
    ptl.unlock(agent)
    yield f"hugetlb_no_page {va:#x}: set_huge_pte_at -> {folios[0].pa:#x} (2 MB)"


def huge_pmd_unshare(k, mm, table, pudp, base, vma):
    """huge_pmd_unshare(): if another mm shares the PMD table, clear this mm's PUD entry
    and drop its share; the blocks stay for the others but are no longer this mm's.
    Returns whether it unshared."""
    if k.hugetlbfs.share_count(table) < 1:
        return False
    k.pgtables.write(pudp, 0)                         # pud_clear()
    k.hugetlbfs.sharers[table].remove(mm.name)        # put_page() of the table
    for haddr, _ in _blocks(k, table, base, vma):
        for i, folio in enumerate(k.hugetlbfs.pages[haddr]):
            k.unmap_folio(mm, haddr + i * PAGE_SIZE, folio, dirty=False)
    return True


def unmap_hugepage_range(k, agent, tlb, mm, vma, start, end):
    """__unmap_hugepage_range(): in each PUD range of [start, end), unshare the PMD table
    if another mm shares it, else clear its blocks into the gather. With the
    hugetlb_unshare_flush fix an unshare widens the gather to the whole PUD range
    (tlb_flush_pmd_range()), so its flush covers every block it took away."""
    addr = start
    while addr < end:
        base = addr & ~(PUD_SIZE - 1)
        table = _pud_table(k, mm, addr)
        if table is not None:
            yield from _unmap_pud_range(k, agent, tlb, mm, vma, table, base, addr,
                                        min(end, base + PUD_SIZE))
        addr = base + PUD_SIZE


def _unmap_pud_range(k, agent, tlb, mm, vma, table, base, start, end):
    pt = k.pgtables
    ptl = pt.pte_lockptr(table)                       # huge_pte_lock()
    yield from ptl.lock(agent)
    if huge_pmd_unshare(k, mm, table, pud_offset(k, mm, base), base, vma):
        ptl.unlock(agent)
        flushed = k.fixes["hugetlb_unshare_flush"]
        if flushed:
            tlb.tlb_adjust_range(base, PUD_SIZE)
        yield f"huge_pmd_unshare {base:#x}: pud cleared, pmd table {table:#x} left to " \
            f"{', '.join(k.hugetlbfs.sharers[table])}" + \
            ("; tlb_flush_pmd_range" if flushed else "")
        return
    cleared = 0
    for haddr, _ in list(_blocks(k, table, base, vma)):
        if start <= haddr < end:
            pt.ptep_get_and_clear(pte_index_address(table, haddr, 2))
            tlb.tlb_adjust_range(haddr, HPAGE_PMD_SIZE)   # tlb_remove_huge_tlb_entry()
            for i, folio in enumerate(k.hugetlbfs.pages[haddr]):
                k.unmap_folio(mm, haddr + i * PAGE_SIZE, folio, dirty=False)
            cleared += 1
    ptl.unlock(agent)
    yield f"unmap_hugepage_range {start:#x}-{end:#x}: {cleared} huge pmds cleared"
