"""struct mmu_gather (mm/mmu_gather.c, v6.10): unmap now, flush once, free after."""
from .page_alloc import PAGE_SIZE
from .pgtable_free import tlb_table_flush


def tlb_gather_mmu(k, cpu, mm):
    """tlb_gather_mmu() as a step of its own; returns the gather."""
    tlb = MMUGather(k, cpu, mm)
    yield f"tlb_gather_mmu {mm.name}"
    return tlb


class MMUGather:
    def __init__(self, kernel, cpu, mm):
        """tlb_gather_mmu(): counts as a pending flush of ``mm`` until finished."""
        self.k, self.cpu, self.mm = kernel, cpu, mm
        self.start, self.end = None, None     # the range to flush (__tlb_adjust_range)
        self.pages = []                       # folios to free after the flush
        self.tables = []                      # page-table pages to free after the flush
        self.tlb_gens = []                    # generations of the changes to flush
        self.delayed_rmap = []                # (va, folio) to take out of the rmap after it
        mm.tlb_flush_pending += 1             # inc_tlb_flush_pending()

    def tlb_remove_tlb_entry(self, ptep, va):
        """tlb_remove_tlb_entry(): widen the range to flush; under the PTL, the
        change's TLB generation goes to the PTE table (tlb_gen.py)."""
        self.tlb_gens += self.k.tlb_gens.inc_tlb_gen(ptep)
        self.tlb_adjust_range(va)

    def tlb_adjust_range(self, va, size=PAGE_SIZE):
        """__tlb_adjust_range(): widen the range to flush to [va, va + size)."""
        va &= ~0xFFF
        self.start = va if self.start is None else min(self.start, va)
        self.end = va + size if self.end is None else max(self.end, va + size)

    def tlb_remove_page(self, folio):
        self.pages.append(folio)

    def tlb_delay_rmap(self, va, folio):
        """zap_rmap=deferred (seed 000): the PTE is gone, but the folio leaves the rmap
        only in tlb_flush_rmaps(), after the flush, with the PTE lock long dropped."""
        self.k.pte_changed(self.mm, va, folio, 0)
        self.delayed_rmap.append((va, folio))

    def tlb_flush_rmaps(self):
        """tlb_flush_rmaps(): the delayed rmap removals (dirty pages: the dirty state
        was moved to the folio when the PTE was cleared). A page faulted in again at
        the same address meanwhile keeps that new mapping's rmap entry: only the count
        drops (the model's rmap is keyed by address, the kernel's by VMA)."""
        for va, folio in self.delayed_rmap:
            if folio.mapcount > len(folio.rmap):
                folio.mapcount -= 1
            else:
                self.k.unmap_folio(self.mm, va, folio, dirty=True)
        self.delayed_rmap = []

    def tlb_flush_mmu(self):
        """tlb_flush_mmu(): flush the gathered range, then free what was gathered."""
        if self.start is not None:
            yield from self.k.flush.flush_tlb_range(self.cpu, self.mm, self.start, self.end,
                                                    freed_tables=bool(self.tables),
                                                    gens=self.tlb_gens)
            # tlb_flush_mmu_tlbonly() before v6.6: device TLBs too, before any free.
            yield from self.k.mmu_notifier.invalidate_range(self.mm, self.start, self.end)
            self.start = self.end = None
            self.tlb_gens = []
        self.tlb_flush_rmaps()
        freed = sum(self.k.put_folio(folio) for folio in self.pages)
        yield from tlb_table_flush(self.k, self.cpu, self.tables)
        if self.pages or self.tables:
            yield f"tlb_flush_mmu: released {len(self.pages)} pages ({freed} freed), " \
                f"{len(self.tables)} tables"
        self.pages, self.tables = [], []

    def tlb_finish_mmu(self):
        """tlb_finish_mmu(): a gather that ran alongside another on the same mm flushes
        everything, as it cannot know what the other one cleared (2017 fix)."""
        if self.mm.mm_tlb_flush_nested() and self.k.fixes["nested_flush"]:
            yield from self.k.flush.flush_tlb_mm(self.cpu, self.mm, self.tlb_gens)
            self.start = self.end = None
            self.tlb_gens = []
        yield from self.tlb_flush_mmu()
        self.mm.tlb_flush_pending -= 1        # dec_tlb_flush_pending()
        yield "tlb_finish_mmu"

    def tlb_remove_table(self, table, va):
        """pte_free_tlb() and friends: the table page goes to the gather and the flush
        covers the address it mapped (__tlb_adjust_range())."""
        self.tlb_adjust_range(va)
        self.tables.append(table)
