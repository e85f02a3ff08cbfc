"""NUMA balancing (kernel/sched/fair.c task_numa_work(), mm/mprotect.c, mm/memory.c,
v6.10): change_prot_numa() makes PTEs PROT_NONE under an mmu_gather, its flush
deferred to tlb_finish_mmu(); a CPU touching such a PTE takes a NUMA hinting fault
(do_numa_page()), which migrates the page (migrate_misplaced_folio()).

The model has one memory node, so every page task_numa_work() hinted counts as
misplaced (mpol_misplaced() names another node); a PROT_NONE PTE that the model's
mprotect() left behind (it leaves growing permissions to faults) is just made
present again."""
from .migrate import migrate_pages
from .mmu_gather import tlb_gather_mmu
from .page_alloc import PAGE_SIZE
from .pgtable import pte_mkpresent, pte_mkprotnone, pte_pa, pte_present
from .rmap import flush_tlb_batched_pending


def change_prot_numa(k, agent, cpu, mm, va, pages):
    """task_numa_work() → change_prot_numa() (mmap_lock held for read): each present
    PTE becomes PROT_NONE (MM_CP_PROT_NUMA), gathered; one flush at the end."""
    end = va + pages * PAGE_SIZE
    yield from mm.mmap_lock.down_read(agent)
    tlb = yield from tlb_gather_mmu(k, cpu, mm)
    pt = k.pgtables
    for page in range(va, end, PAGE_SIZE):
        vma = mm.find_vma(page)
        if vma is None or vma.pfnmap:                  # not vma_migratable()
            continue
        ptep, ptl = yield from pt.pte_offset_map_lock(agent, mm.root, page)
        if ptep is None:
            continue
        yield from flush_tlb_batched_pending(k, cpu, mm)   # under the PTL
        pte = pt.ptep_get(ptep)
        if pte_present(pte):
            old = pt.ptep_modify(ptep, pte_mkprotnone)
            k.pte_changed(mm, page, k.allocator.folio_at(pte_pa(old)), pte_mkprotnone(old))
            tlb.tlb_remove_tlb_entry(ptep, page)
            k.numa_hinted.add((mm.name, page))
        ptl.unlock(agent)
        yield f"change_pte_range {page:#x}: prot_numa {pte:#x}"
    yield from tlb.tlb_finish_mmu()
    mm.mmap_lock.up_read(agent)


def do_numa_page(k, agent, cpu, mm, va, ptep, orig):
    """do_numa_page(): under the PTL, give up if the PTE changed; a hinted anonymous
    page is migrated (the migration entries replace the PROT_NONE PTE, and the new
    page is mapped present); otherwise, or if migration fails, the PTE is made present
    again (read-only; a write faults once more and upgrades it)."""
    ptl = k.pgtables.pte_lockptr(ptep)
    yield from ptl.lock(agent)
    if k.pgtables.ptep_get(ptep) != orig:
        ptl.unlock(agent)
        yield f"do_numa_page {va:#x}: PTE changed, retry"
        return
    page = va & ~0xFFF
    folio = k.allocator.folio_at(pte_pa(orig))
    if (mm.name, page) in k.numa_hinted and folio is not None and folio.kind == "anon":
        k.numa_hinted.discard((mm.name, page))
        ptl.unlock(agent)
        yield f"do_numa_page {va:#x}: misplaced, migrate_misplaced_folio"
        if (yield from migrate_pages(k, agent, cpu, folio)) is not None:
            return
        yield from ptl.lock(agent)
        if k.pgtables.ptep_get(ptep) != orig:
            ptl.unlock(agent)
            return
    k.numa_hinted.discard((mm.name, page))
    k.pgtables.set_pte_at(ptep, pte_mkpresent(orig))
    ptl.unlock(agent)
    yield f"handle_pte_fault {va:#x}: PROT_NONE PTE made present"
