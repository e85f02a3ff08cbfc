"""Randomized lockstep diff of the RTL against the model, and proof that it can fail.

Each run prints its seed and the command that replays it."""
import os

import pytest
from hypothesis import given, settings, strategies as st

from sim.lockstep import describe, run_model, run_rtl

LONG_CYCLES = 100_000


def _replay(sim, seed, cycles):
    return f"replay: shootdown diff --sim {sim} --seed {seed} --cycles {cycles}"


def test_lockstep_100k_cycles(sim, build_root):
    seed = int(os.environ.get("SHOOTDOWN_SEED", "20261122"))
    print(_replay(sim, seed, LONG_CYCLES))
    result = run_rtl(sim, cycles=LONG_CYCLES, seed=seed, build_root=build_root)
    print("\n".join(describe(result)))
    assert result.status == "ok", "\n".join(describe(result))
    assert result.cycles == LONG_CYCLES
    stats = result.stats
    # The stimulus did exercise what the diff is for.
    assert stats["accesses"] > 5000 and stats["invalidates"] > 700
    assert stats["host_writes"] > 700 and stats["mem_cas"] > 50
    assert stats["mem_cas_failed"] > 5         # host writes raced the walker's CAS


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lockstep_other_seeds_without_hw_update(seed, build_root):
    print(_replay("verilator", seed, 20_000) + " --no-hw-update")
    result = run_rtl("verilator", cycles=20_000, seed=seed, build_root=build_root,
                     mmu=dict(ha=False, hd=False, tlb_entries=4))
    assert result.status == "ok", "\n".join(describe(result))


def test_diff_reports_a_broken_rule(sim, build_root):
    """Break the in-flight-walk invalidation rule in the model: the diff stops at the
    first divergence with cycle, signals, seed, and a waveform of the replay."""
    seed = 3
    result = run_rtl(sim, cycles=50_000, seed=seed, bugs=["stale_walk_installs"],
                     build_root=build_root)
    report = "\n".join(describe(result))
    print(report)
    assert result.status == "diverged"
    divergence = result.divergence
    assert divergence["cycle"] == result.cycles > 0
    signals = {s["signal"] for s in divergence["signals"]}
    assert signals & {"resp_valid", "req_ready", "tlb_valid", "mem_req_valid"}
    assert f"seed {seed}" in report and "expected" in report and "actual" in report
    assert result.waves and os.path.getsize(result.waves) > 0


def test_plain_bench_and_model_alone_run(build_root):
    plain = run_rtl("verilator", cycles=5_000, seed=5, mode="plain", build_root=build_root)
    model = run_model(cycles=5_000, seed=5)
    assert plain.status == model.status == "ok"
    # Same seed, same stimulus, whichever side computed the outputs it reacted to.
    assert plain.stats == model.stats


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       rates=st.fixed_dictionaries({
           "access": st.floats(0.05, 1.0), "invalidate": st.floats(0.0, 0.2),
           "host_write": st.floats(0.0, 0.1), "mem_ready": st.floats(0.1, 1.0),
           "max_latency": st.integers(1, 12)}))
def test_lockstep_generated_stimulus_mixes(seed, rates, build_root):
    """Generated mixes: invalidate storms, always-ready or sluggish memory, long latency."""
    print(_replay("verilator", seed, 5_000), "with rates", rates)
    result = run_rtl("verilator", cycles=5_000, seed=seed, rates=rates, build_root=build_root,
                     waves_on_divergence=False)
    assert result.status == "ok", "\n".join(describe(result))


@pytest.mark.parametrize("rates,message", [
    ({"invalidate": 1.5}, "rate invalidate=1.5 is not in"),
    ({"mem_ready": 0}, "stall every walk"),
    ({"max_latency": 0}, "max_latency=0"),
])
def test_bad_stimulus_mix(rates, message):
    with pytest.raises(ValueError, match=message):
        run_rtl("verilator", cycles=10, rates=rates)
