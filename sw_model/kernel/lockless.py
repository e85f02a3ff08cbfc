"""ptep_get_lockless() as the lockless walker that cannot re-check under the PTL
(GUP-fast) sees it: one 64-bit load, or the multi-load reads of x86 PAE
(pae_ptep_get_lockless) and of an arm64 contpte block (contpte_ptep_get_lockless), each
load a step."""
from .contpte import contpte_ptep_get_lockless
from .pae import pae_ptep_get_lockless


def ptep_get_lockless(k, ptep):
    """The PTE at ``ptep``, read without the PTE lock."""
    if k.pae:
        return (yield from pae_ptep_get_lockless(k, ptep))
    if k.mthp:
        return (yield from contpte_ptep_get_lockless(k, ptep))
    return k.pgtables.ptep_get_lockless(ptep)
