"""Whether folio_mkclean() must flush a PTE it would otherwise trust (seed 000, Nadav
Amit's proposal, Oct 2022, not merged): page_vma_mkclean_one() skips a clean read-only
PTE, but a stale writable TLB entry for it may survive another thread's deferred flush.

Policies (the ``pending`` setting): ``none`` trusts the PTE (upstream);  ``coarse``
flushes while mm_tlb_flush_pending(mm) (as KSM's write_protect_page() does);
``per-table`` keeps pending and completed TLB generations: a page-table change that
needs a flush takes a new pending generation and stores it in the table's struct ptdesc
under the PTL; each flush carries the generation of what it covers to the invalidate
fabric, whose completed-generation register says which flushes have completed; a table
whose generation is newer than that register may have stale entries.

The generations are kernel-wide, not per mm: the fabric has one completed-generation
register and a request's generation names no address space."""


class TLBGenerations:
    """The pending generation and each PTE table's ptdesc->tlb_gen."""

    def __init__(self, kernel, policy):
        self.k = kernel
        self.per_table = policy == "per-table"
        self.tlb_gen = 0              # the pending generation (mm->tlb_gen, renamed)
        self.ptdesc = {}              # PTE table address -> the generation stored in it
        # Generations stored whose flush the fabric has not taken yet: while one is
        # waiting, no request may carry a later one, or the register could pass it.
        self.unflushed = set()

    def inc_tlb_gen(self, ptep):
        """Under the PTL: the PTE at ``ptep`` changed in a way that needs a TLB flush.
        Returns the generations the flush covering it must carry: the new pending one,
        or none unless the policy is per-table."""
        if not self.per_table:
            return ()
        self.tlb_gen += 1
        if self.k.fixes["ptdesc_tlb_gen"]:
            self.ptdesc[ptep & ~0xFFF] = self.tlb_gen
        self.unflushed.add(self.tlb_gen)
        return (self.tlb_gen,)

    def label(self, gens):
        """The generation a request flushing the changes ``gens`` carries: the oldest of
        them (the register reaching G promises only that every request carrying G or
        less has completed; a request flushing no change, the pending generation), and
        below every other generation not flushed yet. None unless per-table."""
        if not self.per_table:
            return None
        waiting = self.unflushed.difference(gens)
        return min(min(gens, default=self.tlb_gen), min(waiting, default=1 << 32) - 1)

    def flushed(self, gens):
        """The requests covering ``gens`` are in the fabric (or none was needed)."""
        self.unflushed.difference_update(gens)


def mkclean_flush_pending(k, mm, ptep):
    """page_vma_mkclean_one()'s extra condition for a clean read-only PTE: whether a
    TLB entry for it may still be stale (and so writable and dirty)."""
    if k.pending == "coarse":
        return mm.mm_tlb_flush_pending()
    if k.pending == "per-table":
        return k.tlb_gens.ptdesc.get(ptep & ~0xFFF, 0) > k.backend.completed_gen()
    return False
