"""Page tables in the backend's memory (Armv8-A descriptors, 4 KB granule), read and
written the way the kernel does: every access is a real load, store or atomic of the
platform, so the hardware walkers race with it."""
from hdl.descriptor import LEVEL_INDEX_SHIFT

from ..descriptors import DESCRIPTOR, decode, encode_table
from .locks import SpinLock

# Software bits (descriptor bits 55..58): arm64's PTE_DIRTY, and PTE_PROT_NONE (a
# mapping kept but made inaccessible: not valid to hardware, still a page to the kernel).
PTE_SW_DIRTY = 1
PTE_SW_PROT_NONE = 2
# A migration entry (not valid; the address field holds the old page), and arm64's
# PTE_UFFD_WP (a userfaultfd write-protected PTE).
PTE_SW_MIGRATION = 4
PTE_SW_UFFD_WP = 8


def pte_index_address(table, va, level):
    return table | (((va >> LEVEL_INDEX_SHIFT[level]) & 0x1FF) << 3)


class HugePmdNotModelled(Exception):
    """A path that works on PTEs reached a PMD-mapped THP (after ``collapse``): the
    kernel would split_huge_pmd() or use its huge-PMD variant; neither is modelled."""


def pmd_trans_huge(pmd):
    """pmd_trans_huge(): a valid level-2 block descriptor (a 2 MB leaf)."""
    return bool(pmd & 1) and not decode(pmd).type


def mk_pte(pa, *, write=False, exec=False, dirty=False, young=True):
    """mk_pte() of a user page: writable means DBM (arm64's PTE_WRITE), and a writable
    page that is not dirty is read-only until hardware or a fault marks it dirty."""
    return DESCRIPTOR.pack(valid=1, type=1, ap1=1, ap2=int(not (write and dirty)), sh=3,
                           af=int(young), ng=1, addr=pa >> 12, dbm=int(write),
                           pxn=1, uxn=int(not exec), sw=PTE_SW_DIRTY if dirty else 0)


def pte_present(pte):
    return pte & 1


def pte_protnone(pte):
    return not pte & 1 and bool(decode(pte).sw & PTE_SW_PROT_NONE)


def pte_mkprotnone(pte):
    """pte_modify() to PAGE_NONE: invalid to the walker, the page kept, write dropped."""
    d = decode(pte_wrprotect(pte))
    return DESCRIPTOR.pack(**d._replace(valid=0, sw=d.sw | PTE_SW_PROT_NONE)._asdict())


def pte_mkpresent(pte):
    """The reverse of pte_mkprotnone(): valid again, still read-only."""
    d = decode(pte)
    return DESCRIPTOR.pack(**d._replace(valid=1, sw=d.sw & ~PTE_SW_PROT_NONE)._asdict())


def make_migration_entry(pte):
    """make_{readable,writable}_migration_entry(): not valid, the old page's address
    kept, with its write, dirty and uffd-wp state (a PROT_NONE PTE is readable)."""
    d = decode(pte)
    return DESCRIPTOR.pack(**d._replace(valid=0, sw=(d.sw & ~PTE_SW_PROT_NONE)
                                        | PTE_SW_MIGRATION)._asdict())


def is_migration_entry(pte):
    return not pte & 1 and bool(decode(pte).sw & PTE_SW_MIGRATION)


def pte_uffd_wp(pte):
    return bool(decode(pte).sw & PTE_SW_UFFD_WP)


def pte_mkuffd_wp(pte):
    """pte_mkuffd_wp(): write-protected, and marked so a write fault goes to userspace."""
    d = decode(pte_wrprotect(pte))
    return DESCRIPTOR.pack(**d._replace(sw=d.sw | PTE_SW_UFFD_WP)._asdict())


def pte_clear_uffd_wp(pte):
    """pte_clear_uffd_wp(): the mark goes, the PTE stays read-only (a write faults and
    do_wp_page() makes it writable)."""
    d = decode(pte)
    return DESCRIPTOR.pack(**d._replace(sw=d.sw & ~PTE_SW_UFFD_WP)._asdict())


def pte_pa(pte):
    return decode(pte).addr << 12


def pte_write(pte):
    """pte_write(): arm64 PTE_WRITE is the DBM bit."""
    return decode(pte).dbm


def pte_dirty(pte):
    """pte_dirty(): software dirty, or hardware dirty (writable and not read-only)."""
    d = decode(pte)
    return bool(d.sw & PTE_SW_DIRTY or (d.dbm and not d.ap2))


def pte_wrprotect(pte):
    """pte_wrprotect(): read-only, keeping a hardware dirty state as software dirty."""
    d = decode(pte)
    sw = d.sw | (PTE_SW_DIRTY if pte_dirty(pte) else 0)
    return DESCRIPTOR.pack(**d._replace(dbm=0, ap2=1, sw=sw)._asdict())


def pte_modify_exec(pte, exec):
    """The execute permission pte_modify() gives a PTE for its VMA's protection (UXN)."""
    d = decode(pte)
    return DESCRIPTOR.pack(**d._replace(uxn=int(not exec))._asdict())


def pte_mkclean(pte):
    """pte_mkclean(): not dirty; a writable page goes back to read-only-until-written."""
    d = decode(pte)
    return DESCRIPTOR.pack(**d._replace(ap2=1, sw=d.sw & ~PTE_SW_DIRTY)._asdict())


