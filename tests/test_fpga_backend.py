"""The fpga backend without a board: the host SoC's RTL (UART, host bridge, system,
block RAM) in cocotb, driven byte by byte through its UART pins by the same host code
that drives a board. Builds per simulator: the 2-CPU system of the scenario, and the
small system of the iCEBreaker (no range TLBIs, 8-bit ASIDs, fewer generation bits) with
its memory, 128 KB in the UP5K's SPRAM (yosys's model of the SB_SPRAM256KA)."""
import os
import re
from pathlib import Path

import pytest

from boards import BOARDS
from hdl.host_protocol import INFO_HA, INFO_HD, VERSION, Command
from hdl.host_soc import DEFAULT_MEM_BASE
from hdl.ports import InvalidateOp
from sim import fpga_backend
from sim.bridge_run import run_bridge_bench
from sim.cli import main
from sim.fpga_backend import board_info, check_board
from sim.host_link import BridgeError
from sw_model.golden_backend import GoldenBackend
from sw_model.kernel.kernel import POOL_BASE
from sw_model.kernel.runner import run_scenario
from sw_model.kernel.scenario_parser import parse_scenario
from sw_model.platform import Invalidate

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SCENARIO = SCENARIOS / "reclaim_vs_mprotect.scn"
#: The iCEBreaker's system options (its board default).
SMALL = BOARDS["icebreaker"].system_options
#: The iCEBreaker's memory: its SPRAM.
ICEBREAKER_MEMORY = dict(mem_bytes=BOARDS["icebreaker"].mem_bytes, spram=True)


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


def test_a_shipped_scenario_on_the_icebreakers_system_has_no_divergence(sim, build_root):
    """The iCEBreaker's SoC as the board builds it (1 CPU, no device, 8-entry TLB, its
    system options, 128 KB of SPRAM) runs the scenario shipped for it unchanged: the
    board accepts it, the host builds its model from the board's INFO, so the kernel
    model issues what the board's system takes (one TLBI a page: no range TLBIs), and
    the cycles are those of a golden run with the same options; the memory answers as
    the model's does."""
    path = SCENARIOS / "icebreaker_storm.scn"
    scenario = parse_scenario(path)
    board_def = BOARDS["icebreaker"]
    assert (scenario.system["cpus"], scenario.system["devices"], scenario.system["tlb"]) \
        == (board_def.cpus, board_def.devices, board_def.tlb_entries)
    board = run_bridge_bench("scenario", scenario.system, sim=sim, scenario=path,
                             options=SMALL, memory=ICEBREAKER_MEMORY, build_root=build_root)
    assert board["divergence"] is None, board["divergence"]
    assert board["met"], board["summary"]
    assert {name: board["info"][name] for name in SMALL} == SMALL
    assert (board["info"]["mem_bytes"], board["info"]["mem_base"]) == (128 << 10, POOL_BASE)
    golden = run_scenario(scenario, backend=lambda system: GoldenBackend(
        cpus=system["cpus"], devices=system["devices"], tlb_entries=system["tlb"], **SMALL))
    assert board["cycles"] == [r.cycles for r in golden.runs]
    assert board["counters"] == [[] for _ in golden.runs]


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
                 tlb=system["tlb"], pa_bits=40, ha=True, hd=True, tlbi_range=True,
                 asid_bits=16, gen_bits=32, mem_bytes=256 << 10, mem_base=0x100000)
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


def test_the_icebreakers_memory_holds_a_pool_of_32_frames():
    """check_board with the iCEBreaker's memory (128 KB at the pool's base): a scenario
    of up to 32 frames is not refused for its size; the default 64 frames still are."""
    board = BOARDS["icebreaker"]
    info = dict(version=VERSION, cpus=1, devices=0, tlb=8, pa_bits=40, ha=True, hd=True,
                **board.system_options, mem_bytes=board.mem_bytes, mem_base=DEFAULT_MEM_BASE)
    system = dict(cpus=1, devices=0, tlb=8)
    check_board(info, dict(system, frames=32))
    with pytest.raises(BridgeError, match=re.escape(
            "the scenario needs 256 KB of memory at 0x100000 (64 frames); the board has "
            "128 KB at 0x100000")):
        check_board(info, dict(system, frames=64))


class FakeLink:
    """A board that answers INFO with ``info`` and every other command with cycle count
    0 and no result, recording the commands."""

    def __init__(self, info):
        self.info, self.sent = info, []

    def call(self, command, payload=b""):
        self.sent.append(Command(command))
        return 0, self.info if command == Command.INFO else b""


def _info(features, gen_bits):
    """INFO of a 1-CPU board with 8-entry TLBs and 256 KB at 0x100000."""
    return bytes([VERSION, 1, 1, 8, 40, 18, features, gen_bits]) + (0x100000).to_bytes(8, "little")


def test_info_reports_the_small_system_and_a_bad_one_is_named():
    hw = INFO_HA | INFO_HD
    info = board_info(FakeLink(_info(hw, 16)))
    assert (info["tlbi_range"], info["asid_bits"], info["gen_bits"]) == (False, 8, 16)
    assert (info["ha"], info["hd"], info["tlb"]) == (True, True, 8)
    system = dict(cpus=1, devices=1, tlb=8, frames=64)
    check_board(info, system)
    with pytest.raises(BridgeError, match=re.escape(
            "the board's INFO is not one this host reads: gen_bits must be an integer "
            "from 8 to 32, not 0")):
        check_board(board_info(FakeLink(_info(hw, 0))), system)


def test_a_call_the_board_cannot_take_is_refused_before_it_is_sent(monkeypatch):
    """The model, built with the board's options, refuses a generation wider than the
    board keeps before anything is sent, and run_on_board says why in one line."""
    link = FakeLink(_info(INFO_HA | INFO_HD, 8))

    def too_wide(scenario, backend, **_):
        platform = backend(scenario.system)
        platform.tlbi(("cpu", 0), Invalidate(InvalidateOp.VMALLE1), gen=256)

    monkeypatch.setattr(fpga_backend, "run_scenario", too_wide)
    scenario = parse_scenario(SCENARIOS / "device_munmap.scn")
    scenario.system["tlb"] = 8
    with pytest.raises(BridgeError, match=re.escape(
            "the model refused a call on the board's system (no range TLBIs, 8-bit ASIDs, "
            "8-bit generations): generation 256 does not fit in 8 bits")):
        fpga_backend.run_on_board(link, scenario)
    assert link.sent == [Command.INFO, Command.RESET]

    # A call that is wrong on any system is not blamed on the board.
    def not_a_number(scenario, backend, **_):
        backend(scenario.system).tlbi(("cpu", 0), Invalidate(InvalidateOp.VMALLE1), gen="x")

    monkeypatch.setattr(fpga_backend, "run_scenario", not_a_number)
    with pytest.raises(ValueError, match="generation 'x' is not an integer"):
        fpga_backend.run_on_board(link, scenario)
