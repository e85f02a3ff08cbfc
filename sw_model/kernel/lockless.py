"""ptep_get_lockless() as the lockless walker that cannot re-check under the PTL
(GUP-fast) sees it: one 64-bit load, or the multi-load reads of x86 PAE
(pae_ptep_get_lockless), or arm64's, which loads a whole block for a contpte entry
(contpte_ptep_get_lockless); each load that another CPU's store may follow is a step."""
from .contpte import contpte_ptep_get_lockless
from .pae import pae_ptep_get_lockless


def ptep_get_lockless(k, ptep):
    """The PTE at ``ptep``, read without the PTE lock."""
    if k.pae:
        return (yield from pae_ptep_get_lockless(k, ptep))
    return (yield from contpte_ptep_get_lockless(k, ptep))