class PageTables:
    """The page-table pages of every mm, and their split PTE locks."""

    def __init__(self, backend, allocator, highpte=False):
        self.backend, self.allocator = backend, allocator
        self.highpte = highpte              # CONFIG_HIGHPTE: PTE tables from highmem
        # Words written non-zero in each table page: a reused page is cleared by
        # writing back just those, which is what a memset would change.
        self.written = {}
        self.ptl = {}                       # PTE table address -> SpinLock
        self.table_va = {}                  # PTE table -> (pgd, VA its first entry maps)
        # PTEs holding a valid PTE_CONT entry: the hardware never changes that bit, so
        # this record is exact, and checking it costs no memory read.
        self.cont = set()
        self.contpte = None                 # arm64's contpte wrappers (contpte.ContPTE)

    def write(self, addr, value):
        self.backend.write(addr, value)
        self._track_cont(addr, value)
        table = addr & ~0xFFF
        if value:
            self.written.setdefault(table, set()).add(addr)

    def _track_cont(self, ptep, value):
        if value & 1 and decode(value).contiguous:
            self.cont.add(ptep)
        else:
            self.cont.discard(ptep)

    def contpte_try_unfold(self, ptep):
        """contpte_try_unfold(), which arm64's public PTE setters call before changing
        an entry: a contpte block becomes 16 plain entries first."""
        if ptep in self.cont and self.contpte is not None:
            self.contpte.contpte_try_unfold(ptep)

    def alloc_table(self, pte=False):
        """pte_alloc_one() (``pte``) and friends: a zeroed table page."""
        folio = self.allocator.alloc("pagetable", highmem=True if pte and self.highpte else None)
        for addr in sorted(self.written.pop(folio.pa, ())):
            self.backend.write(addr, 0)
            self.cont.discard(addr)
        return folio

    def free_table(self, folio):
        self.table_va.pop(folio.pa, None)
        self.allocator.free(folio)

    def is_pte_table_of(self, table, root, va):
        """Whether the page at ``table`` is the PTE table mapping ``va`` under the pgd
        ``root`` (what a walker may go on to from the PMD for ``va``)."""
        return self.table_va.get(table) == (root, va & ~0x1FFFFF)

    def pte_lockptr(self, ptep):
        """pte_lockptr(): the lock of the PTE table holding ``ptep``."""
        table = ptep & ~0xFFF
        lock = self.ptl.get(table)
        if lock is None:
            lock = self.ptl[table] = SpinLock(f"ptl {table:#x}")
        return lock

    def pte_offset(self, root, va, alloc=False):
        """Address of the PTE for ``va`` (pte_offset_map()); with ``alloc``, missing
        tables are allocated (__pte_alloc()). None when a table is missing."""
        table = root
        for level in range(3):
            addr = pte_index_address(table, va, level)
            d = self.backend.read(addr)
            if level == 2 and pmd_trans_huge(d):
                raise HugePmdNotModelled(f"{va:#x} is mapped by a huge PMD (after a "
                                         f"collapse): split_huge_pmd() is not modelled")
            if d & 1:
                table = decode(d).addr << 12
            elif alloc:
                table = self.alloc_table(pte=level == 2).pa
                self.write(addr, encode_table(table))
            else:
                return None
        self.table_va[table] = (root, va & ~0x1FFFFF)
        return pte_index_address(table, va, 3)

    def pte_offset_map_lock(self, agent, root, va):
        """pte_offset_map_lock(): the PTE's address with its table's lock taken by
        ``agent`` — (ptep, ptl), or (None, None) when a table on the way is missing."""
        ptep = self.pte_offset(root, va)
        if ptep is None:
            return None, None
        ptl = self.pte_lockptr(ptep)
        yield from ptl.lock(agent)
        return ptep, ptl

    def ptep_get(self, ptep):
        return self.backend.read(ptep)

    # One 64-bit load: arm64's ptep_get_lockless() of a single (non-contpte) entry.
    ptep_get_lockless = ptep_get

    def set_pte_at(self, ptep, pte):
        """set_pte_at(): on arm64 it unfolds a contpte block the entry is in, and
        setting the last entry of a block may fold it (contpte_try_fold())."""
        self.contpte_try_unfold(ptep)
        self.write(ptep, pte)
        if self.contpte is not None:
            self.contpte.contpte_try_fold(ptep, pte)

    def ptep_get_and_clear(self, ptep):
        """ptep_get_and_clear(): an atomic exchange, so a hardware dirty update racing
        with it is either in the returned value or fails its compare-and-swap."""
        self.contpte_try_unfold(ptep)
        return self._ptep_get_and_clear(ptep)

    def _ptep_get_and_clear(self, ptep):
        """arm64's __ptep_get_and_clear(): the exchange alone, no contpte handling."""
        while True:
            old = self.backend.read(ptep)
            if self.backend.cas(ptep, old, 0) == old:
                self.cont.discard(ptep)
                return old

    def ptep_modify(self, ptep, change):
        """Atomically replace the PTE by ``change(old)`` (ptep_modify_prot_start/commit,
        ptep_set_wrprotect); returns the old value."""
        self.contpte_try_unfold(ptep)
        while True:
            old = self.backend.read(ptep)
            new = change(old)
            if self.backend.cas(ptep, old, new) == old:
                self._track_cont(ptep, new)
                if new:
                    self.written.setdefault(ptep & ~0xFFF, set()).add(ptep)
                return old

    def pmd_offset(self, root, va):
        """pmd_offset(): the address of the level-2 descriptor for ``va``, or None when
        an upper table is missing (the walk GUP-fast and the semi-locked walkers do
        without locks, down to the PMD)."""
        table = root
        for level in range(2):
            d = self.backend.read(pte_index_address(table, va, level))
            if not d & 1:
                return None
            table = decode(d).addr << 12
        return pte_index_address(table, va, 2)

    def pmdp_get_lockless(self, root, va):
        """(pmdp, pmd): the PMD's address and value read without a lock, (None, 0) when
        an upper table is missing."""
        pmdp = self.pmd_offset(root, va)
        return pmdp, self.backend.read(pmdp) if pmdp is not None else 0
