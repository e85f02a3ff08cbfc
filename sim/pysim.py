"""Block-level benches in Amaranth's own simulator (no Verilog, no cocotb)."""
from amaranth.sim import Simulator


def run_testbench(dut, bench):
    """Run the async testbench ``bench(ctx)`` against ``dut`` with one clock."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
