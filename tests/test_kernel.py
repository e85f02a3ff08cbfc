"""The kernel model on the golden backend: each operation does what its kernel function
does to page tables, page frames and TLBs; each flush policy flushes; and the safety
checker flags a kernel with a fix turned off, or a flush policy that skips its flush."""
from pathlib import Path

import pytest

from sw_model.kernel.pgtable import pte_dirty, pte_present, pte_write
from sw_model.kernel.runner import run_once, run_scenario
from sw_model.kernel.scenario_parser import parse_scenario, parse_scenario_text
from sw_model.kernel.tlbflush_arm64 import Arm64TLBFlush
from sw_model.kernel.tlbflush_x86 import X86TLBFlush
from kernel_helpers import labels

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.scn"))


def scenario(body, system="cpus=2 arch=arm64", expect="clean", schedule=""):
    return parse_scenario_text(
        f"scenario t\nsystem {system}\nmm A\n  vma 0x400000 4 rw anon\n"
        f"  vma 0x800000 2 rw file\n{body}\n{schedule}\nexpect {expect}\n")


def run(body, **kw):
    s = scenario(body, **kw)
    outcome = run_once(s, s.schedule.seed if s.schedule.kind == "random" else None)
    assert outcome.error is None, outcome.error
    return outcome


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenario_meets_its_expectation(path):
    result = run_scenario(parse_scenario(path))
    assert result.met, (result.violation_kinds, result.errors)


def test_enough_scenarios_ship():
    assert len(SCENARIOS) >= 10


def test_read_fault_then_write_fault_reuses_the_page():
    out = run("cpu 0\n  read A 0x400000\n  write A 0x400000")
    steps = labels(out)
    assert any("do_fault 0x400000: set_pte_at ro" in s for s in steps)
    assert any("do_wp_page 0x400000: reuse" in s for s in steps)
    reads = [s for s in steps if s.startswith("read A 0x400000 ->")]
    writes = [s for s in steps if s.startswith("write A 0x400000 ->")]
    assert reads[0].split("->")[1] == writes[0].split("->")[1]     # same page
    assert out.stats["faults"] == 2 and not out.violations


def test_write_to_a_private_file_page_copies_it():
    out = run("cpu 0\n  read A 0x800000\n  write A 0x800000")
    steps = labels(out)
    assert any("do_wp_page 0x800000: copy" in s for s in steps)
    read_pa = next(s for s in steps if s.startswith("read A 0x800000 ->")).split("-> ")[1]
    write_pa = next(s for s in steps if s.startswith("write A 0x800000 ->")).split("-> ")[1]
    assert read_pa != write_pa
    # The old PTE was cleared and flushed before the copy was mapped.
    assert out.stats["hw_invalidates_VALE1"] == 1 and not out.violations


def test_access_outside_a_vma_is_sigsegv():
    out = run("cpu 0\n  write A 0x1000000")
    assert any("SIGSEGV" in s for s in labels(out))


def test_exec_needs_an_executable_vma():
    """An instruction fetch from a rw VMA is SIGSEGV; after mprotect(PROT_EXEC) the
    same page is fetched from (the fault handler maps it executable)."""
    out = run("cpu 0\n  write A 0x400000\n  exec A 0x400000\n  mprotect A 0x400000 1 rx\n"
              "  exec A 0x400000")
    steps = labels(out)
    assert any("SIGSEGV" in s for s in steps[:steps.index("mprotect A 0x400000 1 rx: done")])
    assert steps[-2].startswith("exec A 0x400000 -> ") and not out.violations


def test_munmap_flushes_then_frees_and_the_page_is_gone():
    out = run("cpu 1\n  write A 0x400000\ncpu 0\n  munmap A 0x400000 1\n  write A 0x400000",
              schedule="schedule order cpu1:op cpu0:op cpu0:op")
    steps = labels(out)
    flush = next(i for i, s in enumerate(steps) if s.startswith("flush_tlb_range"))
    freed = next(i for i, s in enumerate(steps) if s.startswith("tlb_flush_mmu: released 1 "
                                                                "pages (1 freed)"))
    assert flush < freed
    assert any("SIGSEGV" in s for s in steps)
    assert out.stats["pages_freed"] == 1 and not out.violations


