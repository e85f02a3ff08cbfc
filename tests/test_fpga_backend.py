"""The fpga backend without a board: the host SoC's RTL (UART, host bridge, system,
block RAM) in cocotb, driven byte by byte through its UART pins by the same host code
that drives a board. One build per simulator (the 2-CPU system of the scenario)."""
import os
import re
from pathlib import Path

import pytest

from hdl.host_protocol import VERSION
from sim.bridge_run import run_bridge_bench
from sim.cli import main
from sim.fpga_backend import check_board
from sim.host_link import BridgeError
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


def test_fpga_cli_errors_are_one_line(capsys, tmp_path):
    """A missing port, a port that does not open, a board that does not answer (a pty
    with nothing behind it), and flags of other backends."""
    master, slave = os.openpty()
    path = str(SCENARIO)
    cases = [
        (["--backend", "fpga"], "--backend fpga needs --port"),
        (["--backend", "fpga", "--port", str(tmp_path / "nope")], "cannot open serial port"),
        (["--backend", "fpga", "--port", os.ttyname(slave), "--timeout", "0.2"],
         "no answer from the board"),
        (["--backend", "fpga", "--port", "x", "--report", str(tmp_path)],
         "--report needs the golden backend"),
        (["--backend", "fpga", "--port", "x", "--sim", "icarus"], "--sim is for --backend rtl"),
        (["--port", "x"], "--port is for --backend fpga"),
        (["--backend", "fpga", "--port", "x", "--baud", "0"], "must be positive"),
    ]
    try:
        for extra, message in cases:
            assert main(["run", path, *extra]) == 2, extra
            err = capsys.readouterr().err
            assert message in err and err.count("\n") == 1, (extra, err)
    finally:
        os.close(master)
        os.close(slave)


def test_a_board_of_another_system_is_refused_before_anything_runs():
    """check_board: INFO of the scenario's board passes; a board of another protocol
    version, system (CPUs, TLB, hardware updates) or too little memory is named."""
    system = parse_scenario(SCENARIO).system
    board = dict(version=VERSION, cpus=system["cpus"], devices=system["devices"],
                 tlb=system["tlb"], pa_bits=40, ha=True, hd=True, mem_bytes=256 << 10,
                 mem_base=0x100000)
    check_board(board, system)
    cases = [
        (dict(version=VERSION - 1), "protocol version"),
        (dict(cpus=system["cpus"] + 1), "cpus"),
        (dict(tlb=4), "tlb 4"),
        (dict(hd=False), "hd False (the scenario needs True)"),
        (dict(mem_bytes=64 << 10), "the board has 64 KB"),
    ]
    for change, message in cases:
        with pytest.raises(BridgeError, match=re.escape(message)):
            check_board({**board, **change}, system)
