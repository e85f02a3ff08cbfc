"""64 KB multi-size THP faults (mm/memory.c and mm/filemap.c, v6.10) under ``mthp=on``:
an anonymous fault allocates an order-4 folio (alloc_anon_folio()), a file read fault
finds or reads a 64 KB page-cache folio and maps all of it (fault-around:
filemap_map_pages() → set_pte_range()); either way set_ptes() of 16 entries, which
arm64's contpte_set_ptes() writes with PTE_CONT."""
from .contpte import CONT_PTES, pte_mkcont
from .page_alloc import PAGE_SIZE
from .pgtable import mk_pte

MTHP_ORDER = 4
MTHP_SIZE = CONT_PTES * PAGE_SIZE


def do_fault_mthp(k, agent, mm, vma, va, write):
    """The 64 KB path of do_anonymous_page() / do_read_fault(). Returns False (nothing
    done: the caller maps one page) unless the aligned 64 KB around ``va`` lies in the
    VMA, maps no page yet (pte_range_none()), and a 64 KB folio is free or cached."""
    if vma.file_backed and write:
        return False                    # do_shared_fault()/do_cow_fault(): one page
    start = va & ~(MTHP_SIZE - 1)
    if start < vma.start or start + MTHP_SIZE > vma.end:
        return False
    pt = k.pgtables
    pteps = [pt.pte_offset(mm.root, start + i * PAGE_SIZE) for i in range(CONT_PTES)]
    if any(map(pt.ptep_get, pteps)):
        return False
    folios = _get_folio(k, mm, vma, start)
    if folios is None:
        return False
    yield f"do_fault {va:#x}: 64 KB folio {folios[0].pa:#x}"
    ptl = pt.pte_lockptr(pteps[0])
    yield from ptl.lock(agent)
    if any(map(pt.ptep_get, pteps)):                   # lost the race: retry
        ptl.unlock(agent)
        if not vma.file_backed:
            for folio in folios:
                k.allocator.free(folio)
        yield f"do_fault {va:#x}: PTEs changed, retry"
        return True
    # An anonymous write maps writable and dirty. A file read maps vm_page_prot: for a
    # shared writable VMA of a file without dirty accounting (no writenotify, as on
    # tmpfs) that is writable and clean, so the hardware (DBM) marks an entry dirty.
    writable = vma.may_write and (write or vma.kind == "shared")
    dirty = writable and not vma.file_backed
    for i, (ptep, folio) in enumerate(zip(pteps, folios)):
        k.install_pte(mm, start + i * PAGE_SIZE, ptep, folio, pte_mkcont(
            mk_pte(folio.pa, write=writable, dirty=dirty, exec=vma.may_exec)))
    ptl.unlock(agent)
    yield f"do_fault {va:#x}: set_ptes {start:#x} x16 contpte " \
        f"{'rw' if writable else 'ro'} -> {folios[0].pa:#x}"
    return True


def _get_folio(k, mm, vma, start):
    """The 16 pages of a 64 KB folio for [start, start + 64 KB): alloc_anon_folio(), or
    the page cache's folio for the file range (filemap_fault() reading it in as one
    folio when none of its pages is cached; a file range not 64 KB-aligned in the file
    gets none). None: map one page instead."""
    if not vma.file_backed:
        return k.allocator.alloc_folio("anon", MTHP_ORDER)
    cached = [k.page_cache_lookup(mm, vma, start + i * PAGE_SIZE) for i in range(CONT_PTES)]
    if cached[0] is not None and cached[0].head is cached[0] and \
            all(f is not None and f.head is cached[0] for f in cached):
        return cached
    if any(cached) or (vma.pgoff + (start - vma.start) // PAGE_SIZE) % CONT_PTES:
        return None
    folios = k.allocator.alloc_folio("file", MTHP_ORDER)
    for i, folio in enumerate(folios or ()):
        k.page_cache_add(mm, vma, start + i * PAGE_SIZE, folio)
    return folios
