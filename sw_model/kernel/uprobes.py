"""uprobes writing an instruction into a process's text (kernel/events/uprobes.c, v6.10,
the kernel LUF v11 is based on): uprobe_write_opcode() → __replace_page().

The text page at the probed address is replaced, in this mm only, by an anonymous
copy carrying the new opcode: get_user_pages_remote() finds the page mapped (faulting
it in for reading if it is not), the copy is made, and under the PTE lock
__replace_page() checks the PTE still maps the page found (page_vma_mapped_walk(),
else the whole write is retried), clears and flushes it (ptep_clear_flush()), sets a
PTE of the copy (set_pte_at_notify()) and drops the old page's rmap. Seed 004 names
this as a path LUF_DEBUG must watch: it rewrites a PTE that LUF may have deferred the
flush of (the LUF_DEBUG rule: luf-pte-rewrite)."""
from .fault import handle_mm_fault
from .pgtable import mk_pte, pte_dirty, pte_pa, pte_present


def valid_vma(vma):
    """valid_vma() for a register: a file mapping that may not be written (text)."""
    return vma is not None and vma.kind == "file" and not vma.may_write


def uprobe_write_opcode(k, agent, cpu, mm, va):
    """Write a breakpoint into the text page at ``va``: the page is replaced by a copy."""
    page = va & ~0xFFF
    vma = mm.find_vma(va)
    if not valid_vma(vma):
        yield f"uprobe_write_opcode {page:#x}: -EINVAL (not a read-only file mapping)"
        return
    pt = k.pgtables
    while True:
        ptep = pt.pte_offset(mm.root, page)
        pte = pt.ptep_get(ptep) if ptep is not None else 0
        if not pte_present(pte):
            # get_user_pages_remote(FOLL_FORCE): fault the page in for reading.
            yield f"uprobe_write_opcode {page:#x}: get_user_pages_remote faults it in"
            if (yield from handle_mm_fault(k, agent, cpu, mm, page)) is not None:
                return
            continue
        old = k.allocator.folio_at(pte_pa(pte))
        new = k.allocator.alloc("anon")                  # alloc_page_vma() + the copy
        yield f"uprobe_write_opcode {page:#x}: page {old.pa:#x} copied to {new.pa:#x}"
        replaced = yield from __replace_page(k, agent, cpu, mm, vma, page, old, new)
        if replaced:
            return
        k.allocator.free(new)                            # -EAGAIN: retry


def __replace_page(k, agent, cpu, mm, vma, page, old, new):
    """__replace_page(): swap ``old`` for ``new`` at ``page`` under the PTE lock;
    returns False (-EAGAIN) if the PTE no longer maps ``old``."""
    pt = k.pgtables
    notified = yield from k.mmu_notifier.invalidate_range_start(mm, page, page + 0x1000)
    ptep, ptl = yield from pt.pte_offset_map_lock(agent, mm.root, page)
    pte = pt.ptep_get(ptep) if ptep is not None else 0
    if not pte_present(pte) or pte_pa(pte) != old.pa:    # page_vma_mapped_walk() fails
        if ptl is not None:
            ptl.unlock(agent)
        yield f"__replace_page {page:#x}: page {old.pa:#x} no longer mapped, -EAGAIN"
        yield from k.mmu_notifier.invalidate_range_end(notified)
        return False
    was = yield from k.mmu_notifier.ptep_clear_flush_notify(cpu, mm, page, ptep)
    k.install_pte(mm, page, ptep, new, mk_pte(new.pa, exec=vma.may_exec))
    k.unmap_folio(mm, page, old, dirty=pte_dirty(was))   # folio_remove_rmap_pte()
    ptl.unlock(agent)
    k.put_folio(old)
    yield f"__replace_page {page:#x}: {old.pa:#x} -> {new.pa:#x}"
    yield from k.mmu_notifier.invalidate_range_end(notified)
    return True
