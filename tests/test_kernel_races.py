"""Races 1 and 7 and LUF_DEBUG on a uprobe: PAE pmd reads and CONFIG_HIGHPTE (pae.py,
lockless.py), hugetlb PMD sharing (hugetlb.py), uprobe_write_opcode() (uprobes.py)."""
from pathlib import Path

import pytest

from sw_model.golden_backend import GoldenBackend
from sw_model.kernel.hugetlb import PUD_SIZE, SUBPAGES, _pud_table
from sw_model.kernel.kernel import Kernel
from sw_model.kernel.page_alloc import HIGHMEM_OFFSET
from sw_model.kernel.pae import pae_pmd_read
from sw_model.kernel.runner import run_once, run_scenario
from sw_model.kernel.scenario import ScenarioError
from sw_model.kernel.scenario_parser import parse_scenario, parse_scenario_text
from kernel_helpers import drain, labels

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
HUGE = 0x4000_0000                      # the PUD range 1 GB - 2 GB


# Race 1: PAE pmd reads, CONFIG_HIGHPTE.
def highpte_kernel(**fixes):
    k = Kernel(GoldenBackend(cpus=2, devices=0), arch="x86", frames=8, pae=True,
               highpte=True, fixes=fixes)
    mm = k.create_mm("A")
    k.add_vma(mm, 0x200000, 1, "rw", "anon")
    k.add_vma(mm, 0x400000, 1, "rw", "anon")
    k.populate(mm, 0x200000, write=True)
    return k, mm


def test_highpte_puts_pte_tables_above_4gb_and_the_upper_levels_below():
    k, mm = highpte_kernel()
    pmdp = k.pgtables.pmd_offset(mm.root, 0x200000)
    pte_table = k.pgtables.backend.read(pmdp) & 0xFFFF_FFFF_F000
    assert pte_table >= HIGHMEM_OFFSET and k.pgtables.is_pte_table_of(pte_table, mm.root,
                                                                      0x200000)
    assert mm.root < HIGHMEM_OFFSET and pmdp < HIGHMEM_OFFSET
    assert not k.pgtables.is_pte_table_of(pte_table, mm.root, 0x400000)


@pytest.mark.parametrize("fixed", [True, False])
def test_a_populate_between_the_pmd_loads_is_none_or_torn(fixed):
    k, mm = highpte_kernel(pmd_read_atomic=fixed)
    pmdp = k.pgtables.pmd_offset(mm.root, 0x400000)
    gen = pae_pmd_read(k, pmdp)
    assert ("pmd_low" if fixed else "pmd_high") in next(gen)
    k.pgtables.pte_offset(mm.root, 0x400000, alloc=True)      # another CPU's populate
    new = k.pgtables.backend.read(pmdp)
    assert new >> 32                                          # a table above 4 GB
    pmd = drain(gen)[1]
    assert pmd == (0 if fixed else new & 0xFFFF_FFFF)


def test_a_populated_pmd_is_read_whole_by_pmd_read_atomic():
    k, mm = highpte_kernel()
    pmdp = k.pgtables.pmd_offset(mm.root, 0x200000)
    assert drain(pae_pmd_read(k, pmdp))[1] == k.pgtables.backend.read(pmdp)


def test_race_1_walks_the_page_4gb_below_the_new_table():
    result = run_scenario(parse_scenario(SCENARIOS / "pae_torn_read_buggy.scn"))
    [v] = result.runs[0].violations
    assert (v.kind, v.agent, v.va) == ("wrong-page-table", "cpu0", 0x400000)
    # The page walked is the pmd table itself (the pmd for 0x400000 is its entry 2).
    assert labels(result.runs[0])[0].startswith(f"*pmdp {v.pa + 2 * 8:#x}: pmd_high = 0x0")
    assert v.pa < HIGHMEM_OFFSET


def test_highpte_needs_pae():
    with pytest.raises(ScenarioError, match="highpte=on needs pae=on"):
        parse_scenario_text("scenario t\nsystem arch=x86 highpte=on\ncpu 0\n  irq_off\n"
                            "expect clean\n")


