"""Board builds: PLL dividers, nextpnr's report and log read back, the iCEBreaker's full
place-and-route of its default configuration, an ECP5 one of a small configuration, and
the iCEBreaker's "does not fit" (skipped only when SHOOTDOWN_SKIP_PNR=1; CI does not set
it), and the CLI's one-line errors."""
import dataclasses
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from amaranth_boards.ulx3s import ULX3S_25F_Platform

from boards import BOARDS
from boards.ecp5_pll import ECP5PLL
from boards.flow import BoardError, build_board, log_utilization, overflow_message, per_entry
from boards.ice40_pll import ICE40PLL
from boards.oscillator import Oscillator
from sim.cli import main

# Device utilisation as nextpnr-ice40 logs it (tab and padding included), from a build of
# a design too big for the iCE40UP5K.
OVERFULL_LOG = """\
Info: Device utilisation:
Info: \t         ICESTORM_LC:    6747/   5280   127%
Info: \t        ICESTORM_RAM:      16/     30    53%
Info: \t               SB_IO:       3/     39     7%
ERROR: Unable to place cell 'x', no BELs remaining to implement cell type 'ICESTORM_LC'
"""


def test_ice40_pll_matches_icepll():
    # icepll -i 12 -o 30: DIVR 0, DIVF 79, DIVQ 5, FILTER_RANGE 1.
    pll = ICE40PLL("clk12", 12e6, 30e6)
    assert (pll.divr, pll.divf, pll.divq, pll.filter_range, pll.out_hz) == (0, 79, 5, 1, 30e6)


@pytest.mark.parametrize("in_mhz, out_mhz, dividers, achieved", [
    (25, 75, (1, 3, 8), 75),               # ecppll -i 25 -o 75
    (48, 75, (9, 14, 8), 48 * 14 / 9),     # ecppll -i 48 -o 75: 74.667 MHz
    (25, 40, (5, 8, 15), 40),              # ecppll -i 25 -o 40
])
def test_ecp5_pll_matches_ecppll(in_mhz, out_mhz, dividers, achieved):
    pll = ECP5PLL("clk", in_mhz * 1e6, out_mhz * 1e6)
    assert (pll.clki_div, pll.clkfb_div, pll.clkop_div) == dividers
    assert pll.out_hz == pytest.approx(achieved * 1e6)


def test_the_oscillator_is_the_clock_only_at_its_own_frequency():
    assert Oscillator("clk12", 12e6, 12e6).out_hz == 12e6
    with pytest.raises(ValueError, match="the oscillator's 12 MHz, not 13 MHz"):
        Oscillator("clk12", 12e6, 13e6)


@pytest.mark.parametrize("pll, mhz", [(ICE40PLL, 10), (ICE40PLL, 300), (ECP5PLL, 500)])
def test_pll_out_of_range(pll, mhz):
    with pytest.raises(ValueError, match=f"not {mhz} MHz"):
        pll("clk", 12e6, mhz * 1e6)


def test_overflow_message_from_nextpnr_log():
    used = log_utilization(OVERFULL_LOG)
    assert used["ICESTORM_LC"] == {"used": 6747, "available": 5280}
    assert overflow_message("iCE40UP5K-SG48", used) == (
        "iCE40UP5K-SG48: needs 6747 logic cells (LUT4 + FF), has 5280")
    del used["ICESTORM_LC"]
    assert overflow_message("iCE40UP5K-SG48", used) is None


def test_per_entry_is_the_slope_per_tlb():
    def report(entries, luts, ffs):
        return {"config": {"cpus": 2, "devices": 1, "tlb_entries": entries},
                "cells": {"LUT": luts, "FF": ffs}}
    assert per_entry(report(4, 1000, 500), report(8, 2200, 800)) == {"LUT": 100.0, "FF": 25.0}


def test_bad_configuration_is_a_board_error(tmp_path):
    with pytest.raises(BoardError, match="TLB entries must be between 4 and 64, not 3"):
        build_board(BOARDS["icebreaker"], tlb_entries=3, build_root=tmp_path)
    with pytest.raises(BoardError, match="icebreaker: the iCE40 PLL makes 16 to 275 MHz"):
        build_board(BOARDS["icebreaker"], freq_mhz=5, build_root=tmp_path)