def test_mprotect_read_only_makes_writes_fault():
    out = run("cpu 0\n  write A 0x400000\n  mprotect A 0x400000 1 r\n  read A 0x400000\n"
              "  write A 0x400000")
    steps = labels(out)
    assert any(s.startswith("read A 0x400000 ->") for s in steps)
    assert steps[-2].endswith("SIGSEGV")
    assert not out.violations


def test_mprotect_none_then_back_restores_the_same_page():
    out = run("cpu 0\n  write A 0x400000\n  mprotect A 0x400000 1 none\n"
              "  mprotect A 0x400000 1 rw\n  read A 0x400000")
    pas = [s.split("-> ")[1] for s in labels(out) if "->" in s and s.startswith(("read", "write"))]
    assert len(pas) == 2 and pas[0] == pas[1]
    assert any("PROT_NONE PTE made present" in s for s in labels(out))


def test_madvise_dontneed_frees_and_the_next_touch_gets_a_new_page():
    out = run("cpu 0\n  write A 0x400000\n  madvise_dontneed A 0x400000 1\n"
              "  read A 0x400000")
    assert out.stats["pages_freed"] == 1 and out.stats["faults"] == 2
    assert not out.violations


@pytest.mark.parametrize("reclaim, dsbs", [("eager", 1), ("batched", 1)])
def test_reclaim_unmaps_writes_back_and_frees(reclaim, dsbs):
    out = run("cpu 0\n  write A 0x400000\n  reclaim A 0x400000\n  read A 0x400000",
              system=f"cpus=2 arch=arm64 reclaim={reclaim}")
    steps = labels(out)
    assert any(s.startswith("pageout") for s in steps)
    assert any(s.startswith("shrink_folio_list: freed") for s in steps)
    deferred = [s for s in steps if "flush deferred" in s]
    assert bool(deferred) == (reclaim == "batched")
    assert out.stats["dsb"] == dsbs and not out.violations


def test_x86_batched_reclaim_defers_the_shootdown_until_the_flush():
    out = run("cpu 1\n  write A 0x400000\ncpu 0\n  reclaim A 0x400000",
              system="cpus=2 arch=x86 reclaim=batched",
              schedule="schedule order cpu1:op cpu0:3")
    steps = labels(out)
    add = next(i for i, s in enumerate(steps) if s.startswith("arch_tlbbatch_add_pending"))
    ipi = next(i for i, s in enumerate(steps) if "arch_tlbbatch_flush: IPI" in s)
    assert add < ipi
    assert out.stats["shootdowns"] == 1 and out.stats["ipis"] == 1


def test_x86_flush_waits_for_a_cpu_with_interrupts_off():
    out = run("cpu 1\n  write A 0x400000\n  irq_off\n  irq_on\ncpu 0\n  munmap A 0x400000 1",
              system="cpus=2 arch=x86",
              schedule="schedule order cpu1:op cpu1:op cpu0:4 cpu1:op cpu0:op")
    steps = labels(out)
    waits = [s for s in steps if "waits for flush IPIs to cpus [1]" in s]
    assert waits, steps
    assert any("all acknowledged" in s for s in steps)
    assert not out.violations


def test_mkclean_write_protects_and_the_next_write_redirties():
    out = run("cpu 0\n  write A 0x400000\n  mkclean A 0x400000\n  write A 0x400000")
    steps = labels(out)
    assert any("page_vma_mkclean_one A 0x400000: write-protected" in s for s in steps)
    assert sum("do_wp_page 0x400000: reuse" in s for s in steps) == 1
    assert not out.violations


DEVICE = """scenario dev
system cpus=1 devices=1 arch={arch}
mm A
  vma 0x400000 1 rw anon
  populate 0x400000 1 write
dev 0
  read A 0x400000
  read A 0x400000
cpu 0
  munmap A 0x400000 1
schedule order dev0:op cpu0:op dev0:op
expect clean
"""


def test_device_tlb_is_flushed_by_broadcast_on_arm64():
    out = run_once(parse_scenario_text(DEVICE.format(arch="arm64")))
    dev = labels(out, "dev0")
    assert dev[0].startswith("read A 0x400000 ->")
    assert "translation fault" in dev[2] and not out.violations


