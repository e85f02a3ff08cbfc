"""khugepaged's anonymous collapse (mm/khugepaged.c collapse_huge_page(), v6.10): the
PTEs of a 2 MB range become one PMD block mapping a new huge page.

Under mmap_lock for write (which keeps out every locked and semi-locked walker) the PMD
is cleared and flushed (pmdp_collapse_flush()), then tlb_remove_table_sync_one() waits
for GUP-fast, which holds no lock: a GUP-fast that read the old PMD has either pinned
its page by then — and __collapse_huge_page_isolate() sees the pin and gives up — or
finds the PMD gone. Then the pages are copied, their PTEs cleared, the old pages
released, the old table deposited (kept for a later split) and the PMD block set.
Race 10 (2022): on arm64 the TLBI waits for nobody, so without that IPI, and before
GUP-fast re-checked the PMD, a GUP-fast that had read a PTE through the detached table
pinned the old page after the isolation check, and the collapse replaced it.

Only the collapse is modelled: a PMD-mapped range is reached by the hardware walkers
and GUP-fast; any path that works on its PTEs stops the run (split_huge_pmd() is not
modelled).
"""
from ..descriptors import DESCRIPTOR, decode
from .page_alloc import PAGE_SIZE
from .pgtable import mk_pte, pmd_trans_huge, pte_dirty, pte_pa, pte_present
from .pgtable_free import tlb_remove_table_sync_one

HPAGE_PMD_SIZE = 1 << 21


def mk_huge_pmd(pa, write, exec):
    """mk_huge_pmd() with pmd_mkdirty() and maybe_pmd_mkwrite(): a level-2 block with
    the attributes a PTE of the VMA would have."""
    d = decode(mk_pte(pa, write=write, dirty=True, exec=exec))
    return DESCRIPTOR.pack(**d._replace(type=0)._asdict())


def collapse_huge_page(k, agent, cpu, mm, va):
    """collapse_huge_page() of the 2 MB range holding ``va``; a collapse that cannot be
    done ends with khugepaged's SCAN_* reason and leaves the range as it was."""
    haddr = va & ~(HPAGE_PMD_SIZE - 1)
    hend = haddr + HPAGE_PMD_SIZE
    pt = k.pgtables
    yield from mm.mmap_lock.down_read(agent)   # hpage_collapse_scan_pmd()
    result = _revalidate(mm, pt, haddr)[0]
    mm.mmap_lock.up_read(agent)
    huge = None if result else k.allocator.alloc_huge("anon")     # alloc_charge_folio()
    if huge is None:
        k.stats["thp_collapse_failed"] += 1
        yield f"collapse_huge_page {haddr:#x}: {result or 'SCAN_ALLOC_HUGE_PAGE_FAIL'}"
        return
    yield from mm.mmap_lock.down_write(agent)
    result, vma, pmdp, pmd = _revalidate(mm, pt, haddr)          # it may have changed
    if result:
        yield from _give_up(k, agent, mm, huge, haddr, result)
        return
    pt.write(pmdp, 0)                                         # pmdp_collapse_flush()
    yield f"collapse_huge_page {haddr:#x}: pmdp_collapse_flush (pmd was {pmd:#x})"
    yield from k.flush.flush_tlb_range(cpu, mm, haddr, hend, freed_tables=True)
    yield from tlb_remove_table_sync_one(k, cpu)
    table = pte_pa(pmd)
    ptl = pt.pte_lockptr(table)
    yield from ptl.lock(agent)
    pages, result = _collapse_huge_page_isolate(k, pt, table, haddr)
    ptl.unlock(agent)
    if result:
        pt.write(pmdp, pmd)                                   # pmd_populate(): put back
        yield from _give_up(k, agent, mm, huge, haddr, result)
        return
    yield f"__collapse_huge_page_isolate {haddr:#x}: {len(pages)} pages"
    for addr, ptep, folio in pages:                           # __collapse_huge_page_copy()
        old = pt.ptep_get_and_clear(ptep)      # ptep_clear(): no flush, the PMD is gone
        k.unmap_folio(mm, addr, folio, dirty=pte_dirty(old))
        if any(folio in pinned for pinned in k.pins.values()):
            k.checker.report("pinned-page-replaced", mm, addr, folio.pa, k.step_index)
        k.put_folio(folio)
    yield f"__collapse_huge_page_copy {haddr:#x}: {len(pages)} pages copied and released"
    # pgtable_trans_huge_deposit() keeps the emptied table for a split; set_pmd_at().
    huge_pmd = mk_huge_pmd(huge[0].pa, vma.may_write, vma.may_exec)
    pt.write(pmdp, huge_pmd)
    for i, sub in enumerate(huge):
        k.folio_add_rmap(mm, haddr + i * PAGE_SIZE, sub)
        k.pte_changed(mm, haddr + i * PAGE_SIZE, sub, huge_pmd)
    mm.mmap_lock.up_write(agent)
    k.stats["thp_collapse_alloc"] += 1
    yield f"collapse_huge_page {haddr:#x}: set_pmd_at -> {huge[0].pa:#x} (2 MB)"


def _revalidate(mm, pt, haddr):
    """hugepage_vma_revalidate() and find_pmd_or_thp_or_none(): (reason not to
    collapse or None, vma, pmdp, pmd)."""
    vma = mm.find_vma(haddr)
    pmdp, pmd = pt.pmdp_get_lockless(mm.root, haddr)
    if vma is None or vma.kind != "anon" or vma.end < haddr + HPAGE_PMD_SIZE:
        return "SCAN_VMA_CHECK", vma, pmdp, pmd
    if not pmd & 1 or pmd_trans_huge(pmd):
        return "SCAN_PMD_MAPPED" if pmd & 1 else "SCAN_PMD_NULL", vma, pmdp, pmd
    return None, vma, pmdp, pmd


def _collapse_huge_page_isolate(k, pt, table, haddr):
    """__collapse_huge_page_isolate(): the pages to copy, or why not. A page with a
    reference GUP took (is_refcount_suitable() fails) stops the collapse."""
    pages = []
    # Words of the table never written are zero: reading only the others gives the
    # same result for a fraction of the simulated memory reads.
    for ptep in sorted(pt.written.get(table, ())):
        addr = haddr + (ptep & 0xFFF) // 8 * PAGE_SIZE
        pte = pt.ptep_get(ptep)
        if not pte:
            continue                                          # pte_none: a zero subpage
        if not pte_present(pte):
            return None, "SCAN_PTE_NON_PRESENT"
        folio = k.allocator.folio_at(pte_pa(pte))
        if folio is None or folio.kind != "anon":
            return None, "SCAN_PAGE_ANON"
        if folio.pins:
            return None, "SCAN_PAGE_COUNT"
        pages.append((addr, ptep, folio))
    return pages, None if pages else "SCAN_EXCEED_NONE_PTE"


def _give_up(k, agent, mm, huge, haddr, result):
    for folio in huge:
        k.allocator.free(folio)
    mm.mmap_lock.up_write(agent)
    k.stats["thp_collapse_failed"] += 1
    yield f"collapse_huge_page {haddr:#x}: {result}"
