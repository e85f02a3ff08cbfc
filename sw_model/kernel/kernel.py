"""The kernel: address spaces, page tables and page frames on a platform backend, the
flush policy, and the user-visible operations a scenario runs on each agent."""
from collections import Counter
from dataclasses import dataclass, field

from .checker import SafetyChecker
from .contpte import ContPTE
from .fault import handle_mm_fault
from .fork import fork
from .gup import gup_fast, unpin_user_pages
from .iommu_sva import iommu_sva_handle_iopf
from .hmm import hmm_range_fault
from .hugetlb import HugetlbFS
from .khugepaged import collapse_huge_page
from .luf import LUF
from .mm import MM, VMA
from .mmu_notifier import MMUNotifiers
from .mprotect import mprotect
from .mremap import mremap, truncate
from .page_alloc import PAGE_SIZE, PageAllocator
from .pgtable import PageTables, mk_pte, pte_dirty, pte_present, pte_write
from .pgtable_free import IrqsOff
from .rmap import try_to_unmap_flush
from .tlb_gen import TLBGenerations
from .tlbflush_arm64 import Arm64TLBFlush
from .tlbflush_x86 import X86TLBFlush
from .uprobes import uprobe_write_opcode
from .vmscan import reclaim, writeback
from .vocabulary import FIXES
from .zap import madvise_dontneed, munmap
from .madvise_free import lazyfree_write_lost, madvise_free
from .migrate import migrate
from .numa import change_prot_numa
from .userfaultfd import mwriteprotect_range

#: Where the page-frame pool starts in physical memory.
POOL_BASE = 0x10_0000
#: Faults an access may take before it counts as stuck (a liveness failure).
MAX_FAULTS = 8

FLUSH_POLICIES = {"arm64": Arm64TLBFlush, "x86": X86TLBFlush}


@dataclass
class UnmapBatch:
    """struct tlbflush_unmap_batch (current->tlb_ubc): what reclaim deferred."""
    batch: set
    flush_required: bool = False
    writable: bool = False
    tlb_gens: list = field(default_factory=list)   # generations of the deferred changes


class _Revoking:
    def __init__(self, in_flight, entry):
        self.in_flight, self.entry = in_flight, entry

    def __enter__(self):
        self.in_flight.append(self.entry)

    def __exit__(self, *exc):
        self.in_flight.remove(self.entry)


@dataclass
class AccessOutcome:
    agent: str
    mm: str
    va: int
    write: bool
    pa: int | None
    fault: str | None
    cycles: int
    faults_taken: int = 0
    notes: list = field(default_factory=list)


