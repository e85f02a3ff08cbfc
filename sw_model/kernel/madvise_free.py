"""MADV_FREE (mm/madvise.c madvise_free_single_vma() → madvise_free_pte_range(),
v6.10): the pages stay mapped but become lazyfree — clean, so reclaim may discard
them without writing them back, unless they are written again first. A write after
MADV_FREE returns must redirty the PTE (the hardware dirty bit); that is why the
cleaned PTEs are flushed before it returns: a stale dirty TLB entry would write
without marking anything dirty, and reclaim would throw the write away."""
from .mmu_gather import tlb_gather_mmu
from .page_alloc import PAGE_SIZE
from .pgtable import pte_dirty, pte_mkclean, pte_pa, pte_present
from .rmap import flush_tlb_batched_pending


def madvise_free(k, agent, cpu, mm, va, pages):
    """madvise(MADV_FREE) under mmap_lock for read. Anonymous VMAs only (others:
    EINVAL, skipped here); a folio another mapping shares is left alone. Under the PTL
    each folio is cleaned (folio_clear_dirty()), a dirty PTE made clean and gathered,
    and the folio marked lazyfree (folio_mark_lazyfree()); one flush at the end. The
    accessed bit is left set: the model's hardware does not manage it."""
    end = va + pages * PAGE_SIZE
    yield from mm.mmap_lock.down_read(agent)
    tlb = yield from tlb_gather_mmu(k, cpu, mm)
    pt = k.pgtables
    for page in range(va, end, PAGE_SIZE):
        vma = mm.find_vma(page)
        if vma is None or vma.kind != "anon":
            continue
        ptep, ptl = yield from pt.pte_offset_map_lock(agent, mm.root, page)
        if ptep is None:
            continue
        yield from flush_tlb_batched_pending(k, cpu, mm)   # under the PTL
        pte = pt.ptep_get(ptep)
        folio = k.allocator.folio_at(pte_pa(pte)) if pte_present(pte) else None
        if folio is not None and folio.kind == "anon" and folio.mapcount == 1:
            folio.dirty = False
            folio.written = False          # its data is disposable now: no lost-dirty
            if pte_dirty(pte):
                k.pte_changed(mm, page, folio, pte_mkclean(pt.ptep_modify(ptep, pte_mkclean)))
                tlb.tlb_remove_tlb_entry(ptep, page)
            folio.lazyfree = k.step_index
        ptl.unlock(agent)
        yield f"madvise_free_pte_range {page:#x}: {pte:#x}" + \
            (" lazyfree" if folio is not None and folio.lazyfree is not None else "")
    yield from tlb.tlb_finish_mmu()
    mm.mmap_lock.up_read(agent)
    k.madv_free_returned.append((mm.name, va, end, k.step_index))


def lazyfree_write_lost(k, mm, va, folio):
    """Whether a write that just reached ``folio`` through ``va`` is lost: the folio is
    lazyfree, a MADV_FREE of the address returned since it was marked, and the
    write left the PTE clean (it went through a stale dirty TLB entry), so reclaim
    would discard the page."""
    if folio.lazyfree is None:
        return False
    if not any(name == mm.name and start <= va < end and step >= folio.lazyfree
               for name, start, end, step in k.madv_free_returned):
        return False
    ptep = k.pgtables.pte_offset(mm.root, va)
    return not pte_dirty(k.pgtables.ptep_get(ptep)) if ptep is not None else True
