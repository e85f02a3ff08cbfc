"""mprotect() (mm/mprotect.c, v6.10): change_protection() over an mmu_gather."""
from .mmu_gather import tlb_gather_mmu
from .page_alloc import PAGE_SIZE
from .pgtable import pte_mkprotnone, pte_modify_exec, pte_pa, pte_present, pte_wrprotect
from .rmap import flush_tlb_batched_pending


def mprotect(k, agent, cpu, mm, va, pages, perms):
    """change_pte_range() → pte_modify() of every present PTE to the VMA's new
    protection, and a flush: write (or all) permission taken away, execute permission
    set either way; write permission that grows is left to the write fault (no PTE
    becomes writable here)."""
    end = va + pages * PAGE_SIZE
    with k.revoking(mm, va, end):
        yield from mm.mmap_lock.down_write(agent)
        k.set_vma_perms(mm, va, end, perms)
        tlb = yield from tlb_gather_mmu(k, cpu, mm)
        notified = yield from k.mmu_notifier.invalidate_range_start(mm, va, end)
        pt = k.pgtables
        for page in range(va, end, PAGE_SIZE):
            ptep, ptl = yield from pt.pte_offset_map_lock(agent, mm.root, page)
            if ptep is None:
                continue
            yield from flush_tlb_batched_pending(k, cpu, mm)   # under the PTL
            pte = pt.ptep_get(ptep)
            change = _new_protection(perms)
            # Taking write away always flushes (a TLB may hold the writable entry).
            if pte_present(pte) and ("w" not in perms or change(pte) != pte):
                old = pt.ptep_modify(ptep, change)
                k.pte_changed(mm, page, k.allocator.folio_at(pte_pa(old)), change(old))
                tlb.tlb_remove_tlb_entry(ptep, page)
            ptl.unlock(agent)
            yield f"change_pte_range {page:#x}: {pte:#x}"
        yield from k.mmu_notifier.invalidate_range_end(notified)
        yield from tlb.tlb_finish_mmu()
        mm.mmap_lock.up_write(agent)


def _new_protection(perms):
    """What pte_modify() does to a present PTE for ``perms``."""
    if perms == "none":
        return pte_mkprotnone
    if "w" in perms:
        return lambda pte: pte_modify_exec(pte, "x" in perms)
    return lambda pte: pte_modify_exec(pte_wrprotect(pte), "x" in perms)
