"""Freeing page tables and the walkers of seed 002: munmap() frees the tables no VMA
uses, after the flush and (arm64) after every interrupts-off GUP-fast has left; the
semi-locked hmm_range_fault() is kept safe by mmap_lock and the VMAs; khugepaged's
collapse and race 10."""
from pathlib import Path

import pytest

from sw_model.kernel.runner import run_once, run_scenario
from sw_model.kernel.scenario import ScenarioError
from sw_model.kernel.scenario_parser import parse_scenario, parse_scenario_text
from kernel_helpers import index, labels

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def scenario(body, system="cpus=2 arch=arm64", vmas="  vma 0x400000 4 rw anon\n",
             populate="  populate 0x400000 4 write\n", schedule="", bugs=()):
    return parse_scenario_text(
        f"scenario t\nsystem {system}\n" + "".join(f"bug {b}\n" for b in bugs) +
        f"mm A\n{vmas}{populate}{body}\n{schedule}\nexpect clean\n")


def run(body, **kw):
    out = run_once(scenario(body, **kw))
    assert out.error is None, out.error
    return out


# munmap() → free_pgtables()

def test_munmap_frees_every_table_no_vma_uses_after_the_flush():
    out = run("cpu 0\n  read A 0x400000\n  munmap A 0x400000 4")
    steps = labels(out)
    assert "free_pgtables 0x400000-0x404000: 3 tables" in steps   # PTE, PMD, PUD tables
    assert index(steps, "free_pgtables") < index(steps, "flush_tlb") < \
        index(steps, "tlb_flush_mmu: released 4 pages (4 freed), 3 tables")
    assert out.stats["tables_freed"] == 3 and not out.violations


@pytest.mark.parametrize("other, freed", [
    ("  vma 0x404000 1 rw anon\n", 0),          # shares the PTE table: nothing freed
    ("  vma 0x600000 1 rw anon\n", 1),          # next 2 MB: the PTE table only
    ("  vma 0x40000000 1 rw anon\n", 2),        # next 1 GB: the PTE and PMD tables
])
def test_a_table_that_another_vma_still_uses_stays(other, freed):
    out = run("cpu 0\n  munmap A 0x400000 4",
              vmas="  vma 0x400000 4 rw anon\n" + other)
    assert out.stats["tables_freed"] == freed and not out.violations


def test_madvise_dontneed_frees_no_table():
    out = run("cpu 0\n  madvise_dontneed A 0x400000 4")
    assert out.stats["tables_freed"] == 0


def test_the_hardware_walker_never_reaches_a_freed_table():
    # The tables are freed and reused (LIFO) by the next fault elsewhere; an access to
    # the unmapped address stops at the cleared upper level instead of walking into
    # them (no walk cache to flush), and the SIGSEGV is all that happens.
    out = run("cpu 0\n  read A 0x400000\n  munmap A 0x400000 4\n  write A 0x800000\n"
              "  read A 0x400000", vmas="  vma 0x400000 4 rw anon\n"
                                        "  vma 0x800000 1 rw anon\n")
    steps = labels(out)
    assert out.stats["tables_freed"] == 1 and not out.violations
    assert steps[-3:-1] == ["read A 0x400000: translation fault at level 2",
                            "do_page_fault 0x400000: SIGSEGV"]


def test_arm64_waits_for_interrupts_off_gup_fast_and_x86_relies_on_its_flush_ipi():
    s = parse_scenario(SCENARIOS / "gup_fast_vs_free_pgtables.scn")
    arm = run_once(s)
    assert arm.stats["table_sync_ipis"] == 1 and not arm.violations
    assert any("waits for cpus [1] to take the sync IPI" in x for x in labels(arm))
    for bugs in ((), ("table_sync",)):             # the bug is arm64's alone
        x86 = run_once(scenario("cpu 1\n  read A 0x400000\n  gup_fast A 0x400000 write\n"
                                "cpu 0\n  munmap A 0x400000 4",
                                system="cpus=2 arch=x86", bugs=bugs,
                                schedule="schedule order cpu1:op cpu1 cpu0:4 cpu1:op"))
        assert x86.error is None and not x86.violations
        assert x86.stats["table_sync_ipis"] == 0 and x86.stats["tables_freed"] == 3
        steps = [label for _, label in x86.trace]
        assert index(steps, "gup_fast 0x400000: ptep_get_lockless") < \
            index(steps, "flush_tlb_mm_range 0x0-0x404000: all acknowledged")


