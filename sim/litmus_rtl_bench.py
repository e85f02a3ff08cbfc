"""cocotb bench: litmus tests on the system RTL through the rtl backend (in lockstep with
the model). Configured by $SHOOTDOWN_LOCKSTEP (see sim.litmus_run.run_on_rtl): the tests,
all of one system configuration; writes their results as JSON to the result path."""
import json
import os
from pathlib import Path

import cocotb
from cocotb.task import bridge

from sim.bench_support import start
from sim.litmus_run import as_json, run_tests
from sim.rtl_backend import RTLBackend, RTLLink


@cocotb.test()
async def litmus_on_rtl(dut):
    cfg = json.loads(os.environ["SHOOTDOWN_LOCKSTEP"])
    await start(dut)
    link = RTLLink(dut)

    def make(prepared):
        # Every execution resets the RTL and starts a fresh model beside it.
        return lambda: RTLBackend(link, cpus=cfg["cpus"], devices=0, tlb_entries=cfg["tlb"],
                                  faults=cfg["faults"])

    def run():
        files = [(Path(p), True) for p in cfg["tests"]]
        return as_json(run_tests(files, make, max_executions=cfg["max_executions"],
                                 snapshots=False))

    results = await bridge(run)()
    with open(cfg["result"], "w") as f:
        json.dump(results, f)
