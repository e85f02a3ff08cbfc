"""x86 per-CPU TLB state (tlbstate_x86.py) and flush_tlb_func()'s generation rules
(tlbflush_x86.py): each rule on a hand-set state, lazy CPUs skipped and catching up,
ASID slots reused, and race 13 (CVE-2025-37964) in its fixed and buggy order."""
from pathlib import Path

import pytest
from hdl.ports import InvalidateOp

from sw_model.golden_backend import GoldenBackend
from sw_model.kernel.kernel import Kernel
from sw_model.kernel.runner import run_once, run_scenario
from sw_model.kernel.scenario_parser import parse_scenario, parse_scenario_text
from sw_model.kernel.tlbflush_x86 import TLB_FLUSH_ALL, FlushTLBInfo
from sw_model.kernel.tlbstate_x86 import LOADED_MM_SWITCHING, TLBContext, pcid_tag
from kernel_helpers import run_random_schedules

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def kernel(cpus=2):
    k = Kernel(GoldenBackend(cpus=cpus, devices=0), arch="x86")
    for name in ("A", "B"):
        k.add_vma(k.create_mm(name), 0x400000, 4, "rw", "anon")
    return k


def load(k, cpu, mm, asid=1, local_gen=None):
    """cpu runs ``mm`` in slot ``asid``, up to date with ``local_gen``."""
    state = k.flush.cs.cpu_tlbstate[cpu]
    state.loaded_mm, state.loaded_mm_asid = mm, asid
    state.ctxs[asid] = TLBContext(mm.asid, mm.tlb_gen if local_gen is None else local_gen)
    mm.cpumask.add(cpu)
    return state


def page(mm, new_gen, va=0x400000, pages=1):
    return FlushTLBInfo(mm, va, va + pages * 0x1000, new_gen)


# flush_tlb_func(): one test per rule.
def test_nothing_to_do_when_the_cpu_already_has_the_new_generation():
    k = kernel()
    a = k.mms["A"]
    a.tlb_gen = 5
    load(k, 1, a, local_gen=5)
    assert k.flush.flush_tlb_func(1, page(a, 4)) == (None, "up to date")
    assert k.flush.flush_tlb_func(1, page(a, 5)) == (None, "up to date")


def test_nothing_to_do_when_the_cpu_is_at_the_mms_generation():
    """A flush IPI that arrives after an earlier one caught the CPU all the way up."""
    k = kernel()
    a = k.mms["A"]
    a.tlb_gen = 7
    state = load(k, 1, a, local_gen=7)
    info = FlushTLBInfo(None, 0, TLB_FLUSH_ALL, None)     # no generation: batched
    assert k.flush.flush_tlb_func(1, info) == (None, "up to date")
    assert state.ctxs[1].tlb_gen == 7


@pytest.mark.parametrize("pages, op", [(1, InvalidateOp.VAE1), (3, InvalidateOp.RVAE1)])
def test_partial_flush_only_from_one_behind_to_the_latest(pages, op):
    k = kernel()
    a = k.mms["A"]
    a.tlb_gen = 4
    state = load(k, 1, a, local_gen=3)
    inv, outcome = k.flush.flush_tlb_func(1, page(a, 4, pages=pages))
    assert outcome == "partial" and inv.op == op and inv.asid == pcid_tag(1, 1)
    assert inv.va == 0x400000 and state.ctxs[1].tlb_gen == 4


def test_full_flush_when_an_earlier_generation_is_still_missing():
    """tlb.c's example: a full flush (gen 2) and a partial one (gen 3) handled in
    reverse order. The partial one must not claim gen 3 without gen 2's full flush."""
    k = kernel()
    a = k.mms["A"]
    a.tlb_gen = 3
    state = load(k, 1, a, local_gen=1)
    inv, outcome = k.flush.flush_tlb_func(1, page(a, 3))
    assert outcome == "full" and inv.op == InvalidateOp.ASIDE1 and inv.asid == pcid_tag(1, 1)
    assert state.ctxs[1].tlb_gen == 3
    # The full flush's IPI, handled second, has nothing left to do.
    assert k.flush.flush_tlb_func(1, FlushTLBInfo(a, 0, TLB_FLUSH_ALL, 2)) == (None, "up to date")


def test_full_flush_when_the_partial_one_would_not_reach_the_latest():
    k = kernel()
    a = k.mms["A"]
    a.tlb_gen = 6
    load(k, 1, a, local_gen=4)
    assert k.flush.flush_tlb_func(1, page(a, 5))[1] == "full"


def test_full_flush_when_the_whole_mm_is_asked():
    k = kernel()
    a = k.mms["A"]
    a.tlb_gen = 2
    load(k, 1, a, local_gen=1)
    assert k.flush.flush_tlb_func(1, FlushTLBInfo(a, 0, TLB_FLUSH_ALL, 2))[1] == "full"


