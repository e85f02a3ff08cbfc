"""mremap() and truncate (mm/mremap.c move_ptes(), mm/truncate.c, v6.10)."""
from .mmu_gather import MMUGather
from .page_alloc import PAGE_SIZE
from .pgtable import pte_dirty, pte_pa, pte_present
from .rmap import flush_tlb_batched_pending
from .zap import zap_pte_range


def mremap(k, agent, cpu, mm, old, pages, new):
    """Move [old, old + pages) to ``new``: each PTE moves under both page-table locks,
    and the old range is flushed before those locks are dropped (the CVE-2018-18281
    fix); before it, the flush came after, leaving a window in which the page could be
    freed (say by a truncate that only sees the new mapping) under a stale old entry."""
    end = old + pages * PAGE_SIZE
    with k.revoking(mm, old, end):
        yield from mm.mmap_lock.down_write(agent)
        if mm.find_vma(old) is None or new & (PAGE_SIZE - 1) or \
                any(mm.find_vma(new + i * PAGE_SIZE) for i in range(pages)):
            mm.mmap_lock.up_write(agent)
            yield f"mremap {old:#x} -> {new:#x}: EINVAL (nothing mapped, or the target is taken)"
            return
        k.move_vma(mm, old, end, new)
        notified = yield from k.mmu_notifier.invalidate_range_start(mm, old, end)
        pt = k.pgtables
        moved, gens = False, []
        for i in range(pages):
            src, dst = old + i * PAGE_SIZE, new + i * PAGE_SIZE
            old_ptep = pt.pte_offset(mm.root, src)
            if old_ptep is None:
                continue
            new_ptep = pt.pte_offset(mm.root, dst, alloc=True)
            old_ptl, new_ptl = pt.pte_lockptr(old_ptep), pt.pte_lockptr(new_ptep)
            yield from old_ptl.lock(agent)
            if new_ptl is not old_ptl:
                yield from new_ptl.lock(agent)
            yield from flush_tlb_batched_pending(k, cpu, mm)   # under the PTL
            pte = pt.ptep_get_and_clear(old_ptep)
            if pte_present(pte):
                folio = k.allocator.folio_at(pte_pa(pte))
                k.unmap_folio(mm, src, folio, dirty=pte_dirty(pte))
                k.install_pte(mm, dst, new_ptep, folio, pte)
                gens += k.tlb_gens.inc_tlb_gen(old_ptep)
                moved = True
            label = f"move_ptes {src:#x} -> {dst:#x}: {pte:#x}"
            if moved and k.fixes["mremap_flush"]:
                yield label
                yield from k.flush.flush_tlb_range(cpu, mm, old, end, gens=gens)
                moved, gens = False, []
            if new_ptl is not old_ptl:
                new_ptl.unlock(agent)
            old_ptl.unlock(agent)
            if moved:
                yield label + " (locks dropped, old range not flushed yet)"
        if moved:
            yield from k.flush.flush_tlb_range(cpu, mm, old, end, gens=gens)  # after the locks
        yield from k.mmu_notifier.invalidate_range_end(notified)
        mm.mmap_lock.up_write(agent)
        k.unmap_returned(mm, old, end)


def truncate(k, agent, cpu, mm, va):
    """truncate_inode_pages_range() of the page-cache page behind ``va``:
    unmap_mapping_range() (zap every mapping it has now, flushed), then drop it from
    the page cache and free it."""
    vma = mm.find_vma(va)
    folio = k.page_cache_lookup(mm, vma, va) if vma is not None and vma.file_backed \
        else None
    if folio is None:
        yield f"truncate {mm.name} {va:#x}: no page-cache page"
        return
    if k.luf is not None:
        yield from k.luf.luf_flush("truncate")
    yield from folio.lock.lock(agent)                    # truncate_inode_folio()
    for name, page in sorted(folio.rmap):
        owner = k.mms[name]
        tlb = MMUGather(k, cpu, owner)                   # zap_page_range_single()
        notified = yield from k.mmu_notifier.invalidate_range_start(owner, page,
                                                                   page + PAGE_SIZE)
        yield from zap_pte_range(k, agent, tlb, owner, owner.find_vma(page), page,
                                 page + PAGE_SIZE, [])
        yield from k.mmu_notifier.invalidate_range_end(notified)
        yield from tlb.tlb_finish_mmu()
    k.page_cache_remove(folio)
    folio.lock.unlock(agent)
    k.put_folio(folio)
    yield f"truncate: page {folio.pa:#x} removed from the page cache and freed"