def test_device_tlb_is_flushed_through_the_notifier_on_x86():
    out = run_once(parse_scenario_text(DEVICE.format(arch="x86")))
    assert out.stats["secondary_tlb_invalidates"] == 1 and not out.violations


def test_device_tlb_keeps_a_freed_page_without_the_notifier():
    """x86 shootdowns reach CPUs only; without arch_invalidate_secondary_tlbs() the
    device keeps its translation to the freed page, and the checker says so."""
    text = DEVICE.format(arch="x86").replace("expect clean", "bug secondary_tlbs\nexpect clean")
    out = run_once(parse_scenario_text(text))
    assert [v.kind for v in out.violations] == ["use-after-free"]
    assert out.violations[0].agent == "dev0"


def test_populated_pages_have_their_ptes_in_memory():
    s = parse_scenario_text("scenario t\nmm A\n  vma 0x400000 2 rw anon\n"
                            "  populate 0x400000 1 write\n  populate 0x401000 1 read\n"
                            "cpu 0\n  irq_on\nexpect clean\n")
    from sw_model.kernel.kernel import Kernel
    from sw_model.golden_backend import GoldenBackend
    k = Kernel(GoldenBackend(cpus=2, devices=0))
    mm = k.create_mm("A")
    k.add_vma(mm, 0x400000, 2, "rw", "anon")
    for va, pages, write in s.mms["A"].populate:
        k.populate(mm, va, write)
    w = k.pgtables.ptep_get(k.pgtables.pte_offset(mm.root, 0x400000))
    r = k.pgtables.ptep_get(k.pgtables.pte_offset(mm.root, 0x401000))
    assert pte_present(w) and pte_write(w) and pte_dirty(w)
    assert pte_present(r) and not pte_write(r) and not pte_dirty(r)


# The checker can fail: kernels with a fix off, and flush policies that skip flushes.
def _no_flush(policy):
    class Broken(policy):
        def flush_tlb_range(self, cpu, mm, start, end, freed_tables=False, gens=()):
            yield "flush_tlb_range skipped (broken policy)"
    return Broken


@pytest.mark.parametrize("policy, arch", [(Arm64TLBFlush, "arm64"), (X86TLBFlush, "x86")])
def test_checker_flags_a_policy_that_skips_the_range_flush(monkeypatch, policy, arch):
    from sw_model.kernel import kernel
    monkeypatch.setitem(kernel.FLUSH_POLICIES, arch, _no_flush(policy))
    out = run("cpu 1\n  read A 0x400000\n  read A 0x400000\ncpu 0\n  munmap A 0x400000 1\n"
              "  write A 0x401000", system=f"cpus=2 arch={arch}",
              schedule="schedule order cpu1:op cpu0:op cpu0:op")
    assert [v.kind for v in out.violations] == ["stale-translation"] or \
        out.violations[0].kind in ("use-after-free", "reused-page")


def test_checker_passes_the_same_run_with_the_flush():
    out = run("cpu 1\n  read A 0x400000\n  read A 0x400000\ncpu 0\n  munmap A 0x400000 1\n"
              "  write A 0x401000", schedule="schedule order cpu1:op cpu0:op cpu0:op")
    assert not out.violations


def test_explicit_order_naming_a_blocked_agent_is_an_error():
    s = scenario("cpu 0\n  munmap A 0x400000 4\ncpu 1\n  munmap A 0x400000 4",
                 schedule="schedule order cpu0:2 cpu1:2")
    outcome = run_once(s)
    assert outcome.error and "names cpu1, but it waits for mmap_lock of A (write)" \
        in outcome.error


def test_random_schedules_replay_from_their_seed():
    body = ("cpu 0\n  write A 0x400000\n  reclaim A 0x400000\ncpu 1\n  write A 0x400000\n"
            "  mprotect A 0x400000 1 r")
    s = scenario(body, schedule="schedule random seed=5 runs=1")
    assert run_once(s, 5).trace == run_once(s, 5).trace
    assert any(run_once(s, seed).trace != run_once(s, 5).trace for seed in range(6, 12))


