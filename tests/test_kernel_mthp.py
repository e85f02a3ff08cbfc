"""64 KB mTHP faults and the contpte blocks the kernel makes of them (sw_model/kernel/
mthp.py, contpte.ContPTE): order-4 folios, the fault's contpte set_ptes, the fold when
the last entry of a block is set, the unfold (break before make, with a flush) before
any one entry changes, checked through the hardware's 64 KB TLB entries; the lost-dirty
rule; GUP-fast checking only the pin that survives its re-check."""
import pytest

from sw_model.descriptors import decode
from sw_model.golden_backend import GoldenBackend
from sw_model.kernel.contpte import CONT_PTES, pte_valid_cont
from sw_model.kernel.kernel import Kernel
from sw_model.kernel.page_alloc import PAGE_SIZE, PageAllocator
from sw_model.kernel.pgtable import mk_pte, pte_dirty, pte_write
from sw_model.kernel.runner import run_scenario
from sw_model.kernel.scenario import ScenarioError
from sw_model.kernel.scenario_parser import parse_scenario_text
from kernel_helpers import drain

BLOCK = 0x400000                # a 64 KB-aligned VA


def mthp_kernel(kind="anon", pages=CONT_PTES, **fixes):
    k = Kernel(GoldenBackend(cpus=2, devices=0), frames=64, fixes=fixes, mthp=True)
    mm = k.create_mm("A")
    k.add_vma(mm, BLOCK, pages, "rw", kind)
    return k, mm


def pteps(k, mm, start=BLOCK):
    return [k.pgtables.pte_offset(mm.root, start + i * PAGE_SIZE) for i in range(CONT_PTES)]


def entries(k, mm):
    return [k.pgtables.ptep_get(p) for p in pteps(k, mm)]


def run(k, cpu, name, *args):
    """Run one operation on ``cpu`` to its end; returns its step labels."""
    return drain(k.operation(f"cpu{cpu}", ("cpu", cpu), name, ("A",) + args))[0]


def access(k, mm, cpu, page, write=False):
    return k.backend.access(("cpu", cpu), BLOCK + page * PAGE_SIZE, mm.ttbr, write=write)


def test_order_4_allocation_is_16_aligned_frames_with_one_head():
    alloc = PageAllocator(0x10_0000, 64)
    alloc.alloc("pagetable")                        # the first run is no longer whole
    run_ = alloc.alloc_folio("anon", 4)
    assert [f.pa for f in run_] == [0x110000 + i * PAGE_SIZE for i in range(16)]
    assert all(f.head is run_[0] and f.kind == "anon" for f in run_)
    assert alloc.alloc_folio("anon", 4)[0].pa == 0x120000
    alloc.alloc_folio("anon", 4)
    assert alloc.alloc_folio("anon", 4) is None     # the rest is not one aligned run
    assert alloc.alloc("anon").head is None


def test_anonymous_fault_maps_a_contpte_block():
    k, mm = mthp_kernel()
    assert "->" in run(k, 0, "write", BLOCK + 3 * PAGE_SIZE)[-1]
    ptes = entries(k, mm)
    assert all(pte_valid_cont(p) and pte_write(p) and pte_dirty(p) for p in ptes)
    frames = [decode(p).addr for p in ptes]
    assert frames[0] % CONT_PTES == 0 and frames == list(range(frames[0], frames[0] + 16))
    assert k.stats["ptes_installed"] == 16 and k.stats["faults"] == 1


def test_fault_falls_back_to_one_page():
    # The VMA does not hold an aligned 64 KB.
    k, mm = mthp_kernel(pages=8)
    run(k, 0, "write", BLOCK)
    assert k.stats["ptes_installed"] == 1
    # A page of the 64 KB is mapped already (pte_range_none() fails).
    k, mm = mthp_kernel()
    k.mthp = False
    run(k, 0, "write", BLOCK)
    k.mthp = True
    run(k, 0, "write", BLOCK + PAGE_SIZE)
    assert k.stats["ptes_installed"] == 2 and not any(map(pte_valid_cont, entries(k, mm)))


def test_hardware_caches_the_block_as_one_64k_entry():
    k, mm = mthp_kernel()
    run(k, 0, "write", BLOCK)
    walks = k.backend.stats["walks"]
    for page in range(CONT_PTES):
        assert access(k, mm, 1, page).fault is None
    assert k.backend.stats["walks"] == walks + 1


