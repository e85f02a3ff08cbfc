"""Run reports: the platform recorder, the timeline PNG and ``shootdown run --report``."""
import importlib.util
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from sim.cli import main
from sim.timeline import COLOURS, draw, markers
from sw_model.golden_backend import GoldenBackend
from sw_model.kernel.runner import run_once, run_scenario
from sw_model.kernel.scenario_parser import parse_scenario, parse_scenario_text
from sw_model.platform import HOST, Invalidate
from sw_model.platform_recorder import PlatformRecorder
from hdl.ports import InvalidateOp

SCENARIOS = Path(__file__).parent.parent / "scenarios"
PNG = b"\x89PNG\r\n\x1a\n"


def shipped(name):
    return parse_scenario(SCENARIOS / f"{name}.scn")


def long_storm(rounds, seed):
    """Four CPUs and a device doing ``rounds`` random operations each on 32 pages: a
    run of about 170 cycles per round."""
    rng = random.Random(seed)
    lines = ["scenario long-storm", "system cpus=4 devices=1 arch=arm64 frames=256",
             "mm A", "  vma 0x400000 32 rw anon", "  populate 0x400000 8 write"]
    ops = ["read A {}", "write A {}", "madvise_dontneed A {} 1", "mprotect A {} 1 r",
           "mprotect A {} 1 rw", "reclaim A {}"]
    for agent in ("cpu 0", "cpu 1", "cpu 2", "cpu 3", "dev 0"):
        lines.append(agent)
        for _ in range(rounds):
            op = rng.choice(ops[:2] if agent.startswith("dev") else ops)
            lines.append("  " + op.format(hex(0x400000 + rng.randrange(32) * 0x1000)))
    return "\n".join(lines + ["schedule random seed=1 runs=1", "expect clean", ""])


@pytest.mark.parametrize("name,seed", [("mixed_storm", 3), ("x86_reclaim_storm", 1),
                                       ("x86_irqs_off_shootdown", None),
                                       ("cow_device_order", None)])
def test_the_recording_matches_the_backends_counters(name, seed):
    plain = run_once(shipped(name), seed)
    run = run_once(shipped(name), seed, record=True)
    rec, stats = run.recording, run.stats
    assert (run.trace, run.cycles, run.stats) == (plain.trace, plain.cycles, plain.stats)
    kinds = Counter(e.kind for e in rec.events)
    accesses = [e for e in rec.events if e.kind == "access"]
    assert kinds["access"] == stats["hw_accesses"]
    assert sum(e.info["walked"] for e in accesses) == stats["hw_walks"]
    assert sum(e.info["fills"] for e in accesses) == stats["hw_tlb_fills"]
    assert kinds["dsb"] == stats["hw_syncs"]
    assert kinds["shootdown"] == stats["hw_shootdowns"]
    assert Counter(e.info["op"] for e in rec.events if e.kind == "tlbi") == \
        {k[len("hw_invalidates_"):]: v for k, v in stats.items()
         if k.startswith("hw_invalidates_") and v}
    assert [(s.agent, s.label) for s in rec.steps] == run.trace
    assert 0 < rec.setup_end <= rec.steps[0].start
    for e in rec.events:
        assert e.start <= (e.end if e.end is not None else e.info["taken"]) <= run.cycles
        step = rec.steps[e.step] if e.step is not None else None
        assert step is None or step.start <= e.start and e.end <= step.end or \
            e.kind == "shootdown"
    for e in accesses:
        assert (e.info["pa"] is None) == (e.info["fault"] is not None)
    for e in rec.events:
        if e.kind == "shootdown":
            assert e.end is not None and e.end >= e.info["taken"], "every target acked"


def test_a_shootdown_is_acked_only_after_its_target_takes_interrupts_again():
    rec = run_once(shipped("x86_irqs_off_shootdown"), record=True).recording
    on = [e.start for e in rec.events if e.kind == "irqs" and e.info["enabled"]]
    (sd,) = [e for e in rec.events if e.kind == "shootdown"]
    assert sd.info["targets"] == [1] and sd.info["taken"] < on[0] <= sd.end


def test_the_violation_marker_is_at_the_cycle_of_the_violating_access(tmp_path):
    run = run_once(shipped("reclaim_vs_mprotect_buggy"), record=True)
    (v,) = run.violations
    rec = run.recording
    (access,) = [e for e in rec.events if e.step == v.step and e.kind == "access"]
    assert access.lane == v.agent == "cpu1" and access.info["va"] == v.va
    assert rec.violation_cycle(v) == access.end
    step = rec.steps[v.step]
    assert step.start <= access.end <= step.end
    ((cycle, kind, label),) = markers(run)
    assert (cycle, kind) == (access.end, "violation") and "revoked-access" in label
    fig = draw(run, tmp_path / "t.png", "t")
    drawn = [line.get_xdata()[0] for line in fig.axes[0].lines
             if line.get_color() == COLOURS["violation"]]
    assert drawn == [access.end]
    assert (tmp_path / "t.png").read_bytes().startswith(PNG)


