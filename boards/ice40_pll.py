"""The iCE40 PLL (simple feedback), fed straight from the oscillator's pad
(SB_PLL40_PAD): the dividers that come closest to the target frequency, as icepll picks
them."""
from amaranth.hdl import Instance

MHZ = 1e6
PFD_RANGE = (10 * MHZ, 133 * MHZ)         # after the reference divider DIVR
VCO_RANGE = (533 * MHZ, 1066 * MHZ)
OUT_RANGE = (16 * MHZ, 275 * MHZ)
#: FILTER_RANGE by the phase detector's frequency: the first bound above it.
FILTER_BOUNDS = (17 * MHZ, 26 * MHZ, 44 * MHZ, 66 * MHZ, 101 * MHZ)


class ICE40PLL:
    def __init__(self, pin, in_hz, target_hz):
        """``pin``: the oscillator's resource name (its pad must be a PLL input)."""
        if not OUT_RANGE[0] <= target_hz <= OUT_RANGE[1]:
            raise ValueError(f"the iCE40 PLL makes {OUT_RANGE[0] / MHZ:g} to "
                             f"{OUT_RANGE[1] / MHZ:g} MHz, not {target_hz / MHZ:g} MHz")
        self.pin, self.in_hz = pin, in_hz
        best = None
        for divr in range(16):
            pfd = in_hz / (divr + 1)
            if not PFD_RANGE[0] <= pfd <= PFD_RANGE[1]:
                continue
            for divf in range(128):
                vco = pfd * (divf + 1)
                if not VCO_RANGE[0] <= vco <= VCO_RANGE[1]:
                    continue
                for divq in range(1, 7):
                    out = vco / 2 ** divq
                    if best is None or abs(out - target_hz) < abs(best[0] - target_hz):
                        best = (out, divr, divf, divq, pfd)
        if best is None:
            raise ValueError(f"the iCE40 PLL cannot make {target_hz / MHZ:g} MHz from "
                             f"{in_hz / MHZ:g} MHz")
        self.out_hz, self.divr, self.divf, self.divq, pfd = best
        self.filter_range = 1 + sum(pfd >= bound for bound in FILTER_BOUNDS)

    def instance(self, platform, clk_out, lock):
        pad = platform.request(self.pin, dir="-")
        return Instance("SB_PLL40_PAD",
                        p_FEEDBACK_PATH="SIMPLE",
                        p_DIVR=self.divr, p_DIVF=self.divf, p_DIVQ=self.divq,
                        p_FILTER_RANGE=self.filter_range,
                        i_PACKAGEPIN=pad.io, i_RESETB=1, i_BYPASS=0,
                        o_PLLOUTGLOBAL=clk_out, o_LOCK=lock)