def test_gup_fast_pin_keeps_the_page_until_unpin():
    out = run("cpu 0\n  read A 0x400000\n  gup_fast A 0x400000 read\n"
              "  munmap A 0x400000 1\n  unpin")
    steps = labels(out)
    assert any(s.endswith(": pinned") for s in steps)
    assert "tlb_flush_mmu: released 1 pages (0 freed), 0 tables" in steps   # still pinned
    assert out.stats["pages_freed"] == 1 and out.stats["gup_pinned"] == 1   # by the unpin
    assert not out.violations


def test_gup_fast_falls_back_on_a_read_only_pte_for_a_write():
    out = run("cpu 0\n  read A 0x400000\n  gup_fast A 0x400000 write\n"
              "  gup_fast A 0x400000 read")
    assert out.stats["gup_fallback"] == 1 and out.stats["gup_pinned"] == 1


def test_gup_fast_interrupts_off_hold_off_an_x86_flush():
    s = parse_scenario(Path(__file__).resolve().parent.parent / "scenarios"
                       / "gup_fast_vs_munmap_x86.scn")
    out = run_once(s)
    steps = [label for _, label in out.trace]
    # munmap frees the tables too, so its flush covers from the freed PUD table's base.
    assert steps.index("gup_fast 0x400000: PTE changed, reference dropped") < \
        steps.index("flush_tlb_mm_range 0x0-0x401000: all acknowledged")
    assert out.stats["gup_fallback"] == 1 and not out.violations


def test_a_violation_found_at_random_replays_from_its_saved_scenario():
    from sw_model.kernel.runner import replay_text
    path = Path(__file__).resolve().parent.parent / "scenarios" / "reclaim_vs_mprotect_buggy.scn"
    text = path.read_text().replace("schedule order", "schedule random seed=1 runs=40\n#")
    result = run_scenario(parse_scenario_text(text))
    flagged = [r for r in result.runs if r.violations]
    print(f"{len(flagged)} of 40 random runs flagged")
    assert flagged, "40 random interleavings never hit the race"
    replayed = run_once(parse_scenario_text(replay_text(text, flagged[0])))
    assert replayed.violations[0] == flagged[0].violations[0]
    assert replayed.trace == flagged[0].trace[:len(replayed.trace)]


def test_mremap_moves_the_page_and_the_old_address_faults():
    out = run("cpu 0\n  write A 0x400000\n  mremap A 0x400000 1 0x600000\n"
              "  read A 0x600000\n  read A 0x400000")
    pas = [s.split("-> ")[1] for s in labels(out) if " -> 0x" in s and s.startswith(("read", "write"))]
    assert len(pas) == 2 and pas[0] == pas[1]
    assert labels(out)[-2].endswith("SIGSEGV") and not out.violations


def test_truncate_unmaps_and_frees_the_page_cache_page():
    out = run("cpu 0\n  read A 0x800000\n  truncate A 0x800000\n  read A 0x800000")
    steps = labels(out)
    assert any(s.startswith("truncate: page") for s in steps)
    reads = [s.split("-> ")[1] for s in steps if s.startswith("read A 0x800000 ->")]
    assert len(reads) == 2 and out.stats["faults"] == 2 and not out.violations


FORK = """scenario f
mm P
  vma 0x400000 1 rw anon
  populate 0x400000 1 write
mm C
cpu 0
  write P 0x400000
  write P 0x400000
cpu 1
  fork P C
  read C 0x400000
schedule order cpu0:op cpu1:op cpu0:op cpu1:op
expect clean
"""


def test_fork_makes_both_sides_copy_on_write():
    out = run_once(parse_scenario_text(FORK))
    parent = [s for s in labels(out) if s.startswith("write P 0x400000 ->")]
    child = [s for s in labels(out, "cpu1") if s.startswith("read C 0x400000 ->")]
    assert parent[0].split("-> ")[1] != parent[1].split("-> ")[1]     # the parent copied
    assert child[0].split("-> ")[1] == parent[0].split("-> ")[1]      # the child kept it
    assert not out.violations


def test_checker_flags_a_fork_that_does_not_flush_the_parent(monkeypatch):
    def no_flush(self, cpu, mm, gens=()):
        yield "flush_tlb_mm skipped (broken)"
    monkeypatch.setattr(Arm64TLBFlush, "flush_tlb_mm", no_flush)
    out = run_once(parse_scenario_text(FORK))
    assert [v.kind for v in out.violations] == ["cow-write"]