def test_a_freed_table_is_caught_when_gup_fast_reads_it_reused():
    # Without the sync the table is freed under GUP-fast; a fault in between takes the
    # frame back as a new table, which the checker tells apart by its lifetime.
    s = parse_scenario_text((SCENARIOS / "gup_fast_vs_free_pgtables_buggy.scn").read_text()
                            .replace("vma 0x400000 1 rw anon", "vma 0x400000 1 rw anon\n"
                                     "  vma 0x7f0000000000 1 rw anon")
                            .replace("munmap A 0x400000 1", "munmap A 0x400000 1\n"
                                     "  write A 0x7f0000000000")
                            .replace("cpu0:5 cpu1:op", "cpu0:op cpu0:op cpu1:op"))
    out = run_once(s)
    assert [v.kind for v in out.violations] == ["freed-page-table"]


# The semi-locked walker: hmm_range_fault()

def test_hmm_range_fault_snapshots_without_any_page_table_lock():
    out = run("cpu 0\n  hmm_range_fault A 0x400000 4", populate="  populate 0x400000 2 read\n")
    steps = labels(out)
    assert steps.count("hmm_vma_walk_pmd 0x400000: pmd = " + steps[0].split("= ")[1]) == 1
    assert sum(s.startswith("hmm_vma_handle_pte") for s in steps) == 4
    assert "hmm_range_fault 0x400000-0x404000: 2 of 4 pages present" in steps
    assert not any("waits" in s for s in steps)


def test_hmm_range_fault_holds_munmap_off_until_it_is_done():
    out = run("cpu 0\n  hmm_range_fault A 0x400000 4\ncpu 1\n  munmap A 0x400000 4",
              schedule="schedule order cpu0:2 cpu1 cpu0:op cpu1:op")
    steps = [label for _, label in out.trace]
    assert steps[2] == "munmap A 0x400000 4: waits for mmap_lock of A (write)"
    assert index(steps, "hmm_range_fault 0x400000") < index(steps, "free_pgtables")


def test_hmm_range_fault_after_munmap_detached_the_vmas_walks_no_table():
    # munmap() downgrades mmap_lock to read before freeing the tables: hmm_range_fault()
    # gets in, but finds no VMA there, and so never reads the tables being freed.
    out = run("cpu 0\n  munmap A 0x400000 4\ncpu 1\n  hmm_range_fault A 0x400000 4",
              schedule="schedule order cpu0 cpu1:op cpu0:op")
    steps = labels(out, "cpu1")
    assert steps.count("hmm_vma_walk_hole 0x400000: HMM_PFN_ERROR") == 1
    assert not any(s.startswith("hmm_vma_walk_pmd") for s in steps)


def test_the_semi_locked_walker_does_not_need_the_sync_but_gup_fast_does():
    seeds = range(1, 61)
    hmm = scenario("cpu 0\n  munmap A 0x400000 4\ncpu 1\n  hmm_range_fault A 0x400000 4",
                   bugs=("table_sync",), schedule="schedule random")
    assert not any(run_once(hmm, seed).violations for seed in seeds)
    gup = scenario("cpu 0\n  munmap A 0x400000 1\ncpu 1\n  gup_fast A 0x400000 read",
                   vmas="  vma 0x400000 1 rw anon\n", populate="  populate 0x400000 1 write\n",
                   bugs=("table_sync",), schedule="schedule random")
    flagged = [seed for seed in seeds if run_once(gup, seed).violations]
    print(f"GUP-fast read a freed table in {len(flagged)} of {len(seeds)} random runs, "
          f"seeds {flagged}")
    assert flagged
    assert {v.kind for v in run_once(gup, flagged[0]).violations} == {"freed-page-table"}


# khugepaged: collapse_huge_page()

HUGE = dict(system="cpus=2 arch=arm64 frames=1024", vmas="  vma 0x200000 512 rw anon\n",
            populate="  populate 0x200000 4 write\n")


def test_collapse_maps_the_range_with_one_pmd_block():
    out = run("cpu 0\n  read A 0x201000\n  collapse A 0x3ff000\n  read A 0x201000\n"
              "  write A 0x3ff008", **HUGE)
    steps = labels(out)
    assert "collapse_huge_page 0x200000: set_pmd_at -> 0x200000 (2 MB)" in steps
    assert index(steps, "collapse_huge_page 0x200000: pmdp_collapse_flush") < \
        index(steps, "flush_tlb_range 0x200000-0x400000") < \
        index(steps, "__collapse_huge_page_copy")
    assert "read A 0x201000 -> 0x201000" in steps and "write A 0x3ff008 -> 0x3ff008" in steps
    assert out.stats["pages_freed"] == 4 and out.stats["faults"] == 0
    assert not out.violations


