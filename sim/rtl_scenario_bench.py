"""cocotb bench: a kernel scenario run on the system RTL through the rtl backend (in
lockstep with the model). Configured by $SHOOTDOWN_LOCKSTEP (see sim.rtl_run); writes the
terminal summary, the JSON report and the divergence, if any, to the result path, and
with ``report`` set the files of ``shootdown run --report`` (sim/report_files.py)."""
import json
import os
import time
from pathlib import Path

import cocotb
from cocotb.task import bridge

from sim.bench_support import start
from sim.rtl_backend import RTLBackend, RTLLink
from sim.report_files import write_report
from sim.run_report import as_json, summary
from sw_model.kernel.runner import run_scenario
from sw_model.kernel.scenario_parser import parse_scenario


class RTLBackendFactory:
    """Makes the rtl backend of a run (each run resets the RTL); named in reports."""

    def __init__(self, link, sim, waves):
        self.link, self.sim, self.waves = link, sim, waves

    def __call__(self, system):
        return RTLBackend(self.link, cpus=system["cpus"], devices=system["devices"],
                          tlb_entries=system["tlb"], waves=self.waves)

    def __str__(self):
        return f"rtl ({self.sim})"


@cocotb.test()
async def scenario_on_rtl(dut):
    cfg = json.loads(os.environ["SHOOTDOWN_LOCKSTEP"])
    scenario = parse_scenario(cfg["scenario"])
    await start(dut)
    backend = RTLBackendFactory(RTLLink(dut), cfg["sim"], cfg["waves"])

    def run():
        # The report too: a minimal interleaving is searched for by replays on the RTL.
        started = time.perf_counter()
        result = run_scenario(scenario, backend=backend, seed=cfg["seed"], runs=cfg["runs"],
                              record=bool(cfg["report"]))
        elapsed = time.perf_counter() - started
        text = summary(result, elapsed)
        if cfg["report"]:
            write_report(result, text, Path(cfg["report"]))
        return result, text, as_json(result)

    result, text, report = await bridge(run)()
    diverged = next((r for r in result.runs if r.divergence), None)
    out = {"met": result.met, "summary": text, "report": report,
           "cycles": sum(r.cycles for r in result.runs), "divergence": None}
    if diverged:
        d = diverged.divergence
        out["divergence"] = {"cycle": d.cycle, "where": diverged.error, "signals": [
            {"signal": s, "expected": e, "actual": a} for s, e, a in d.signals]}
    with open(cfg["result"], "w") as f:
        json.dump(out, f)