class _Diverging(GoldenBackend):
    """Golden, but its third access raises the way a lockstep backend reports a
    divergence (with or without naming the cycle)."""
    def __init__(self, message, **kw):
        super().__init__(**kw)
        self.message, self.count = message, 0

    def access(self, *args, **kw):
        self.count += 1
        if self.count == 3:
            raise RuntimeError(self.message.format(now=self.cycles))
        return super().access(*args, **kw)


@pytest.mark.parametrize("message,at", [("divergence at cycle 57: tlb_hit", 57),
                                        ("divergence: pa differs", "now")])
def test_a_backend_error_is_recorded_at_the_cycle_it_names(message, at):
    rec = PlatformRecorder(_Diverging(message, cpus=2, devices=0))
    rec.setup_done()
    for _ in range(2):
        rec.access(("cpu", 0), 0x1000, 0)
        rec.step_done("cpu0", "read")
    now = rec.cycles
    with pytest.raises(RuntimeError, match="divergence"):
        rec.access(("cpu", 1), 0x1000, 0)
    (error,) = [e for e in rec.events if e.kind == "error"]
    assert (error.start, error.step, error.lane) == (now if at == "now" else at, 2, None)
    assert error.info["message"] == message


def test_host_fabric_requests_and_memory_are_recorded_on_the_host_lane():
    rec = PlatformRecorder(GoldenBackend(cpus=2, devices=1))
    rec.write(0x1000, 5)
    assert rec.cas(0x1000, 5, 6) == 5 and rec.read(0x1000) == 6
    rec.tlbi(HOST, Invalidate(InvalidateOp.VAE1, asid=3, va=0x4000, devices=True), gen=2)
    rec.dsb(HOST)
    ticket = rec.shootdown(("cpu", 0), {1}, Invalidate(InvalidateOp.ASIDE1, asid=3))
    while not rec.shootdown_done(ticket):
        rec.idle(1)
    kinds = [(e.kind, e.lane) for e in rec.events]
    assert kinds == [("write", "host"), ("cas", "host"), ("read", "host"), ("tlbi", "host"),
                     ("dsb", "host"), ("shootdown", "cpu0")]
    assert rec.events[1].info["old"] == 5 and rec.events[3].info["devices"]
    sd = rec.events[-1]
    assert sd.info["targets"] == [1] and sd.end == rec.cycles
    assert all(e.step is None for e in rec.events)          # no step began


def test_a_run_error_gets_a_marker_at_the_end_of_the_run():
    run = run_once(shipped("reclaim_vs_mprotect"), record=True)
    run.error = "every agent waits: cpu0 for a lock"
    assert markers(run) == [(run.cycles, "error", run.error)]


def test_only_the_first_and_the_first_flagged_recordings_are_kept():
    text = re.sub(r"^schedule.*$", "schedule random seed=1 runs=14",
                  (SCENARIOS / "device_x86_no_notifier_buggy.scn").read_text(), flags=re.M)
    result = run_scenario(parse_scenario_text(text), record=True)
    flagged = [r.seed for r in result.runs if r.flagged]
    assert len(flagged) >= 2, flagged
    kept = [r.seed for r in result.runs if r.recording is not None]
    assert kept == [1, flagged[0]]


def test_a_long_run_is_drawn_aggregated(tmp_path):
    seed = random.randrange(1 << 16)
    print("long storm seed", seed)
    run = run_once(parse_scenario_text(long_storm(40, seed)), 1, record=True)
    assert run.cycles > 3000
    fig = draw(run, tmp_path / "long.png", "long")
    assert "aggregated in bins of" in fig.texts[0].get_text()
    assert (tmp_path / "long.png").read_bytes().startswith(PNG)


def test_run_report_writes_the_timeline_of_the_first_flagged_run(tmp_path, capsys):
    out = tmp_path / "report"
    path = SCENARIOS / "reclaim_vs_mprotect_buggy.scn"
    assert main(["run", str(path), "--report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"report in {out}/" in printed and "the first flagged run" in printed
    assert (out / "timeline.png").read_bytes().startswith(PNG)
    assert "revoked-access" in (out / "summary.txt").read_text()
    assert json.loads((out / "results.json").read_text())["observed"] == ["revoked-access"]
    timeline = json.loads((out / "timeline.json").read_text())
    (marker,) = timeline["markers"]
    assert marker["kind"] == "violation" and marker["cycle"] == timeline["cycles"]
    assert len(timeline["steps"]) == 10 and timeline["events"]


def test_run_report_bad_arguments(tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "f"
    a_file.write_text("")
    assert main(["run", "--runs", "1", "--report", str(a_file)]) == 2
    assert capsys.readouterr().err == f"shootdown: error: --report {a_file}: not a directory\n"
    assert main(["run", "--runs", "1", "--report", str(a_file / "sub")]) == 2
    assert "cannot create" in capsys.readouterr().err
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else find_spec(name, *a))
    assert main(["run", "--runs", "1", "--report", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == \
        "shootdown: error: --report needs matplotlib: pip install 'shootdown[plot]'\n"
    assert not (tmp_path / "r").exists()
