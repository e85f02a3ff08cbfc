"""fork() of an address space (kernel/fork.c dup_mmap() → mm/memory.c
copy_page_range(), v6.10): the child gets the parent's VMAs and PTEs; private
anonymous pages become copy-on-write in both, and the parent's TLBs are flushed before
its mmap_lock is released."""
from .page_alloc import PAGE_SIZE
from .pgtable import pte_pa, pte_present, pte_write, pte_wrprotect


def fork(k, agent, cpu, parent, child):
    if child.vmas:
        yield f"fork {parent.name} -> {child.name}: the child already has VMAs, nothing done"
        return
    with k.revoking(parent, 0, 1 << 48):
        yield from parent.mmap_lock.down_write(agent)
        pt = k.pgtables
        gens = []                         # of the parent's write-protected PTEs
        for vma in list(parent.vmas):
            k.copy_vma(vma, child)
            cow = vma.kind in ("anon", "file")           # is_cow_mapping()
            if cow:                                      # copy_page_range()
                notified = yield from k.mmu_notifier.invalidate_range_start(
                    parent, vma.start, vma.end)
            for va in range(vma.start, vma.end, PAGE_SIZE):
                ptep, ptl = yield from pt.pte_offset_map_lock(agent, parent.root, va)
                if ptep is None:
                    continue
                pte = pt.ptep_get(ptep)
                if pte_present(pte):
                    folio = k.allocator.folio_at(pte_pa(pte))
                    if cow and pte_write(pte):
                        # copy_present_pte(): ptep_set_wrprotect() in the parent, a
                        # read-only PTE in the child; the first write of either copies.
                        pte = pte_wrprotect(pt.ptep_modify(ptep, pte_wrprotect))
                        k.pte_changed(parent, va, folio, pte)
                        gens += k.tlb_gens.inc_tlb_gen(ptep)
                    k.install_pte(child, va, pt.pte_offset(child.root, va, alloc=True),
                                  folio, pte)
                ptl.unlock(agent)
                yield f"copy_pte_range {parent.name} {va:#x} -> {child.name}: {pte:#x}"
            if cow:
                yield from k.mmu_notifier.invalidate_range_end(notified)
        yield from k.flush.flush_tlb_mm(cpu, parent, gens)
        parent.mmap_lock.up_write(agent)
