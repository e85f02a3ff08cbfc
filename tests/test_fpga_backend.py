"""The fpga backend without a board: the host SoC's RTL (UART, host bridge, system,
block RAM) in cocotb, driven byte by byte through its UART pins by the same host code
that drives a board. One build per simulator (the 2-CPU system of the scenario)."""
from pathlib import Path

import pytest

from sim.bridge_run import run_bridge_bench
from sw_model.kernel.runner import run_scenario
from sw_model.kernel.scenario_parser import parse_scenario

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "reclaim_vs_mprotect.scn"


def test_a_shipped_scenario_through_the_bridge_has_no_divergence(sim, build_root):
    scenario = parse_scenario(SCENARIO)
    board = run_bridge_bench("scenario", scenario.system, sim=sim, scenario=SCENARIO,
                             build_root=build_root)
    assert board["divergence"] is None
    assert board["met"], board["summary"]
    golden = run_scenario(scenario)
    assert board["cycles"] == [r.cycles for r in golden.runs]
    assert board["observed"] == (golden.violation_kinds or ["clean"])
    assert board["counters"] == [[] for _ in golden.runs]
    assert board["framing_errors"] == 0


def test_every_bad_frame_gets_its_error_and_the_next_frame_its_answer(sim, build_root):
    system = parse_scenario(SCENARIO).system
    cases = run_bridge_bench("bad_frames", system, sim=sim, build_root=build_root)["cases"]
    assert cases == [
        ["bad CRC", "BAD_CRC", "OK"],
        ["unknown command", "UNKNOWN_COMMAND", "OK"],
        ["bad length", "BAD_LENGTH", "OK"],
        ["long frame", "BAD_LENGTH", "OK"],
        ["agent out of range", "BAD_ARGUMENT", "OK"],
        ["misaligned address", "BAD_ARGUMENT", "OK"],
        ["address outside memory", "NO_MEMORY", "OK"],
        ["empty shootdown", "BAD_ARGUMENT", "OK"],
        ["unknown ticket", "BAD_ARGUMENT", "OK"],
        ["unfinished frame", "TIMEOUT", "OK"],
        ["framing error", "FRAMING", "OK"],
        ["noise before a frame", "OK", "OK"],
        ["wait past the watchdog", "STUCK", "OK"],
    ]
