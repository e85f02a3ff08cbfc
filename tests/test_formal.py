"""Bounded model checks (SymbiYosys, yices) of the TLB invalidate semantics and the MMU's
in-flight-walk rule, from the initial state, with every input free."""
from amaranth.hdl import Assert

from formal_mmu import MMUWalkProperties
from formal_tlb import TLBInvalidateProperties
from sim.formal import prove

TLB_DEPTH = 10
# 16 cycles hold a whole four-level walk with its compare-and-swap (five memory
# operations of at least two cycles each) and invalidates anywhere in it.
MMU_DEPTH = 16


def _report(result):
    return f"{result.status} ({result.mode}, depth {result.depth}): " \
           f"{result.failed_assertions or 'no failed assertion'}; see {result.workdir}"


def test_tlb_invalidate_leaves_nothing_named(build_root):
    result = prove(TLBInvalidateProperties(entries=4), build_root / "formal-tlb",
                   depth=TLB_DEPTH)
    assert result.status == "PASS", _report(result)


def test_mmu_walk_fills_only_what_no_invalidate_names(build_root):
    result = prove(MMUWalkProperties(tlb_entries=4), build_root / "formal-mmu",
                   depth=MMU_DEPTH)
    assert result.status == "PASS", _report(result)


def test_mmu_walk_ignores_no_earlier_invalidate(build_root):
    result = prove(MMUWalkProperties(tlb_entries=4, watched=True),
                   build_root / "formal-mmu-watched", depth=MMU_DEPTH)
    assert result.status == "PASS", _report(result)


class _NeverFills(MMUWalkProperties):
    """A false claim: the solver must find a walk that fills the TLB."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += Assert(~self._mmu.tlb.fill_en)
        return m


def test_formal_harness_finds_a_counterexample(build_root):
    result = prove(_NeverFills(tlb_entries=4),
                   build_root / "formal-canary", depth=MMU_DEPTH)
    assert result.status == "FAIL"
    assert result.failed_assertions