def test_a_cpu_running_another_mm_leaves_the_mms_cpumask():
    k = kernel()
    a, b = k.mms["A"], k.mms["B"]
    load(k, 1, b)
    a.cpumask.add(1)
    assert k.flush.flush_tlb_func(1, page(a, 2)) == (None, "not loaded")
    assert 1 not in a.cpumask and 1 in b.cpumask


def test_a_lazy_cpu_that_gets_the_ipi_switches_to_init_mm():
    k = kernel()
    a = k.mms["A"]
    state = load(k, 1, a)
    state.is_lazy = True
    assert k.flush.flush_tlb_func(1, page(a, a.tlb_gen + 1)) == (None, "lazy: leave_mm")
    assert state.loaded_mm is None and not state.is_lazy


# should_flush_tlb(): who gets the IPI.
def test_should_flush_tlb_skips_lazy_cpus_and_cpus_running_another_mm():
    k = kernel(cpus=4)
    a, b = k.mms["A"], k.mms["B"]
    load(k, 0, a)
    load(k, 1, a).is_lazy = True
    load(k, 2, b)
    info = page(a, 2)
    assert [k.flush.should_flush_tlb(c, info) for c in range(3)] == [True, False, False]
    assert k.stats["x86_ipis_skipped_lazy"] == 1 and k.stats["x86_ipis_skipped_not_loaded"] == 1
    # Freed page tables: native_flush_tlb_multi() IPIs the lazy CPU too.
    assert k.flush.should_flush_tlb(1, FlushTLBInfo(None, 0, TLB_FLUSH_ALL, None)) is False


@pytest.mark.parametrize("fixed", [True, False])
def test_should_flush_tlb_and_a_cpu_inside_switch_mm(fixed):
    k = kernel()
    k.fixes["switch_mm_window"] = fixed
    a = k.mms["A"]
    k.flush.cs.cpu_tlbstate[1].loaded_mm = LOADED_MM_SWITCHING
    assert k.flush.should_flush_tlb(1, page(a, 2)) is fixed


# Whole runs.
def run(text, expect="clean"):
    s = parse_scenario_text(text + f"\nexpect {expect}\n")
    out = run_once(s)
    assert out.error is None, out.error
    return out


TWO_MMS = """scenario t
system cpus=2 arch=x86
mm A
  vma 0x400000 2 rw anon
  populate 0x400000 2 write
mm B
  vma 0x400000 1 rw anon
  populate 0x400000 1 write
"""


def test_a_lazy_cpu_is_skipped_and_catches_up_when_it_switches_back():
    out = run(TWO_MMS + "cpu 1\n  read A 0x400000\n  kthread\n  switch_mm A\n"
              "  read A 0x400000\ncpu 0\n  munmap A 0x400000 1\n"
              "schedule order cpu1:op cpu1:op cpu0:op cpu1:op")
    s = out.stats
    assert s["x86_ipis_skipped_lazy"] == 1 and s["ipis"] == 0
    assert s["x86_lazy_catchup_flushes"] == 1
    steps = [label for _, label in out.trace]
    assert "switch_mm_irqs_off A: leaves lazy TLB mode, flushed to tlb_gen 2" in steps
    assert "read A 0x400000: translation fault at level 3" in steps
    assert not out.violations


def test_a_lazy_cpu_with_nothing_missed_returns_without_a_flush():
    out = run(TWO_MMS + "cpu 1\n  read A 0x400000\n  kthread\n  switch_mm A")
    assert out.stats["x86_lazy_catchup_flushes"] == 0
    assert ("cpu1", "switch_mm_irqs_off A: leaves lazy TLB mode, up to date") in out.trace


def test_a_cpu_running_another_mm_is_skipped_and_flushes_its_slot_when_back():
    out = run(TWO_MMS + "cpu 1\n  read A 0x400000\n  switch_mm B\n  switch_mm A\n"
              "  read A 0x400000\ncpu 0\n  munmap A 0x400000 1\n"
              "schedule order cpu1:op cpu1:op cpu0:op cpu1:op")
    s = out.stats
    assert s["x86_ipis_skipped_not_loaded"] == 1 and s["ipis"] == 0
    assert ("cpu1", "switch_mm_irqs_off A: loaded_mm = LOADED_MM_SWITCHING, tlb_gen 2, "
            "asid 1 (stale: flush)") in out.trace
    assert not out.violations


def test_a_target_one_generation_behind_flushes_the_page_else_everything():
    """cpu1 misses MADV_DONTNEED's flush of page 0 while running B; back on A, the switch
    flushes the slot; the next one is one generation ahead: a partial flush."""
    out = run(TWO_MMS + "cpu 1\n  read A 0x400000\n  switch_mm B\n  read A 0x401000\n"
              "cpu 0\n  switch_mm A\n  madvise_dontneed A 0x400000 1\n  madvise_dontneed A 0x401000 1\n"
              "schedule order cpu1:op cpu1:op cpu0:op cpu0:op cpu1:op cpu0:op")
    s = out.stats
    assert s["x86_partial_flushes"] == 3          # cpu0 twice (locally), cpu1 once
    assert s["ipi_invalidates_VAE1"] == 1 and s["ipis"] == 1
    assert s["x86_switch_flushes"] == 4           # cpu1: A, B, A again; cpu0: A
    assert not out.violations