# Race 7: hugetlb PMD sharing.
def hugetlb_kernel(mms=("A", "B"), **fixes):
    k = Kernel(GoldenBackend(cpus=2, devices=0), arch="x86", frames=1024, fixes=fixes)
    for name in mms:
        mm = k.create_mm(name)
        k.add_vma(mm, HUGE, PUD_SIZE // 0x1000, "rw", "hugetlb")
        k.populate(mm, HUGE, write=False)
    return k


def pud_table(k, name):
    return _pud_table(k, k.mms[name], HUGE)


def test_a_second_mm_shares_the_first_ones_pmd_table_and_its_pages():
    k = hugetlb_kernel()
    table = pud_table(k, "A")
    assert pud_table(k, "B") == table and k.hugetlbfs.sharers[table] == ["A", "B"]
    head = k.hugetlbfs.pages[HUGE][0]
    assert {("A", HUGE), ("B", HUGE)} <= head.rmap and head.kind == "file"
    assert len(k.hugetlbfs.pages[HUGE]) == SUBPAGES


@pytest.mark.parametrize("fixed", [True, False])
def test_unshare_leaves_the_table_to_the_other_mm_and_flushes_only_when_fixed(fixed):
    text = (SCENARIOS / "huge_pmd_unshare.scn").read_text()
    if not fixed:
        text = text.replace("system cpus=2 arch=x86 frames=1024",
                            "system cpus=2 arch=x86 frames=1024\nbug hugetlb_unshare_flush")
    outcome = run_once(parse_scenario_text(text))
    steps = labels(outcome, "cpu0")
    assert any(s.startswith("huge_pmd_unshare 0x40000000: pud cleared") and
               s.endswith("left to B" + ("; tlb_flush_pmd_range" if fixed else ""))
               for s in steps)
    assert [v.kind for v in outcome.violations] == ([] if fixed else ["stale-translation"])
    cpu1 = labels(outcome, "cpu1")
    if fixed:             # the flush took the 2 MB entry: the read walks, and faults
        assert "do_page_fault 0x40001000: SIGSEGV" in cpu1
    else:                 # the 2 MB entry survived the munmap
        assert cpu1[-1] == "read A 0x40001000 -> 0x201000  VIOLATION stale-translation"


def test_an_unshared_table_is_cleared_block_by_block_and_freed():
    k = hugetlb_kernel(mms=("A",))
    table = pud_table(k, "A")
    steps = drain(k.operation("cpu0", ("cpu", 0), "munmap", ["A", HUGE, PUD_SIZE // 0x1000]))[0]
    assert any("1 huge pmds cleared" in s for s in steps)
    assert k.allocator.folio_at(table).kind == "free"
    assert not k.hugetlbfs.pages[HUGE][0].rmap      # the page stays in the page cache


def test_hugetlb_vmas_are_whole_2mb_pages():
    base = "scenario t\nmm A\n  vma {} {} rw hugetlb\ncpu 0\n  read A 0x40000000\nexpect clean\n"
    with pytest.raises(ScenarioError, match="a hugetlb VMA maps whole 2 MB pages"):
        parse_scenario_text(base.format("0x40001000", 512))
    with pytest.raises(ScenarioError, match="a multiple of 512"):
        parse_scenario_text(base.format("0x40000000", 100))


def test_too_few_frames_for_a_hugetlb_page_is_a_clear_run_error():
    outcome = run_once(parse_scenario_text(
        "scenario t\nsystem frames=64\nmm A\n  vma 0x40000000 512 rw hugetlb\n"
        "cpu 0\n  read A 0x40000000\nexpect clean\n"))
    assert outcome.error.startswith("no free 2 MB run of frames for the hugetlb page")


# LUF_DEBUG on a uprobe's __replace_page().
def text_kernel(reclaim="batched", **fixes):
    k = Kernel(GoldenBackend(cpus=2, devices=0), arch="x86", reclaim=reclaim, fixes=fixes)
    mm = k.create_mm("P")
    k.add_vma(mm, 0x400000, 1, "rx", "file")
    k.populate(mm, 0x400000, write=False)
    return k, mm


def mapped(k, mm):
    ptep = k.pgtables.pte_offset(mm.root, 0x400000)
    return k.allocator.folio_at(k.pgtables.ptep_get(ptep) & 0xFFFF_FFFF_F000)


def test_a_uprobe_maps_an_anonymous_copy_and_keeps_the_page_cache_page():
    k, mm = text_kernel()
    cached = mapped(k, mm)
    steps = drain(k.operation("cpu0", ("cpu", 0), "uprobe", ["P", 0x400000]))[0]
    copy = mapped(k, mm)
    assert copy is not cached and copy.kind == "anon"
    assert ("P", 0x400000) in copy.rmap and not cached.rmap
    assert k.page_cache_lookup(mm, mm.vmas[0], 0x400000) is cached
    assert steps[-1].startswith("__replace_page 0x400000:")
    # Reclaim now takes the copy, the page the PTE maps.
    drain(k.operation("cpu0", ("cpu", 0), "reclaim", ["P", 0x400000]))
    assert copy.kind == "free" and cached.kind == "file"


def test_a_uprobe_on_a_writable_mapping_is_refused():
    k = Kernel(GoldenBackend(cpus=1, devices=0), arch="x86")
    mm = k.create_mm("P")
    k.add_vma(mm, 0x400000, 1, "rw", "anon")
    steps = drain(k.operation("cpu0", ("cpu", 0), "uprobe", ["P", 0x400000]))[0]
    assert steps == ["uprobe_write_opcode 0x400000: -EINVAL (not a read-only file mapping)"]


@pytest.mark.parametrize("name,kinds", [("luf_replace_page", []),
                                        ("luf_replace_page_buggy", ["luf-pte-rewrite"])])
def test_luf_replace_page_pair(name, kinds):
    result = run_scenario(parse_scenario(SCENARIOS / f"{name}.scn"))
    assert result.met and result.violation_kinds == kinds
    outcome = result.runs[0]
    # The LUF'd PTE is first rewritten by the uprobe's fault-in; only the fixed kernel
    # flushes the deferred batch there (inside that step).
    assert "uprobe_write_opcode 0x400000: get_user_pages_remote faults it in" in \
        labels(outcome)
    assert outcome.stats["luf_flushes"] == (0 if kinds else 1)
    if kinds:
        assert labels(outcome)[-1] == "do_fault 0x400000: set_pte_at ro -> 0x104000"


def test_uprobe_is_an_operation_the_parser_checks():
    with pytest.raises(ScenarioError, match="uprobe"):
        parse_scenario_text("scenario t\nmm P\n  vma 0x400000 1 rx file\ncpu 0\n"
                            "  uprobe P\nexpect clean\n")
