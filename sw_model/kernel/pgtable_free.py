"""Freeing page tables (mm/memory.c free_pgtables(), mm/mmu_gather.c tlb_remove_table(),
v6.10), and what a freed table must wait for: the walkers of seed 002.

- Fully locked walkers (fault, zap, mprotect, rmap) hold ``mmap_lock`` (or stay inside
  a VMA) down to the PMD and take the PTE lock for the PTEs.
- Semi-locked walkers (``hmm_range_fault()``) hold ``mmap_lock`` for read and read the
  PMD and the PTEs without any lock.
- The hw-locked walker (GUP-fast) holds nothing but has interrupts off.

Both kinds of locked walker only walk inside VMAs, and a table is freed only when no
VMA covers any of its range and the VMAs were taken out under ``mmap_lock`` for write
(munmap() frees tables after downgrading to read) or while holding it (khugepaged). So
the only walker a freed table can still have in it is GUP-fast. On x86 the TLB flush
before the free is an IPI to every CPU of the mm, and a CPU with interrupts off does
not take it until its walk is over. On arm64 the TLBI broadcast interrupts nobody, so
tables are freed through RCU (MMU_GATHER_RCU_TABLE_FREE), whose grace period, like the
IPI of tlb_remove_table_sync_one(), ends only once every CPU that had interrupts off
has turned them on again.

The hardware walkers cache no intermediate entries (``hdl/walker.py`` has no walk
cache; the TLB holds leaves only), so the non-leaf TLBI arm64 issues when tables are
freed invalidates no more than a leaf one would here.
"""
from collections import Counter

from hdl.descriptor import LEVEL_INDEX_SHIFT

from ..descriptors import decode
from .pgtable import pmd_trans_huge
from .sched import Blocked

#: Whether the architecture frees page tables through RCU (MMU_GATHER_RCU_TABLE_FREE;
#: x86 selects it only with PARAVIRT, so native x86 does not).
RCU_TABLE_FREE = {"arm64": True, "x86": False}


class IrqsOff:
    """Which CPUs have interrupts off, and how many times each turned them back on:
    what a synchronous IPI or an RCU-sched grace period waits for."""

    def __init__(self, backend):
        self.backend = backend
        self.off = set()
        self.enables = Counter()

    def set(self, cpu, enabled):
        """local_irq_enable() / local_irq_disable() (the backend delays IPIs)."""
        self.backend.set_irqs(cpu, enabled)
        if not enabled:
            self.off.add(cpu)
        elif cpu in self.off:
            self.off.discard(cpu)
            self.enables[cpu] += 1


def tlb_remove_table_sync_one(k, cpu):
    """tlb_remove_table_sync_one(): an IPI to every other CPU, waiting until each has
    taken it, so no GUP-fast that saw the old table is still walking it. A no-op
    without MMU_GATHER_RCU_TABLE_FREE (the flush IPI already did it)."""
    if not RCU_TABLE_FREE[k.flush.name] or not k.fixes["table_sync"]:
        return
    irqs = k.irqs
    waits = {c: irqs.enables[c] for c in irqs.off if c != cpu}
    while not all(irqs.enables[c] > n for c, n in waits.items()):
        yield Blocked(lambda: all(irqs.enables[c] > n for c, n in waits.items()),
                      f"cpus {sorted(waits)} to take the sync IPI (interrupts off)")
    k.stats["table_sync_ipis"] += 1
    yield "tlb_remove_table_sync_one" + (f": waited for cpus {sorted(waits)}"
                                         if waits else "")


def tlb_table_flush(k, cpu, tables):
    """tlb_table_flush() after the TLB flush: the RCU-freed batch (here the grace
    period is waited for at once, as tlb_remove_table_one() does), then the free."""
    if tables:
        yield from tlb_remove_table_sync_one(k, cpu)
    for table in tables:
        k.pgtables.free_table(table)
    k.stats["tables_freed"] += len(tables)


def free_pgtables(k, tlb, mm, start, end):
    """free_pgtables() → free_pgd_range(): every table under [start, end) whose whole
    range no VMA still covers leaves its parent (pmd_clear() and the like) and goes to
    the mmu_gather (pte_free_tlb() → tlb_remove_table()), freed after the flush."""
    before = len(tlb.tables)
    _free_range(k, tlb, mm, mm.root, 0, 0, start, end)
    if len(tlb.tables) > before:
        yield f"free_pgtables {start:#x}-{end:#x}: {len(tlb.tables) - before} tables"


def _free_range(k, tlb, mm, table, level, base, start, end):
    """free_p4d_range()/free_pud_range()/free_pmd_range() at ``level``: the entries of
    ``table`` (mapping from ``base``) that [start, end) touches."""
    pt, size = k.pgtables, 1 << LEVEL_INDEX_SHIFT[level]
    for i in range((max(start, base) - base) // size, min(512, -(-(end - base) // size))):
        lo = base + i * size
        entry = table | (i << 3)
        d = pt.backend.read(entry)
        if not d & 1 or (level == 2 and pmd_trans_huge(d)):
            continue
        child = decode(d).addr << 12
        if level < 2:
            _free_range(k, tlb, mm, child, level + 1, lo, start, end)
        if not any(v.start < lo + size and lo < v.end for v in mm.vmas):
            pt.write(entry, 0)
            tlb.tlb_remove_table(k.allocator.folio_at(child), lo)


def table_ref(k, table):
    """What a lockless walker holds once it has read a table pointer from the level
    above: the table page and its lifetime."""
    folio = k.allocator.folio_at(table)
    return folio, folio.generation
