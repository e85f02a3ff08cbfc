"""Per-page-table TLB flush generations (seed 000) against the coarse
mm_tlb_flush_pending() check in folio_mkclean(): generations are stored under the PTL,
the fabric's completed-generation register passes one only when its flush has completed,
the zap-vs-writeback race is caught where folio_mkclean() trusts the PTE and closed by
either check, and the per-table check flushes less where unrelated tables change."""
import random

import pytest

from sim.policy_compare import WORKLOADS, compare
from sw_model.golden_backend import GoldenBackend
from sw_model.kernel.kernel import Kernel
from sw_model.kernel.pgtable import mk_pte, pte_pa
from sw_model.kernel.runner import run_once, run_scenario
from sw_model.kernel.scenario_parser import parse_scenario_text
from sw_model.kernel.sched import Blocked
from sw_model.kernel.tlb_gen import TLBGenerations

VA = 0x400000

#: cpu1 keeps a writable, dirty TLB entry; cpu0's MADV_DONTNEED clears the PTE (flush
#: deferred to tlb_finish_mmu()); cpu2 writes the page back in that window; cpu1 writes.
RACE = """scenario race
system cpus=3 arch={arch} zap_rmap={zap} pending={pending}
{bug}
mm A
  vma 0x400000 1 rw shared
cpu 1
  write A 0x400000
  write A 0x400000
cpu 0
  madvise_dontneed A 0x400000 1
cpu 2
  mkclean A 0x400000
{schedule}
expect clean
"""
#: The window: after the zap step, before the flush (under the PTL when zap_rmap=locked,
#: so writeback waits for the lock there).
ORDER = {"deferred": "schedule order cpu1:op cpu0:2 cpu2:op cpu1:op cpu0:op",
         "locked": "schedule order cpu1:op cpu0:2 cpu2 cpu0:op cpu2:op cpu1:op"}


def race(arch="arm64", zap="deferred", pending="per-table", bug=""):
    out = run_once(parse_scenario_text(RACE.format(arch=arch, zap=zap, pending=pending,
                                                   bug=bug, schedule=ORDER[zap])))
    assert out.error is None, out.error
    return out


@pytest.mark.parametrize("arch", ["arm64", "x86"])
@pytest.mark.parametrize("zap, pending, bug, violation", [
    ("locked", "none", "", None),                 # upstream: flushed under the PTL
    ("deferred", "none", "", "write-to-clean"),   # seed 000: mkclean trusts the PTE
    ("deferred", "coarse", "", None),
    ("deferred", "per-table", "", None),
    ("deferred", "per-table", "bug ptdesc_tlb_gen", "write-to-clean"),
])
def test_zap_vs_writeback(arch, zap, pending, bug, violation):
    out = race(arch, zap, pending, bug)
    assert [v.kind for v in out.violations] == ([violation] if violation else [])
    mkclean = [label for agent, label in out.trace if agent == "cpu2"]
    flushed = any("a flush may be pending: flushed" in label for label in mkclean)
    assert flushed == (pending != "none" and not bug)


def test_the_stale_entry_is_writable_and_dirty():
    """Only a dirty entry writes without a walk: the race needs cpu1's entry to be one.
    A write through a clean DBM entry re-walks, finds the PTE gone and faults."""
    backend = GoldenBackend(cpus=2, devices=0)
    k = Kernel(backend)
    mm = k.create_mm("A")
    k.add_vma(mm, VA, 2, "rw", "anon")
    k.populate(mm, VA, write=True)                      # writable and dirty
    k.populate(mm, VA + 0x1000, write=False)            # not present yet: map it clean
    ptep = k.pgtables.pte_offset(mm.root, VA + 0x1000)
    k.pgtables.set_pte_at(ptep, mk_pte(pte_pa(k.pgtables.ptep_get(ptep)), write=True,
                                       dirty=False))
    for va in (VA, VA + 0x1000):                        # fill cpu1's TLB with both
        assert backend.access(("cpu", 1), va, mm.ttbr).fault is None
        k.pgtables.ptep_get_and_clear(k.pgtables.pte_offset(mm.root, va))   # no flush
    assert backend.access(("cpu", 1), VA, mm.ttbr, write=True).fault is None
    assert backend.access(("cpu", 1), VA + 0x1000, mm.ttbr, write=True).fault is not None


