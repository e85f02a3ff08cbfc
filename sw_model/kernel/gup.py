"""GUP-fast (mm/gup.c gup_fast_pte_range(), v6.10): the lockless, hardware-locked walker
of seed 002. Interrupts stay off for the whole walk, which holds off x86 flush IPIs (so
a page cannot be freed under it there); on arm64 nothing is held off, and the reference
grab plus the re-check of the PTE do the work."""
from .contpte import contpte_ptep_get
from .lockless import ptep_get_lockless
from .pgtable import pte_pa, pte_present, pte_write


def gup_fast(k, agent, cpu, mm, va, write=False):
    """Pin the page mapped at ``va``, or fall back (to the slow, locked GUP: here, give
    up) when the PTE does not allow it or changes under the walk."""
    k.backend.set_irqs(cpu, False)                       # local_irq_save()
    yield "gup_fast: local_irq_save"
    pt = k.pgtables
    ptep = pt.pte_offset(mm.root, va)
    pte = (yield from ptep_get_lockless(k, ptep)) if ptep is not None else 0
    yield f"gup_fast {va:#x}: ptep_get_lockless = {pte:#x}"
    folio = None
    if pte_present(pte) and (pte_write(pte) or not write):
        folio = k.try_grab_folio(pte_pa(pte))
        yield f"gup_fast {va:#x}: try_grab_folio " + \
            (f"{folio.pa:#x}" if folio is not None else "failed (page freed)")
        # ptep_get(): on arm64 with a contpte block's A/D bits, as the lockless read.
        if folio is not None and contpte_ptep_get(k, ptep) != pte:
            k.unpin_folio(folio)                         # the PTE changed: drop, bail
            folio = None
            yield f"gup_fast {va:#x}: PTE changed, reference dropped"
    k.backend.set_irqs(cpu, True)                        # local_irq_restore()
    if folio is not None:
        # The pin survived the re-check: the caller now reads or writes the page (a
        # DMA, a copy), so that access is checked, as of the moment of the pin.
        k.checker.check_access(agent, mm, va, folio.pa, write, k.step_index, False, False)
        k.pins.setdefault(agent, []).append(folio)
    k.stats["gup_pinned" if folio is not None else "gup_fallback"] += 1
    yield f"gup_fast {va:#x}: " + ("pinned" if folio is not None else "fall back to slow GUP")


def unpin_user_pages(k, agent):
    """unpin_user_pages() of everything this agent pinned."""
    for folio in k.pins.pop(agent, []):
        k.unpin_folio(folio)
    yield "unpin_user_pages"
