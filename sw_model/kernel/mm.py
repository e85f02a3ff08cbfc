"""Address spaces: ``struct mm_struct`` and ``struct vm_area_struct``, with the fields
the flush logic reads."""
from dataclasses import dataclass, field

from ..descriptors import encode_ttbr
from .locks import RWSemaphore


@dataclass(eq=False)
class VMA:
    """vm_area_struct: [start, end) with its permissions and backing."""
    start: int
    end: int
    perms: str                    # vocabulary.PERMS
    kind: str                     # vocabulary.VMA_KINDS
    file: int | None = None       # which file a file VMA maps...
    pgoff: int = 0                # ...from which page of it

    @property
    def file_backed(self):
        """Page-cache pages: a file mapped privately or shared."""
        return self.kind in ("file", "shared")

    @property
    def may_write(self):
        return "w" in self.perms

    @property
    def may_read(self):
        return self.perms != "none"

    @property
    def may_exec(self):
        return "x" in self.perms

    @property
    def pfnmap(self):
        """VM_PFNMAP: pages the kernel does not own (a driver frees them)."""
        return self.kind == "pfnmap"


@dataclass(eq=False)
class MM:
    """mm_struct."""
    name: str
    asid: int
    root: int                     # pgd: the level-0 table
    vmas: list = field(default_factory=list)
    tlb_flush_pending: int = 0    # inc_tlb_flush_pending(): mmu_gathers in progress
    tlb_flush_batched: bool = False   # reclaim deferred a flush of this mm
    tlb_gen: int = 1              # x86: the generation every CPU must reach
    cpumask: set = field(default_factory=set)    # mm_cpumask(): CPUs that may cache it

    def __post_init__(self):
        self.ttbr = encode_ttbr(self.root, self.asid)
        self.mmap_lock = RWSemaphore(f"mmap_lock of {self.name}")

    def find_vma(self, va):
        """find_vma() restricted to a hit: the VMA containing ``va``, or None."""
        for vma in self.vmas:
            if vma.start <= va < vma.end:
                return vma
        return None

    def mm_tlb_flush_pending(self):
        return self.tlb_flush_pending > 0

    def mm_tlb_flush_nested(self):
        return self.tlb_flush_pending > 1
