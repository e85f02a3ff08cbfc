"""Shrinking a violating run to its minimal interleaving (sw_model/kernel/minimize.py)."""
import json

from sim.cli import main
from sw_model.kernel.minimize import minimize
from sw_model.kernel.runner import replay_text, run_once, run_scenario
from sw_model.kernel.scenario_parser import parse_scenario_text

#: The 2017 reclaim-vs-mprotect race (fix off), buried among operations on another mm
#: (by CPUs other than cpu1: an x86 CPU that switched to B and back would flush A).
NOISY = """\
scenario noisy
system cpus=3 arch=x86 reclaim=batched
bug batched_pending
mm A
  vma 0x400000 2 rw anon
  populate 0x400000 2 write
mm B
  vma 0x800000 4 rw anon
cpu 0
  read B 0x800000
  reclaim A 0x400000
  write B 0x801000
cpu 1
  write A 0x400000
  read A 0x401000
  mprotect A 0x400000 1 r
  write A 0x400000
cpu 2
  write B 0x803000
  read B 0x800000
  madvise_dontneed B 0x800000 4
schedule random seed=1 runs=60
expect revoked-access
"""


def first_flagged(text):
    result = run_scenario(parse_scenario_text(text))
    flagged = [r for r in result.runs if r.violations]
    assert flagged, "no random run hit the race"
    print(f"shrinking run seed={flagged[0].seed}")
    return result.scenario, flagged[0]


def test_the_minimal_interleaving_drops_what_the_race_does_not_need():
    scenario, run = first_flagged(NOISY)
    m = minimize(scenario, run)
    v, mv = run.violations[0], m.run.violations[0]
    assert mv.kind == v.kind == "revoked-access"
    assert mv.step < v.step
    # Only the race's own operations are left: everything on mm B went, and cpu1's read.
    assert sorted(op.name for op in m.dropped) == \
        ["madvise_dontneed", "read", "read", "read", "write", "write"]
    assert all(" B " not in label and "0x401000" not in label for _, label in m.run.trace)
    # reclaim runs inside cpu1's two writes and its mprotect: three runs of steps at most
    assert len(m.run.segments(mv.step)) <= 3


def test_the_minimal_interleaving_is_a_fixed_point():
    scenario, run = first_flagged(NOISY)
    m = minimize(scenario, run)
    again = minimize(m.scenario, m.run)
    assert again.dropped == [] and again.run.trace == m.run.trace


def test_the_saved_minimal_scenario_replays_it_exactly():
    scenario, run = first_flagged(NOISY)
    m = minimize(scenario, run)
    text = replay_text(NOISY, m.run, m.dropped, m.seed)
    assert f"minimal interleaving of run seed={run.seed}" in text
    replayed = run_once(parse_scenario_text(text))
    assert replayed.violations == m.run.violations
    assert replayed.trace == m.run.trace


def test_run_prints_and_saves_the_minimal_interleaving(capsys, tmp_path):
    src, saved, out_json = tmp_path / "noisy.scn", tmp_path / "min.scn", tmp_path / "r.json"
    src.write_text(NOISY)
    assert main(["run", str(src), "--save-violation", str(saved), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "minimal interleaving: " in out and "operations not needed: " in out
    data = json.loads(out_json.read_text())
    assert data["minimal"]["dropped_operations"]
    assert data["minimal"]["interleaving"][-1]["agent"] == "cpu1"
    assert main(["run", str(saved)]) == 0
    assert "expectation revoked-access: met" in capsys.readouterr().out
