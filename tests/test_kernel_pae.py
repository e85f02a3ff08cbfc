"""x86 PAE torn reads (sw_model/kernel/pae.py): highmem frames, ptep_get_lockless()'s
low/high/low-again loads, a torn PTE caught by GUP-fast's re-check, and race 1
(CVE-2012-2373, a torn pmd) as a scenario pair."""
from pathlib import Path

import pytest

from sw_model.golden_backend import GoldenBackend
from sw_model.kernel.kernel import Kernel
from sw_model.kernel.page_alloc import HIGHMEM_OFFSET
from sw_model.kernel.pae import pae_ptep_get_lockless
from sw_model.kernel.pgtable import mk_pte
from sw_model.kernel.runner import run_scenario
from sw_model.kernel.scenario import ScenarioError
from sw_model.kernel.scenario_parser import parse_scenario, parse_scenario_text
from kernel_helpers import drain

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def pae_kernel(**fixes):
    k = Kernel(GoldenBackend(cpus=2, devices=0), arch="x86", frames=8, pae=True,
               fixes=fixes)
    mm = k.create_mm("A")
    k.add_vma(mm, 0x400000, 1, "rw", "anon")
    k.populate(mm, 0x400000, write=True)
    return k, mm, k.pgtables.pte_offset(mm.root, 0x400000)


def test_user_pages_come_from_highmem_and_tables_from_below_4gb():
    k, mm, ptep = pae_kernel()
    page = k.allocator.folio_at(k.pgtables.ptep_get(ptep) & 0xFFFFFFFFF000)
    assert page.kind == "anon" and page.pa >= HIGHMEM_OFFSET
    assert ptep < HIGHMEM_OFFSET and mm.root < HIGHMEM_OFFSET
    # The page below 4 GB at the user page's offset is the page-table root.
    assert k.allocator.folio_at(page.pa - HIGHMEM_OFFSET).pa == mm.root


@pytest.mark.parametrize("fixed", [True, False])
def test_a_store_between_the_halves_is_retried_or_torn(fixed):
    k, mm, ptep = pae_kernel(pae_lockless_retry=fixed)
    old = k.pgtables.ptep_get(ptep)
    gen = pae_ptep_get_lockless(k, ptep)
    assert "pte_low" in next(gen)
    k.pgtables.set_pte_at(ptep, 0)               # another CPU clears the PTE
    labels, pte = drain(gen)
    if fixed:
        assert any("retry" in label for label in labels) and pte == 0
    else:
        assert pte == old & 0xFFFFFFFF and pte != old    # old low half, new high half


def test_without_a_store_one_pass_reads_the_pte():
    k, mm, ptep = pae_kernel()
    labels, pte = drain(pae_ptep_get_lockless(k, ptep))
    assert pte == k.pgtables.ptep_get(ptep) and len(labels) == 2


def test_ordered_set_is_never_torn():
    """native_set_pte() stores high then low: a reader that loaded the old low half
    sees it change, so the new value is read whole on the retry."""
    k, mm, ptep = pae_kernel()
    new = mk_pte(0x1_0010_5000, write=True, dirty=True)
    gen = pae_ptep_get_lockless(k, ptep)
    next(gen)
    old = k.pgtables.ptep_get(ptep)
    k.pgtables.set_pte_at(ptep, new >> 32 << 32 | old & 0xFFFFFFFF)   # high half first
    next(gen)
    k.pgtables.set_pte_at(ptep, new)                                  # then low
    assert drain(gen)[1] == new


#: Race 1's torn read at the PTE level: GUP-fast on cpu0 loads pte_low of a page above
#: 4 GB, cpu1's MADV_DONTNEED clears the PTE, cpu0 loads pte_high = 0. Without the
#: retry the torn pair names the page at the same offset below 4 GB, the pgd.
PTE_TORN_READ = """scenario pae-torn-pte
system cpus=2 arch=x86 pae=on frames=8
{bug}
mm A
  vma 0x400000 1 rw anon
  populate 0x400000 1 write
cpu 0
  read A 0x400000
  gup_fast A 0x400000 read
cpu 1
  madvise_dontneed A 0x400000 1
schedule order cpu0:op cpu0:2 cpu1:4 cpu0:op
expect clean
"""


@pytest.mark.parametrize("bug", ["", "bug pae_lockless_retry"])
def test_a_torn_pte_is_retried_or_dropped_by_the_recheck(bug):
    """With the retry the torn pair is never taken; without it GUP-fast grabs a
    reference on the pgd and its re-check drops it before anything reads the page:
    clean either way (the PTE-level re-check catches what the pmd-level race 1 did not
    have)."""
    result = run_scenario(parse_scenario_text(PTE_TORN_READ.format(bug=bug)))
    assert result.met and result.violation_kinds == []
    labels = [label for _, label in result.runs[0].trace]
    grabs = [i for i, label in enumerate(labels) if "try_grab_folio 0x100000" in label]
    if bug:
        assert "reference dropped" in labels[grabs[0] + 1]
    else:
        assert not grabs and any("retry" in label for label in labels)


@pytest.mark.parametrize("name,expect", [("pae_torn_read", "clean"),
                                         ("pae_torn_read_buggy", "wrong-page-table")])
def test_race_1_pair(name, expect):
    result = run_scenario(parse_scenario(SCENARIOS / f"{name}.scn"))
    assert result.met and result.scenario.expect == expect
    assert result.violation_kinds == ([] if expect == "clean" else [expect])


def test_pae_needs_x86():
    with pytest.raises(ScenarioError, match="pae=on needs arch=x86"):
        parse_scenario_text("scenario t\nsystem pae=on\ncpu 0\n  irq_off\nexpect clean\n")