def test_asid_slots_are_reused_round_robin_and_flushed():
    """One CPU runs seven processes that map different pages at the same address: the
    sixth takes slot 0, the seventh evicts the first from slot 1, and the first, back,
    gets slot 2 flushed. Every read reaches its own process's page."""
    names = [f"P{i}" for i in range(7)]
    text = "scenario t\nsystem cpus=1 arch=x86\n" + "".join(
        f"mm {n}\n  vma 0x400000 1 rw anon\n  populate 0x400000 1 write\n" for n in names)
    order = names + ["P0", "P6"]
    out = run(text + "cpu 0\n" + "".join(f"  switch_mm {n}\n  read {n} 0x400000\n"
                                          for n in order))
    k_pages = {}
    for agent, label in out.trace:
        if label.startswith("read P") and "->" in label:
            mm, pa = label.split()[1], label.split("-> ")[1]
            assert k_pages.setdefault(mm, pa) == pa
    assert len(set(k_pages.values())) == 7
    slots = [label.split("asid ")[1].split()[0] for _, label in out.trace
             if label.startswith("switch_mm_irqs_off") and "SWITCHING" in label]
    assert slots == ["1", "2", "3", "4", "5", "0", "1", "2", "1"]
    assert out.stats["x86_switch_flushes"] == 8 and out.stats["x86_switch_noflush"] == 1
    assert not out.violations


def test_switching_back_to_an_up_to_date_slot_does_not_flush():
    out = run(TWO_MMS + "cpu 0\n  read A 0x400000\n  read B 0x400000\n  read A 0x400000")
    assert out.stats["x86_switch_flushes"] == 2 and out.stats["x86_switch_noflush"] == 1
    assert out.stats["hw_tlb_fills"] == 2          # A's entry survived the trip to B


def test_a_flush_ipi_to_a_cpu_inside_switch_mm_flushes_the_slot_it_loads():
    """The IPI is decided from the state after the switch: the new slot's PCID, and
    the slot's generation moves up with it."""
    k = kernel()
    a = k.mms["A"]
    steps = k.flush.switch_mm(1, a)
    next(steps)                                   # loaded_mm = LOADED_MM_SWITCHING
    state = k.flush.cs.cpu_tlbstate[1]
    assert state.loaded_mm == LOADED_MM_SWITCHING and state.settled() == (a, 1)
    a.tlb_gen += 1
    inv, outcome = k.flush.flush_tlb_func(1, page(a, a.tlb_gen))
    assert outcome == "partial" and inv.asid == pcid_tag(1, 1)
    list(steps)
    assert state.loaded_mm is a and state.ctxs[1].tlb_gen == a.tlb_gen


@pytest.mark.parametrize("name, expect", [("x86_switch_mm_window", "clean"),
                                          ("x86_switch_mm_window_buggy", "use-after-free")])
def test_race_13_switch_mm_window(name, expect):
    s = parse_scenario(SCENARIOS / f"{name}.scn")
    assert s.expect == expect
    out = run_once(s)
    assert [v.kind for v in out.violations] == ([] if expect == "clean" else [expect])
    steps = [label for _, label in out.trace]
    if expect == "clean":
        assert "flush_tlb_mm_range 0x400000-0x401000: local flush_tlb_func (partial), " \
            "IPI to cpus [1] (partial)" in steps
    else:
        assert out.stats["x86_ipis_skipped_not_loaded"] == 1 and out.stats["ipis"] == 0
        assert out.violations[0].agent == "cpu1"


STORM = """scenario storm
system cpus=3 arch=x86
mm A
  vma 0x400000 4 rw anon
  populate 0x400000 4 write
mm B
  vma 0x400000 2 rw anon
  populate 0x400000 2 write
cpu 0
  read A 0x400000
  munmap A 0x400000 1
  switch_mm B
  madvise_dontneed B 0x400000 1
  read A 0x402000
cpu 1
  read A 0x401000
  kthread
  read A 0x401000
  read B 0x401000
  read A 0x403000
cpu 2
  read B 0x400000
  switch_mm A
  munmap A 0x401000 2
  read B 0x401000
"""


def test_random_interleavings_of_switches_lazy_cpus_and_flushes_are_clean():
    run_random_schedules(STORM)


def test_the_buggy_window_is_found_at_random():
    """Without the fix, some random interleaving of race 13's operations is caught."""
    text = (SCENARIOS / "x86_switch_mm_window_buggy.scn").read_text()
    text = text.replace("schedule order", "schedule random seed=1 runs=60\n#")
    result = run_scenario(parse_scenario_text(text))
    flagged = [r.seed for r in result.runs if r.violations]
    print(f"{len(flagged)} of 60 random runs flagged: seeds {flagged[:5]}")
    assert flagged


def test_device_tlbs_keep_the_mms_own_asid():
    k = kernel()
    a = k.mms["A"]
    assert a.asid < 0x100 <= pcid_tag(0, 0)