def test_fold_when_the_last_entry_is_set():
    """__contpte_try_fold(): entries set one by one (not through set_ptes) fold when the
    last of an aligned block maps the last page of the same 64 KB folio."""
    k, mm = mthp_kernel()
    folios = k.allocator.alloc_folio("anon", 4)
    ps = [k.pgtables.pte_offset(mm.root, BLOCK + i * PAGE_SIZE, alloc=True)
          for i in range(CONT_PTES)]
    for i, (ptep, folio) in enumerate(zip(ps, folios)):
        k.install_pte(mm, BLOCK + i * PAGE_SIZE, ptep, folio,
                      mk_pte(folio.pa, write=True, dirty=i == 4, young=i == 9))
        assert k.stats["contpte_folds"] == (i == CONT_PTES - 1)
    ptes = entries(k, mm)
    # One TLB flush of the 64 KB range between the clear and the set (break before make),
    # and every entry carries the block's gathered access/dirty state.
    assert k.stats["tlbi_rvae1"] == 1
    assert all(pte_valid_cont(p) and pte_dirty(p) and decode(p).af for p in ptes)


def test_no_fold_across_folios():
    k, mm = mthp_kernel()
    ps = [k.pgtables.pte_offset(mm.root, BLOCK + i * PAGE_SIZE, alloc=True)
          for i in range(CONT_PTES)]
    for i, ptep in enumerate(ps):
        # Aligned, contiguous frames, but sixteen order-0 folios.
        folio = k.allocator.folio_at(0x110000 + i * PAGE_SIZE)
        k.install_pte(mm, BLOCK + i * PAGE_SIZE, ptep, folio, mk_pte(folio.pa))
    assert not k.stats["contpte_folds"] and not any(map(pte_valid_cont, entries(k, mm)))


@pytest.mark.parametrize("fixed", [True, False])
def test_unfold_gathers_the_block_dirty_bits_unless_the_fix_is_off(fixed):
    k, mm = mthp_kernel("shared", contpte_dirty_or=fixed)
    run(k, 0, "read", BLOCK)
    assert access(k, mm, 0, 5, write=True).fault is None      # hardware dirties entry 5
    assert [bool(pte_dirty(p)) for p in entries(k, mm)] == [i == 5 for i in range(16)]
    k.pgtables.contpte_try_unfold(pteps(k, mm)[7])            # as a setter of entry 7 does
    ptes = entries(k, mm)
    assert not any(map(pte_valid_cont, ptes))
    assert [bool(pte_dirty(p)) for p in ptes] == [fixed] * 16


@pytest.mark.parametrize("op,args", [("munmap", (1,)), ("mprotect", (1, "r")),
                                     ("madvise_dontneed", (1,)), ("reclaim", ())])
def test_changing_one_entry_leaves_no_stale_64k_translation(op, args):
    """cpu1 caches the block as one 64 KB entry; cpu0 changes page 5 alone. The unfold
    flushes the 64 KB range: cpu1 may not reach page 5's old frame (or write it after
    mprotect) through the old entry, and the other 15 pages still translate."""
    k, mm = mthp_kernel()
    run(k, 0, "write", BLOCK)
    old = access(k, mm, 1, 0, write=True).pa + 5 * PAGE_SIZE
    run(k, 0, op, BLOCK + 5 * PAGE_SIZE, *args)
    assert k.stats["contpte_unfolds"] == 1
    assert not any(map(pte_valid_cont, entries(k, mm)))
    t = access(k, mm, 1, 5, write=True)
    assert t.fault is not None                      # walks the changed entry
    for page in (0, 4, 6, 15):
        assert access(k, mm, 1, page).fault is None
    assert k.allocator.folio_at(old).kind == ("anon" if op == "mprotect" else "free")


def test_without_the_unfold_a_walk_refills_the_freed_page():
    """Why the unfold is needed: zapping one entry of a block that keeps PTE_CONT in the
    other 15 lets a later walk of a neighbour fill a 64 KB entry that still covers the
    freed page (the hardware trusts the contiguous hint)."""
    k, mm = mthp_kernel()
    run(k, 0, "write", BLOCK)
    k.pgtables.contpte = None                       # the kernel without contpte_try_unfold
    run(k, 0, "munmap", BLOCK + 5 * PAGE_SIZE, 1)
    assert access(k, mm, 1, 4).fault is None       # a walk of entry 4: one 64 KB entry
    t = access(k, mm, 1, 5)
    assert t.fault is None and k.allocator.folio_at(t.pa).kind == "free"


def test_fork_and_mremap_of_a_block_stay_clean():
    scenario = parse_scenario_text("""
scenario mthp-fork-mremap
system cpus=2 mthp=on
mm A
  vma 0x400000 16 rw anon
  populate 0x400000 1 write
mm B
cpu 0
  fork A B
  write A 0x403000
  mremap A 0x404000 1 0x800000
  write A 0x800000
cpu 1
  read A 0x40f000
  read B 0x404000
  read A 0x404000
expect clean
""")
    result = run_scenario(scenario)
    assert result.met, result.violation_kinds
    assert result.runs[0].stats["contpte_unfolds"] >= 1


