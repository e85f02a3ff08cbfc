"""Reverse-map walks (mm/rmap.c, v6.10): try_to_unmap() for reclaim with the batched
unmap flush, folio_mkclean() for writeback, and flush_tlb_batched_pending()."""
from .contpte import contpte_ptep_get
from .page_alloc import PAGE_SIZE
from .pgtable import (pte_dirty, pte_mkclean, pte_present, pte_protnone, pte_write,
                      pte_wrprotect)
from .tlb_gen import mkclean_flush_pending


def flush_tlb_batched_pending(k, cpu, mm):
    """flush_tlb_batched_pending(): a path about to change this mm's PTEs first flushes
    what reclaim deferred, else it could skip a flush for a PTE reclaim already cleared
    (2017 fix). Called with the PTE table's lock held (change_pte_range(),
    zap_pte_range(), move_ptes(), madvise_free_pte_range()): reclaim marks the mm under
    that same lock, so either the mark is seen here or reclaim's clear comes after."""
    if mm.tlb_flush_batched and k.fixes["batched_pending"]:
        k.stats["batched_pending_flushes"] += 1
        yield from k.flush.flush_tlb_mm(cpu, mm)
        mm.tlb_flush_batched = False


def pte_accessible(k, mm, pte):
    """pte_accessible(): a TLB may hold the PTE's translation — it is valid, or it is
    PROT_NONE while a flush of the mm is still pending (the 2013 NUMA fix: a hinting
    PTE's old writable entry may be cached until change_prot_numa() flushes)."""
    return bool(pte_present(pte)) or (pte_protnone(pte) and mm.mm_tlb_flush_pending()
                                      and k.fixes["numa_flush_pending"])


def flush_cleared_pte(k, cpu, mm, va, folio, pte, ptep):
    """The flush of a PTE try_to_unmap_one() or try_to_migrate_one() just cleared: none
    if no TLB can hold it, deferred past the free (LUF, read-only), deferred to
    try_to_unmap_flush() (set_tlb_ubc_flush_pending(), TTU_BATCH_FLUSH), or at once
    (ptep_clear_flush()); a flush carries the change's TLB generation (tlb_gen.py;
    LUF's read-only deferrals take none: folio_mkclean() flushes them all anyway).
    Returns whether it was deferred."""
    if not pte_accessible(k, mm, pte):
        return False
    # A dirty PTE counts as writable: a concurrent wrprotect (mprotect, uffd-wp) may
    # still have its flush pending, leaving a writable TLB entry.
    writable = pte_write(pte) or pte_dirty(pte)
    if k.luf is not None and pte_present(pte) and not writable:
        k.luf.defer(cpu, mm, va, folio)         # read-only: LUF defers past the free
    elif k.reclaim in ("batched", "luf"):       # LUF batches its writable mappings
        ubc = k.tlb_ubc(cpu)
        gens = k.tlb_gens.inc_tlb_gen(ptep)
        yield from k.flush.arch_tlbbatch_add_pending(cpu, ubc.batch, mm, va, gens)
        ubc.tlb_gens += gens
        ubc.flush_required = True
        ubc.writable |= bool(pte_dirty(pte))    # set_tlb_ubc_flush_pending()
        mm.tlb_flush_batched = True
    else:
        yield from k.flush.flush_tlb_page(cpu, mm, va, k.tlb_gens.inc_tlb_gen(ptep))
        return False
    return True


