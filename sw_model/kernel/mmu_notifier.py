"""mmu notifiers (include/linux/mmu_notifier.h, mm/mmu_notifier.c): how the kernel tells
a secondary MMU — the IOMMU of a device sharing the process page tables (SVA), with a
TLB of its own — that PTEs are changing.

Two generations of the secondary-TLB rules (system setting ``mmu_notifier``):

- ``v6.6`` (2023): the arch TLB-flush functions call
  ``mmu_notifier_arch_invalidate_secondary_tlbs()`` with the range they flush, so device
  TLBs are invalidated whenever CPU TLBs are, permission upgrades included, and
  ``invalidate_range_end()`` no longer invalidates them.
- ``v4.15`` (the 2017 rules of seed 003): the ``->invalidate_range()`` callback, called
  inside the PTL by ``ptep_clear_flush_notify()`` where a PTE is repointed to a new page,
  by the mmu_gather flush before the gathered pages are freed, and by
  ``invalidate_range_end()`` — except ``mmu_notifier_invalidate_range_only_end()``,
  which follows a ``*_clear_flush_notify()`` that already did it.

Every mm is bound to every device (``iommu_sva_bind_device()``), so an mm has notifiers
exactly when the system has devices; without them none of this takes a step.
"""
from dataclasses import dataclass

from .iommu_sva import sva_invalidate_secondary_tlbs
from .page_alloc import PAGE_SIZE


@dataclass(frozen=True)
class MMUNotifierRange:
    """struct mmu_notifier_range."""
    mm: object
    start: int
    end: int


class MMUNotifiers:
    def __init__(self, kernel, version):
        self.k, self.version = kernel, version

    def mm_has_notifiers(self, mm):
        return self.k.backend.devices > 0

    def invalidate_range_start(self, mm, start, end):
        """mmu_notifier_invalidate_range_start(): before [start, end)'s PTEs change
        (it may sleep). The SVA driver has no start callback. Returns the range."""
        if self.mm_has_notifiers(mm):
            yield f"mmu_notifier_invalidate_range_start {mm.name} {start:#x}-{end:#x}"
        return MMUNotifierRange(mm, start, end)

    def invalidate_range_end(self, rng, only_end=False):
        """mmu_notifier_invalidate_range_end(); before v6.6 it calls ->invalidate_range()
        first, unless ``only_end``."""
        if not self.mm_has_notifiers(rng.mm):
            return
        if not only_end:
            yield from self.invalidate_range(rng.mm, rng.start, rng.end)
        yield f"mmu_notifier_invalidate_range_{'only_' if only_end else ''}end " \
            f"{rng.mm.name} {rng.start:#x}-{rng.end:#x}"

    def invalidate_range_only_end(self, rng):
        """mmu_notifier_invalidate_range_only_end(): after ptep_clear_flush_notify().
        Without the 2017 fix the kernel called the full invalidate_range_end() here."""
        yield from self.invalidate_range_end(rng, only_end=self.k.fixes["clear_flush_notify"])

    def invalidate_range(self, mm, start, end):
        """mmu_notifier_invalidate_range() (v3.19 to v6.5): the ->invalidate_range()
        callback of the secondary TLBs."""
        if self.version == "v4.15":
            yield from sva_invalidate_secondary_tlbs(self.k, mm, start, end,
                                                     "invalidate_range")

    def arch_invalidate_secondary_tlbs(self, mm, start, end, gens=()):
        """mmu_notifier_arch_invalidate_secondary_tlbs() (v6.6), which the arch TLB
        flushes call with the range they flush, last: the device invalidate carries
        the generation of the changes ``gens`` the flush covers (tlb_gen.py)."""
        if self.secondary_tlbs_after(mm):
            yield from sva_invalidate_secondary_tlbs(self.k, mm, start, end,
                                                     "arch_invalidate_secondary_tlbs",
                                                     self.k.tlb_gens.label(gens))
        self.k.tlb_gens.flushed(gens)

    def secondary_tlbs_after(self, mm):
        """Whether arch_invalidate_secondary_tlbs() sends device TLBs an invalidate of
        their own, after the CPUs' flush (then that invalidate carries its generation)."""
        return self.version == "v6.6" and self.k.fixes["secondary_tlbs"] and \
            self.mm_has_notifiers(mm) and self.k.device_tlb != "broadcast"

    def ptep_clear_flush_notify(self, cpu, mm, va, ptep):
        """ptep_clear_flush_notify(): ptep_clear_flush(), then ->invalidate_range() of the
        page, still under the PTL: no device may keep the old page once the PTE points
        to a new one (the 2017 rule; since v6.6 the flush itself does it). Returns the
        old PTE."""
        pte = self.k.pgtables.ptep_get_and_clear(ptep)
        yield from self.k.flush.flush_tlb_page(cpu, mm, va, self.k.tlb_gens.inc_tlb_gen(ptep))
        if self.k.fixes["clear_flush_notify"]:
            page = va & ~(PAGE_SIZE - 1)
            yield from self.invalidate_range(mm, page, page + PAGE_SIZE)
        return pte
