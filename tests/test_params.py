"""Illegal parameters are refused at construction with a clear ValueError."""
import gc

import pytest

from hdl.mmu import MMU
from hdl.tlb import TLB
from hdl.walker import PageTableWalker
from sw_model.mmu_ref import MMURef
from sw_model.tlb_ref import TLBRef

# A component whose constructor refuses its parameters is never elaborated, by design.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


@pytest.mark.parametrize("entries,message", [
    (3, "between 4 and 64, not 3"), (65, "between 4 and 64, not 65"),
    ("16", "must be an integer"), (True, "must be an integer"), (8.0, "must be an integer"),
])
@pytest.mark.parametrize("cls", [TLB, TLBRef])
def test_tlb_entries(cls, entries, message):
    with pytest.raises(ValueError, match=message):
        cls(entries)
    gc.collect()      # the refused component goes now, inside the warning filter


@pytest.mark.parametrize("kwargs,message", [
    (dict(pa_bits=31), "pa_bits must be an integer from 32 to 48"),
    (dict(pa_bits=49), "pa_bits must be an integer from 32 to 48"),
    (dict(pa_bits="40"), "pa_bits"),
    (dict(ha=False, hd=True), "needs hardware access flag update"),
])
@pytest.mark.parametrize("cls", [PageTableWalker, MMU, MMURef])
def test_walker_params(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)
    gc.collect()


def test_unknown_model_bug():
    with pytest.raises(ValueError, match="unknown model bug"):
        MMURef(bugs=["everything"])


@pytest.mark.parametrize("entries", [4, 13, 64])
def test_legal_sizes_elaborate(entries):
    from hdl.export import to_verilog
    assert "module mmu" in to_verilog(MMU(tlb_entries=entries), "mmu")
