"""Synthesis smoke: the MMU top through YoWASP Yosys for iCE40 and ECP5."""
import pytest

from sim.synth import SynthesisError, synthesize
from hdl.tlb import TLBEntry
from amaranth.lib import data


@pytest.mark.parametrize("target", ["ice40", "ecp5"])
def test_mmu_synthesizes(target, build_root):
    entries = 4
    r = synthesize(target, dict(tlb_entries=entries), build_root / f"synth-{target}")
    print(target, {k: v for k, v in r.items() if k != "cells"})
    entry_bits = data.Layout.cast(TLBEntry).size + 1          # + its valid bit
    assert r["FF"] >= entries * entry_bits                    # the TLB did not vanish
    assert r["LUT"] > 500
    assert r["BRAM"] == 0                                     # the TLB is registers


def test_unknown_target(tmp_path):
    with pytest.raises(SynthesisError, match="unknown target 'xc7'"):
        synthesize("xc7", {}, tmp_path)
