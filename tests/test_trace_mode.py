"""Trace mode: golden runs recorded as the system top's buses and replayed on the RTL by a
testbench with no Python in the loop; a seeded hardware fault shows up as a divergence
placed in the scenario's step. All RTL tests share one configuration (1 CPU, 1 device,
16-entry TLBs), so one build per simulator (and one for the fault) serves them."""
import json
from types import SimpleNamespace

import pytest

from hdl.ports import InvalidateOp
from sim.cli import main, shipped_scenarios
from sim.golden_recorder import RecordingBackend
from sim.system_lockstep import TOPLEVEL
from sim.trace_bench import Replay, ReplayOutcome, build_replay
from sim.rtl_run import rtl_system
from sim.system_lockstep import system_verilog
from sim.trace_mode import locate, run_trace
from sw_model.kernel.runner import run_scenario
from sw_model.kernel.scenario_parser import parse_scenario, parse_scenario_text
from sw_model.platform import HOST, Invalidate

SMALL = ["device_munmap.scn", "device_x86.scn", "smmu_upgrade_buggy.scn"]


def scenario(name):
    return parse_scenario(shipped_scenarios() / name)


def test_recording_leaves_the_golden_run_unchanged():
    storm = scenario("mixed_storm.scn")
    recorders = []

    def recording(system):
        recorders.append(RecordingBackend(cpus=system["cpus"], devices=system["devices"],
                                          tlb_entries=system["tlb"]))
        return recorders[-1]

    recorded = run_scenario(storm, backend=recording, runs=2)
    plain = run_scenario(storm, runs=2)
    for run, again, recorder in zip(recorded.runs, plain.runs, recorders):
        assert (run.trace, run.cycles, run.stats) == (again.trace, again.cycles, again.stats)
        assert sum(cycles for cycles, _, _ in recorder.records) == run.cycles
        assert len(run.step_cycles) == len(run.trace)
        assert run.step_cycles == sorted(run.step_cycles) and run.step_cycles[-1] <= run.cycles


@pytest.mark.parametrize("name", SMALL)
def test_shipped_scenarios_replay_without_divergence(sim, build_root, name):
    trace = run_trace(scenario(name), sim=sim, build_root=build_root)
    print("\n".join(trace.describe()))
    assert trace.ok and trace.cycles > 100


def test_runs_replay_one_after_another_from_reset(sim, build_root):
    text = (shipped_scenarios() / "device_munmap.scn").read_text().replace(
        "schedule order dev0:op cpu0:op dev0:op", "schedule random seed=1 runs=4")
    trace = run_trace(parse_scenario_text(text), sim=sim, build_root=build_root)
    print("\n".join(trace.describe()))
    assert trace.ok and len(trace.result.runs) == 4


def test_a_divergence_is_placed_in_its_run_and_step():
    buses = RecordingBackend(cpus=1, devices=1).buses
    runs = [SimpleNamespace(seed=1, cycles=100, step_cycles=[50, 100],
                            trace=[("cpu0", "a"), ("cpu0", "b")]),
            SimpleNamespace(seed=2, cycles=80, step_cycles=[30, 30, 70],
                            trace=[("cpu0", "c"), ("dev0", "d"), ("dev0", "e")])]
    done = buses.outputs.pack(done=2)
    for cycle, where in [(0, (1, 0, 1, "cpu0", "a")), (50, (1, 50, 2, "cpu0", "b")),
                         (100, (2, 0, 1, "cpu0", "c")), (130, (2, 30, 3, "dev0", "e")),
                         (175, (2, 75, None, None, None))]:
        d = locate(runs, ReplayOutcome(cycle, True, done, 0), buses)
        assert (d.run_seed, d.cycle, d.step, d.agent, d.label) == where
        assert d.signals == [("done", 2, 0)]


def test_skipped_idle_cycles_are_one_record_and_replay(sim, build_root, tmp_path):
    # A shootdown waits for a CPU with interrupts off: nothing moves, so the golden
    # backend skips the idle cycles; the recording keeps them as one record.
    backend = RecordingBackend(cpus=1, devices=1, tlb_entries=16)
    backend.set_irqs(0, False)
    ticket = backend.shootdown(HOST, {0}, Invalidate(InvalidateOp.VMALLE1))
    backend.idle(500)
    backend.set_irqs(0, True)
    backend.idle(20)
    assert backend.shootdown_done(ticket)
    assert max(cycles for cycles, _, _ in backend.records) >= 400
    params = rtl_system(dict(cpus=1, devices=1, tlb=16))
    widths = backend.buses.inputs.width, backend.buses.outputs.width
    command = build_replay(sim, system_verilog(params, build_root=build_root),
                           TOPLEVEL, *widths, build_root)
    with Replay(command, *widths, tmp_path) as replay:
        replay.run(backend.records)
        outcome = replay.finish()
    assert not outcome.diverged and outcome.cycles == backend.cycles


def test_a_hardware_fault_diverges_at_a_step(sim, build_root):
    munmap = scenario("device_munmap.scn")
    trace = run_trace(munmap, sim=sim, faults=["drop_ack"], build_root=build_root)
    lines = trace.describe()
    print("\n".join(lines))
    d = trace.divergence
    assert not trace.ok and d is not None and d.step is not None
    run = trace.result.runs[0]
    # The step named is the one whose cycles hold the divergence, and it is reported.
    first = run.step_cycles[d.step - 2] if d.step > 1 else 0
    assert first <= d.cycle < run.step_cycles[d.step - 1]
    assert (d.agent, d.label) == run.trace[d.step - 1]
    assert "done" in [signal for signal, _, _ in d.signals]
    assert f"scenario step {d.step} ({d.agent}: {d.label}), cycle {d.cycle}" in lines[1]
    assert any(line.startswith("  done: expected") for line in lines)


def test_cli_trace_mode(build_root, capsys):
    path = str(shipped_scenarios() / "device_munmap.scn")
    trace = ["run", path, "--backend", "rtl", "--mode", "trace", "--build-dir", str(build_root)]
    assert main(trace) == 0
    out = capsys.readouterr().out
    assert "trace mode on verilator" in out and "no divergence in" in out
    report = build_root / "trace-fault.json"
    assert main(trace + ["--rtl-fault", "drop_ack", "--json", str(report)]) == 1
    out = capsys.readouterr().out
    assert "DIVERGED in run seed=None: scenario step" in out and "  done: expected" in out
    divergence = json.loads(report.read_text())["trace"]["divergence"]
    assert divergence["step"] > 0 and "done" in [s["signal"] for s in divergence["signals"]]


@pytest.mark.parametrize("args", [["--mode", "trace"], ["--rtl-fault", "drop_ack"],
                                  ["--backend", "rtl", "--mode", "trace", "--rtl-fault", "x"],
                                  ["--backend", "rtl", "--mode", "trace", "--diff"]])
def test_cli_trace_mode_usage_errors(args, capsys):
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("shootdown: error: ")
