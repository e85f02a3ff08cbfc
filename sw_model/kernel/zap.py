"""Unmapping user memory (mm/memory.c, mm/mmap.c, mm/madvise.c, v6.10): zap_pte_range()
under an mmu_gather, for munmap() and madvise(MADV_DONTNEED)."""
from .hugetlb import unmap_hugepage_range
from .mmu_gather import tlb_gather_mmu
from .page_alloc import PAGE_SIZE
from .pgtable import pte_dirty, pte_pa, pte_present, pte_protnone
from .pgtable_free import free_pgtables
from .rmap import flush_tlb_batched_pending


def zap_pte_range(k, agent, tlb, mm, vma, start, end, driver_pages):
    """zap_pte_range(): clear each PTE under its PTL; the folios go to the gather, to be
    freed after the flush (a VM_PFNMAP VMA's pages to ``driver_pages``)."""
    pt = k.pgtables
    for va in range(start, end, PAGE_SIZE):
        ptep, ptl = yield from pt.pte_offset_map_lock(agent, mm.root, va)
        if ptep is None:
            continue
        yield from flush_tlb_batched_pending(k, tlb.cpu, mm)   # under the PTL
        pte = pt.ptep_get_and_clear(ptep)
        if pte_present(pte) or pte_protnone(pte):
            tlb.tlb_remove_tlb_entry(ptep, va)
            folio = k.allocator.folio_at(pte_pa(pte))
            if folio is not None:
                delay_rmap = vma.kind == "shared" and pte_dirty(pte) and k.fixes["delay_rmap"]
                if delay_rmap:
                    folio.dirty = True
                if delay_rmap and k.zap_rmap == "deferred":
                    tlb.tlb_delay_rmap(va, folio)
                else:
                    if delay_rmap:
                        # Flush before the page leaves the rmap, still under the PTE
                        # lock, so folio_mkclean() either sees this mapping (and waits
                        # for the lock) or finds the TLBs already clean (2022 fix).
                        yield from tlb.tlb_flush_mmu()
                    k.unmap_folio(mm, va, folio, dirty=pte_dirty(pte))
                if vma.pfnmap:
                    driver_pages.append(folio)    # not the kernel's to free
                else:
                    tlb.tlb_remove_page(folio)
        ptl.unlock(agent)
        yield f"zap_pte_range {va:#x}: ptep_get_and_clear = {pte:#x}"


def unmap_range(k, agent, cpu, mm, start, end, detached=None):
    """Zap [start, end) under one mmu_gather; with ``detached`` (the VMAs munmap() took
    out) it is unmap_region(), which also frees the page tables (free_pgtables())."""
    tlb = yield from tlb_gather_mmu(k, cpu, mm)
    notified = yield from k.mmu_notifier.invalidate_range_start(mm, start, end)  # unmap_vmas()
    for vma in list(mm.vmas if detached is None else detached):
        lo, hi = max(start, vma.start), min(end, vma.end)
        if lo < hi:
            if vma.kind == "hugetlb":
                yield from unmap_hugepage_range(k, agent, tlb, mm, vma, lo, hi)
                continue
            driver_pages = []
            yield from zap_pte_range(k, agent, tlb, mm, vma, lo, hi, driver_pages)
            if vma.pfnmap:
                if k.fixes["pfnmap_flush"]:
                    yield from tlb.tlb_flush_mmu()   # tlb_end_vma(): flush VM_PFNMAP now
                # The driver's unmap_mapping_range() finds these PTEs gone already and
                # frees its pages: here, at once (CVE-2022-39188's window).
                for folio in driver_pages:
                    k.allocator.free(folio)
                if driver_pages:
                    yield f"driver frees {len(driver_pages)} pages of {lo:#x}-{hi:#x}"
    yield from k.mmu_notifier.invalidate_range_end(notified)
    if detached is not None:
        yield from free_pgtables(k, tlb, mm, start, end)
    yield from tlb.tlb_finish_mmu()


def munmap(k, agent, cpu, mm, va, pages):
    """do_vmi_align_munmap(): take the VMAs out under mmap_lock for write, downgrade it
    to read (no walker holding mmap_lock can reach the range now), then zap, free the
    page tables nothing else uses, flush, free."""
    end = va + pages * PAGE_SIZE
    with k.revoking(mm, va, end):
        yield from mm.mmap_lock.down_write(agent)
        detached = k.remove_vma_range(mm, va, end)
        mm.mmap_lock.downgrade_write(agent)
        yield from unmap_range(k, agent, cpu, mm, va, end, detached)
        mm.mmap_lock.up_read(agent)
        k.unmap_returned(mm, va, end)


def madvise_dontneed(k, agent, cpu, mm, va, pages):
    """madvise_dontneed_single_vma() (mmap_lock held for read, so two can run at once)."""
    end = va + pages * PAGE_SIZE
    yield from mm.mmap_lock.down_read(agent)
    yield from unmap_range(k, agent, cpu, mm, va, end)
    mm.mmap_lock.up_read(agent)
    k.unmap_returned(mm, va, end)
