"""Reclaim of one folio (mm/vmscan.c shrink_folio_list(), v6.10): unmap it everywhere,
write it back if dirty, flush what was deferred, free it."""
from .pgtable import pte_pa, pte_present
from .rmap import folio_mkclean, try_to_unmap, try_to_unmap_flush, try_to_unmap_flush_dirty


def folio_at_va(k, mm, va):
    """The folio behind ``va``: the page the PTE maps (in a private file mapping, an
    anonymous copy once one replaced the page-cache page), else the page-cache page of
    a file VMA, mapped or not."""
    ptep = k.pgtables.pte_offset(mm.root, va)
    pte = k.pgtables.ptep_get(ptep) if ptep is not None else 0
    if pte_present(pte):
        return k.allocator.folio_at(pte_pa(pte))
    vma = mm.find_vma(va)
    return k.page_cache_lookup(mm, vma, va) if vma is not None and vma.file_backed else None


def reclaim(k, agent, cpu, mm, va):
    """Reclaim the folio behind ``va`` (as if the LRU scan picked it)."""
    folio = folio_at_va(k, mm, va)
    if folio is None or folio.kind not in ("anon", "file"):
        yield f"reclaim {mm.name} {va:#x}: nothing mapped"
        return
    yield f"shrink_folio_list: folio {folio.pa:#x}"
    # Locked from the unmap to __remove_mapping(): a fault that finds the folio in the
    # page cache meanwhile waits, then sees it gone.
    yield from folio.lock.lock(agent)
    if k.luf is not None:
        k.luf.start_batch(cpu)
    unmapped = yield from try_to_unmap(k, agent, cpu, folio)
    if k.luf is not None:
        k.luf.end_batch(cpu)
    if not unmapped:
        folio.lock.unlock(agent)
        yield f"shrink_folio_list: folio {folio.pa:#x} kept"
        return
    if folio.dirty:
        yield from try_to_unmap_flush_dirty(k, cpu)
        folio.dirty = folio.written = False                # pageout(): written back
        yield f"pageout {folio.pa:#x}"
    else:
        k.checker.dropped_clean(mm, va, folio, k.step_index)
    yield from try_to_unmap_flush(k, cpu)
    if folio.lazyfree is not None:
        k.stats["lazyfree_discarded"] += 1                 # MADV_FREE: no pageout
    if folio.kind == "file":
        k.page_cache_remove(folio)                         # __remove_mapping()
    folio.lock.unlock(agent)
    k.put_folio(folio)
    yield f"shrink_folio_list: freed {folio.pa:#x}"


def writeback(k, agent, cpu, mm, va):
    """folio_mkclean() then clear the dirty flag, as writeback of a page does."""
    folio = folio_at_va(k, mm, va)
    if folio is None:
        yield f"mkclean {mm.name} {va:#x}: nothing mapped"
        return
    yield from folio.lock.lock(agent)
    yield from folio_mkclean(k, agent, cpu, folio)
    folio.written &= not folio.dirty                       # a dirty folio is written out
    folio.dirty = False                                    # folio_clear_dirty_for_io()
    folio.lock.unlock(agent)
    yield f"writeback {folio.pa:#x}: clean"