LUF_ANON = """scenario l
system cpus=2 reclaim=luf {bug}
mm A
  vma 0x400000 1 rw anon
  populate 0x400000 1 read
cpu 1
  read A 0x400000
  read A 0x400000
cpu 0
  reclaim A 0x400000
  read A 0x400000
schedule order cpu1:op cpu0:op cpu1:op cpu0:op
expect clean
"""


def test_luf_allows_reads_in_its_read_only_window_and_flushes_on_refill():
    out = run_once(parse_scenario_text(LUF_ANON.format(bug="")))
    cpu1 = labels(out, "cpu1")
    freed = next(s for s in labels(out) if s.startswith("shrink_folio_list: freed"))
    assert cpu1[2].split("-> ")[1] == freed.split("freed ")[1]    # a read of the freed page
    assert out.stats["luf_flushes"] == 1 and not out.violations   # flushed at the refill
    assert out.stats["dsb"] == 1


def test_luf_debug_reports_a_refill_before_the_flush():
    out = run_once(parse_scenario_text(LUF_ANON.format(bug="\nbug luf_refill_flush")))
    assert [v.kind for v in out.violations] == ["luf-pte-rewrite"]
    assert "the kernel, at A 0x400000" in out.violations[0].describe()


def test_luf_never_allows_a_write_to_a_freed_page(monkeypatch):
    """The read-only window is for reads: a write through a stale entry to a page LUF
    freed is a use-after-free (made possible here by a reclaim that skips even the
    flush of writable mappings)."""
    text = LUF_ANON.format(bug="").replace("populate 0x400000 1 read",
                                           "populate 0x400000 1 write")
    text = text.replace("  read A 0x400000\n  read A 0x400000",
                        "  write A 0x400000\n  write A 0x400000")
    from sw_model.kernel import rmap
    monkeypatch.setattr(rmap, "try_to_unmap_flush",
                        lambda k, cpu: iter(["try_to_unmap_flush skipped (broken)"]))
    from sw_model.kernel import vmscan
    monkeypatch.setattr(vmscan, "try_to_unmap_flush",
                        lambda k, cpu: iter(["try_to_unmap_flush skipped (broken)"]))
    monkeypatch.setattr(vmscan, "try_to_unmap_flush_dirty",
                        lambda k, cpu: iter(["try_to_unmap_flush_dirty skipped"]))
    out = run_once(parse_scenario_text(text))
    assert [v.kind for v in out.violations] == ["use-after-free"]


def test_luf_with_two_reclaimers_at_once():
    text = """scenario two
system cpus=2 reclaim=luf
mm A
  vma 0x800000 2 r file
  populate 0x800000 2 read
cpu 0
  read A 0x800000
  reclaim A 0x800000
cpu 1
  read A 0x801000
  reclaim A 0x801000
schedule order cpu0:op cpu1:op cpu0:2 cpu1:op cpu0:op
expect clean
"""
    out = run_once(parse_scenario_text(text))
    assert out.error is None and not out.violations
    assert sum("flush deferred" in s for _, s in out.trace) == 2


@pytest.mark.parametrize("reclaim", ["batched", "luf"])
def test_a_fault_never_maps_a_page_cache_page_reclaim_is_freeing(reclaim):
    """Reclaim holds the folio lock from the unmap to __remove_mapping(); a read fault
    that found the page in the page cache waits for it, sees the page gone, and
    retries (before the folio lock, 8 of these 200 interleavings mapped the page
    being freed: a use-after-free)."""
    s = parse_scenario_text(f"""scenario refault
system cpus=3 arch=arm64 reclaim={reclaim} frames=24
mm P
  vma 0x800000 4 r file
  populate 0x800000 4 read
cpu 0
  reclaim P 0x800000
cpu 1
  read P 0x800000
schedule random seed=1 runs=200
expect clean
""")
    result = run_scenario(s)
    assert result.met, result.violation_kinds
    retried = sum("left the page cache, retry" in label
                  for r in result.runs for _, label in r.trace)
    print(f"{retried} of 200 interleavings retried the fault")
    assert retried > 0
