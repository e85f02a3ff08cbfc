"""Physical page frames and their ``struct folio`` state (mm/page_alloc.c, one page per
folio). Freed frames go to the head of the free list, so the next allocation reuses the
most recently freed page: reuse is what makes a stale translation dangerous."""
from dataclasses import dataclass, field

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


class OutOfMemory(Exception):
    pass


class PageAllocator:
    """Frames [base, base + frames * 4 KB); page tables come from the same pool."""

    def __init__(self, base, frames, on_reuse=None):
        self.folios = [Folio(base + i * PAGE_SIZE) for i in range(frames)]
        self.base = base
        self.free_list = list(reversed(self.folios))     # pop() takes the lowest first
        self.stats = {"allocated": 0, "freed": 0}
        self.on_reuse = on_reuse      # called with a folio about to be handed out again

    def folio_at(self, pa):
        """The folio holding physical address ``pa``, or None outside the pool."""
        i = (pa - self.base) // PAGE_SIZE
        return self.folios[i] if 0 <= i < len(self.folios) else None

    def alloc(self, kind):
        """alloc_pages(): the most recently freed frame."""
        if not self.free_list:
            raise OutOfMemory(f"no free page frame for a new {kind} page")
        folio = self.free_list.pop()
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
        self.stats["allocated"] += 1
        return folio

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
