"""Physical page frames and their ``struct folio`` state (mm/page_alloc.c, one page per
folio). Freed frames go to the head of the free list, so the next allocation reuses the
most recently freed page: reuse is what makes a stale translation dangerous."""
from dataclasses import dataclass, field

from .locks import SpinLock

PAGE_SIZE = 0x1000


@dataclass(eq=False)
class Folio:
    pa: int
    kind: str = "free"          # "free", "anon", "file", "pagetable", "driver" (VM_PFNMAP)
    generation: int = 0         # bumped at every allocation: which lifetime this is
    mapcount: int = 0           # folio_mapcount(): PTEs mapping it
    pins: int = 0               # references taken by GUP (folio_maybe_dma_pinned())
    dirty: bool = False         # folio_test_dirty()
    # Every (mm, page VA) mapped to the folio in this lifetime, even if unmapped since:
    # a TLB may still translate through any of them until the folio is freed.
    mapped_at: set = field(default_factory=set)
    rmap: set = field(default_factory=set)      # (mm, page VA) mapped now (the rmap)
    writable_at: set = field(default_factory=set)   # the subset whose PTE is writable
    removed_at: dict = field(default_factory=dict)  # (mm, page VA) -> step it was unmapped
    luf_key: int = 0            # the LUF batch whose deferred flush still covers it
    # (mm, page VA) mappings this folio's contents were copied for (copy-on-write,
    # migration): the copy replaces it there, so a write through them is lost.
    copied_for: set = field(default_factory=set)
    lazyfree: int | None = None     # MADV_FREE: the step it was marked lazyfree
    # A write reached the page since it was last written back (pageout, writeback):
    # dropping it clean loses that data (the checker's lost-dirty).
    written: bool = False
    head: object = None         # the first page of the large folio it belongs to, if any
    # folio_lock() (PG_locked): writeback holds it from folio_mkclean() until the dirty
    # flag is cleared; a write fault on a shared page takes it in do_page_mkwrite().
    lock: SpinLock = field(default_factory=lambda: SpinLock("folio lock"))


class OutOfMemory(Exception):
    pass


#: Where the highmem bank starts under PAE, relative to the low bank: 4 GB up.
HIGHMEM_OFFSET = 1 << 32


