"""What ``shootdown run`` prints and writes: a terminal summary of a scenario's runs and
the same as JSON."""
from collections import Counter

from sw_model.kernel.vocabulary import VIOLATIONS

#: How many steps of a violating interleaving the summary shows (the JSON has them all).
SHOWN_STEPS = 60


def totals(result):
    total = Counter()
    for run in result.runs:
        total.update(run.stats)
    return total


def x86_line(t):
    """What x86's flush_tlb_func() did on the targets, the IPIs should_flush_tlb()
    skipped, and the context switches' flushes."""
    return (f"  x86 flush_tlb_func: partial {t['x86_partial_flushes']}, full "
            f"{t['x86_full_flushes']}, up to date {t['x86_flushes_up_to_date']}, not loaded "
            f"{t['x86_cpumask_trimmed']}; IPIs {t['ipis']} (skipped: lazy "
            f"{t['x86_ipis_skipped_lazy']}, other mm loaded {t['x86_ipis_skipped_not_loaded']}"
            f"); switch_mm flushes {t['x86_switch_flushes']}, without flush "
            f"{t['x86_switch_noflush']}, lazy catch-ups {t['x86_lazy_catchup_flushes']}")


def summary(result, seconds=None):
    """The terminal report; with ``seconds`` (wall time of the runs), the throughput."""
    s = result.scenario
    t = totals(result)
    cycles = sum(r.cycles for r in result.runs)
    ops = sum(len(ops) for ops in s.threads.values()) * len(result.runs)
    invalidates = {k[len("hw_invalidates_"):]: v for k, v in sorted(t.items())
                   if k.startswith("hw_invalidates_") and v}
    lines = [
        f"scenario {s.name} ({s.path}): {len(result.runs)} run(s), arch {s.system['arch']}, "
        f"reclaim {s.system['reclaim']}, {s.system['cpus']} CPU(s), "
        f"{s.system['devices']} device(s)",
        f"  operations {ops}, steps {sum(len(r.trace) for r in result.runs)}, "
        f"accesses {t['accesses']}, page faults {t['faults']} ({t['spurious_faults']} "
        f"spurious), cycles {cycles}",
        f"  TLB fills {t['hw_tlb_fills']}, walks {t['hw_walks']}, invalidates "
        + (", ".join(f"{k} {v}" for k, v in invalidates.items()) or "0")
        + f", syncs {t['hw_syncs']}, shootdowns {t['hw_shootdowns']}",
        f"  PTEs installed {t['ptes_installed']}, pages freed {t['pages_freed']}",
    ]
    if s.system["arch"] == "x86":
        lines.append(x86_line(t))
    if s.system["reclaim"] == "luf":
        lines.append(f"  LUF: batches flushed {t['luf_flushes']}, skipped (every CPU past "
                     f"the key) {t['luf_flushes_skipped']}, CPUs skipped "
                     f"{t['luf_cpus_skipped']}")
    if t["stuck_accesses"]:
        lines.append(f"  STUCK: {t['stuck_accesses']} access(es) still faulting after "
                     "every fault was handled (a liveness failure)")
    if seconds:
        lines.append(f"  {seconds:.2f} s: {ops / seconds:,.0f} kernel operations/s, "
                     f"{cycles / seconds:,.0f} simulated cycles/s ({s.system['cpus']} CPUs, "
                     f"{result.backend} backend)")
    for run in result.runs:
        if run.error:
            lines.append(f"  run seed={run.seed}: ERROR {run.error}")
    flagged = [r for r in result.runs if r.violations]
    for run in flagged[:1]:
        v = run.violations[0]
        lines.append(f"  VIOLATION (run seed={run.seed}, step {v.step + 1}): {v.describe()}")
        m = result.minimal
        mv = m.run.violations[0]
        dropped = ", ".join(f"{op.name} (line {op.line})" for op in m.dropped) or "none"
        lines.append(f"  minimal interleaving: {mv.step + 1} steps of {v.step + 1}, in "
                     f"{len(m.run.segments(mv.step))} runs of one agent's steps; operations "
                     f"not needed: {dropped} ({m.replays} replays)")
        steps = m.run.interleaving(mv.step)
        if len(steps) > SHOWN_STEPS:
            lines.append(f"  ... {len(steps) - SHOWN_STEPS} earlier steps (see --json)")
        lines += ["  " + line for line in steps[-SHOWN_STEPS:]]
    if flagged:
        lines.append(f"  {len(flagged)} of {len(result.runs)} run(s) flagged: "
                     + ", ".join(result.violation_kinds))
    verdict = "met" if result.met else "NOT met"
    seen = "clean" if not result.violation_kinds else ", ".join(result.violation_kinds)
    lines.append(f"  expectation {s.expect}: {verdict} (observed: {seen})")
    return "\n".join(lines)


def as_json(result):
    s = result.scenario
    return {
        "scenario": s.name, "path": str(s.path), "system": s.system, "expect": s.expect,
        "met": result.met, "observed": result.violation_kinds or ["clean"],
        "totals": dict(totals(result)),
        "x86": {k: v for k, v in totals(result).items() if k.startswith(("x86_", "ipi"))},
        "runs": [{
            "seed": r.seed, "cycles": r.cycles, "error": r.error, "stats": dict(r.stats),
            "violations": [dict(kind=v.kind, meaning=VIOLATIONS[v.kind], agent=v.agent,
                                mm=v.mm, va=v.va, pa=v.pa, write=v.write, step=v.step + 1)
                           for v in r.violations],
            "interleaving": [{"agent": a, "step": label} for a, label in r.trace],
        } for r in result.runs],
        "minimal": result.minimal and {
            "seed": result.minimal.seed,
            "dropped_operations": [dict(name=op.name, line=op.line)
                                   for op in result.minimal.dropped],
            "interleaving": [{"agent": a, "step": label} for a, label in
                             result.minimal.run.trace[:result.minimal.run.violations[0].step + 1]],
        },
    }
