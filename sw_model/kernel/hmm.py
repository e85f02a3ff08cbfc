"""hmm_range_fault() (mm/hmm.c, v6.10) without HMM_PFN_REQ_FAULT: a snapshot of the PFNs
behind a range, the semi-locked walker of seed 002. It holds mmap_lock for read and
takes no page-table lock at all: hmm_vma_walk_pmd() reads the PMD, then each PTE of its
table through pte_offset_map(). It is also the model's mincore(): race 1 (CVE-2012-2373)
tore the pmd such a walker read (lockless.pmd_read). The driver re-validates the snapshot with
mmu_interval_read_retry() (not modelled). Nothing frees the table under it because it
walks only inside VMAs (a hole gives HMM_PFN_ERROR and is not walked), and a table is
freed only once no VMA covers any of it, the VMAs having been taken out under mmap_lock
for write (munmap()) or with it held for write (khugepaged)."""
from .lockless import pmd_read
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
        _, pmd = yield from pmd_read(k, mm, addr)
        # The walk goes on to the table the pmd names: a pmd read torn (race 1) names
        # a page that is not this mm's PTE table for the address.
        wrong = pmd & 1 and not pmd_trans_huge(pmd) and \
            k.checker.check_pte_table(agent, mm, addr, pte_pa(pmd), pt.is_pte_table_of(
                pte_pa(pmd), mm.root, addr), k.step_index)
        yield f"hmm_vma_walk_pmd {addr:#x}: pmd = {pmd:#x}" + \
            (f"  VIOLATION {wrong.kind}" if wrong else "")
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
