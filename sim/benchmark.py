"""Benchmarks of the lockstep diff, measured in one run so the ratios compare like with
like: lockstep vs plain cocotb on the same RTL and stimulus, per simulator, the model
alone, and the synthesized MMU's resources. Of one MMU, or (``system``) of the whole
multi-core system."""
import platform
import os

from sim.lockstep import DEFAULT_MMU, run_model, run_rtl
from sim.system_lockstep import DEFAULT_SYSTEM, run_system_model, run_system_rtl
from sim.toolchain import have_icarus


def run_benchmarks(*, cycles=100_000, seed=1, sims=None, synth=True, system=False,
                   build_root="build", progress=print):
    sims = sims or (["verilator", "icarus"] if have_icarus() else ["verilator"])
    rtl, model = (run_system_rtl, run_system_model) if system else (run_rtl, run_model)
    rows = []
    for sim in sims:
        for mode in ("lockstep", "plain"):
            progress(f"  {sim} {mode} ...")
            r = rtl(sim, cycles=cycles, seed=seed, mode=mode, build_root=build_root)
            if r.status != "ok":
                raise RuntimeError(f"{sim} {mode} diverged at cycle {r.divergence['cycle']}")
            rows.append(r)
    progress("  model alone ...")
    rows.append(model(cycles=cycles, seed=seed))
    resources = {}
    if synth and not system:
        from sim.synth import synthesize
        for target in ("ice40", "ecp5"):
            progress(f"  synthesis {target} ...")
            r = synthesize(target, DEFAULT_MMU, os.path.join(build_root, f"synth-{target}"))
            resources[target] = {k: v for k, v in r.items() if k != "cells"}
    return rows, resources


def report(rows, resources, cycles, seed, system=False):
    speed = {(r.sim, r.mode): r.cycles_per_second for r in rows}
    design = f"system {DEFAULT_SYSTEM}" if system else f"MMU {DEFAULT_MMU}"
    lines = [f"machine: {platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}; {design}; "
             f"{cycles} cycles, seed {seed}", "",
             "| run | cycles/s | peak RSS (MB) |", "|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.mode} on {r.sim} | {r.cycles_per_second:,.0f} | "
                     f"{r.peak_rss_kb / 1024:.0f} |")
    lines += ["", "| ratio | value |", "|---|---:|"]
    model = speed[("model", "model")]
    for sim in sorted({r.sim for r in rows} - {"model"}):
        lock, plain = speed[(sim, "lockstep")], speed[(sim, "plain")]
        lines.append(f"| {sim}: lockstep / plain cocotb | {lock / plain:.2f} |")
        lines.append(f"| model alone / plain cocotb on {sim} | {model / plain:.1f} |")
    if resources:
        lines += ["", "| target | LUT | FF | BRAM | carry |", "|---|---:|---:|---:|---:|"]
        for target, r in resources.items():
            lines.append(f"| {target} | {r['LUT']} | {r['FF']} | {r['BRAM']} | {r['carry']} |")
    return "\n".join(lines)
