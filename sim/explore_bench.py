"""The explorer's speed (docs/benchmarks.md): interleavings per second on small scenarios
(2–3 CPUs, at most 20 steps per interleaving), each explored to the same bound on the
timed (golden) backend and on the untimed one, with and without state hashing (from the
first run, and the default: from run 500), and counting only preemptions inside an
operation (``--count in-op``: more interleavings within the bound), in one run so the
ratios compare like with like. Pruned runs are not counted as explored.

    python -m sim.explore_bench [--bound K]
"""
import argparse
import os
import platform

from sim.race_exploration import schedule_free, targets
from sw_model.kernel.explore import explore
from sw_model.kernel.runner import run_once
from sw_model.kernel.scenario_parser import parse_scenario_text

#: A small scenario: 2 to MAX_AGENTS agents, at most MAX_STEPS steps (in its default
#: interleaving).
MAX_AGENTS, MAX_STEPS = 3, 20
#: (label, explore() options)
MODES = (("timed", dict(backend="golden", prune=False)),
         ("untimed", dict(backend="untimed", prune=False)),
         ("untimed, hashing from run 0", dict(backend="untimed", hash_after=0)),
         ("untimed, default", dict(backend="untimed")),
         ("untimed, default, counting in-op", dict(backend="untimed", count="in-op")))


def steps(scenario):
    """The steps of the scenario's default interleaving (agents in order)."""
    return len(run_once(scenario, None, "untimed").trace)


def small():
    """(name, schedule-free scenario, steps) of the fixed race scenarios (nothing to
    find: the whole bound is explored) that are small."""
    out = []
    for race, variant, path, _ in targets():
        scenario = parse_scenario_text(schedule_free(path), str(path))
        if variant == "fixed" and 2 <= len(scenario.threads) <= MAX_AGENTS:
            n = steps(scenario)
            if n <= MAX_STEPS:
                out.append((race.name, scenario, n))
    return out


def measure(bound):
    rows = []
    for name, scenario, n in small():
        agents = len(scenario.threads)
        for label, options in MODES:
            found = explore(scenario, bound, **options)
            if found.run is not None or not found.complete:
                raise RuntimeError(f"{name}: the fixed kernel showed "
                                   f"{found.run.violations[0].describe()}")
            rows.append((name, agents, n, label, found))
    return rows


def report(rows, bound):
    lines = [f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}; bound {bound}, schedule-free fixed scenarios",
             "", "| scenario | agents | steps | mode | interleavings | pruned | s | "
             "interleavings/s |", "|---|---:|---:|---|---:|---:|---:|---:|"]
    for name, agents, n, label, f in rows:
        lines.append(f"| {name} | {agents} | {n} | {label} | {f.explored} | {f.pruned} | "
                     f"{f.seconds:.2f} | {f.rate:,.0f} |")
    total = {}
    for *_, label, f in rows:
        explored, seconds = total.get(label, (0, 0.0))
        total[label] = (explored + f.explored, seconds + f.seconds)
    lines += ["", "| mode | interleavings | s | interleavings/s | time / timed |",
              "|---|---:|---:|---:|---:|"]
    timed = total["timed"][1]
    for label, (explored, seconds) in total.items():
        lines.append(f"| {label} | {explored} | {seconds:.2f} | {explored / seconds:,.0f} | "
                     f"{seconds / timed:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sim.explore_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--bound", type=int, choices=range(0, 5), default=2,
                        metavar="K", help="preemption bound, 0 to 4 (default 2)")
    args = parser.parse_args(argv)
    print(report(measure(args.bound), args.bound))


if __name__ == "__main__":
    main()