def _kernel(arch, pending="per-table"):
    backend = GoldenBackend(cpus=2, devices=0)
    k = Kernel(backend, arch=arch, pending=pending)
    mm = k.create_mm("A")
    k.add_vma(mm, VA, 1, "rw", "anon")
    k.populate(mm, VA, write=True)
    ttbr = [k.flush.user_ttbr(cpu, mm) for cpu in (0, 1)]    # both run the mm
    assert backend.access(("cpu", 1), VA, ttbr[1]).fault is None     # cpu1 caches it
    return k, mm, k.pgtables.pte_offset(mm.root, VA)


def _cached(k, mm, cpu=1):
    asid = k.flush.user_ttbr(cpu, mm) >> 48          # x86: this CPU's PCID tag
    return k.backend.system.walkers[cpu].tlb.lookup(VA >> 12, asid) is not None


def test_arm64_register_passes_a_generation_only_when_its_tlbi_completed():
    """reclaim's batched TLBI carries the change's generation; the register reaches it
    only once every TLB has dropped the entry, which the DSB waits for."""
    k, mm, ptep = _kernel("arm64")
    k.pgtables.ptep_get_and_clear(ptep)
    gens = k.tlb_gens.inc_tlb_gen(ptep)
    batch = k.flush.new_batch()
    list(k.flush.arch_tlbbatch_add_pending(0, batch, mm, VA, gens))
    assert k.backend.completed_gen() < gens[0] and _cached(k, mm)
    cycles = k.backend.cycles
    while k.backend.completed_gen() < gens[0]:         # the clock runs; no DSB yet
        k.backend.idle(1)
        assert k.backend.cycles - cycles < 100
    assert not _cached(k, mm)                          # dropped before the register moved
    list(k.flush.arch_tlbbatch_flush(0, batch, gens))   # the DSB: already complete
    assert k.backend.completed_gen() >= gens[0]


def test_x86_register_waits_for_every_acknowledgement():
    k, mm, ptep = _kernel("x86")
    k.pgtables.ptep_get_and_clear(ptep)
    gens = k.tlb_gens.inc_tlb_gen(ptep)
    k.backend.set_irqs(1, False)                        # cpu1 cannot take the IPI
    flush = k.flush.flush_tlb_page(0, mm, VA, gens)
    assert "IPI to cpus [1]" in next(flush)
    k.backend.idle(200)
    assert k.backend.completed_gen() < gens[0] and _cached(k, mm)
    k.backend.set_irqs(1, True)
    steps = []
    for out in flush:                                  # the scheduler's part: run the clock
        if isinstance(out, Blocked):
            k.backend.idle(1)
        else:
            steps.append(out)
    assert steps[-1].endswith("all acknowledged") and not _cached(k, mm)
    k.backend.idle(1)                                  # the register is one cycle behind
    assert k.backend.completed_gen() >= gens[0]


def test_a_flush_waits_below_an_older_unflushed_generation():
    """A deferred change (generation 1) holds every later flush's generation below it,
    so the single register cannot pass it before its own flush."""
    k, mm, ptep = _kernel("arm64")
    older = k.tlb_gens.inc_tlb_gen(ptep)               # deferred, not flushed yet
    newer = k.tlb_gens.inc_tlb_gen(ptep)
    list(k.flush.flush_tlb_page(0, mm, VA, newer))
    assert k.backend.completed_gen() == older[0] - 1
    assert k.tlb_gens.ptdesc[ptep & ~0xFFF] == newer[0]
    list(k.flush.flush_tlb_page(0, mm, VA, older))
    k.backend.idle(10)
    assert k.backend.completed_gen() == older[0]       # the oldest it covers
    list(k.flush.flush_tlb_mm(0, mm))                  # no change: the pending generation
    assert k.backend.completed_gen() == newer[0]


