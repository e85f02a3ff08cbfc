"""The safety checker: every access a CPU or device completes is judged against the
kernel's view of the page it reached, at that moment.

A translation may outlive the PTE it came from — that is what TLBs do, until the flush
— so the rule is not "the PTE maps it now" but: the page must still be in the lifetime
in which this mm mapped it at this address (not freed, not freed and reused, not a page
table); once an unmap of the address has returned, the old translation must be gone;
a write must not land in a clean page that no writable PTE maps (nothing would
write it back), nor in a MADV_FREE'd page without marking its PTE dirty, nor in a page
after its copy (copy-on-write, migration) was taken for that mapping. And the access
must be one the VMA allows, unless the mprotect() or munmap() taking the permission
away has not returned yet. Once a copy-on-write has repointed an address to a new page
and a write to the new page has completed there, no access there may reach the old
page: it would see the writes out of order (seed 003). And an access that keeps faulting
after its faults were handled is stuck (liveness).
A page that a write reached since it was last written back must not be dropped clean.
"""
from dataclasses import dataclass

from .vocabulary import VIOLATIONS


#: The agent of a violation found in the kernel's own actions (LUF_DEBUG).
KERNEL = "kernel"


@dataclass(frozen=True)
class Violation:
    kind: str                 # a vocabulary.VIOLATIONS key
    agent: str
    mm: str
    va: int
    pa: int | None            # None: the access never reached a page (stuck-access)
    write: bool
    step: int                 # index in the trace of the step that made the access

    def describe(self):
        if self.agent == KERNEL:
            return (f"{self.kind}: the kernel, at {self.mm} {self.va:#x} (page {self.pa:#x})"
                    f" — {VIOLATIONS[self.kind]}")
        access = "write" if self.write else "read"
        if self.pa is None:
            return (f"{self.kind}: {self.agent} {access} of {self.mm} {self.va:#x} — "
                    f"{VIOLATIONS[self.kind]}")
        return (f"{self.kind}: {self.agent} {access} of {self.mm} {self.va:#x} reached "
                f"{self.pa:#x} — {VIOLATIONS[self.kind]}")


class SafetyChecker:
    def __init__(self, allocator, returned, luf=None, lazyfree_write_lost=None):
        self.allocator = allocator
        self.luf = luf
        # (mm, va, folio) -> whether a write to a MADV_FREE'd page just went unrecorded
        self.lazyfree_write_lost = lazyfree_write_lost
        self.returned = returned          # (mm, start, end, step) of unmaps that returned
        self.violations = []
        self.cow = {}                     # (mm, page) -> _Cow: the last COW of that page

    def cow_repointed(self, mm, va, old, new):
        """wp_page_copy() pointed ``va`` from folio ``old`` to its copy ``new``."""
        self.cow[mm.name, va & ~0xFFF] = _Cow(old, old.generation, new, new.generation)

    def _reordered(self, folio, key, cow):
        """The access reached the page a COW replaced at ``key``, which no longer maps
        it, after a write to the new page completed there."""
        return cow is not None and cow.written and folio is cow.old and \
            folio.generation == cow.old_gen and key not in folio.rmap

    def _unmapped_and_returned(self, folio, mm, page):
        """The kernel unmapped ``page`` from this folio, and an unmap of it returned
        after that: the translation should be gone everywhere."""
        removed = folio.removed_at.get((mm, page))
        if removed is None or (mm, page) in folio.rmap:
            return False
        return any(name == mm and start <= page < end and step >= removed
                   for name, start, end, step in self.returned)

    def check_access(self, agent, mm, va, pa, write, step, revoked, settling):
        """``revoked``: the VMA forbids this access and no operation revoking it is
        still running; ``settling``: an operation changing this mapping is running."""
        folio = self.allocator.folio_at(pa)
        key = (mm.name, va & ~0xFFF)
        cow = self.cow.get(key)
        kind = None
        if folio is None:
            kind = None            # outside the kernel's pool: not a page it manages
        elif folio.kind == "free":
            # LUF's named rule: a read through a read-only entry whose flush LUF
            # deferred may reach the page while it sits unused in the allocator.
            luf_window = not write and self.luf is not None and \
                self.luf.pending_for(mm.name, va & ~0xFFF)
            kind = None if luf_window else "use-after-free"
        elif folio.kind == "pagetable":
            kind = "page-table-page"
        elif (mm.name, va & ~0xFFF) not in folio.mapped_at:
            kind = "reused-page"
        elif self._unmapped_and_returned(folio, mm.name, va & ~0xFFF):
            kind = "stale-translation"
        elif self._reordered(folio, key, cow):
            kind = "cow-reorder"
        elif write and key in folio.copied_for and key not in folio.writable_at:
            # A writable PTE to this page means the copy lost its race: the copier's
            # pte_same() re-check fails and it drops the copy, so nothing is lost.
            kind = "write-after-copy"
        elif write and not folio.dirty and (
                # A MADV_FREE'd page keeps its writable PTEs: what keeps the write is
                # the dirty bit it sets (a write racing with MADV_FREE may be lost).
                self.lazyfree_write_lost(mm, va, folio) if folio.lazyfree is not None
                else not folio.writable_at):
            kind = "write-to-clean"
        elif write and folio.kind == "anon" and len(folio.rmap) > 1 and not settling:
            kind = "cow-write"
        elif revoked:
            kind = "revoked-access"
        if kind is None:
            if write and folio is not None:
                folio.written = True
            if write and cow is not None and folio is cow.new and \
                    folio.generation == cow.new_gen:
                cow.written = True
            return None
        v = Violation(kind, agent, mm.name, va, pa, write, step)
        self.violations.append(v)
        return v

    def report(self, kind, mm, va, pa, step):
        """A violation seen in what the kernel does rather than in an access."""
        self.violations.append(Violation(kind, KERNEL, mm.name, va, pa, False, step))

    def dropped_clean(self, mm, va, folio, step):
        """shrink_folio_list() drops ``folio`` without writing it back (it is clean):
        lost-dirty if a write reached it since it was last written back."""
        if folio.written:
            self.report("lost-dirty", mm, va, folio.pa, step)

    def stuck(self, agent, mm, va, write, step):
        """An access that faulted again after each of its faults was handled."""
        self.violations.append(Violation("stuck-access", agent, mm.name, va, None, write,
                                         step))

    def check_table_read(self, agent, mm, va, ref, step):
        """A lockless walker reads an entry of the table ``ref`` (folio, generation) it
        found in the level above: the table must still be that page table, not freed
        (or freed and reused) since."""
        folio, generation = ref
        if folio.kind == "pagetable" and folio.generation == generation:
            return None
        v = Violation("freed-page-table", agent, mm.name, va, folio.pa, False, step)
        self.violations.append(v)
        return v

    def check_pte_table(self, agent, mm, va, table, is_pte_table, step):
        """A walker goes from the pmd for ``va`` on to the page ``table`` it names;
        ``is_pte_table``: that page is this mm's PTE table for ``va``. Anything else (a
        pmd read torn, half old and half new) is a wrong page table."""
        if is_pte_table:
            return None
        v = Violation("wrong-page-table", agent, mm.name, va, table, False, step)
        self.violations.append(v)
        return v


@dataclass
class _Cow:
    old: object               # the folio the COW replaced, and its lifetime
    old_gen: int
    new: object               # the copy, and its lifetime
    new_gen: int
    written: bool = False     # a write through the address reached the copy
