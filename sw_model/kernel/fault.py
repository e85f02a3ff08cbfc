"""The page-fault path (mm/memory.c, v6.10): handle_mm_fault() → handle_pte_fault()."""
from .hugetlb import hugetlb_fault
from .migrate import migration_entry_wait
from .mthp import do_fault_mthp
from .numa import do_numa_page
from .pgtable import (is_migration_entry, mk_pte, pmd_trans_huge, pte_dirty, pte_pa,
                      pte_present, pte_protnone, pte_uffd_wp, pte_write)
from .sched import Blocked
from .userfaultfd import handle_userfault, uffd_wp_flush_before_copy


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
    if vma.kind == "hugetlb":
        yield from hugetlb_fault(k, agent, mm, vma, va)
        mm.mmap_lock.up_read(agent)
        return
    pt = k.pgtables
    if pmd_trans_huge(pt.pmdp_get_lockless(mm.root, va)[1]):
        # A collapse put a PMD block in place while this fault waited for mmap_lock:
        # huge_pmd_set_accessed() has nothing to do, the retried access finds it.
        mm.mmap_lock.up_read(agent)
        yield f"handle_mm_fault {va:#x}: huge pmd, retry"
        return
    ptep = pt.pte_offset(mm.root, va, alloc=True)
    orig = pt.ptep_get_lockless(ptep)
    yield f"handle_pte_fault {va:#x}: ptep_get_lockless = {orig:#x}"
    if vma.pfnmap and not pte_present(orig):
        # VM_PFNMAP pages are put in place by the driver, never by a fault.
        mm.mmap_lock.up_read(agent)
        yield f"do_page_fault {va:#x}: SIGBUS (VM_PFNMAP)"
        return "SIGBUS"
    if pte_protnone(orig):
        yield from do_numa_page(k, agent, cpu, mm, va, ptep, orig)
    elif is_migration_entry(orig):
        yield from migration_entry_wait(k, ptep)
    elif not pte_present(orig):
        yield from _do_fault(k, agent, mm, vma, va, ptep, orig, write)
    elif write and pte_uffd_wp(orig):
        yield from handle_userfault(k, agent, mm, va, ptep)
    elif write and not pte_write(orig):
        yield from _do_wp_page(k, agent, cpu, mm, vma, va, ptep, orig)
    else:
        # The PTE already allows the access: a TLB entry was stale (or a racing fault
        # fixed it). Under the PTL, as in handle_pte_fault(): a fault that upgraded the
        # PTE holds it until its own flush is done.
        ptl = pt.pte_lockptr(ptep)
        yield from ptl.lock(agent)
        k.stats["spurious_faults"] += 1
        yield f"handle_pte_fault {va:#x}: spurious"
        fixed = yield from k.flush.flush_tlb_fix_spurious_fault(cpu, mm, va)
        ptl.unlock(agent)
        mm.mmap_lock.up_read(agent)
        if not fixed and mm.mm_tlb_flush_pending():
            # The stale entry waits for another CPU's deferred flush (arm64 leaves it to
            # that broadcast): the retried access faults until the flush lands, so the
            # CPU waits for it, holding no lock, rather than spinning into stuck-access.
            yield Blocked(lambda: not mm.mm_tlb_flush_pending(), "a pending TLB flush")
        return
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
    # filemap_fault() returns the page-cache folio locked (VM_FAULT_LOCKED), and
    # do_page_mkwrite() needs it so too: reclaim and truncate hold that lock while they
    # take a folio out of the page cache, so a fault that finds it gone retries.
    locked = folio if vma.file_backed else None
    if locked:
        yield from locked.lock.lock(agent)
        if k.page_cache_lookup(mm, vma, va) is not folio:
            locked.lock.unlock(agent)
            yield f"do_fault {va:#x}: page {folio.pa:#x} left the page cache, retry"
            return
    ptl = k.pgtables.pte_lockptr(ptep)
    yield from ptl.lock(agent)
    if k.pgtables.ptep_get(ptep) != orig:                # !pte_same(): lost the race
        ptl.unlock(agent)
        if locked:
            locked.lock.unlock(agent)
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
    if locked:
        locked.lock.unlock(agent)
    yield f"do_fault {va:#x}: set_pte_at {'rw' if writable else 'ro'} -> {folio.pa:#x}"


def _do_wp_page(k, agent, cpu, mm, vma, va, ptep, orig):
    """do_wp_page(): reuse the page if only this mapping has it (wp_page_reuse), else
    copy it (wp_page_copy): the old PTE is cleared and flushed (device TLBs too, by
    ptep_clear_flush_notify()) before the new one is set, so no CPU or device uses the
    old page after the copy."""
    yield from uffd_wp_flush_before_copy(k, cpu, mm, va)
    old = k.allocator.folio_at(pte_pa(orig))
    # A shared file page is written in place (wp_page_shared()); an anonymous one only
    # this mapping has, with no other reference, is reused; anything else is copied.
    # A GUP pin forces the copy, as page_count() != 1 did from v5.8 (race 6's kernel);
    # v6.10 reuses a pinned page it knows is exclusive (PageAnonExclusive, not modelled).
    reuse = old is not None and (vma.kind == "shared" or
                                 old.kind == "anon" and old.mapcount == 1 and not old.pins)
    copy, key = None, (mm.name, va & ~0xFFF)
    marked = old is not None and key not in old.copied_for
    if not reuse:
        copy = k.allocator.alloc("anon")               # wp_page_copy(): cow_user_page()
        if marked:
            old.copied_for.add(key)
        yield f"wp_page_copy {va:#x}: copied {pte_pa(orig):#x} to {copy.pa:#x}"
        page = va & ~0xFFF
        notified = yield from k.mmu_notifier.invalidate_range_start(mm, page, page + 0x1000)
    mkwrite = old if reuse and vma.kind == "shared" else None
    if mkwrite:
        yield from mkwrite.lock.lock(agent)              # do_page_mkwrite()
    ptl = k.pgtables.pte_lockptr(ptep)
    yield from ptl.lock(agent)
    if k.pgtables.ptep_get(ptep) != orig:
        ptl.unlock(agent)
        if mkwrite:
            mkwrite.lock.unlock(agent)
        if copy is not None:
            k.allocator.free(copy)
            if marked:
                old.copied_for.discard(key)
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
        if mkwrite:
            mkwrite.lock.unlock(agent)
        return
    was = yield from k.mmu_notifier.ptep_clear_flush_notify(cpu, mm, va, ptep)
    if old is not None:
        k.unmap_folio(mm, va, old, dirty=pte_dirty(was))
        k.checker.cow_repointed(mm, va, old, copy)
    k.install_pte(mm, va, ptep, copy, mk_pte(copy.pa, write=True, dirty=True,
                                             exec=vma.may_exec))
    ptl.unlock(agent)
    if old is not None:
        # In the same step: the model's put is by mapcount, not a reference count, so
        # a put after a yield could free the page again once it was reused.
        k.put_folio(old)
    yield f"do_wp_page {va:#x}: copy {copy.pa:#x}"
    yield from k.mmu_notifier.invalidate_range_only_end(notified)
    k.unmap_returned(mm, va, va + 0x1000)         # the old page is gone from this mapping

