"""``explore --count in-op``: only a switch away from an agent inside an operation is a
preemption (between two operations a CPU is in user space). Deep races come within a
small bound: race 6 (``uffd_wp_vs_cow_buggy``, four CPUs) takes four switches, three
inside operations; its search takes minutes (docs/explore.md), so here the same
mechanism on small races, its soundness with state hashing, and race 6's found
interleaving replayed."""
from pathlib import Path

import pytest

from sim.cli import main
from sim.race_exploration import schedule_free
from sw_model.kernel.explore import explore
from sw_model.kernel.runner import replay_text, run_once
from sw_model.kernel.scenario_parser import parse_scenario_text

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def scenario(name):
    return parse_scenario_text(schedule_free(SCENARIOS / f"{name}.scn"))


@pytest.mark.parametrize("name,kind", [("pfnmap_munmap_buggy", "use-after-free"),
                                       ("reclaim_vs_mprotect_buggy", "revoked-access")])
def test_a_switch_between_operations_is_free(name, kind):
    """Each needs two switches, one of them at an operation boundary: one preemption
    when only switches inside an operation count. The witness replays on golden."""
    switch = explore(scenario(name), 2)
    in_op = explore(scenario(name), 2, count="in-op")
    assert switch.preemptions == 2 and in_op.preemptions == 1
    assert in_op.run.violations[0].kind == kind and in_op.confirmed
    text = replay_text(schedule_free(SCENARIOS / f"{name}.scn"), in_op.witness,
                       origin="the explorer")
    again = run_once(parse_scenario_text(text))
    assert again.violations[0].describe() == in_op.run.violations[0].describe()


@pytest.mark.parametrize("name", ["pfnmap_munmap_buggy", "reclaim_vs_mprotect_buggy",
                                  "zap_vs_mkclean_buggy", "pfnmap_munmap"])
def test_hashing_finds_what_the_full_search_finds(name):
    """State hashing from the first run, at every step, keyed by the agent a switch
    would preempt: the same violation with the same fewest preemptions, or none."""
    full, pruned = (explore(scenario(name), 2, count="in-op", prune=p, hash_after=0)
                    for p in (False, True))
    assert pruned.pruned > 0 and pruned.explored < full.explored
    if full.run is None:
        assert pruned.run is None and pruned.complete and full.complete
    else:
        assert pruned.run.violations[0].kind == full.run.violations[0].kind
        assert pruned.preemptions == full.preemptions


def test_race_6_found_interleaving_replays_on_golden():
    """What `explore --bound 3 --count in-op` of the schedule-free uffd_wp_vs_cow_buggy
    found and saved (docs/explore.md): cpu0, cpu1 and cpu2 each stopped inside an
    operation, three in-op preemptions; cpu3's switch after its first write is free."""
    order = "schedule order cpu3:2 cpu0:2 cpu1:2 cpu2:8 cpu3\n"
    run = run_once(parse_scenario_text(schedule_free(
        SCENARIOS / "uffd_wp_vs_cow_buggy.scn") + order))
    assert run.error is None and run.violations[0].kind == "write-after-copy"
    ends = [i for i, (agent, label) in enumerate(run.trace)
            if i + 1 < len(run.trace) and run.trace[i + 1][0] != agent]
    inside = [run.trace[i][1].endswith(": done") for i in ends]
    assert inside == [True, False, False, False]
    fixed = run_once(parse_scenario_text(schedule_free(SCENARIOS / "uffd_wp_vs_cow.scn")
                                         + order))
    assert fixed.error is None and not fixed.violations


def test_unknown_count():
    with pytest.raises(ValueError, match="unknown preemption count 'often'"):
        explore(scenario("pfnmap_munmap"), 1, count="often")


def test_cli_count(capsys):
    assert main(["explore", str(SCENARIOS / "pfnmap_munmap.scn"), "--bound", "1",
                 "--count", "in-op"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("untimed, counting in-op)")
    assert main(["explore", "x.scn", "--count", "often"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "argument --count: invalid choice" in err
