"""The policy comparison (``shootdown compare``): every policy runs the same workloads,
every run is checked clean, and what batched reclaim saves (or not) is measured."""
import json

import pytest

from sim.cli import main
from sim.policy_compare import (COLUMNS, NOT_MODELLED_POLICIES, NOT_MODELLED_WORKLOADS,
                                POLICIES, ComparisonError, Workload, compare, plot, table)

def _pages(count):
    return [f"{0x400000 + p * 0x1000:#x}" for p in range(count)]


#: cpu 0 reclaims 6 of 8 pages of one process while cpu 1 touches them: every folio
#: has one mapping.
RECLAIM = Workload("small-reclaim", "cpu 0 reclaims 6 of 8 pages while cpu 1 touches them",
                   "cpus=2", lambda rng: [
                       "mm A", "  vma 0x400000 8 rw anon", "  populate 0x400000 8 write",
                       "cpu 0", *[f"  reclaim A {va}" for va in _pages(6)],
                       "cpu 1", *[f"  write A {va}" for va in _pages(8)[5:]]])
#: The same after a fork: the parent and the child map every folio reclaim takes,
#: clean and read-only (pages only read: LUF defers a dirty PTE's flush no more than
#: set_tlb_ubc_flush_pending() would).
RECLAIM_FORKED = Workload("small-reclaim-forked", "fork, then reclaim of shared pages",
                          "cpus=3", lambda rng: [
                              "mm P", "  vma 0x400000 8 rw anon",
                              "  populate 0x400000 8 read", "mm C",
                              "cpu 0", "  fork P C", *[f"  reclaim P {va}" for va in _pages(6)],
                              "cpu 1", *[f"  read P {va}" for va in _pages(8)[4:]],
                              "cpu 2", *[f"  read C {va}" for va in _pages(8)[4:]]])


@pytest.fixture(scope="module")
def reclaim_rows():
    return compare(3, workloads=[RECLAIM, RECLAIM_FORKED])


def _by_policy(rows, workload):
    return {(r.arch, r.reclaim): r for r in rows if r.workload is workload}


def _flush_ops(row):
    """The flushes the reclaiming CPU waits for: shootdown rounds (x86), DSBs (arm64)."""
    return row.mean("shootdowns") if row.arch == "x86" else row.mean("syncs")


def test_every_policy_runs_the_same_workload(reclaim_rows):
    rows = [r for r in reclaim_rows if r.workload is RECLAIM]
    assert [(r.arch, r.reclaim) for r in rows] == POLICIES
    assert all(len(r.runs) == 3 for r in rows)
    by = _by_policy(reclaim_rows, RECLAIM)
    assert by["arm64", "eager"].mean("dsb") > 0 and by["arm64", "eager"].mean("shootdowns") == 0
    assert by["x86", "eager"].mean("shootdowns") > 0 and by["x86", "eager"].mean("ipis") > 0
    # Besides what the IPIs carry (a partial flush each when eager, a full flush of the
    # target's PCID when batched), each CPU's first switch to A flushes its new slot.
    eager, batched = by["x86", "eager"], by["x86", "batched"]
    assert eager.kinds() == {"VAE1": eager.mean("shootdowns"),
                             "ASIDE1": eager.mean("x86_switch_flushes")}
    assert batched.kinds() == {"ASIDE1": batched.mean("shootdowns")
                               + batched.mean("x86_switch_flushes")}
    text = table(rows)
    for name in [*NOT_MODELLED_POLICIES, *NOT_MODELLED_WORKLOADS]:
        assert f"| {name} |" in text
    assert text.count("not modelled") == len(COLUMNS) * (len(NOT_MODELLED_POLICIES)
                                                         + len(NOT_MODELLED_WORKLOADS))


def test_batched_reclaim_flushes_less_than_eager(reclaim_rows):
    """With two mappings per folio, one deferred flush replaces two."""
    by = _by_policy(reclaim_rows, RECLAIM_FORKED)
    for arch in ("arm64", "x86"):
        assert _flush_ops(by[arch, "batched"]) < _flush_ops(by[arch, "eager"])
    assert by["arm64", "batched"].mean("invalidates") == by["arm64", "eager"].mean("invalidates")


def test_luf_defers_read_only_unmaps_past_the_run(reclaim_rows):
    """Pages only read and shared by fork are mapped clean and read-only, so LUF defers
    them all: fewer flushes than batched, and what it saved is what it still defers."""
    by = _by_policy(reclaim_rows, RECLAIM_FORKED)
    for arch in ("arm64", "x86"):
        luf, batched = by[arch, "luf"], by[arch, "batched"]
        assert _flush_ops(luf) < _flush_ops(batched)
        assert luf.mean("luf_deferred") >= luf.mean("luf_batches") > 0
        assert luf.mean("luf_flushes") <= luf.mean("luf_batches")
        assert batched.mean("luf_deferred") == 0


def test_a_batch_of_one_mapping_saves_no_flush(reclaim_rows):
    """reclaim is shrink_folio_list() of one folio: with one mapping the batch holds one
    page, so batched and eager flush as often (docs/policies.md says so)."""
    by = _by_policy(reclaim_rows, RECLAIM)
    for arch in ("arm64", "x86"):
        assert _flush_ops(by[arch, "batched"]) == _flush_ops(by[arch, "eager"]) > 0


def test_an_unsafe_run_stops_the_comparison():
    racy = Workload("racy", "parallel DONTNEED without the nested-flush fix", "cpus=2",
                    lambda rng: ["bug nested_flush", "mm A", "  vma 0x400000 4 rw anon",
                                 "  populate 0x400000 4 write",
                                 "cpu 0", "  write A 0x401000", "  madvise_dontneed A 0x400000 4",
                                 "cpu 1", "  write A 0x401000", "  madvise_dontneed A 0x400000 4",
                                 "  write A 0x401000"])
    with pytest.raises(ComparisonError, match=r"racy under arm64 eager, run seed=\d+: "):
        compare(40, workloads=[racy])


def test_plot_is_a_png(reclaim_rows, tmp_path):
    out = tmp_path / "policies.png"
    plot(reclaim_rows, out, 3)
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) < 100_000


def test_compare_command(tmp_path, capsys):
    out_json, out_png = tmp_path / "c.json", tmp_path / "c.png"
    assert main(["compare", "--runs", "1", "--json", str(out_json), "--plot",
                 str(out_png)]) == 0
    out = capsys.readouterr().out
    assert "| reclaim-pressure | x86 batched |" in out
    data = json.loads(out_json.read_text())
    assert {(r["arch"], r["reclaim"]) for r in data["rows"]} == set(POLICIES)
    assert out_png.read_bytes().startswith(b"\x89PNG")


def test_unwritable_plot(tmp_path, capsys):
    assert main(["compare", "--runs", "1", "--plot", str(tmp_path / "no" / "p.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write" in err and "p.png" in err