def test_lost_dirty_needs_a_write_since_the_last_writeback():
    """A page written through an entry whose dirty bit another entry holds, reclaimed
    after an unfold without the dirty OR, is lost; written back first (mkclean), or
    written again after that, it is not."""
    text = """
scenario t
system cpus=1 mthp=on
{bug}
mm A
  vma 0x400000 16 rw shared
  populate 0x400000 1 read
cpu 0
  write A 0x405000
  write A 0x407000
  {clean}
  reclaim A 0x407000
expect {expect}
"""
    cases = [("", "", "clean"), ("bug contpte_dirty_or", "", "lost-dirty"),
             # Unfolded from dirty entry 5, the block is rewritten dirty: nothing lost.
             ("bug contpte_dirty_or", "mkclean A 0x405000", "clean"),
             ("", "mkclean A 0x407000\n  write A 0x407000", "clean"),
             ("", "mkclean A 0x407000", "clean")]
    for bug, clean, expect in cases:
        result = run_scenario(parse_scenario_text(text.format(bug=bug, clean=clean,
                                                              expect=expect)))
        assert result.met, (bug, clean, result.violation_kinds)


def test_a_surviving_pin_is_checked_as_the_access_it_stands_for():
    k, mm = mthp_kernel()
    run(k, 0, "write", BLOCK)
    labels = run(k, 1, "gup_fast", BLOCK + 2 * PAGE_SIZE, "write")
    assert labels[-1].endswith("pinned") and not k.checker.violations
    # A PTE that maps a page-table page: the pin survives the re-check, and the
    # caller's read would reach page tables.
    ptep = k.pgtables.pte_offset(mm.root, BLOCK + 0x10000, alloc=True)
    k.pgtables.set_pte_at(ptep, mk_pte(mm.root))
    assert run(k, 1, "gup_fast", BLOCK + 0x10000, "read")[-1].endswith("pinned")
    assert [v.kind for v in k.checker.violations] == ["page-table-page"]


def test_parser_knows_mthp():
    base = "scenario t\nsystem {}\ncpu 0\n  irq_off\nexpect clean\n"
    assert parse_scenario_text(base.format("mthp=on")).system["mthp"] == "on"
    assert parse_scenario_text(base.format("cpus=1")).system["mthp"] == "off"
    with pytest.raises(ScenarioError, match="mthp=on needs arch=arm64"):
        parse_scenario_text(base.format("arch=x86 mthp=on"))
    with pytest.raises(ScenarioError, match="mthp=64k is not allowed: mthp is one of off, on"):
        parse_scenario_text(base.format("mthp=64k"))
    assert parse_scenario_text(base.format("cpus=1").replace("clean", "lost-dirty")).expect == "lost-dirty"


STORM = """
scenario mthp-storm
system cpus=3 mthp=on frames=128
mm A
  vma 0x400000 32 rw anon
  vma 0x600000 16 rw anon
  vma 0x800000 16 rw shared
  populate 0x400000 1 write
  populate 0x600000 1 write
  populate 0x800000 1 read
mm B
cpu 0
  fork A B
  write A 0x403000
  munmap A 0x405000 1
  write A 0x800000
  mprotect A 0x40a000 2 r
  read A 0x410000
  reclaim A 0x807000
cpu 1
  read A 0x40b000
  write A 0x802000
  gup_fast A 0x406000 write
  write A 0x40c000
  unpin
  write A 0x40f000
cpu 2
  write A 0x801000
  reclaim A 0x408000
  madvise_dontneed A 0x40e000 1
  read B 0x403000
  write B 0x60c000
  read A 0x405000
  write A 0x411000
schedule random seed={seed} runs={runs}
expect clean
"""


def test_random_storm_on_contpte_blocks_is_clean():
    """Seeded random interleavings of faults, partial munmap/mprotect/madvise, reclaim,
    fork (whose child's blocks fold again), GUP-fast on 64 KB blocks: the fixed kernel
    is clean. Replay a failing seed with the scenario text and ``runs=1``."""
    seed, runs = 1, 30
    print(f"storm seeds {seed}..{seed + runs - 1}")
    result = run_scenario(parse_scenario_text(STORM.format(seed=seed, runs=runs)))
    flagged = [(r.seed, r.error or r.violations[0].describe())
               for r in result.runs if r.error or r.violations]
    assert not flagged, flagged
    assert sum(r.stats["contpte_folds"] for r in result.runs) > 0
    assert sum(r.stats["contpte_unfolds"] for r in result.runs) > runs
