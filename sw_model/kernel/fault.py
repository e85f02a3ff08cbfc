"""The page-fault path (mm/memory.c, v6.10): handle_mm_fault() → handle_pte_fault()."""
from .mthp import do_fault_mthp
from .pgtable import (mk_pte, pte_dirty, pte_mkpresent, pte_pa, pte_present, pte_protnone,
                      pte_write)


def handle_mm_fault(k, agent, cpu, mm, va, *, write=False, exec=False):
    """handle_mm_fault(): read the PTE without the lock, decide, then take the PTL and
    give up if the PTE changed meanwhile (!pte_same). Returns "SIGSEGV" when the VMA
    forbids the access ("SIGBUS": a VM_PFNMAP page that is gone), else None (the access
    is retried)."""
    yield from mm.mmap_lock.down_read(agent)             # lock_mm_and_find_vma()
    vma = mm.find_vma(va)
    if vma is None or not vma.may_read or (write and not vma.may_write) or \
            (exec and not vma.may_exec):
        mm.mmap_lock.up_read(agent)
        yield f"do_page_fault {va:#x}: SIGSEGV"
        return "SIGSEGV"
    pt = k.pgtables
    ptep = pt.pte_offset(mm.root, va, alloc=True)
    orig = pt.ptep_get_lockless(ptep)
    yield f"handle_pte_fault {va:#x}: ptep_get_lockless = {orig:#x}"
    if vma.pfnmap and not pte_present(orig):
        # VM_PFNMAP pages are put in place by the driver, never by a fault.
        mm.mmap_lock.up_read(agent)
        yield f"do_page_fault {va:#x}: SIGBUS (VM_PFNMAP)"
        return "SIGBUS"
    if pte_protnone(orig):
        yield from _do_protnone(k, agent, va, ptep, orig)
    elif not pte_present(orig):
        yield from _do_fault(k, agent, mm, vma, va, ptep, orig, write)
    elif write and not pte_write(orig):
        yield from _do_wp_page(k, agent, cpu, mm, vma, va, ptep, orig)
    else:
        # The PTE already allows the access: a TLB entry was stale (or a racing fault
        # fixed it).
        k.stats["spurious_faults"] += 1
        yield f"handle_pte_fault {va:#x}: spurious"
        yield from k.flush.flush_tlb_fix_spurious_fault(cpu, mm, va)
    mm.mmap_lock.up_read(agent)


def _do_fault(k, agent, mm, vma, va, ptep, orig, write):
    """do_anonymous_page() / do_read_fault(): a new page (or the page-cache page),
    installed under the PTL if the PTE is still what the lockless read saw."""
    if k.mthp and (yield from do_fault_mthp(k, agent, mm, vma, va, write)):
        return
    folio = k.page_cache_lookup(mm, vma, va) if vma.file_backed else None
    new = folio is None
    if new:
        folio = k.allocator.alloc("file" if vma.file_backed else "anon")
        if vma.file_backed:
            k.page_cache_add(mm, vma, va, folio)
    yield f"do_fault {va:#x}: page {folio.pa:#x}"
    ptl = k.pgtables.pte_lockptr(ptep)
    yield from ptl.lock(agent)
    if k.pgtables.ptep_get(ptep) != orig:                # !pte_same(): lost the race
        ptl.unlock(agent)
        if new and not vma.file_backed:
            k.allocator.free(folio)
        yield f"do_fault {va:#x}: PTE changed, retry"
        return
    writable = write and vma.may_write
    if writable and vma.kind == "shared":
        folio.dirty = True                       # do_shared_fault(): folio_mark_dirty()
    k.install_pte(mm, va, ptep, folio, mk_pte(folio.pa, write=writable, dirty=writable,
                                              exec=vma.may_exec))
    ptl.unlock(agent)
    yield f"do_fault {va:#x}: set_pte_at {'rw' if writable else 'ro'} -> {folio.pa:#x}"


def _do_wp_page(k, agent, cpu, mm, vma, va, ptep, orig):
    """do_wp_page(): reuse the page if only this mapping has it (wp_page_reuse), else
    copy it (wp_page_copy): the old PTE is cleared and flushed (device TLBs too, by
    ptep_clear_flush_notify()) before the new one is set, so no CPU or device uses the
    old page after the copy."""
    old = k.allocator.folio_at(pte_pa(orig))
    # A shared file page is written in place (wp_page_shared()); an anonymous one only
    # this mapping has is reused; anything else is copied.
    reuse = old is not None and (vma.kind == "shared" or
                                 old.kind == "anon" and old.mapcount == 1)
    copy = None if reuse else k.allocator.alloc("anon")
    if copy is not None:
        page = va & ~0xFFF
        notified = yield from k.mmu_notifier.invalidate_range_start(mm, page, page + 0x1000)
    ptl = k.pgtables.pte_lockptr(ptep)
    yield from ptl.lock(agent)
    if k.pgtables.ptep_get(ptep) != orig:
        ptl.unlock(agent)
        if copy is not None:
            k.allocator.free(copy)
        yield f"do_wp_page {va:#x}: PTE changed, retry"
        if copy is not None:
            yield from k.mmu_notifier.invalidate_range_only_end(notified)
        return
    if reuse:
        if vma.kind == "shared":
            old.dirty = True                     # wp_page_shared(): folio_mark_dirty()
        k.install_pte(mm, va, ptep, old, mk_pte(old.pa, write=True, dirty=True,
                                                exec=vma.may_exec), replace=True)
        yield f"do_wp_page {va:#x}: reuse {old.pa:#x}"
        yield from k.flush.ptep_set_access_flags_flush(cpu, mm, va)
        ptl.unlock(agent)
        return
    was = yield from k.mmu_notifier.ptep_clear_flush_notify(cpu, mm, va, ptep)
    if old is not None:
        k.unmap_folio(mm, va, old, dirty=pte_dirty(was))
        k.checker.cow_repointed(mm, va, old, copy)
    k.install_pte(mm, va, ptep, copy, mk_pte(copy.pa, write=True, dirty=True,
                                             exec=vma.may_exec))
    ptl.unlock(agent)
    yield f"do_wp_page {va:#x}: copy {copy.pa:#x}"
    yield from k.mmu_notifier.invalidate_range_only_end(notified)
    if old is not None:
        k.put_folio(old)
    k.unmap_returned(mm, va, va + 0x1000)         # the old page is gone from this mapping


def _do_protnone(k, agent, va, ptep, orig):
    """A PROT_NONE PTE in a VMA that allows access again (after mprotect): make it
    present, read-only; a write faults once more and upgrades it."""
    ptl = k.pgtables.pte_lockptr(ptep)
    yield from ptl.lock(agent)
    if k.pgtables.ptep_get(ptep) == orig:
        k.pgtables.set_pte_at(ptep, pte_mkpresent(orig))
    ptl.unlock(agent)
    yield f"handle_pte_fault {va:#x}: PROT_NONE PTE made present"
