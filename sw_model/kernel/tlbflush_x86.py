"""x86 TLB shootdown (arch/x86/mm/tlb.c, v6.10): per-mm generations and targeted IPIs
that each CPU acknowledges after flushing; the sender waits for every acknowledgement.

Not modelled yet: flush_tlb_func()'s per-CPU generation check (a target that has caught
up skips its flush; here every target flushes what the sender asked), lazy-TLB CPUs,
and switch_mm()'s ASID slots."""
from hdl.ports import InvalidateOp

from ..platform import Invalidate
from .page_alloc import PAGE_SIZE
from .sched import Blocked

#: tlb_single_page_flush_ceiling: more pages than this become a full flush.
FLUSH_CEILING = 33


class X86TLBFlush:
    name = "x86"

    def __init__(self, kernel):
        self.k = kernel

    def _shootdown(self, cpu, targets, inv, what):
        """flush_tlb_multi() + the local flush: an IPI to every target (this CPU too),
        then wait until all have run flush_tlb_func() and acknowledged."""
        if targets:
            ticket = self.k.backend.shootdown(("cpu", cpu), set(targets), inv)
            self.k.stats["shootdowns"] += 1
            self.k.stats["ipis"] += len(targets)
            yield f"{what}: IPI to cpus {sorted(targets)}"
            while not self.k.backend.shootdown_done(ticket):
                yield Blocked(lambda: self.k.backend.shootdown_done(ticket),
                              f"flush IPIs to cpus {sorted(targets)}", hardware=True)
            yield f"{what}: all acknowledged"
        else:
            yield f"{what}: no CPU has the mm"

    def flush_tlb_mm_range(self, cpu, mm, start, end, freed_tables=False):
        """flush_tlb_mm_range(): new generation, one IPI round; past the ceiling a full
        flush of the mm's ASID."""
        mm.tlb_gen += 1
        pages = (end - start) // PAGE_SIZE
        if pages > FLUSH_CEILING:
            inv = Invalidate(InvalidateOp.ASIDE1, asid=mm.asid)
        elif pages == 1:
            inv = Invalidate(InvalidateOp.VAE1, asid=mm.asid, va=start)
        else:
            inv = Invalidate(InvalidateOp.RVAE1, asid=mm.asid, va=start, end=end)
        yield from self._shootdown(cpu, set(mm.cpumask), inv,
                                   f"flush_tlb_mm_range {start:#x}-{end:#x}")
        # The IPIs reach CPUs only: the IOMMU driver invalidates device TLBs (v6.6).
        yield from self.k.mmu_notifier.arch_invalidate_secondary_tlbs(mm, start, end)

    def flush_tlb_page(self, cpu, mm, va):
        yield from self.flush_tlb_mm_range(cpu, mm, va & ~0xFFF, (va & ~0xFFF) + PAGE_SIZE)

    def flush_tlb_range(self, cpu, mm, start, end, freed_tables=False):
        yield from self.flush_tlb_mm_range(cpu, mm, start, end, freed_tables)

    def flush_tlb_mm(self, cpu, mm):
        yield from self.flush_tlb_mm_range(cpu, mm, 0, 1 << 48)

    def ptep_set_access_flags_flush(self, cpu, mm, va):
        """x86 does not flush a permission upgrade: a CPU that faults on its stale entry
        drops it (the fault itself invalidates it on x86)."""
        return
        yield

    def flush_tlb_fix_spurious_fault(self, cpu, mm, va):
        """What a page fault does to the faulting CPU's own TLB entry on x86: here, a
        shootdown to this CPU alone (the fabric has no local invalidate)."""
        page = va & ~0xFFF
        yield from self._shootdown(cpu, {cpu}, Invalidate(InvalidateOp.VAE1, asid=mm.asid,
                                                          va=page),
                                   f"flush_tlb_fix_spurious_fault {va:#x}")
        yield from self.k.mmu_notifier.arch_invalidate_secondary_tlbs(mm, page,
                                                                      page + PAGE_SIZE)

    # Batched unmap flush (reclaim): remember the CPUs now, one full flush later.
    def new_batch(self):
        return set()                  # CPUs that must flush (arch_tlbflush_unmap_batch)

    def arch_tlbbatch_add_pending(self, cpu, batch, mm, va):
        """arch_tlbbatch_add_pending(): inc_mm_tlb_gen() and add mm_cpumask(); device
        TLBs are invalidated now, for the whole mm (v6.6: the batch has no mm)."""
        mm.tlb_gen += 1
        batch |= mm.cpumask
        yield f"arch_tlbbatch_add_pending {va:#x} (cpus {sorted(mm.cpumask)})"
        yield from self.k.mmu_notifier.arch_invalidate_secondary_tlbs(mm, 0, 1 << 48)

    def arch_tlbbatch_flush(self, cpu, batch):
        """arch_tlbbatch_flush(): flush_tlb_multi() of everything to the batch's CPUs."""
        targets = set(batch)
        batch.clear()
        yield from self._shootdown(cpu, targets, Invalidate(InvalidateOp.VMALLE1),
                                   "arch_tlbbatch_flush")
