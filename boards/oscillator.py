"""The board's oscillator as the clock itself, with no PLL: for a design whose Fmax is
below what the PLL can make (the iCE40 PLL's outputs start at 16 MHz) and at or above the
oscillator's frequency."""
from amaranth.hdl import Module
from amaranth.lib import io


class Oscillator:
    """Takes a PLL's arguments so a board can use either; ``target_hz`` must be the
    oscillator's own frequency."""

    def __init__(self, pin, in_hz, target_hz):
        if target_hz != in_hz:
            raise ValueError(f"without a PLL the clock is the oscillator's "
                             f"{in_hz / 1e6:g} MHz, not {target_hz / 1e6:g} MHz")
        self.pin, self.out_hz = pin, in_hz

    def instance(self, platform, clk_out, lock):
        m = Module()
        m.submodules.clk_in = clk_in = io.Buffer("i", platform.request(self.pin, dir="-"))
        m.d.comb += [clk_out.eq(clk_in.i), lock.eq(1)]
        return m
