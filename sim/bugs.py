"""``shootdown bugs``: the historical Linux TLB races of /work/shared/KERNEL_NOTES.md as a
benchmark. Each race is a pair of shipped scenarios, ``NAME_buggy.scn`` (the
kernel before the fix) and ``NAME.scn`` (after it), run on a backend: the buggy one must
be flagged with the race's violation kind, the fixed one clean (docs/bugs.md)."""
from dataclasses import dataclass
from pathlib import Path

from sw_model.kernel.scenario_parser import parse_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@dataclass(frozen=True)
class Race:
    number: int
    year: int
    name: str             # the scenario pair's stem: NAME_buggy.scn, NAME.scn
    change: str           # the kernel change (fix) the pair models
    expect: str           # the buggy variant's violation kind

    @property
    def pair(self):
        return (SCENARIOS / f"{self.name}_buggy.scn", SCENARIOS / f"{self.name}.scn")


RACES = [
    Race(1, 2012, "pae_torn_read", "CVE-2012-2373: pmd_read_atomic() in walkers under "
         "mmap_lock read", "wrong-page-table"),
    Race(2, 2013, "numa_hint_vs_migration", "pte_accessible() honours tlb_flush_pending",
         "use-after-free"),
    Race(3, 2017, "reclaim_vs_mprotect", "flush_tlb_batched_pending()", "revoked-access"),
    Race(4, 2017, "parallel_dontneed", "tlb_finish_mmu() flushes a nested gather",
         "stale-translation"),
    Race(5, 2018, "mremap_vs_truncate", "CVE-2018-18281: move_ptes() flushes before "
         "dropping the PTL", "use-after-free"),
    Race(6, 2020, "uffd_wp_vs_cow", "do_wp_page() flushes a pending uffd-wp change",
         "write-after-copy"),
    Race(7, 2021, "huge_pmd_unshare", "CVE-2021-4002: huge_pmd_unshare() flushes the "
         "PUD range", "stale-translation"),
    Race(8, 2022, "pfnmap_munmap", "CVE-2022-39188: tlb_end_vma() flushes VM_PFNMAP",
         "use-after-free"),
    Race(9, 2022, "zap_vs_mkclean", "zap delays the rmap removal past the flush",
         "write-to-clean"),
    Race(10, 2022, "gup_fast_vs_collapse", "tlb_remove_table_sync_one() after collapse; "
         "GUP-fast re-checks the PMD", "pinned-page-replaced"),
    Race(11, 2023, "smmu_upgrade", "arch_invalidate_secondary_tlbs() in the arm64 flush",
         "stuck-access"),
    Race(12, 2017, "cow_device_order", "ptep_clear_flush_notify() in wp_page_copy()",
         "cow-reorder"),
    Race(13, 2025, "x86_switch_mm_window", "CVE-2025-37964: should_flush_tlb() IPIs a CPU "
         "in switch_mm", "use-after-free"),
    Race(14, 2024, "luf_reclaim", "LUF flushes before a page-cache slot is refilled",
         "luf-pagecache-replace"),
]


class UnknownRace(ValueError):
    pass


def select(name=None):
    """All races, or the one named (by name or number)."""
    if name is None:
        return RACES
    found = [r for r in RACES if name in (r.name, str(r.number))]
    if not found:
        raise UnknownRace(f"unknown race {name!r}; known: "
                          f"{', '.join(r.name for r in RACES)}")
    return found


@dataclass
class Side:
    """One scenario of a pair on a backend."""
    path: str
    expect: str           # the scenario file's own expectation
    observed: list        # violation kinds, or ["clean"]
    met: bool             # the backend's verdict on the file's expectation
    divergence: dict | None = None   # rtl: where the RTL left the model

    def behaves(self, kind):
        return self.expect == kind and self.met and self.divergence is None


@dataclass
class RaceResult:
    race: Race
    buggy: Side | None = None
    fixed: Side | None = None

    @property
    def ok(self):
        return self.buggy.behaves(self.race.expect) and self.fixed.behaves("clean")

    def as_json(self):
        r = self.race
        sides = {k: s and dict(path=s.path, expect=s.expect, observed=s.observed,
                               met=s.met, divergence=s.divergence)
                 for k, s in (("buggy", self.buggy), ("fixed", self.fixed))}
        return dict(number=r.number, year=r.year, name=r.name, change=r.change,
                    expect=r.expect, ok=self.ok, **sides)


def _golden(path):
    from sw_model.kernel.runner import run_scenario
    scenario = parse_scenario(path)
    result = run_scenario(scenario)
    return Side(str(path), scenario.expect, result.violation_kinds or ["clean"], result.met)


def _rtl(sim, build_root):
    from sim.rtl_run import run_on_rtl

    def run(path):
        scenario = parse_scenario(path)
        rtl = run_on_rtl(scenario, sim=sim, build_root=build_root)
        return Side(str(path), scenario.expect, rtl.report["observed"], rtl.met,
                    rtl.divergence)
    return run


def run_races(races, backend="golden", sim="verilator", build_root=None, progress=None):
    """Each race's pair on ``backend`` (golden, or rtl: lockstep on ``sim``)."""
    run = _golden if backend == "golden" else _rtl(sim, build_root)
    results = []
    for race in races:
        buggy, fixed = race.pair
        result = RaceResult(race, run(buggy), run(fixed))
        results.append(result)
        if progress:
            progress(result)
    return results


def _side(side, kind):
    seen = ", ".join(side.observed)
    if side.divergence:
        return f"DIVERGED ({side.divergence.get('where', 'the RTL left the model')})"
    if not side.behaves(kind):
        return f"WRONG: {seen} (expected {kind})"
    return "clean" if kind == "clean" else f"flagged {seen}"


def row(result):
    r = result.race
    head = f"{r.number:>2} {r.year} {r.name:24s}"
    buggy = _side(result.buggy, r.expect)
    return f"{head} buggy -> {buggy:36s} fixed -> {_side(result.fixed, 'clean')}"


def table(results, backend):
    lines = [f" # year race                     on the {backend} backend"]
    lines += [row(r) for r in results]
    flagged = sum(r.ok for r in results)
    lines.append(f"{flagged} of {len(results)} races flagged in their buggy order and clean "
                 f"when fixed, {len(results) - flagged} wrong")
    return "\n".join(lines)