class Kernel:
    def __init__(self, backend, *, arch="arm64", reclaim="batched", frames=64, fixes=None,
                 pae=False, device_tlb="broadcast", mmu_notifier="v6.6", mthp=False,
                 pending="none", zap_rmap="locked", highpte=False):
        self.backend = backend
        # x86 shootdowns are IPIs: nothing for a device TLB to snoop.
        self.device_tlb = device_tlb if arch == "arm64" else "notifier"
        self.mmu_notifier = MMUNotifiers(self, mmu_notifier)
        self.luf = LUF(self) if reclaim == "luf" else None
        self.pae = pae                      # x86 PAE: lockless PTE reads tear
        self.allocator = PageAllocator(POOL_BASE, frames,
                                       on_reuse=self._luf_reuse if self.luf else None,
                                       highmem=pae)
        self.pgtables = PageTables(backend, self.allocator, highpte=highpte)
        self.pgtables.contpte = ContPTE(self) if arch == "arm64" else None
        self.mthp = mthp                    # 64 KB mTHP faults (contpte blocks)
        self.flush = FLUSH_POLICIES[arch](self)
        self.reclaim = reclaim
        self.fixes = {name: True for name in FIXES}
        self.fixes.update(fixes or {})
        self.mms = {}
        self.page_cache = {}              # (file, page index) -> folio
        self.returned = []                # (mm name, start, end, step): unmaps that returned
        self.madv_free_returned = []      # (mm name, start, end, step): MADV_FREEs returned
        self.checker = SafetyChecker(self.allocator, self.returned, self.luf,
                                     lambda mm, va, folio: lazyfree_write_lost(self, mm, va,
                                                                               folio))
        self.evicted = {}                 # page-cache key -> the folio last removed from it
        self.stats = Counter()
        self.accesses = []
        self.step_index = 0               # the scheduler's current step, for reports
        self._ubc = {}
        self.in_flight = []
        self.pins = {}                    # agent -> folios it pinned with GUP
        self._files = 0
        self.irqs = IrqsOff(backend)      # CPUs with interrupts off (GUP-fast)
        self.numa_hinted = set()          # (mm name, page VA) made PROT_NONE by NUMA hinting
        self.uffd_wp_registered = []      # (mm name, start, end) registered for uffd-wp
        self.pending, self.zap_rmap = pending, zap_rmap     # seed 000 (tlb_gen.py)
        self.tlb_gens = TLBGenerations(self, pending)
        self.hugetlbfs = HugetlbFS()      # hugetlb VMAs' pages and shared PMD tables

    # Address spaces.
    def create_mm(self, name):
        root = self.pgtables.alloc_table()
        mm = self.mms[name] = MM(name, asid=len(self.mms) + 1, root=root.pa)
        return mm

    def add_vma(self, mm, start, pages, perms, kind):
        """A new VMA; a file-backed one maps a file of its own, from its first page."""
        self._files += 1
        file = self._files if kind in ("file", "shared") else None
        mm.vmas.append(VMA(start, start + pages * PAGE_SIZE, perms, kind, file))

    def _split_vmas(self, mm, start, end):
        """__split_vma() at ``start`` and ``end``."""
        out = []
        for v in mm.vmas:
            cuts = sorted({v.start, v.end} | {x for x in (start, end) if v.start < x < v.end})
            out += [VMA(a, b, v.perms, v.kind, v.file, v.pgoff + (a - v.start) // PAGE_SIZE)
                    for a, b in zip(cuts, cuts[1:])]
        mm.vmas = out

    def copy_vma(self, vma, child):
        """vm_area_dup() into ``child``: the same range, permissions and file pages."""
        child.vmas.append(VMA(vma.start, vma.end, vma.perms, vma.kind, vma.file, vma.pgoff))

    def move_vma(self, mm, start, end, new):
        """move_vma(): [start, end) goes to ``new``, mapping the same file pages."""
        self._split_vmas(mm, start, end)
        for v in mm.vmas:
            if start <= v.start and v.end <= end:
                v.start, v.end = new + (v.start - start), new + (v.end - start)

    def remove_vma_range(self, mm, start, end):
        """Take [start, end) out of the mm's VMAs; returns the VMAs taken out."""
        self._split_vmas(mm, start, end)
        gone = [v for v in mm.vmas if start <= v.start and v.end <= end]
        mm.vmas = [v for v in mm.vmas if v not in gone]
        return gone

    def set_vma_perms(self, mm, start, end, perms):
        self._split_vmas(mm, start, end)
        for v in mm.vmas:
            if start <= v.start and v.end <= end:
                v.perms = perms

    # Page cache: (file, page index) -> folio.
    def _cache_key(self, mm, vma, va):
        return (vma.file, vma.pgoff + (va - vma.start) // PAGE_SIZE)

    def page_cache_lookup(self, mm, vma, va):
        return self.page_cache.get(self._cache_key(mm, vma, va))

    def page_cache_add(self, mm, vma, va, folio):
        key = self._cache_key(mm, vma, va)
        old = self.evicted.pop(key, None)
        if self.luf and old is not None and self.luf.key_pending(old.luf_key):
            # A stale read-only entry would still read the old page, which the new one
            # replaces: flush first (LUF_DEBUG reports a kernel that does not).
            if self.fixes["luf_refill_flush"]:
                self.luf.flush_now("a LUF'd page-cache slot is refilled", upto=old.luf_key)
            else:
                self.checker.report("luf-pagecache-replace", mm, va, old.pa, self.step_index)
        self.page_cache[key] = folio

    def page_cache_remove(self, folio):
        for key in [k for k, f in self.page_cache.items() if f is folio]:
            del self.page_cache[key]
            self.evicted[key] = folio
        folio.kind = "anon"               # no longer cached: freed by its last put

    # Mapping bookkeeping (the rmap and the folio's lifetime, read by the checker).
    def install_pte(self, mm, va, ptep, folio, pte, replace=False):
        """set_pte_at() of a user page, with folio_add_*_rmap() unless ``replace``."""
        if self.luf and self.luf.pending:
            if pte_write(pte):
                self.luf.flush_now("a writable PTE is installed")
            elif self.luf.pending_for(mm.name, va & ~0xFFF):
                # A stale entry for this address would still reach the old page.
                if self.fixes["luf_refill_flush"]:
                    self.luf.flush_now("a LUF'd PTE is filled again")
                else:                          # LUF_DEBUG
                    self.checker.report("luf-pte-rewrite", mm, va, folio.pa,
                                        self.step_index)
        self.pgtables.set_pte_at(ptep, pte)
        if not replace:
            self.folio_add_rmap(mm, va, folio)
        self.pte_changed(mm, va, folio, pte)
        self.stats["ptes_installed"] += 1

    def folio_add_rmap(self, mm, va, folio):
        """folio_add_*_rmap_pte(): ``folio`` is mapped at ``va`` of ``mm`` from now on."""
        folio.mapcount += 1
        folio.rmap.add((mm.name, va & ~0xFFF))
        folio.mapped_at.add((mm.name, va & ~0xFFF))

    def pte_changed(self, mm, va, folio, pte):
        """Keep the folio's set of writable mappings right after a PTE change; a dirty
        PTE counts as a dirty folio (the kernel moves that state over before it cleans
        or frees the page)."""
        if folio is None:
            return
        if pte and pte_dirty(pte):              # a PROT_NONE PTE keeps its dirty bit too
            folio.dirty = True
        key = (mm.name, va & ~0xFFF)
        if pte_present(pte) and pte_write(pte):
            folio.writable_at.add(key)
        else:
            folio.writable_at.discard(key)

    def unmap_folio(self, mm, va, folio, dirty):
        """folio_remove_rmap_pte(), moving a dirty PTE's state to the folio."""
        folio.rmap.discard((mm.name, va & ~0xFFF))
        folio.writable_at.discard((mm.name, va & ~0xFFF))
        folio.removed_at[mm.name, va & ~0xFFF] = self.step_index
        folio.mapcount -= 1
        folio.dirty |= dirty

    def put_folio(self, folio):
        """folio_put(): an anonymous page with no mapping and no pin left is freed; a
        page-cache page stays until reclaim or truncate removes it. Returns whether the
        page was freed."""
        if folio.kind == "anon" and folio.mapcount == 0 and folio.pins == 0:
            self.allocator.free(folio)
            self.stats["pages_freed"] += 1
            return True
        return False

    # Operations taking permissions away, while they run: (mm name, start, end).
    def revoking(self, mm, start, end):
        """Context manager marking [start, end) of ``mm`` as being revoked."""
        return _Revoking(self.in_flight, (mm.name, start, end))

    def settling(self, mm, va):
        """Whether an operation changing ``va``'s mapping in ``mm`` is still running."""
        return any(name == mm.name and start <= va < end
                   for name, start, end in self.in_flight)

    def _revoked(self, mm, va, write, exec):
        vma = mm.find_vma(va)
        allowed = vma is not None and (vma.may_write if write else
                                       vma.may_exec if exec else vma.may_read)
        return not allowed and not self.settling(mm, va)

    def unmap_returned(self, mm, start, end):
        """munmap()/madvise() returning: no access may use [start, end)'s old
        translations from now on."""
        self.returned.append((mm.name, start, end, self.step_index))

    def try_grab_folio(self, pa):
        """try_grab_folio(): a reference, unless the page is already free (its refcount
        is zero). Only the page's refcount is touched, not its data: a grab the re-check
        then drops is harmless whatever page it names."""
        folio = self.allocator.folio_at(pa)
        if folio is None or folio.kind == "free":
            return None
        folio.pins += 1
        return folio

    def unpin_folio(self, folio):
        folio.pins -= 1
        self.put_folio(folio)

    def _luf_reuse(self, folio):
        """A page handed out again: the flush LUF deferred for it is due now."""
        if self.luf.key_pending(folio.luf_key):
            self.luf.flush_now("a LUF'd page is reused", upto=folio.luf_key)
        folio.luf_key = 0

    def tlb_ubc(self, cpu):
        ubc = self._ubc.get(cpu)
        if ubc is None:
            ubc = self._ubc[cpu] = UnmapBatch(self.flush.new_batch())
        return ubc

    # What agents do.
    def populate(self, mm, va, write):
        """Fault a page in before the run (no TLB is touched); a VM_PFNMAP page is
        mapped the way its driver does (remap_pfn_range())."""
        vma = mm.find_vma(va)
        if vma is not None and vma.pfnmap:
            folio = self.allocator.alloc("driver")
            ptep = self.pgtables.pte_offset(mm.root, va, alloc=True)
            self.install_pte(mm, va, ptep, folio, mk_pte(folio.pa, write=vma.may_write,
                                                         dirty=write))
            return
        for _ in handle_mm_fault(self, "setup", 0, mm, va, write=write):
            pass

    def user_access(self, agent, agent_id, mm, va, *, write=False, exec=False):
        """A load, store or fetch: translate through the agent's TLB; a fault runs the
        page-fault handler (a device's through the IOMMU's I/O page-fault handler), then
        the access is retried."""
        is_cpu = agent_id[0] == "cpu"
        ttbr = self.flush.user_ttbr(agent_id[1], mm) if is_cpu else mm.ttbr
        kind = "write" if write else "exec" if exec else "read"
        faults = 0
        while True:
            t = self.backend.access(agent_id, va, ttbr, write=write, exec=exec, el0=True)
            self.stats["accesses"] += 1
            if t.fault is None:
                outcome = AccessOutcome(agent, mm.name, va, write, t.pa, None, t.cycles,
                                        faults)
                self.accesses.append(outcome)
                v = self.checker.check_access(agent, mm, va, t.pa, write, self.step_index,
                                              self._revoked(mm, va, write, exec),
                                              self.settling(mm, va))
                yield f"{kind} {mm.name} {va:#x} -> {t.pa:#x}" + \
                    (f"  VIOLATION {v.kind}" if v else "")
                return
            self.stats["faults"] += 1
            faults += 1
            yield f"{kind} {mm.name} {va:#x}: {t.fault.lower()} fault at level {t.level}"
            if faults > MAX_FAULTS:
                self.stats["stuck_accesses"] += 1         # a liveness failure
                self.checker.stuck(agent, mm, va, write, self.step_index)
                self.accesses.append(AccessOutcome(agent, mm.name, va, write, None, t.fault,
                                                   t.cycles, faults))
                return
            if is_cpu:
                result = yield from handle_mm_fault(self, agent, agent_id[1], mm, va,
                                                    write=write, exec=exec)
            else:
                result = yield from iommu_sva_handle_iopf(self, agent, mm, va, write=write,
                                                          exec=exec)
            if result is not None:                     # SIGSEGV or SIGBUS
                self.accesses.append(AccessOutcome(agent, mm.name, va, write, None,
                                                   result, t.cycles, faults))
                return

    def operation(self, agent, agent_id, name, args):
        """The generator that runs scenario operation ``name`` on ``agent``."""
        cpu = agent_id[1]
        mm = self.mms[args[0]] if args and isinstance(args[0], str) else None
        if name in ("read", "write", "exec"):
            return self.user_access(agent, agent_id, mm, args[1], write=name == "write",
                                    exec=name == "exec")
        if name == "munmap":
            return munmap(self, agent, cpu, mm, args[1], args[2])
        if name == "madvise_dontneed":
            return madvise_dontneed(self, agent, cpu, mm, args[1], args[2])
        if name == "mprotect":
            return mprotect(self, agent, cpu, mm, args[1], args[2], args[3])
        if name == "reclaim":
            return reclaim(self, agent, cpu, mm, args[1])
        if name == "try_to_unmap_flush":
            return try_to_unmap_flush(self, cpu)
        if name == "mkclean":
            return writeback(self, agent, cpu, mm, args[1])
        if name == "fork":
            return fork(self, agent, cpu, mm, self.mms[args[1]])
        if name == "mremap":
            return mremap(self, agent, cpu, mm, args[1], args[2], args[3])
        if name == "truncate":
            return truncate(self, agent, cpu, mm, args[1])
        if name == "gup_fast":
            return gup_fast(self, agent, cpu, mm, args[1], write=args[2] == "write")
        if name == "unpin":
            return unpin_user_pages(self, agent)
        if name in ("irq_off", "irq_on"):
            return self._irqs(cpu, name == "irq_on")
        if name == "collapse":
            return collapse_huge_page(self, agent, cpu, mm, args[1])
        if name == "hmm_range_fault":
            return hmm_range_fault(self, agent, mm, args[1], args[2])
        if name == "migrate":
            return migrate(self, agent, cpu, mm, args[1])
        if name == "numa_hint":
            return change_prot_numa(self, agent, cpu, mm, args[1], args[2])
        if name in ("uffd_wp", "uffd_unprotect"):
            return mwriteprotect_range(self, agent, cpu, mm, args[1], args[2],
                                       enable_wp=name == "uffd_wp")
        if name == "madvise_free":
            return madvise_free(self, agent, cpu, mm, args[1], args[2])
        if name == "switch_mm":
            return self.flush.switch_mm(cpu, mm)
        if name == "kthread":
            return self.flush.enter_lazy_tlb(cpu)
        if name == "uprobe":
            return uprobe_write_opcode(self, agent, cpu, mm, args[1])
        raise ValueError(f"unknown operation {name!r}")

    def _irqs(self, cpu, enabled):
        self.irqs.set(cpu, enabled)
        yield "local_irq_enable" if enabled else "local_irq_disable"
