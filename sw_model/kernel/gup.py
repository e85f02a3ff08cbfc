"""GUP-fast (mm/gup.c gup_fast_pte_range(), v6.10): the lockless, hardware-locked walker
of seed 002. Interrupts stay off for the whole walk, which holds off x86 flush IPIs and
tlb_remove_table_sync_one() (so neither a page nor a page table can be freed under it
there); on arm64 a TLBI holds nothing off, and the reference grab plus the re-check of
the PMD and the PTE do the work, with RCU freeing of page tables."""
from .contpte import contpte_ptep_get
from .lockless import ptep_get_lockless
from .pgtable import pmd_trans_huge, pte_index_address, pte_pa, pte_present, pte_write
from .pgtable_free import table_ref

HPAGE_OFFSET_MASK = 0x1FF000           # the 4 KB page's offset inside a 2 MB block


def gup_fast(k, agent, cpu, mm, va, write=False):
    """Pin the page mapped at ``va``, or fall back (to the slow, locked GUP: here, give
    up) when the PTE does not allow it or the PMD or PTE changes under the walk."""
    k.irqs.set(cpu, False)                               # local_irq_save()
    mm.cpumask.add(cpu)                                  # the caller runs on this mm
    pt = k.pgtables
    pmdp, pmd = pt.pmdp_get_lockless(mm.root, va)
    table = pmd & 1 and not pmd_trans_huge(pmd) and table_ref(k, pte_pa(pmd))
    yield f"gup_fast: local_irq_save; {va:#x}: pmd = {pmd:#x}"
    ptep, pte = None, pmd                                # a huge PMD: gup_fast_pmd_leaf()
    if not pmd_trans_huge(pmd):
        v, pte = None, 0
        if table:
            ptep = pte_index_address(pte_pa(pmd), va, 3)
            v = k.checker.check_table_read(agent, mm, va, table, k.step_index)
            pte = yield from ptep_get_lockless(k, ptep)
        yield f"gup_fast {va:#x}: ptep_get_lockless = {pte:#x}" + \
            (f"  VIOLATION {v.kind}" if v else "")
    folio = None
    if pte_present(pte) and (pte_write(pte) or not write):
        pa = pte_pa(pte) | (va & HPAGE_OFFSET_MASK if ptep is None else 0)
        folio = k.try_grab_folio(pa)
        yield f"gup_fast {va:#x}: try_grab_folio " + \
            (f"{folio.pa:#x}" if folio is not None else "failed (page freed)")
        # ptep_get() (on arm64 with a contpte block's A/D bits, as the lockless read); a
        # huge PMD is always re-checked, a table's PMD since the 2022 fix.
        pte_changed = ptep is not None and contpte_ptep_get(k, ptep) != pte
        pmd_changed = (ptep is None or k.fixes["gup_pmd_recheck"]) and \
            pt.backend.read(pmdp) != pmd
        if folio is not None and (pte_changed or pmd_changed):
            k.unpin_folio(folio)                         # changed: drop, bail
            folio = None
            yield f"gup_fast {va:#x}: {'PTE' if pte_changed else 'PMD'} changed, " \
                "reference dropped"
    k.irqs.set(cpu, True)                                # local_irq_restore()
    if folio is not None:
        # The pin survived the re-check: the caller now reads or writes the page (a
        # DMA, a copy), so that access is checked, as of the moment of the pin.
        k.checker.check_access(agent, mm, va, folio.pa, write, k.step_index, False, False)
        k.pins.setdefault(agent, []).append(folio)
    k.stats["gup_pinned" if folio is not None else "gup_fallback"] += 1
    yield f"gup_fast {va:#x}: " + ("pinned" if folio is not None else "fall back to slow GUP")


def unpin_user_pages(k, agent):
    """unpin_user_pages() of everything this agent pinned."""
    for folio in k.pins.pop(agent, []):
        k.unpin_folio(folio)
    yield "unpin_user_pages"