@pytest.mark.parametrize("argv, message", [
    (["--board", "de10"], "unknown board 'de10'; choose from icebreaker, ulx3s, orangecrab"),
    (["--board", "ulx3s", "--target", "ecp5"], "--target and --board exclude each other"),
    (["--cpus", "2"], "--cpus needs --board"),
    (["--board", "icebreaker", "--cpus", "9"], "cpus must be an integer from 1 to 8, not 9"),
    (["--board", "icebreaker", "--freq", "0"], "the clock target must be positive"),
    (["--board", "ulx3s", "--per-entry", "16"], "--per-entry 16 is the TLB size already"),
    (["--board", "icebreaker", "--asid-bits", "12"], "icebreaker: asid_bits must be 8 or 16, "
                                                     "not 12"),
    (["--board", "icebreaker", "--gen-bits", "40"], "gen_bits must be an integer from 8 to 32, "
                                                    "not 40"),
    (["--board", "icebreaker", "--gen-bits", "x"], "invalid int value: 'x'"),
    (["--no-tlbi-range"], "--tlbi-range needs --board"),
    (["--mem-kb", "8"], "--mem-kb needs --board"),
    (["--pnr-seed", "2"], "--pnr-seed needs --board"),
    (["--board", "icebreaker", "--pnr-seed", "-1"], "seed '-1' must not be negative"),
    (["--board", "icebreaker", "--mem-kb", "100"], "--mem-kb must be a power of two, not 100"),
    (["--board", "ulx3s", "--spram"], "ulx3s: the LFE5U-85F has no SPRAM (SB_SPRAM256KA is "
                                      "the iCE40 UltraPlus's)"),
    (["--board", "icebreaker", "--mem-kb", "256"], "icebreaker: mem_bytes in SPRAM must be at "
                                                   "most 128 KB (the iCE40UP5K's), not 256 KB"),
])
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path):
    assert main(["synth", *argv, "--build-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


# The iCEBreaker's own flow with its default configuration, an iCEBreaker build that
# does not fit (its 8-entry TLB with the System's full options: range TLBIs, 16-bit ASIDs,
# 32-bit generations), which must end, after yosys and nextpnr's packing, in the one-line
# message with the numbers, and the ECP5's flow: the ULX3S on its 25F part (which places
# and routes faster than the 85F) with a small configuration and a memory that fits it.
# Built side by side (each build is one tool process, so they share the machine's cores).
FULL_OPTIONS = dict(tlbi_range=True, asid_bits=16, gen_bits=32)
PNR_BUILDS = {
    "ice40": (BOARDS["icebreaker"], {}),
    "up5k-full": (BOARDS["icebreaker"], dict(system_options=FULL_OPTIONS)),
    "ecp5": (dataclasses.replace(BOARDS["ulx3s"], platform=ULX3S_25F_Platform,
                                 mem_bytes=8 * 1024),
             dict(cpus=1, devices=0, tlb_entries=4, freq_mhz=20)),
}


def _build_or_error(board, options, build_root):
    try:
        return build_board(board, **options, build_root=build_root)
    except BoardError as e:
        return e


@pytest.fixture(scope="module")
def pnr_results(build_root):
    if os.environ.get("SHOOTDOWN_SKIP_PNR") == "1":
        pytest.skip("SHOOTDOWN_SKIP_PNR=1: full place-and-route skipped")
    with ThreadPoolExecutor(len(PNR_BUILDS)) as pool:
        futures = {name: pool.submit(_build_or_error, board, options, build_root / "pnr")
                   for name, (board, options) in PNR_BUILDS.items()}
        return {name: future.result() for name, future in futures.items()}


def test_ice40_flow_says_what_does_not_fit(pnr_results):
    error = pnr_results["up5k-full"]
    assert isinstance(error, BoardError), error
    needs, has = re.fullmatch(r"iCE40UP5K-SG48: needs (\d+) logic cells \(LUT4 \+ FF\), "
                              r"has (\d+)", str(error)).groups()
    assert int(has) == 5280 and int(needs) > 5280


@pytest.mark.parametrize("family, logic", [("ice40", "ICESTORM_LC"), ("ecp5", "TRELLIS_COMB")])
def test_full_place_and_route(pnr_results, family, logic):
    report = pnr_results[family]
    assert isinstance(report, dict), report
    print(report)
    bitstream = Path(report["bitstream"])
    assert bitstream.exists() and bitstream.stat().st_size > 10_000
    used = report["utilization"][logic]
    assert 0 < used["used"] <= used["available"]
    assert report["cells"]["LUT"] > 1000 and report["cells"]["FF"] > 500
    [(clock, fmax)] = report["fmax"].items()      # the one clock: the PLL's (or oscillator's)
    assert fmax["constraint_mhz"] == pytest.approx(report["clock"]["pll_mhz"], abs=0.1)
    assert fmax["achieved_mhz"] > 0
    assert report["timing_met"] == (fmax["achieved_mhz"] >= fmax["constraint_mhz"])


def test_the_icebreaker_default_is_its_small_system(pnr_results):
    """The iCEBreaker's default build: its small system with staged MMUs, the memory in
    the four SPRAMs, the PLL's 18 MHz."""
    report = pnr_results["ice40"]
    assert report["config"] == {"cpus": 1, "devices": 0, "tlb_entries": 8,
                                "mem_bytes": 128 * 1024, "spram": True,
                                "tlbi_range": False, "asid_bits": 8, "gen_bits": 16,
                                "staged": True}
    assert report["clock"] == {"target_mhz": 18, "pll_mhz": 18.0}
    assert report["cells"]["SPRAM"] == 4
    assert report["utilization"]["ICESTORM_SPRAM"] == {"used": 4, "available": 4}
