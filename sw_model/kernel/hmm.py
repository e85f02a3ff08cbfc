"""hmm_range_fault() (mm/hmm.c, v6.10) without HMM_PFN_REQ_FAULT: a snapshot of the PFNs
behind a range, the semi-locked walker of seed 002. It holds mmap_lock for read and
takes no page-table lock at all: hmm_vma_walk_pmd() reads the PMD, then each PTE of its
table through pte_offset_map(). The driver re-validates the snapshot with
mmu_interval_read_retry() (not modelled). Nothing frees the table under it because it
walks only inside VMAs (a hole gives HMM_PFN_ERROR and is not walked), and a table is
freed only once no VMA covers any of it, the VMAs having been taken out under mmap_lock
for write (munmap()) or with it held for write (khugepaged)."""
from .page_alloc import PAGE_SIZE
from .pgtable import pmd_trans_huge, pte_index_address, pte_pa, pte_present
from .pgtable_free import table_ref

PMD_SIZE = 1 << 21


def hmm_range_fault(k, agent, mm, start, pages):
    """hmm_range_fault() → walk_page_range(): one step per PMD read and per PTE read."""
    end = start + pages * PAGE_SIZE
    yield from mm.mmap_lock.down_read(agent)
    pt = k.pgtables
    present = 0
    addr = start
    while addr < end:
        next_pmd = min(end, (addr | (PMD_SIZE - 1)) + 1)
        if mm.find_vma(addr) is None:                    # hmm_vma_walk_hole(): no VMA
            yield f"hmm_vma_walk_hole {addr:#x}: HMM_PFN_ERROR"
            addr += PAGE_SIZE
            continue
        _, pmd = pt.pmdp_get_lockless(mm.root, addr)
        yield f"hmm_vma_walk_pmd {addr:#x}: pmd = {pmd:#x}"
        if not pmd & 1 or pmd_trans_huge(pmd):            # none, or every PFN at once
            present += (next_pmd - addr) // PAGE_SIZE if pmd & 1 else 0
            addr = next_pmd
            continue
        table = table_ref(k, pte_pa(pmd))
        while addr < next_pmd and mm.find_vma(addr) is not None:
            v = k.checker.check_table_read(agent, mm, addr, table, k.step_index)
            pte = pt.ptep_get_lockless(pte_index_address(pte_pa(pmd), addr, 3))
            present += bool(pte_present(pte))
            yield f"hmm_vma_handle_pte {addr:#x}: pte = {pte:#x}" + \
                (f"  VIOLATION {v.kind}" if v else "")
            addr += PAGE_SIZE
    mm.mmap_lock.up_read(agent)
    k.stats["hmm_pfns_present"] += present
    yield f"hmm_range_fault {start:#x}-{end:#x}: {present} of {pages} pages present"