@pytest.mark.parametrize("setup, body, result", [
    ("", "cpu 0\n  gup_fast A 0x201000 read\n  collapse A 0x200000", "SCAN_PAGE_COUNT"),
    ("", "cpu 0\n  collapse A 0x200000\n  collapse A 0x200000", "SCAN_PMD_MAPPED"),
    ("vma", "cpu 0\n  collapse A 0x400000", "SCAN_VMA_CHECK"),
    ("file", "cpu 0\n  collapse A 0x200000", "SCAN_VMA_CHECK"),
    ("empty", "cpu 0\n  collapse A 0x200000", "SCAN_PMD_NULL"),
    ("frames", "cpu 0\n  collapse A 0x200000", "SCAN_ALLOC_HUGE_PAGE_FAIL"),
])
def test_a_collapse_that_cannot_be_done_leaves_the_range_as_it_was(setup, body, result):
    kw = dict(HUGE)
    if setup == "vma":
        kw["vmas"] += "  vma 0x400000 4 rw anon\n"
    elif setup == "file":
        kw["vmas"] = "  vma 0x200000 512 rw file\n"
    elif setup == "empty":
        kw["populate"] = ""
    elif setup == "frames":
        kw["system"] = "cpus=2 arch=arm64 frames=512"
    out = run(body + "\n  read A 0x201000", **kw)
    assert f"collapse_huge_page {0x400000 if setup == 'vma' else 0x200000:#x}: {result}" \
        in labels(out)
    assert not out.violations


def test_gup_fast_pins_the_subpage_of_a_huge_pmd():
    out = run("cpu 0\n  collapse A 0x200000\n  gup_fast A 0x203000 write\n  unpin", **HUGE)
    assert "gup_fast 0x203000: try_grab_folio 0x203000" in labels(out)
    assert out.stats["gup_pinned"] == 1 and not out.violations


def test_a_pte_path_on_a_collapsed_range_stops_with_a_clear_error():
    out = run_once(scenario("cpu 0\n  collapse A 0x200000\n  mprotect A 0x200000 1 r",
                            **HUGE))
    assert "split_huge_pmd() is not modelled" in out.error


def test_a_fault_that_waited_for_the_collapse_retries_on_the_huge_pmd():
    out = run("cpu 0\n  collapse A 0x200000\ncpu 1\n  read A 0x205000", **HUGE,
              schedule="schedule order cpu0 cpu1:2 cpu0:op cpu1:op")
    steps = labels(out, "cpu1")
    assert "handle_mm_fault 0x205000: huge pmd, retry" in steps
    assert "read A 0x205000 -> 0x205000" in steps and not out.violations


# Race 10: GUP-fast vs collapse

RACE = (SCENARIOS / "gup_fast_vs_collapse_buggy.scn").read_text()


@pytest.mark.parametrize("bugs, arch, expect", [
    (("table_sync", "gup_pmd_recheck"), "arm64", ["pinned-page-replaced"]),
    (("table_sync",), "arm64", []),           # GUP-fast's PMD re-check backs off
    (("gup_pmd_recheck",), "arm64", []),      # the sync IPI: the pin stops the collapse
    (("table_sync", "gup_pmd_recheck"), "x86", []),   # the flush IPI waits for GUP-fast
])
def test_race_10_needs_both_fixes_off_and_arm64(bugs, arch, expect):
    text = RACE.replace("bug table_sync\nbug gup_pmd_recheck\n",
                        "".join(f"bug {b}\n" for b in bugs)).replace("arch=arm64",
                                                                      f"arch={arch}")
    s = parse_scenario_text(text.replace("schedule order cpu1:op cpu1:2 cpu0:3",
                                         "schedule order cpu1:op cpu1:2 cpu0:2")
                            if arch == "x86" else text)
    out = run_once(s)
    assert out.error is None, out.error
    assert [v.kind for v in out.violations] == expect


def test_race_10_at_random():
    text = RACE.replace("schedule order cpu1:op cpu1:2 cpu0:3 cpu1:op cpu0:op",
                        "schedule random seed=1 runs=40").replace(
                            "expect pinned-page-replaced", "expect clean")
    buggy = run_scenario(parse_scenario_text(text))
    flagged = [r.seed for r in buggy.runs if r.violations]
    print(f"race 10 found in {len(flagged)} of 40 random runs, seeds {flagged}")
    assert flagged and not buggy.errors
    fixed = run_scenario(parse_scenario_text(
        text.replace("bug table_sync\nbug gup_pmd_recheck\n", "")))
    assert fixed.met


def test_the_new_operations_are_checked_like_the_others():
    with pytest.raises(ScenarioError, match="collapse"):
        scenario("cpu 0\n  collapse A")
    with pytest.raises(ScenarioError, match="hmm_range_fault"):
        scenario("cpu 0\n  hmm_range_fault A 0x400000")
    with pytest.raises(ScenarioError, match="gup_pmd_recheck"):
        parse_scenario_text("scenario t\nbug gup_pmd_rechek\ncpu 0\n  irq_on\n"
                            "expect clean\n")
