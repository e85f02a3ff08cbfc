"""The host SoC (``hdl/host_soc.py``) in a cocotb simulation, driven through its UART
pins by the same host code that drives a board: the simulation build, and running its
bench (``sim/host_soc_bench.py``) on a scenario or on the bad-frame checks."""
from pathlib import Path

from hdl.export import to_verilog
from hdl.host_soc import HostSoC
from sim.build import DEFAULT_BUILD_ROOT, build_verilog, cached_verilog
from sim.fpga_backend import PA_BITS
from sim.lockstep import run_bench

TOPLEVEL = "host_soc"
PORTS = ("clk", "rst", "uart_rx", "uart_tx", "busy")
#: The simulation's UART: 8 clock cycles a bit.
SIM_CLOCK = dict(clk_freq=8_000_000, baud=1_000_000)
SIM_DIVISOR = 8
#: A frame may pause 2000 cycles (25 characters) between bytes; a wait, 65536 cycles.
SIM_TIMING = dict(frame_timeout=2000, watchdog=1 << 16)
#: Cycles the host waits for an answer in simulation (past the watchdog).
SIM_READ_TIMEOUT = 1 << 18


def soc_params(system):
    """The simulated SoC of a scenario's ``system`` (as the model's: 40-bit PAs)."""
    return dict(cpus=system["cpus"], devices=system["devices"],
                tlb_entries=system["tlb"], pa_bits=PA_BITS, **SIM_CLOCK, **SIM_TIMING)


def build_soc(sim, params, build_root=DEFAULT_BUILD_ROOT):
    text = cached_verilog(build_root, TOPLEVEL, params,
                          lambda: to_verilog(HostSoC(**params), TOPLEVEL))
    return build_verilog(sim, text, TOPLEVEL, build_root, ports=PORTS)


def run_bridge_bench(mode, system, *, sim="verilator", scenario=None,
                     build_root=DEFAULT_BUILD_ROOT):
    """Run the bench in ``mode`` ("scenario": ``scenario``'s runs through the bridge;
    "bad_frames") on the SoC of ``system``; returns the bench's result dict."""
    runner, build_dir = build_soc(sim, soc_params(system), build_root)
    cfg = dict(mode=mode, system=system, divisor=SIM_DIVISOR, timeout=SIM_READ_TIMEOUT,
               scenario=str(Path(scenario).resolve()) if scenario else None)
    result, _ = run_bench(runner, build_dir, "sim.host_soc_bench", TOPLEVEL, cfg, False)
    return result
