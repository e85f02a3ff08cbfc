"""arm64 TLB maintenance (arch/arm64/include/asm/tlbflush.h, v6.10): broadcast TLBI
instructions completed by a DSB on the issuing CPU; no IPIs. Each flush then calls the
mmu notifier's arch_invalidate_secondary_tlbs() for the range (v6.6), which matters for
an SMMU without broadcast TLB maintenance (``device_tlb=notifier``)."""
from hdl.ports import InvalidateOp

from ..platform import Invalidate
from .page_alloc import PAGE_SIZE

#: Pages past which a range flush becomes a flush of the whole ASID (MAX_DVM_OPS).
MAX_DVM_OPS = 512


class Arm64TLBFlush:
    name = "arm64"

    def __init__(self, kernel):
        self.k = kernel
        # An SMMU with broadcast TLB maintenance: device TLBs take the TLBIs too.
        self.devices = kernel.backend.devices > 0 and kernel.device_tlb == "broadcast"

    def _tlbi(self, cpu, op, mm, va=0, end=0, gens=()):
        """One TLBI, carrying the generation of the changes ``gens`` it flushes, unless
        the device TLBs are invalidated after it: then that invalidate carries it."""
        last = not self.k.mmu_notifier.secondary_tlbs_after(mm)
        self.k.backend.tlbi(("cpu", cpu), Invalidate(op, asid=mm.asid, va=va, end=end,
                                            devices=self.devices),
                            gen=self.k.tlb_gens.label(gens if last else ()))
        self.k.stats[f"tlbi_{op.name.lower()}"] += 1

    def _dsb(self, cpu):
        self.k.backend.dsb(("cpu", cpu))
        self.k.stats["dsb"] += 1

    def flush_tlb_page(self, cpu, mm, va, gens=()):
        """flush_tlb_page(): dsb ishst; tlbi vale1is; dsb ish."""
        self._tlbi(cpu, InvalidateOp.VALE1, mm, va & ~0xFFF, gens=gens)
        self._dsb(cpu)
        yield f"flush_tlb_page {va:#x}"
        yield from self.k.mmu_notifier.arch_invalidate_secondary_tlbs(
            mm, va & ~0xFFF, (va & ~0xFFF) + PAGE_SIZE, gens)

    def flush_tlb_range(self, cpu, mm, start, end, freed_tables=False, gens=()):
        """__flush_tlb_range(): one range TLBI (FEAT_TLBIRANGE), or the whole ASID past
        MAX_DVM_OPS pages; last-level only unless page tables were freed. Without
        FEAT_TLBIRANGE (system_supports_tlb_range() false), __flush_tlb_range_op() issues
        one TLBI per page, and from MAX_DVM_OPS pages on the whole ASID goes instead."""
        pages = (end - start) // PAGE_SIZE
        ranged = self.k.backend.tlbi_range
        if pages > MAX_DVM_OPS or (not ranged and pages >= MAX_DVM_OPS):
            yield from self.flush_tlb_mm(cpu, mm, gens)
            return
        page_op = InvalidateOp.VAE1 if freed_tables else InvalidateOp.VALE1
        if pages == 1:
            self._tlbi(cpu, page_op, mm, start, gens=gens)
        elif ranged:
            self._tlbi(cpu, InvalidateOp.RVAE1, mm, start, end, gens=gens)
        else:
            # Each TLBI carries the generation: the register passes it once all are done.
            for va in range(start, end, PAGE_SIZE):
                self._tlbi(cpu, page_op, mm, va, gens=gens)
        self._dsb(cpu)
        yield f"flush_tlb_range {start:#x}-{end:#x}"
        yield from self.k.mmu_notifier.arch_invalidate_secondary_tlbs(mm, start, end, gens)

    def flush_tlb_mm(self, cpu, mm, gens=()):
        """flush_tlb_mm(): tlbi aside1is; dsb ish."""
        self._tlbi(cpu, InvalidateOp.ASIDE1, mm, gens=gens)
        self._dsb(cpu)
        yield f"flush_tlb_mm {mm.name}"
        yield from self.k.mmu_notifier.arch_invalidate_secondary_tlbs(mm, 0, 1 << 48, gens)

    def ptep_set_access_flags_flush(self, cpu, mm, va):
        """__ptep_set_access_flags(): a write upgrade invalidates the stale read-only
        entry everywhere (arch/arm64/mm/fault.c), so no CPU keeps faulting on it."""
        yield from self.flush_tlb_page(cpu, mm, va)

    def flush_tlb_fix_spurious_fault(self, cpu, mm, va):
        """A no-op on arm64 (upgrades were flushed when they were made): returns False,
        the entry is not fixed here."""
        return False
        yield

    # Batched unmap flush (reclaim): the TLBIs go out now, one DSB completes them later.
    def new_batch(self):
        return set()                  # CPUs that issued TLBIs not yet completed

    def arch_tlbbatch_add_pending(self, cpu, batch, mm, va, gens=()):
        """arch_tlbbatch_add_pending(): __flush_tlb_page_nosync(), carrying the
        change's generation now: the register passes it once the TLBI completes."""
        self._tlbi(cpu, InvalidateOp.VALE1, mm, va & ~0xFFF, gens=gens)
        batch.add(cpu)
        yield f"arch_tlbbatch_add_pending {va:#x} (tlbi, no dsb)"
        yield from self.k.mmu_notifier.arch_invalidate_secondary_tlbs(
            mm, va & ~0xFFF, (va & ~0xFFF) + PAGE_SIZE, gens)

    def arch_tlbbatch_flush(self, cpu, batch, gens=()):
        """arch_tlbbatch_flush(): dsb(ish) — which completes only the TLBIs this CPU
        issued, the arm64 subtlety of the 2025 batched-pending fix."""
        self._dsb(cpu)
        batch.discard(cpu)
        yield "arch_tlbbatch_flush (dsb)"

    # The context switch: ASIDs are global on arm64 (rollover is not modelled).
    def user_ttbr(self, cpu, mm):
        """A thread of ``mm`` runs on this CPU: its TTBR0 (check_and_switch_context())."""
        mm.cpumask.add(cpu)
        return mm.ttbr

    def switch_mm(self, cpu, mm):
        """switch_mm() → check_and_switch_context(): the mm's ASID is valid: no flush."""
        mm.cpumask.add(cpu)
        yield f"switch_mm {mm.name}: asid {mm.asid}"

    def enter_lazy_tlb(self, cpu):
        """enter_lazy_tlb(): nothing on arm64."""
        yield "enter_lazy_tlb"
