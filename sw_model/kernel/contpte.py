"""arm64 contiguous PTEs (arch/arm64/mm/contpte.c, arch/arm64/include/asm/pgtable.h,
v6.10): 16 PTEs mapping a 64 KB-aligned run of one folio carry PTE_CONT, and the TLB
caches them as one 64 KB entry. The hardware sets the access flag and the dirty state
(DBM) only in the entry it walked, so a block's access/dirty state is the OR of its 16
entries."""
from ..descriptors import DESCRIPTOR, decode
from .page_alloc import PAGE_SIZE
from .pgtable import PTE_SW_DIRTY, pte_dirty, pte_pa

CONT_PTES = 16


def contpte_align_down(ptep):
    return ptep & ~(CONT_PTES * 8 - 1)


def pte_valid_cont(pte):
    return bool(pte & 1 and decode(pte).contiguous)


def pte_mkcont(pte, cont=True):
    """pte_mkcont() (``cont``) or pte_mknoncont()."""
    return DESCRIPTOR.pack(**decode(pte)._replace(contiguous=int(cont))._asdict())


def pte_mkdirty(pte):
    """pte_mkdirty(): software dirty, and hardware dirty (writable) if DBM is set."""
    d = decode(pte)
    return DESCRIPTOR.pack(**d._replace(sw=d.sw | PTE_SW_DIRTY,
                                        ap2=d.ap2 and not d.dbm)._asdict())


def pte_young(pte):
    return bool(decode(pte).af)


def pte_mkyoung(pte):
    return DESCRIPTOR.pack(**decode(pte)._replace(af=1)._asdict())


def contpte_prot(pte):
    """pte_pgprot(pte_mkold(pte_mkclean(pte))): everything but the address and the
    access/dirty state."""
    d = decode(pte)
    return d._replace(addr=0, af=0, ap2=1, sw=d.sw & ~PTE_SW_DIRTY)


def contpte_gather(k, pte, entries):
    """The OR of the entries' access/dirty bits, into ``pte`` (contpte_ptep_get()'s
    loop); with the contpte_dirty_or fix off, ``pte`` alone."""
    if not k.fixes["contpte_dirty_or"]:
        return pte
    for entry in entries:
        if pte_dirty(entry):
            pte = pte_mkdirty(pte)
        if pte_young(entry):
            pte = pte_mkyoung(pte)
    return pte


def contpte_block(k, ptep):
    """The 16 entries of the block holding ``ptep``, each one 64-bit load."""
    start = contpte_align_down(ptep)
    return [k.pgtables.ptep_get(start + 8 * i) for i in range(CONT_PTES)]


def contpte_ptep_get(k, ptep):
    """ptep_get() → contpte_ptep_get() under the PTL: the entry, with the A/D bits of
    its whole block."""
    pte = k.pgtables.ptep_get(ptep)
    return contpte_gather(k, pte, contpte_block(k, ptep)) if pte_valid_cont(pte) else pte


def contpte_consistent(orig, index, entries):
    """contpte_ptep_get_lockless()'s test: every entry valid and PTE_CONT, frames
    contiguous around ``orig`` (entry ``index``), one protection."""
    base = decode(orig).addr - index
    return all(pte_valid_cont(e) and decode(e).addr == base + i and
               contpte_prot(e) == contpte_prot(orig) for i, e in enumerate(entries))


def contpte_ptep_get_lockless(k, ptep):
    """contpte_ptep_get_lockless(): load the entry; a contpte one also loads its block
    (a step later, so a fold or unfold can land between) and starts over until the
    block is one consistent contpte block, then ORs its A/D bits."""
    while True:
        orig = k.pgtables.ptep_get(ptep)
        if not pte_valid_cont(orig):
            return orig
        yield f"ptep_get_lockless {ptep:#x}: contpte entry {orig:#x}"
        entries = contpte_block(k, ptep)
        if contpte_consistent(orig, (ptep >> 3) % CONT_PTES, entries):
            return contpte_gather(k, orig, entries)
        yield f"ptep_get_lockless {ptep:#x}: block inconsistent, retry"


class ContPTE:
    """The contpte half of arm64's public PTE setters (arch/arm64/include/asm/pgtable.h):
    set_pte_at(), ptep_get_and_clear(), ptep_set_wrprotect() and
    ptep_modify_prot_start() call contpte_try_unfold() before they change an entry, and
    set_pte_at() calls contpte_try_fold() after. PageTables calls these, so every path
    that changes one entry (fault, zap, mprotect, fork, mremap, rmap) goes through
    here, as in the kernel."""

    def __init__(self, k):
        self.k = k

    def _mm_and_va(self, ptep):
        """The mm and the VA of the entry at ``ptep``."""
        root, base = self.k.pgtables.table_va[ptep & ~0xFFF]
        mm = next(mm for mm in self.k.mms.values() if mm.root == root)
        return mm, base + ((ptep & 0xFFF) >> 3) * PAGE_SIZE

    def contpte_try_unfold(self, ptep):
        """__contpte_try_unfold(): the block becomes 16 plain entries."""
        self.contpte_convert(ptep, pte_mkcont(self.k.pgtables.ptep_get(ptep), False))
        self.k.stats["contpte_unfolds"] += 1

    def contpte_try_fold(self, ptep, pte):
        """contpte_try_fold() → __contpte_try_fold(): setting the last entry of an
        aligned block to the last page of an aligned run folds the block when all 16
        entries map one 64 KB folio's pages in order with one protection (access and
        dirty aside)."""
        last = CONT_PTES - 1
        if (ptep >> 3) % CONT_PTES != last or not pte & 1 or decode(pte).contiguous or \
                decode(pte).addr % CONT_PTES != last:
            return
        folio = self.k.allocator.folio_at(pte_pa(pte))
        first = pte_pa(pte) - last * PAGE_SIZE
        if folio is None or folio.head is None or folio.head.pa != first:
            return
        entries = contpte_block(self.k, ptep)
        if all(e & 1 and decode(e).addr == (first >> 12) + i and
               contpte_prot(e) == contpte_prot(pte) for i, e in enumerate(entries)):
            self.contpte_convert(ptep, pte_mkcont(pte))
            self.k.stats["contpte_folds"] += 1

    def contpte_convert(self, ptep, pte):
        """contpte_convert(): break before make. Clear all 16 entries (gathering their
        access/dirty bits into ``pte``), flush the 64 KB range, then write the 16 from
        ``pte`` (with or without PTE_CONT). Done in one step, under the PTE lock; the
        flush is issued by the CPU holding it."""
        pt = self.k.pgtables
        start = contpte_align_down(ptep)
        mm, va = self._mm_and_va(start)
        old = [pt._ptep_get_and_clear(start + 8 * i) for i in range(CONT_PTES)]
        pte = contpte_gather(self.k, pte, old)
        holder = pt.pte_lockptr(start).holder or ""
        cpu = int(holder[3:]) if holder.startswith("cpu") else 0
        for _ in self.k.flush.flush_tlb_range(cpu, mm, va, va + CONT_PTES * PAGE_SIZE):
            pass
        first = decode(pte).addr & ~(CONT_PTES - 1)
        for i in range(CONT_PTES):
            pt.write(start + 8 * i,
                     DESCRIPTOR.pack(**decode(pte)._replace(addr=first + i)._asdict()))
