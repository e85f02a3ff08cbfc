"""``shootdown explore``: the preemption-bounded search finds each shipped buggy scenario's
violation from its operations alone (no schedule), its report replays to the same
violation, and the fixed kernels show none within the bound."""
from pathlib import Path

import pytest

from sim import race_exploration
from sim.cli import main
from sw_model.kernel.explore import confirmation, explore
from sw_model.kernel.runner import replay_text, run_once
from sw_model.kernel.scenario_parser import parse_scenario_text

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
BOUND = 2


def schedule_free(name):
    """The shipped scenario's text without its schedule line: the operations alone."""
    return race_exploration.schedule_free(SCENARIOS / f"{name}.scn")


@pytest.mark.parametrize("name,kind", [
    ("reclaim_vs_mprotect_buggy", "revoked-access"),
    ("parallel_dontneed_buggy", "stale-translation"),
    ("pfnmap_munmap_buggy", "use-after-free"),
])
def test_finds_the_violation_and_its_report_replays_it(name, kind):
    text = schedule_free(name)
    found = explore(parse_scenario_text(text), BOUND)
    assert found.run is not None, f"{name}: {found.explored} interleavings, no violation"
    violation = found.run.violations[0]
    assert violation.kind == kind
    assert found.preemptions <= BOUND
    assert found.backend == "untimed" and found.confirmed

    replay = parse_scenario_text(replay_text(text, found.witness, origin="the explorer"))
    assert replay.schedule.kind == "order" and replay.expect == kind
    again = run_once(replay)
    assert again.error is None and again.violations
    assert again.violations[0].describe() == violation.describe()
    assert again.trace == found.witness.trace[:violation.step + 1]


@pytest.mark.parametrize("name", ["parallel_dontneed", "pfnmap_munmap"])
def test_fixed_kernels_show_none_within_the_bound(name):
    found = explore(parse_scenario_text(schedule_free(name)), BOUND)
    assert found.run is None and not found.errors and found.complete
    assert found.explored > 10


def test_fixed_reclaim_vs_mprotect_shows_none():
    """This explorer once found the fixed kernel's window here: mprotect() ran
    flush_tlb_batched_pending() before its PTE loop instead of under the PTE lock."""
    found = explore(parse_scenario_text(schedule_free("reclaim_vs_mprotect")), BOUND)
    assert found.run is None


@pytest.mark.parametrize("prune", [False, True])
def test_no_interleaving_is_run_twice(prune):
    seen = []

    def recording(scenario, seed, backend, policy, on_start):
        run = run_once(scenario, seed, backend, policy=policy, on_start=on_start)
        seen.append(tuple(run.trace))
        return run
    found = explore(parse_scenario_text(schedule_free("pfnmap_munmap")), BOUND,
                    run_once=recording, prune=prune, hash_after=0)
    assert len(seen) == found.explored == len(set(seen))
    assert (found.pruned > 0) == prune


def test_bound_zero_runs_only_the_free_switches():
    found = explore(parse_scenario_text(schedule_free("pfnmap_munmap_buggy")), 0)
    assert found.run is None and found.explored == 2    # which agent goes first


def test_max_runs_stops_the_search():
    found = explore(parse_scenario_text(schedule_free("parallel_dontneed")), BOUND,
                    max_runs=5)
    assert found.explored + found.pruned == 5 and not found.complete