class PageAllocator:
    """Frames [base, base + frames * 4 KB); page tables come from the same pool. With
    ``highmem`` (x86 PAE) the upper half of the frames sits 4 GB higher, at the same
    offsets as the lower half: user pages come from there first (GFP_HIGHUSER), page
    tables only from below 4 GB (no CONFIG_HIGHPTE)."""

    def __init__(self, base, frames, on_reuse=None, highmem=False):
        low = frames // 2 if highmem else frames
        self.folios = [Folio(base + i * PAGE_SIZE) for i in range(low)] + \
            [Folio(base + HIGHMEM_OFFSET + i * PAGE_SIZE) for i in range(frames - low)]
        self.base, self.low = base, low
        self.free_list = list(reversed(self.folios))     # pop() takes the lowest first
        self.stats = {"allocated": 0, "freed": 0}
        self.on_reuse = on_reuse      # called with a folio about to be handed out again
        # Folios never handed out (by folio_at() or an allocation): nothing outside the
        # pool can have changed them, so the explorer's state signature writes them as
        # their address alone (signature_state()).
        self.untouched = {id(folio) for folio in self.folios}

    def folio_at(self, pa):
        """The folio holding physical address ``pa``, or None outside the pool."""
        i = (pa - self.base) // PAGE_SIZE
        if 0 <= i < self.low:
            folio = self.folios[i]
        else:
            i = (pa - self.base - HIGHMEM_OFFSET) // PAGE_SIZE
            if not 0 <= i < len(self.folios) - self.low:
                return None
            folio = self.folios[self.low + i]
        self.untouched.discard(id(folio))
        return folio

    def signature_state(self):
        """What the explorer's state signature (state_signature.py) writes for the pool:
        its attributes but the statistics, with each untouched folio as its address."""
        untouched = self.untouched
        state = {k: v for k, v in vars(self).items()
                 if k not in ("stats", "untouched", "folios", "free_list")}
        state["folios"] = [f.pa if id(f) in untouched else f for f in self.folios]
        state["free_list"] = [f.pa if id(f) in untouched else f for f in self.free_list]
        return state

    def _highmem(self, folio):
        return folio.pa - self.base >= HIGHMEM_OFFSET

    def alloc(self, kind, highmem=None):
        """alloc_pages(): the most recently freed frame (under PAE, of the zone the
        allocation prefers: highmem for user pages, falling back to lowmem; ``highmem``
        overrides that, True for a PTE table under CONFIG_HIGHPTE)."""
        if not self.free_list:
            raise OutOfMemory(f"no free page frame for a new {kind} page")
        index = -1
        if self.low < len(self.folios):
            want_high = kind != "pagetable" if highmem is None else highmem
            index = next((i for i in range(len(self.free_list) - 1, -1, -1)
                          if self._highmem(self.free_list[i]) == want_high), None)
            if index is None and want_high:
                index = -1
            elif index is None:
                raise OutOfMemory("no free page frame below 4 GB for a page table")
        return self._prep_new_page(self.free_list.pop(index), kind)
    def _prep_new_page(self, folio, kind):
        """prep_new_page(): a frame taken off the free list starts a new lifetime."""
        self.untouched.discard(id(folio))
        if self.on_reuse:
            self.on_reuse(folio)
        folio.kind = kind
        folio.generation += 1
        folio.mapcount = folio.pins = 0
        folio.dirty = False
        folio.mapped_at = set()
        folio.rmap = set()
        folio.writable_at = set()
        folio.removed_at = {}
        folio.copied_for = set()
        folio.lazyfree = None
        folio.written = False
        folio.head = None
        self.stats["allocated"] += 1
        return folio

    def alloc_folio(self, kind, order):
        """folio_alloc(order): 2**order free frames, physically contiguous and aligned to
        their size (the lowest such run), as one folio of per-page ``Folio`` records whose
        ``head`` is the first; None when no run is free (the caller falls back to order
        0, as alloc_anon_folio() does). Not for PAE's two banks: mTHP here is arm64's."""
        n = 1 << order
        free = {id(f) for f in self.free_list}
        for i in range(0, len(self.folios) - n + 1):
            run = self.folios[i:i + n]
            if run[0].pa % (n * PAGE_SIZE) == 0 and \
                    run[-1].pa - run[0].pa == (n - 1) * PAGE_SIZE and \
                    all(id(f) in free for f in run):
                for folio in run:
                    self.free_list.remove(folio)
                    self._prep_new_page(folio, kind).head = run[0]
                return run
        return None

    def free(self, folio):
        """free_unref_folios()."""
        if folio.kind == "free":
            raise AssertionError(f"double free of the page at {folio.pa:#x}")
        folio.kind = "free"
        if folio.luf_key:
            # A page whose flush LUF deferred waits at the far end of the free list: it
            # is not the next one handed out (that would flush at once).
            self.free_list.insert(0, folio)
        else:
            self.free_list.append(folio)
        self.stats["freed"] += 1

    def alloc_huge(self, kind, order=9):
        """folio_alloc(order): 2**order free frames, naturally aligned (a 2 MB THP for
        order 9), or None. The model keeps one ``Folio`` per 4 KB frame, so a huge
        folio is the list of its subpages, each with its own mapping state."""
        n = 1 << order
        free = {id(folio) for folio in self.free_list}
        for i in range(0, len(self.folios) - n + 1):
            run = self.folios[i:i + n]
            if run[0].pa % (n * PAGE_SIZE) == 0 and all(id(f) in free for f in run):
                for folio in run:
                    self.free_list.remove(folio)
                return [self._prep_new_page(folio, kind) for folio in run]
        return None