def try_to_unmap(k, agent, cpu, folio):
    """try_to_unmap() → try_to_unmap_one() per mapping: clear the PTE, flush it (or
    defer the flush, flush_cleared_pte()). A lazyfree (MADV_FREE) folio found dirty
    again gets its PTE back and is kept: returns False, else True."""
    for mm, va in sorted(folio.rmap):
        mm = k.mms[mm]
        pt = k.pgtables
        notified = yield from k.mmu_notifier.invalidate_range_start(mm, va, va + PAGE_SIZE)
        ptep, ptl = yield from pt.pte_offset_map_lock(agent, mm.root, va)
        pte = pt.ptep_get_and_clear(ptep)
        deferred = yield from flush_cleared_pte(k, cpu, mm, va, folio, pte, ptep)
        dirty = pte_present(pte) and pte_dirty(pte)
        if folio.lazyfree is not None and (dirty or folio.dirty):
            pt.set_pte_at(ptep, pte)                     # redirtied: remap, swap-backed
            folio.lazyfree = None
            ptl.unlock(agent)
            yield f"try_to_unmap_one {mm.name} {va:#x}: lazyfree folio redirtied, kept"
            yield from k.mmu_notifier.invalidate_range_end(notified)
            return False
        k.unmap_folio(mm, va, folio, dirty=dirty)
        ptl.unlock(agent)
        note = " (flush deferred)" if deferred else ""
        yield f"try_to_unmap_one {mm.name} {va:#x}: ptep_get_and_clear = {pte:#x}{note}"
        # The page is freed after this (reclaim frees it once unmapped everywhere), so
        # the end's invalidate is in time: no notify inside the PTL (2017 rules).
        yield from k.mmu_notifier.invalidate_range_end(notified)
    return True


def try_to_unmap_flush(k, cpu):
    """try_to_unmap_flush(): flush everything this CPU's reclaim deferred."""
    ubc = k.tlb_ubc(cpu)
    if not ubc.flush_required:
        yield "try_to_unmap_flush: nothing deferred"
        return
    yield from k.flush.arch_tlbbatch_flush(cpu, ubc.batch, ubc.tlb_gens)
    ubc.flush_required = ubc.writable = False
    ubc.tlb_gens = []


def try_to_unmap_flush_dirty(k, cpu):
    """try_to_unmap_flush_dirty(): flush before writeback only if a writable PTE was
    deferred (a clean read-only one cannot have dirtied the page)."""
    if k.tlb_ubc(cpu).writable:
        yield from try_to_unmap_flush(k, cpu)


def folio_mkclean(k, agent, cpu, folio):
    """folio_mkclean() → page_vma_mkclean_one() per mapping: write-protect and clean
    every PTE that is dirty or writable, flushing it; a clean read-only PTE is
    skipped — trusting the PTE, which seed 000 shows is unsafe while another thread's
    flush is still deferred — unless the ``pending`` policy says a flush may be
    pending (tlb_gen.py): then its TLB entries are flushed. Under LUF, everything
    deferred is flushed first."""
    if k.luf is not None:
        yield from k.luf.luf_flush("folio_mkclean")
    pt = k.pgtables
    for mm, va in sorted(folio.rmap):
        mm = k.mms[mm]
        notified = yield from k.mmu_notifier.invalidate_range_start(mm, va, va + PAGE_SIZE)
        ptep, ptl = yield from pt.pte_offset_map_lock(agent, mm.root, va)
        pte = contpte_ptep_get(k, ptep)           # ptep_get(): a block's A/D bits
        if not pte_dirty(pte) and not pte_write(pte):
            done = "skipped"
            if mkclean_flush_pending(k, mm, ptep):
                yield from k.flush.flush_tlb_page(cpu, mm, va)
                k.stats["mkclean_flushes"] += 1
                k.stats["mkclean_pending_flushes"] += 1
                done = "a flush may be pending: flushed"
            ptl.unlock(agent)
            yield f"page_vma_mkclean_one {mm.name} {va:#x}: clean and read-only, {done}"
            yield from k.mmu_notifier.invalidate_range_end(notified)
            continue
        old = pt.ptep_get_and_clear(ptep)                # ptep_clear_flush()
        yield from k.flush.flush_tlb_page(cpu, mm, va, k.tlb_gens.inc_tlb_gen(ptep))
        k.stats["mkclean_flushes"] += 1
        folio.dirty |= pte_dirty(old)
        pt.set_pte_at(ptep, pte_mkclean(pte_wrprotect(old)))
        k.pte_changed(mm, va, folio, 0)
        ptl.unlock(agent)
        yield f"page_vma_mkclean_one {mm.name} {va:#x}: write-protected"
        # Write-protecting: the end's invalidate is enough (2017 rules).
        yield from k.mmu_notifier.invalidate_range_end(notified)