def test_cli_reports_and_saves_a_replayable_violation(tmp_path, capsys):
    source = tmp_path / "free.scn"
    source.write_text(schedule_free("pfnmap_munmap_buggy"))
    saved = tmp_path / "found.scn"
    assert main(["explore", str(source), "--save-violation", str(saved)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("violation after ") and "interleavings/s" in out
    assert saved.read_text() in out
    assert main(["run", str(saved)]) == 0            # its expectation is met
    assert "expectation use-after-free: met" in capsys.readouterr().out


@pytest.mark.parametrize("options,says", [
    ([], " 0 pruned, untimed)"), (["--no-prune"], " 0 pruned, untimed)"),
    (["--mode", "timed"], " pruned, golden)")])
def test_cli_reports_none_within_the_bound(options, says, capsys):
    assert main(["explore", str(SCENARIOS / "pfnmap_munmap.scn"), "--bound", "1",
                 *options]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no violation within bound 1, ") and out.rstrip().endswith(says)


def test_cli_says_the_violation_is_confirmed(tmp_path, capsys):
    source = tmp_path / "free.scn"
    source.write_text(schedule_free("reclaim_vs_mprotect_buggy"))
    assert main(["explore", str(source)]) == 1
    assert capsys.readouterr().out.splitlines()[1] == "  confirmed on the golden backend"


@pytest.mark.parametrize("argv,message", [
    (["explore"], "explore needs a scenario file, or --all-races"),
    (["explore", "x.scn", "--all-races"], "--all-races takes no scenario"),
    (["explore", "x.scn", "--mode", "fast"], "argument --mode: invalid choice: 'fast'"),
    (["explore", "no/such.scn"], "no/such.scn: "),
    (["explore", "x.scn", "--bound", "-1"], "bound '-1' must not be negative"),
    (["explore", "x.scn", "--bound", "two"], "bound 'two' is not an integer"),
    (["explore", "x.scn", "--max-runs", "0"], "'0' must be positive"),
])
def test_bad_arguments(argv, message, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err


@pytest.mark.parametrize("name", ["reclaim_vs_mprotect_buggy", "pfnmap_munmap_buggy",
                                  "zap_vs_mkclean_buggy", "parallel_dontneed",
                                  "zap_vs_mkclean"])
def test_pruning_finds_what_the_full_search_finds(name):
    """State hashing (from the first run) is sound here: the same violation kind with the
    same (fewest) preemptions, or none, as without it; and it prunes."""
    scenario = parse_scenario_text(schedule_free(name))
    full, pruned = (explore(scenario, BOUND, prune=p, hash_after=0) for p in (False, True))
    assert pruned.pruned > 0 and pruned.explored < full.explored
    if full.run is None:
        assert pruned.run is None and pruned.complete
    else:
        assert pruned.run.violations[0].kind == full.run.violations[0].kind
        assert pruned.preemptions == full.preemptions


def test_timed_mode_needs_no_confirmation():
    found = explore(parse_scenario_text(schedule_free("pfnmap_munmap_buggy")), BOUND,
                    backend="golden")
    assert found.run.violations[0].kind == "use-after-free"
    assert found.confirmation is None and found.confirmed is None


def test_a_copy_that_loses_its_race_is_no_write_after_copy():
    """This explorer found the checker flagging the fixed uffd_wp_vs_cow: cpu3's
    wp_page_copy() copied the page and was preempted; cpu2's write fault reused the page
    (a writable PTE) and wrote it. cpu3's pte_same() re-check then drops its copy, so
    the write is not lost: no violation."""
    text = schedule_free("uffd_wp_vs_cow") + "schedule order cpu2:3 cpu0:5 cpu1:5 " \
        "cpu3:3 cpu2:8 cpu3:op\n"
    run = run_once(parse_scenario_text(text))
    assert run.error is None and not run.violations
    assert ("cpu3", "do_wp_page 0x400000: PTE changed, retry") in run.trace
    assert ("cpu2", "write A 0x400000 -> 0x104000") in run.trace


def test_a_spurious_fault_waits_for_the_upgrade_to_be_flushed():
    """This explorer found cpu2 stuck (bound 3, uffd_wp_vs_cow_buggy): cpu3's fault made
    the PTE writable and was preempted before its flush; cpu2's write kept hitting its
    stale read-only entry, and its fault, seeing a writable PTE, called it spurious
    without the PTL. handle_pte_fault() takes the PTL there, so it waits for the flush."""
    text = schedule_free("uffd_wp_vs_cow_buggy") + \
        "schedule order cpu2:2 cpu0:5 cpu1:5 cpu2:5 cpu3:3 cpu2:2\n"
    run = run_once(parse_scenario_text(text))
    assert run.error is None and not run.violations
    assert run.trace[19:22] == [
        ("cpu3", "do_wp_page 0x400000: reuse 0x104000"),
        ("cpu2", "handle_pte_fault 0x400000: ptep_get_lockless = 0xe8000000104f43"),
        ("cpu2", "write A 0x400000: waits for ptl 0x103000")]


def test_a_violation_the_golden_backend_does_not_show_is_reported_unconfirmed():
    found = explore(parse_scenario_text(schedule_free("pfnmap_munmap_buggy")), BOUND)
    clean = run_once(parse_scenario_text(schedule_free("pfnmap_munmap")))
    found.confirmation = clean
    assert found.confirmed is False
    assert confirmation(found) == ("NOT confirmed on the golden backend, which shows: "
                                   "no violation")


def test_hashing_starts_after_the_first_runs():
    scenario = parse_scenario_text(schedule_free("zap_vs_mkclean"))
    late = explore(scenario, BOUND, hash_after=400)
    assert late.explored >= 400 and 0 < late.pruned < explore(scenario, BOUND,
                                                                hash_after=0).pruned


def test_a_spurious_fault_waits_for_a_pending_flush():
    """This explorer (counting in-op preemptions) found the fixed zap_vs_mkclean stuck:
    cpu1 cached the write-protected entry; cpu0's MADV_DONTNEED cleared the clean PTE,
    its flush deferred; cpu1's fault installed a writable PTE and its retries kept
    hitting the stale entry, each a spurious fault (a no-op on arm64), until the access
    counted as stuck. arm64 leaves that entry to cpu0's broadcast flush: cpu1 waits."""
    text = schedule_free("zap_vs_mkclean") + \
        "schedule order cpu1:6 cpu2:4 cpu1 cpu0:2 cpu1:7\n"
    run = run_once(parse_scenario_text(text))
    assert run.error is None and not run.violations
    assert run.trace[17:21] == [
        ("cpu1", "handle_pte_fault 0x400000: ptep_get_lockless = 0xe8000000104f43"),
        ("cpu1", "handle_pte_fault 0x400000: spurious"),
        ("cpu1", "write A 0x400000: waits for a pending TLB flush"),
        ("cpu0", "flush_tlb_range 0x400000-0x401000")]
