"""userfaultfd write-protect (mm/userfaultfd.c, mm/mprotect.c, mm/memory.c, v6.10):
UFFDIO_WRITEPROTECT → mwriteprotect_range() → uffd_wp_range() → change_protection()
with MM_CP_UFFD_WP (or MM_CP_UFFD_WP_RESOLVE to unprotect) under an mmu_gather, with
mmap_lock held only for read — so page faults run while its flush is still deferred;
the write-protect fault (handle_userfault()); and do_wp_page()'s flush before a copy
on a uffd-wp VMA with a flush pending (race 6, 2020)."""
from .mmu_gather import tlb_gather_mmu
from .page_alloc import PAGE_SIZE
from .pgtable import (is_migration_entry, pte_clear_uffd_wp, pte_mkuffd_wp, pte_pa,
                      pte_present, pte_protnone, pte_uffd_wp)
from .rmap import flush_tlb_batched_pending
from .sched import Blocked


def userfaultfd_wp(k, mm, va):
    """userfaultfd_wp(): the VMA is registered for write-protect (VM_UFFD_WP). Here a
    range is registered by its first UFFDIO_WRITEPROTECT."""
    return any(name == mm.name and start <= va < end
               for name, start, end in k.uffd_wp_registered)


def mwriteprotect_range(k, agent, cpu, mm, va, pages, enable_wp):
    """mwriteprotect_range(): mark (or unmark) every present PTE of the range, each
    flush gathered, one flush at tlb_finish_mmu()."""
    end = va + pages * PAGE_SIZE
    yield from mm.mmap_lock.down_read(agent)
    if enable_wp and not userfaultfd_wp(k, mm, va):
        k.uffd_wp_registered.append((mm.name, va, end))     # UFFDIO_REGISTER_MODE_WP
    change = pte_mkuffd_wp if enable_wp else pte_clear_uffd_wp
    tlb = yield from tlb_gather_mmu(k, cpu, mm)
    pt = k.pgtables
    for page in range(va, end, PAGE_SIZE):
        ptep, ptl = yield from pt.pte_offset_map_lock(agent, mm.root, page)
        if ptep is None:
            continue
        yield from flush_tlb_batched_pending(k, cpu, mm)   # under the PTL
        pte = pt.ptep_get(ptep)
        if pte_present(pte) or pte_protnone(pte):          # both pte_present() to Linux
            old = pt.ptep_modify(ptep, change)
            k.pte_changed(mm, page, k.allocator.folio_at(pte_pa(old)), change(old))
            tlb.tlb_remove_tlb_entry(ptep, page)
        elif is_migration_entry(pte):
            pt.ptep_modify(ptep, change)     # the new page's PTE will carry the mark
        ptl.unlock(agent)
        yield f"change_pte_range {page:#x}: uffd-wp {'set' if enable_wp else 'cleared'}"
    yield from tlb.tlb_finish_mmu()
    mm.mmap_lock.up_read(agent)


def handle_userfault(k, agent, mm, va, ptep):
    """handle_userfault(VM_UFFD_WP): the faulting thread drops mmap_lock and sleeps
    until the monitor resolves the fault (UFFDIO_WRITEPROTECT without MODE_WP); the
    fault is then retried (VM_FAULT_RETRY)."""
    mm.mmap_lock.up_read(agent)
    yield f"handle_userfault {va:#x}: write-protected, waits for the monitor"
    while pte_uffd_wp(k.pgtables.ptep_get(ptep)):
        yield Blocked(lambda: not pte_uffd_wp(k.pgtables.ptep_get(ptep)),
                      "the userfaultfd monitor to unprotect")
    yield from mm.mmap_lock.down_read(agent)


def uffd_wp_flush_before_copy(k, cpu, mm, va):
    """do_wp_page(): on a uffd-wp VMA whose flush may still be deferred, flush this
    page before anything is copied, so no stale writable entry writes the old page
    after the copy (2020 fix)."""
    if k.fixes["uffd_wp_flush"] and userfaultfd_wp(k, mm, va) and mm.mm_tlb_flush_pending():
        yield from k.flush.flush_tlb_page(cpu, mm, va)