def test_label_rules():
    g = TLBGenerations(None, "per-table")
    g.tlb_gen, g.unflushed = 9, {4, 7, 9}
    assert g.label((7, 9)) == 3 and g.label((4, 9)) == 4 and g.label(()) == 3
    g.flushed((4,))
    assert g.label(()) == 6 and TLBGenerations(None, "coarse").label((1,)) is None


STAMPS = """scenario stamps
system cpus=3 arch={arch} reclaim={reclaim} pending=per-table zap_rmap=deferred
mm A
  vma 0x400000 4 rw anon
  vma 0x800000 2 rw shared
  populate 0x400000 4 write
  populate 0x800000 2 write
mm C
cpu 0
  mprotect A 0x400000 2 r
  munmap A 0x402000 1
  mremap A 0x400000 1 0x600000
  mkclean A 0x800000
  madvise_dontneed A 0x801000 1
cpu 1
  fork A C
  reclaim A 0x403000
  try_to_unmap_flush
  write A 0x800000
cpu 2
  write C 0x401000
schedule random seed={seed} runs=1
expect clean
"""


@pytest.mark.parametrize("arch, reclaim", [("arm64", "batched"), ("x86", "batched"),
                                           ("arm64", "eager")])
def test_every_generation_is_stored_under_the_ptl_and_flushed(monkeypatch, arch, reclaim):
    seed = random.randrange(1 << 16)
    print(f"seed={seed}")                              # replay: set it here
    stamped, kernels = [], []
    inc = TLBGenerations.inc_tlb_gen

    def spy(self, ptep):
        holder = self.k.pgtables.pte_lockptr(ptep).holder
        assert holder is not None, "a generation stored without the PTE lock"
        kernels.append(self.k)
        gens = inc(self, ptep)
        stamped.append((gens[0], self.ptdesc[ptep & ~0xFFF]))
        return gens
    monkeypatch.setattr(TLBGenerations, "inc_tlb_gen", spy)
    out = run_once(parse_scenario_text(STAMPS.format(arch=arch, reclaim=reclaim,
                                                     seed=seed)), seed)
    assert out.error is None and not out.violations, (out.error, out.violations)
    assert len(stamped) >= 8 and all(gen == stored for gen, stored in stamped)
    assert not kernels[-1].tlb_gens.unflushed          # every change's flush went out


RANDOM_RACE = """scenario random-race
system cpus=3 arch=arm64 zap_rmap=deferred pending={pending}
mm A
  vma 0x400000 1 rw shared
  populate 0x400000 1 write
cpu 0
  madvise_dontneed A 0x400000 1
cpu 1
  write A 0x400000
  write A 0x400000
  write A 0x400000
cpu 2
  mkclean A 0x400000
schedule random seed=1 runs=60
expect clean
"""


def test_the_race_is_found_by_random_schedules_only_without_a_check():
    """The same 60 random interleavings: some lose data when folio_mkclean() trusts
    the PTE (2 of 60); none do with either check."""
    found = {}
    for pending in ("none", "coarse", "per-table"):
        result = run_scenario(parse_scenario_text(RANDOM_RACE.format(pending=pending)))
        found[pending] = [r.seed for r in result.runs if r.violations]
    print(found)
    assert found["none"] and not found["coarse"] and not found["per-table"]


def test_per_table_flushes_less_than_coarse_for_unrelated_tables():
    """munmap storms in one page table, writeback in another: the coarse check
    flushes whenever a gather is pending on the mm, the per-table one only when the
    written-back page's own table has a newer generation than the register."""
    workload = next(w for w in WORKLOADS if w.name == "munmap-writeback")
    rows = {r.policy: r for r in compare(4, workloads=[workload])}
    for arch in ("arm64", "x86"):
        none, coarse, table = (rows[f"{arch} batched{p}"] for p in
                               ("", " coarse", " per-table"))
        assert none.mean("mkclean_pending_flushes") == 0
        assert coarse.mean("mkclean_pending_flushes") > table.mean("mkclean_pending_flushes")
        assert coarse.mean("flushes") > table.mean("flushes") >= none.mean("flushes")
