"""``shootdown bugs``: every modelled historical race flagged with its kind in its buggy
order and clean when fixed, on the golden backend; the CLI; one race on the RTL."""
import json

import pytest

from sim.bugs import RACES, run_races, select
from sim.cli import main
from sw_model.kernel.scenario_parser import parse_scenario


def test_the_table_names_the_14_races_and_each_pair_expects_what_the_table_says():
    assert [r.number for r in RACES] == list(range(1, 15))
    for race in RACES:
        buggy, fixed = (parse_scenario(p) for p in race.pair)
        assert (buggy.expect, fixed.expect) == (race.expect, "clean"), race.name
        assert race.expect != "clean", race.name


def test_golden_every_buggy_flagged_with_its_kind_every_fixed_clean():
    for result in run_races(RACES):
        race = result.race
        assert result.ok, race.name
        assert result.buggy.observed == [race.expect], race.name
        assert result.fixed.observed == ["clean"], race.name


def test_cli_table(capsys):
    assert main(["bugs"]) == 0
    out = capsys.readouterr().out
    assert "reclaim_vs_mprotect      buggy -> flagged revoked-access" in out
    assert "pae_torn_read            buggy -> flagged wrong-page-table" in out
    assert "huge_pmd_unshare         buggy -> flagged stale-translation" in out
    assert "14 of 14 races flagged in their buggy order and clean when fixed, 0 wrong" in out


def test_cli_one_race_by_name_or_number_with_json(capsys, tmp_path):
    out = tmp_path / "bugs.json"
    assert main(["bugs", "luf_reclaim", "--json", str(out)]) == 0
    assert main(["bugs", "14"]) == 0
    text = capsys.readouterr().out
    assert text.count("luf_reclaim") == 2 and "smmu_upgrade" not in text
    data = json.loads(out.read_text())
    [race] = data["races"]
    assert (data["backend"], race["number"], race["ok"]) == ("golden", 14, True)
    assert race["buggy"]["observed"] == ["luf-pagecache-replace"]
    assert race["fixed"]["observed"] == ["clean"]


@pytest.mark.parametrize("argv,message", [
    (["bugs", "nope"], "unknown race 'nope'; known: pae_torn_read, "),
    (["bugs", "--sim", "icarus"], "--sim is for --backend rtl"),
    (["bugs", "--backend", "fpga"], "invalid choice: 'fpga'"),
    (["bugs", "3", "--json", "/no/such/dir/x.json"], "cannot write /no/such/dir/x.json"),
])
def test_cli_bad_usage_is_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_a_race_on_the_rtl(sim, build_root):
    """reclaim_vs_mprotect: 2 CPUs, a configuration tests/test_rtl_scenarios.py builds."""
    [result] = run_races(select("reclaim_vs_mprotect"), "rtl", sim, build_root)
    assert result.ok
    assert result.buggy.observed == ["revoked-access"] and result.buggy.divergence is None
    assert result.fixed.observed == ["clean"] and result.fixed.divergence is None
