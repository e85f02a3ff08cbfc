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
