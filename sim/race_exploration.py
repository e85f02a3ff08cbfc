"""``shootdown explore --all-races``: every race of ``sim/bugs.py``, each scenario
of its pair with its ``schedule`` line removed, given to the explorer: the buggy one must
show its race's violation kind within the bound (confirmed on the golden backend when
found on another), the fixed one none within the same bound: the preemptions its buggy
twin's violation took, or the whole bound if none was found (docs/explore.md)."""
from dataclasses import dataclass

from sim.bugs import RACES
from sw_model.kernel.explore import COUNTS, explore
from sw_model.kernel.scenario_parser import parse_scenario_text


def schedule_free(path):
    """The scenario file's text without its schedule line: the operations alone."""
    lines = path.read_text().splitlines()
    return "\n".join(line for line in lines
                     if line.split("#", 1)[0].split()[:1] != ["schedule"]) + "\n"


@dataclass
class Explored:
    race: object          # sim.bugs.Race
    variant: str          # "buggy" or "fixed"
    expect: str           # the violation kind to find, or "clean": none within the bound
    found: object         # explore.Exploration

    @property
    def ok(self):
        f = self.found
        if self.expect == "clean":
            return f.run is None and f.complete
        return (f.run is not None and f.run.violations[0].kind == self.expect
                and f.confirmed is not False)


def targets():
    """(race, variant, path, expected kind) for every race: the buggy variant's kind,
    clean for the fixed one."""
    out = []
    for race in RACES:
        buggy, fixed = race.pair
        out += [(race, "buggy", buggy, race.expect), (race, "fixed", fixed, "clean")]
    return out


def explore_races(bound, *, backend="untimed", prune=True, max_runs=None,
                  count=COUNTS[0]):
    """Each target of ``targets()`` explored, counting preemptions as ``count``: a buggy
    kernel to ``bound``, its fixed twin (which follows it) to the preemptions the buggy
    one's violation took, if it was found; an ``Explored`` each, as it is done."""
    needed = {}                     # race name -> the bound for its fixed kernel
    for race, variant, path, kind in targets():
        found = explore(parse_scenario_text(schedule_free(path), str(path)),
                        needed.get(race.name, bound), backend=backend, prune=prune,
                        max_runs=max_runs, count=count)
        if variant == "buggy" and found.run is not None:
            needed[race.name] = found.preemptions
        yield Explored(race, variant, kind, found)


def header(bound, backend, count=COUNTS[0]):
    return (f"every race without its schedule, bound {bound} (counting {count}; a fixed "
            f"kernel to the bound its buggy twin took), {backend} backend\n # {'race':24s} {'':5s} {'expected':22s} {'found':44s} "
            f"{'runs':>7} {'pruned':>7} {'seconds':>7} {'runs/s':>6}")


def row(r):
    f = r.found
    if f.run is not None:
        seen = f"{f.run.violations[0].kind} ({f.preemptions} preemptions" + \
            {True: ", confirmed)", False: ", NOT confirmed)", None: ")"}[f.confirmed]
    else:
        seen = f"none within bound {f.bound}" + ("" if f.complete else
                                                 " (stopped at the run limit)")
    deadlocks = f" [{len(f.errors)} deadlocked]" if f.errors else ""
    return (f"{r.race.number:>2} {r.race.name:24s} {r.variant:5s} {r.expect:22s} "
            f"{seen + deadlocks:44s} {f.explored:>7} {f.pruned:>7} {f.seconds:>7.2f} "
            f"{f.rate:>6.0f}  {'ok' if r.ok else 'WRONG'}")


def footer(results):
    seconds = sum(r.found.seconds for r in results)
    wrong = sum(not r.ok for r in results)
    return (f"{len(results) - wrong} of {len(results)} as expected, {wrong} wrong; "
            f"{sum(r.found.explored for r in results)} interleavings explored, "
            f"{sum(r.found.pruned for r in results)} pruned, {seconds:.1f} s")
