"""The host SoC (``hdl/host_soc.py``) in a cocotb simulation, driven through its UART
pins by the same host code that drives a board: the simulation build, and running its
bench (``sim/host_soc_bench.py``) on a scenario or on the bad-frame checks."""
from pathlib import Path

from hdl.export import to_verilog
from hdl.host_soc import HostSoC
from hdl.uart import uart_divisor
from sim.build import DEFAULT_BUILD_ROOT, build_verilog, cached_verilog
from sim.fpga_backend import PA_BITS
from sim.lockstep import run_bench

TOPLEVEL = "host_soc"
PORTS = ("clk", "rst", "uart_rx", "uart_tx", "busy")
#: The simulation's UART: 4 clock cycles a bit, the fewest the UART takes (the UART's
#: cycles are most of a simulated command's).
SIM_CLOCK = dict(clk_freq=4_000_000, baud=1_000_000)
SIM_DIVISOR = uart_divisor(**SIM_CLOCK)
#: A frame may pause 1000 cycles (25 characters) between bytes; a wait, 4096 system
#: cycles (the shipped scenarios' longest wait is tens of cycles; the board keeps 2^20).
SIM_TIMING = dict(frame_timeout=1000, watchdog=1 << 12)
#: Cycles the host waits for an answer in simulation (well past the watchdog).
SIM_READ_TIMEOUT = 1 << 16


def soc_params(system, options=None, memory=None):
    """The simulated SoC of a scenario's ``system`` (as the model's: 40-bit PAs), with the
    System's ``options`` (``tlbi_range``, ``asid_bits``, ``gen_bits``) and the memory's
    (``mem_bytes``, ``spram``: a board's) if given."""
    return dict(cpus=system["cpus"], devices=system["devices"], tlb_entries=system["tlb"],
                pa_bits=PA_BITS, **SIM_CLOCK, **SIM_TIMING, **(options or {}),
                **(memory or {}))


def build_soc(sim, params, build_root=DEFAULT_BUILD_ROOT):
    text = cached_verilog(build_root, TOPLEVEL, params,
                          lambda: to_verilog(HostSoC(**params), TOPLEVEL))
    return build_verilog(sim, text, TOPLEVEL, build_root, ports=PORTS)


def run_bridge_bench(mode, system, *, sim="verilator", scenario=None, options=None,
                     memory=None, build_root=DEFAULT_BUILD_ROOT):
    """Run the bench in ``mode`` ("scenario": ``scenario``'s runs through the bridge;
    "bad_frames") on the SoC of ``system``, ``options`` and ``memory`` (see
    ``soc_params``); returns the bench's result dict."""
    runner, build_dir = build_soc(sim, soc_params(system, options, memory), build_root)
    cfg = dict(mode=mode, system=system, divisor=SIM_DIVISOR, timeout=SIM_READ_TIMEOUT,
               scenario=str(Path(scenario).resolve()) if scenario else None)
    result, _ = run_bench(runner, build_dir, "sim.host_soc_bench", TOPLEVEL, cfg, False)
    return result
