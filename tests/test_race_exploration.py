"""Every race of ``sim/bugs.py`` without its order: the explorer finds the buggy
kernel's violation from the operations alone, its reported interleaving replays to the
same violation on the timed golden backend, and the fixed kernel shows none within the
bound. The races of four agents take minutes (docs/explore.md): they are left to
``shootdown explore --all-races``."""
import pytest

from sim.bugs import RACES
from sim.cli import main
from sim.race_exploration import schedule_free, targets
from sw_model.kernel.explore import explore
from sw_model.kernel.runner import replay_text, run_once
from sw_model.kernel.scenario_parser import parse_scenario_text

BOUND = 2
#: More agents than this: the bound-2 search takes minutes.
TEST_AGENTS = 3


def agents(path):
    return len(parse_scenario_text(path.read_text()).threads)


IN_TEST = [t for t in targets() if agents(t[2]) <= TEST_AGENTS]


@pytest.mark.parametrize("race,variant,path,kind", IN_TEST,
                         ids=[f"{t[0].name}-{t[1]}" for t in IN_TEST])
def test_explored_without_its_schedule(race, variant, path, kind):
    text = schedule_free(path)
    found = explore(parse_scenario_text(text, str(path)), BOUND)
    print(f"{path.name}: {found.explored} explored, {found.pruned} pruned, "
          f"{found.seconds:.2f} s")
    if kind == "clean":
        assert found.run is None and found.complete and not found.errors
        return
    assert found.run is not None, f"{path.name}: no {kind} within bound {BOUND}"
    violation = found.run.violations[0]
    assert violation.kind == kind and found.confirmed
    replay = parse_scenario_text(replay_text(text, found.witness, origin="the explorer"))
    again = run_once(replay, backend="golden")
    assert again.error is None and again.violations[0].describe() == violation.describe()


def test_only_races_of_four_agents_are_left_out():
    left = {(t[0].name, t[1]) for t in targets()} - {(t[0].name, t[1]) for t in IN_TEST}
    assert all(agents(t[2]) == 4 for t in targets() if (t[0].name, t[1]) in left)
    assert len(IN_TEST) >= 2 * len(RACES) - 4


def test_cli_prints_a_row_per_scenario_and_fails_when_one_is_wrong(capsys):
    # Bound 0 is too small for most races: the table says so and the exit status is 1.
    assert main(["explore", "--all-races", "--bound", "0"]) == 1
    out = capsys.readouterr().out.splitlines()
    rows = [line for line in out if line.rstrip().endswith(("ok", "WRONG"))]
    assert len(rows) == len(targets())
    assert any(r.endswith("WRONG") for r in rows) and any(r.endswith("ok") for r in rows)
    assert out[-1].startswith(f"{sum(r.endswith('ok') for r in rows)} of {len(rows)} as "
                              "expected")
