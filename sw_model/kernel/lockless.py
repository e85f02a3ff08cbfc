"""ptep_get_lockless() and a semi-locked walker's pmd read, as the lockless walker that cannot re-check under the PTL
(GUP-fast) sees it: one 64-bit load, or the multi-load reads of x86 PAE
(pae_ptep_get_lockless), or arm64's, which loads a whole block for a contpte entry
(contpte_ptep_get_lockless); each load that another CPU's store may follow is a step."""
from .contpte import contpte_ptep_get_lockless
from .pae import pae_pmd_read, pae_ptep_get_lockless


def ptep_get_lockless(k, ptep):
    """The PTE at ``ptep``, read without the PTE lock."""
    if k.pae:
        return (yield from pae_ptep_get_lockless(k, ptep))
    return (yield from contpte_ptep_get_lockless(k, ptep))


def pmd_read(k, mm, va):
    """(pmdp, pmd) for ``va``, the pmd read without a lock by a walker holding mmap_lock
    for read: one 64-bit load, or x86 PAE's two 32-bit ones (pae_pmd_read); (None, 0)
    when an upper table is missing."""
    pmdp = k.pgtables.pmd_offset(mm.root, va)
    if pmdp is None or not k.pae:
        return pmdp, k.pgtables.backend.read(pmdp) if pmdp is not None else 0
    return pmdp, (yield from pae_pmd_read(k, pmdp))
