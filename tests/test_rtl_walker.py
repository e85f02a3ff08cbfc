"""The directed walker/TLB cases on the RTL, in lockstep with the model: every fault kind,
every page and block size, contiguous entries, AF/dirty updates racing a descriptor
change, invalidates during walks — on Verilator and on Icarus."""
import pytest

from sim.lockstep import describe, run_rtl
from walk_cases import build_cases, check


@pytest.mark.parametrize("hw_update", [True, False], ids=["hafdbs", "no-hafdbs"])
def test_walk_cases_on_rtl(sim, build_root, hw_update):
    script, cases, _ = build_cases(hw_update)
    result = run_rtl(sim, cycles=50_000, script=script, mmu=dict(ha=hw_update, hd=hw_update),
                     build_root=build_root)
    print("\n".join(describe(result)))
    assert result.status == "ok", describe(result)
    assert len(result.results) == sum(1 for s in script["script"] if "access" in s)
    assert check(result.results, cases) == []
