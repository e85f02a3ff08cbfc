"""Simulation: cocotb benches, simulator runners, the lockstep diff and the CLI."""
