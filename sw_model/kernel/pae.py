"""x86 PAE (arch/x86/include/asm/pgtable-3level.h; include/linux/pgtable.h with
CONFIG_GUP_GET_PXX_LOW_HIGH): a 64-bit PTE on a 32-bit CPU is two 32-bit words that a
lockless walker cannot load at once.

Each load of ptep_get_lockless() is a step here, so another CPU's store can land between
them. Stores stay whole steps: the kernel orders their halves (native_set_pte(): high,
then low; native_pte_clear()/ptep_get_and_clear(): low, then high) so that a reader that
loads low first sees a half-done store either as the whole old or new value, or as old
low with new high: the same torn pairs whole stores give, which the second load of low
catches."""

PTE_LOW = 0xFFFF_FFFF


def pae_ptep_get_lockless(k, ptep):
    """ptep_get_lockless(): pte_low, pte_high, pte_low again, retry if it changed.
    Without the pae_lockless_retry fix the first pair is taken, torn or not (race 1,
    CVE-2012-2373, which tore a pmd the same way)."""
    pt = k.pgtables
    while True:
        low = pt.ptep_get(ptep) & PTE_LOW
        yield f"ptep_get_lockless {ptep:#x}: pte_low = {low:#x}"
        high = pt.ptep_get(ptep) >> 32
        yield f"ptep_get_lockless {ptep:#x}: pte_high = {high:#x}"
        if not k.fixes["pae_lockless_retry"] or pt.ptep_get(ptep) & PTE_LOW == low:
            return high << 32 | low
        yield f"ptep_get_lockless {ptep:#x}: pte_low changed, retry"


def pae_pmd_read(k, pmdp):
    """The pmd as a walker holding mmap_lock for read reads it (hmm_range_fault() here;
    mincore() and MADV_DONTNEED's zap in race 1): with the pmd_read_atomic fix,
    pmd_read_atomic() loads pmd_low, and pmd_high only if pmd_low is not none, so a
    pmd_populate() (one 64-bit store) landing between the loads gives none or the
    whole new pmd. Before it, a plain ``*pmdp`` that the compiler split into pmd_high,
    then pmd_low: a populate between the loads gives the new low half with the old
    (none) high half, a pmd naming the page 4 GB below a highmem PTE table (race 1,
    CVE-2012-2373)."""
    read = k.pgtables.backend.read
    if k.fixes["pmd_read_atomic"]:
        low = read(pmdp) & PTE_LOW
        yield f"pmd_read_atomic {pmdp:#x}: pmd_low = {low:#x}"
        return read(pmdp) >> 32 << 32 | low if low else 0
    high = read(pmdp) >> 32
    yield f"*pmdp {pmdp:#x}: pmd_high = {high:#x}"
    return high << 32 | read(pmdp) & PTE_LOW
