"""The ``shootdown`` command: its jobs, and one-line errors with exit status 2 for bad
arguments."""
import subprocess
import sys

import pytest

from sim.cli import main


@pytest.mark.parametrize("argv,message", [
    ([], "the following arguments are required: command"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["diff", "--cycles", "0"], "'0' must be positive"),
    (["diff", "--cycles", "many"], "'many' is not an integer"),
    (["diff", "--seed", "-4"], "must not be negative"),
    (["diff", "--sim", "ghdl"], "invalid choice: 'ghdl'"),
    (["diff", "--tlb-entries", "65"], "TLB entries must be between 4 and 64, not 65"),
    (["diff", "--pa-bits", "52"], "pa_bits must be an integer from 32 to 48"),
    (["diff", "--model-bug", "typo"], "unknown model bug 'typo'"),
    (["diff", "--bogus"], "unrecognized arguments: --bogus"),
    (["diff", "--cpus", "9"], "cpus must be an integer from 1 to 8, not 9"),
    (["diff", "--cpus", "2", "--devices", "3"], "devices must be an integer from 0 to 2"),
    (["diff", "--cpus", "two"], "invalid int value: 'two'"),
    (["verilog"], "the following arguments are required: outdir"),
    (["synth", "--target", "gowin"], "invalid choice: 'gowin'"),
    (["run", "no/such.scn"], "no/such.scn: "),
    (["run", "--backend", "fpga"], "--backend fpga needs --port"),
    (["run", "--runs", "0"], "'0' must be positive"),
    (["compare", "--runs", "0"], "'0' must be positive"),
    (["compare", "--runs", "some"], "'some' is not an integer"),
    (["compare", "--plot", "out.svg"], "--plot writes a PNG: out.svg must end in .png"),
    (["compare", "--plot"], "expected one argument"),
    (["compare", "--workload", "x"], "unrecognized arguments: --workload x"),
])
def test_bad_arguments(argv, message, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("shootdown: error: ")
    assert message in err


def test_bad_arguments_from_the_console_script():
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "diff", "--cycles", "-1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_verilog_writes_files(tmp_path, capsys):
    assert main(["verilog", str(tmp_path / "out"), "--tlb-entries", "8"]) == 0
    assert "module mmu(" in (tmp_path / "out" / "mmu.v").read_text()
    assert "module bus_top(" in (tmp_path / "out" / "bus_top.v").read_text()


def test_verilog_unwritable_outdir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["verilog", str(blocker / "sub")]) == 2
    assert "cannot create" in capsys.readouterr().err


def test_diff_runs_and_reports_speed(build_root, capsys):
    assert main(["diff", "--cycles", "3000", "--seed", "9",
                 "--build-dir", str(build_root)]) == 0
    out = capsys.readouterr().out
    assert "no divergence in 3000 cycles" in out and "cycles/s" in out


def test_diff_exits_nonzero_on_divergence(build_root, capsys):
    assert main(["diff", "--cycles", "20000", "--seed", "3", "--model-bug",
                 "stale_walk_installs", "--build-dir", str(build_root)]) == 1
    out = capsys.readouterr().out
    assert "DIVERGED at cycle" in out and "waveform:" in out


def test_run_with_no_scenario_runs_the_shipped_default(capsys, tmp_path):
    out_json = tmp_path / "run.json"
    assert main(["run", "--runs", "3", "--json", str(out_json)]) == 0
    out, _ = capsys.readouterr()
    assert "scenario mixed-storm" in out and "expectation clean: met" in out
    import json
    data = json.loads(out_json.read_text())
    assert data["met"] and len(data["runs"]) == 3 and data["runs"][0]["interleaving"]


def test_run_reports_a_violation_with_its_interleaving(capsys):
    from sim.cli import shipped_scenarios
    path = shipped_scenarios() / "parallel_dontneed_buggy.scn"
    assert main(["run", str(path)]) == 0          # the buggy race is expected: met
    out, _ = capsys.readouterr()
    assert "VIOLATION" in out and "stale-translation" in out
    assert "cpu1  madvise_dontneed A 0x400000 1: done" in out


def test_run_exits_1_when_the_expectation_fails(capsys, tmp_path):
    from sim.cli import shipped_scenarios
    text = (shipped_scenarios() / "parallel_dontneed_buggy.scn").read_text()
    path = tmp_path / "wrong.scn"
    path.write_text(text.replace("expect stale-translation", "expect clean"))
    assert main(["run", str(path)]) == 1
    assert "expectation clean: NOT met" in capsys.readouterr().out


def test_run_names_the_line_of_a_malformed_scenario(capsys, tmp_path):
    path = tmp_path / "bad.scn"
    path.write_text("scenario x\ncpu 0\n  rread A 0x400000\nexpect clean\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"shootdown: error: {path}:3: unknown CPU operation 'rread'")
