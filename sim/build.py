"""Verilog generation and cached simulator builds of the bus-wrapped MMU."""
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
from pathlib import Path

import amaranth
from amaranth.back import verilog
from cocotb_tools.runner import get_runner

from sim.bus_top import BusTop
from sim.ice40_cells import cell_models
from sim.toolchain import setup_simulator

TOPLEVEL = "bus_top"
DEFAULT_BUILD_ROOT = Path("build")
REPO_ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def hdl_source_hash():
    """A hash of everything generated Verilog depends on besides its parameters: the
    design's sources (hdl/, the simulation tops) and the Amaranth version."""
    h = hashlib.sha256(amaranth.__version__.encode())
    for path in sorted([*(REPO_ROOT / "hdl").glob("*.py"), REPO_ROOT / "sim" / "bus_top.py",
                        REPO_ROOT / "sim" / "system_bus_top.py"]):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def cached_verilog(build_root, toplevel, params, convert):
    """The Verilog ``convert()`` generates for ``params`` (Amaranth's conversion through
    Yosys takes seconds for the system), kept under ``build_root/verilog`` and reused
    while the parameters and the design's sources are unchanged (``build_root`` None:
    not kept)."""
    if build_root is None:
        return convert()
    key = hashlib.sha256((json.dumps(params, sort_keys=True) + hdl_source_hash())
                         .encode()).hexdigest()[:12]
    path = Path(build_root) / "verilog" / f"{toplevel}-{key}.v"
    if path.exists():
        return path.read_text()
    text = convert()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")   # parallel builds: rename is atomic
    partial.write_text(text)
    partial.replace(path)
    return text


def bus_top_verilog(mmu_params, faults=(), build_root=DEFAULT_BUILD_ROOT):
    return cached_verilog(build_root, TOPLEVEL, dict(mmu_params, faults=sorted(faults)),
                          lambda: verilog.convert(BusTop(**mmu_params, faults=faults),
                                                  name=TOPLEVEL, emit_src=False))


_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$",
                      re.MULTILINE)


def retrigger_comb_blocks(text):
    """Make every `always @*` block of Yosys' Verilog run once after time 0 on Icarus.

    Yosys puts a dummy register in each such block so that its initialisation wakes the
    block at time 0; Icarus 11 may initialise it before the block waits on it, and logic
    fed only by unchanging registers then stays X (a TLB victim of X never fills). Toggling
    the register at 1 ns wakes every block again, before the first reset edge is sampled.
    """
    return _TRIGGER.sub(lambda m: f"{m[1]}reg {m[2]} = 0;\n{m[1]}initial #1 {m[2]} = 1;", text)


def build(sim, mmu_params, build_root=DEFAULT_BUILD_ROOT, waves=False, faults=()):
    """Build (or reuse) the simulation of ``mmu_params`` (with simulation-only hardware
    ``faults``) on ``sim``; returns (runner, build_dir)."""
    return build_verilog(sim, bus_top_verilog(mmu_params, faults, build_root), TOPLEVEL,
                         build_root, waves)


# cocotb's runner makes every signal of the design public to VPI (--public-flat-rw), which
# keeps Verilator from optimising across them: the 4-CPU system's eval took 4-5x as long.
# The benches touch only these ports of the top module, so only they are made public.
BENCH_PORTS = ("clk", "rst", "i_bus", "o_bus")
VERILATOR_ARGS = ["-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "fast",
                  "--no-public-flat-rw"]


def verilator_public_ports(toplevel, ports=BENCH_PORTS):
    """A Verilator control file making the bench ``ports`` of ``toplevel`` public."""
    return "`verilator_config\n" + "".join(
        f'public_flat_rw -module "{toplevel}" -var "{port}"\n' for port in ports)


@contextlib.contextmanager
def exclusive(build_dir):
    """Hold ``build_dir`` for one process: parallel test workers (pytest-xdist) that need
    the same build wait for the first to make it, then reuse it."""
    with open(Path(f"{build_dir}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def stage(files, args, name, build_root=DEFAULT_BUILD_ROOT, suffix=""):
    """The build directory of source ``files`` ({name: text}) built with ``args``, keyed
    by both, with the files written into it (left alone where unchanged, so a build
    tool sees them as old). Builds that may run in parallel hold ``exclusive`` on it."""
    path = build_dir_of(files, args, name, build_root, suffix)
    path.mkdir(parents=True, exist_ok=True)
    for file, content in files.items():
        target = path / file
        if not target.exists() or target.read_text() != content:
            target.write_text(content)
    return path


def build_dir_of(files, args, name, build_root=DEFAULT_BUILD_ROOT, suffix=""):
    """Where ``stage`` puts a build of ``files`` with ``args``."""
    key = hashlib.sha256("\0".join([*files.values(), *args]).encode()).hexdigest()[:12]
    return Path(build_root).resolve() / f"{name}-{key}{suffix}"


def build_verilog(sim, text, toplevel, build_root=DEFAULT_BUILD_ROOT, waves=False,
                  ports=BENCH_PORTS):
    """Build (or reuse) a simulation of Verilog ``text`` with top module ``toplevel``
    (``ports``: those the bench touches; the iCE40 cells it instantiates get yosys's
    models); returns (runner, build_dir). A build is keyed by its source files and
    options, so a changed design, parameter or option rebuilds and an unchanged one does
    not."""
    setup_simulator(sim)
    files, args = {}, []          # the Verilog last: cocotb takes the last source as the top
    if sim == "verilator":
        files[f"{toplevel}.vlt"] = verilator_public_ports(toplevel, ports)
        args = VERILATOR_ARGS
    files.update(cell_models(text))
    files[f"{toplevel}.v"] = retrigger_comb_blocks(text) if sim == "icarus" else text
    label, suffix = f"{sim}-{toplevel}", "-waves" if waves else ""
    build_root = Path(build_root)
    build_root.mkdir(parents=True, exist_ok=True)
    runner = get_runner(sim)
    with exclusive(build_dir_of(files, args, label, build_root, suffix)):
        build_dir = stage(files, args, label, build_root, suffix)
        # always=False: cocotb skips the build when the outputs are newer than the sources.
        runner.build(sources=[build_dir / name for name in files], hdl_toplevel=toplevel,
                     build_dir=build_dir, build_args=args, waves=waves,
                     timescale=("1ns", "1ps"), always=False, log_file=build_dir / "build.log")
    return runner, build_dir
