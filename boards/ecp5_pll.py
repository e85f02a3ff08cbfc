"""The ECP5 PLL (EHXPLLL, CLKOP fed back): the dividers that come closest to the target
frequency, and among those the VCO nearest the middle of its range (as ecppll picks)."""
from amaranth.hdl import Instance, Module
from amaranth.lib import io

MHZ = 1e6
PFD_RANGE = (3.125 * MHZ, 400 * MHZ)      # after the input divider CLKI_DIV
VCO_RANGE = (400 * MHZ, 800 * MHZ)
OUT_RANGE = (3.125 * MHZ, 400 * MHZ)


class ECP5PLL:
    def __init__(self, pin, in_hz, target_hz):
        """``pin``: the oscillator's resource name."""
        if not OUT_RANGE[0] <= target_hz <= OUT_RANGE[1]:
            raise ValueError(f"the ECP5 PLL makes {OUT_RANGE[0] / MHZ:g} to "
                             f"{OUT_RANGE[1] / MHZ:g} MHz, not {target_hz / MHZ:g} MHz")
        self.pin, self.in_hz = pin, in_hz
        best = None
        for clki_div in range(1, 129):
            pfd = in_hz / clki_div
            if not PFD_RANGE[0] <= pfd <= PFD_RANGE[1]:
                continue
            for clkfb_div in range(1, 81):
                out = pfd * clkfb_div
                for clkop_div in range(1, 129):
                    vco = out * clkop_div
                    if not VCO_RANGE[0] <= vco <= VCO_RANGE[1]:
                        continue
                    key = (abs(out - target_hz), abs(vco - sum(VCO_RANGE) / 2))
                    if best is None or key < best[0]:
                        best = (key, out, clki_div, clkfb_div, clkop_div)
        if best is None:
            raise ValueError(f"the ECP5 PLL cannot make {target_hz / MHZ:g} MHz from "
                             f"{in_hz / MHZ:g} MHz")
        _, self.out_hz, self.clki_div, self.clkfb_div, self.clkop_div = best

    def instance(self, platform, clk_out, lock):
        m = Module()
        m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request(self.pin, dir="-"))
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{self.in_hz / MHZ:g}",
            a_FREQUENCY_PIN_CLKOP=f"{self.out_hz / MHZ:.4f}",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKI_DIV=self.clki_div, p_CLKFB_DIV=self.clkfb_div,
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=self.clkop_div,
            # With CLKOP as the feedback its phase is compensated; ecppll's choice.
            p_CLKOP_CPHASE=(self.clkop_div - 1) // 2, p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP",
            i_RST=0, i_STDBY=0, i_CLKI=clk_buf.i, i_CLKFB=clk_out,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=clk_out, o_LOCK=lock)
        return m
