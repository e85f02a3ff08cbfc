"""The clock domain of a board top: the board's PLL to the target frequency, and a reset
held until the PLL has locked and settled."""
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib.cdc import ResetSynchronizer

#: How long the reset is held after lock. iCE40 block RAMs read as zeroes for about 3 µs
#: after configuration (amaranth's own iCE40 reset waits 15 µs for the same reason).
SETTLE_SECONDS = 15e-6


class PLLDomain(Elaboratable):
    """Drives the clock and reset of ``domain`` (a ClockDomain its parent defines) at
    ``pll.out_hz``; ``pll`` (``ICE40PLL``, ``ECP5PLL``) gives the primitive:
    ``pll.instance(platform, clk_out, lock)``."""

    def __init__(self, pll, domain):
        self.pll, self.domain = pll, domain

    def elaborate(self, platform):
        m = Module()
        lock = Signal()
        m.submodules.pll = self.pll.instance(platform, self.domain.clk, lock)
        # On the domain's own clock net: the net nextpnr sees under that name.
        platform.add_clock_constraint(self.domain.clk, self.pll.out_hz)

        # Count the settling time from lock in the PLL's own clock (reset-less: this is
        # what makes the reset), then release the reset synchronously; losing lock
        # resets again.
        delay = max(1, int(SETTLE_SECONDS * self.pll.out_hz))
        timer = Signal(range(delay + 1), reset_less=True)
        settled = Signal(reset_less=True)
        sync = m.d[self.domain.name]
        with m.If(~lock):
            sync += [timer.eq(0), settled.eq(0)]
        with m.Elif(timer == delay):
            sync += settled.eq(1)
        with m.Else():
            sync += timer.eq(timer + 1)
        m.submodules.reset_sync = ResetSynchronizer(~settled, domain=self.domain.name)
        return m
