"""Kernel scenarios on the RTL (``shootdown run --backend rtl``): the rtl backend runs the
Amaranth system in lockstep with the model, every output compared every cycle.

CI runs a fast subset, on both simulators: scenarios of two system configurations (two
builds per simulator) that between them use x86 shootdowns, arm64 broadcast invalidates
and syncs, page-table freeing, 64 KB contpte TLB entries, a device TLB and its notifier
invalidates. ``SHOOTDOWN_RTL_SCENARIOS=all python -m pytest tests/test_rtl_scenarios.py``
runs every shipped scenario (docs/scenarios.md)."""
import os
from pathlib import Path

import pytest

from sim.cli import main
from sim.rtl_run import run_on_rtl
from sim.trace_mode import run_trace
from sw_model.kernel.runner import run_scenario
from sw_model.kernel.scenario_parser import parse_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
FAST = ["reclaim_vs_mprotect_buggy", "x86_irqs_off_shootdown", "parallel_dontneed_buggy",
        "gup_fast_vs_free_pgtables_buggy", "pfnmap_munmap_buggy", "contpte_dirty_buggy",
        "device_munmap", "smmu_upgrade"]
SELECTED = sorted(p.stem for p in SCENARIOS.glob("*.scn")) \
    if os.environ.get("SHOOTDOWN_RTL_SCENARIOS") == "all" else FAST


@pytest.mark.parametrize("name", SELECTED)
def test_shipped_scenario_on_rtl(name, sim, build_root):
    scenario = parse_scenario(SCENARIOS / f"{name}.scn")
    rtl = run_on_rtl(scenario, sim=sim, build_root=build_root)
    assert rtl.divergence is None, rtl.divergence
    assert rtl.met, rtl.summary
    # The same runs as on the golden backend: cycle for cycle, verdict for verdict.
    golden = run_scenario(scenario)
    assert rtl.cycles == sum(r.cycles for r in golden.runs)
    assert rtl.report["observed"] == (golden.violation_kinds or ["clean"])


def test_a_hardware_fault_is_a_divergence_with_its_step_and_a_waveform(build_root):
    """drop_ack: the first acknowledgement from the last target is lost, so munmap's
    sync never completes on the RTL. Lockstep reports where, with a waveform; trace
    mode reports the same first divergence."""
    scenario = parse_scenario(SCENARIOS / "device_munmap.scn")
    rtl = run_on_rtl(scenario, faults={"drop_ack"}, waves_on_divergence=True,
                     build_root=build_root)
    d = rtl.divergence
    assert d is not None and not rtl.met
    assert "in step 8 (cpu0: munmap A 0x400000 1)" in d["where"]
    assert [s["signal"] for s in d["signals"]] == ["done"]
    assert rtl.waves and Path(rtl.waves).stat().st_size > 0
    trace = run_trace(scenario, faults={"drop_ack"}, build_root=build_root).divergence
    assert (trace.cycle, trace.step, trace.agent) == (d["cycle"], 8, "cpu0")
    assert [(s, e, a) for s, e, a in trace.signals] == \
        [(s["signal"], s["expected"], s["actual"]) for s in d["signals"]]


def test_run_on_rtl_bad_arguments_are_one_line_errors(capsys, tmp_path):
    path = str(SCENARIOS / "parallel_dontneed.scn")
    cases = [(["--sim", "icarus"], "--sim is for --backend rtl"),
             (["--diff"], "--diff is for --backend rtl"),
             (["--backend", "rtl", "--rtl-fault", "nope"], "unknown fault(s) ['nope']"),
             (["--backend", "rtl", "--save-violation", str(tmp_path / "v.scn")],
              "--save-violation needs the golden backend")]
    for extra, message in cases:
        assert main(["run", path, *extra]) == 2, extra
        assert message in capsys.readouterr().err
