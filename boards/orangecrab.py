"""OrangeCrab r0.2 85F (LFE5U-85F-8MG285C): 48 MHz oscillator into the PLL. The board has
no USB-serial chip, so the UART is on the Feather header's RX/TX positions, for a 3.3 V
USB-serial adapter: pin "0" (N17) is the FPGA's RX (the adapter's TX goes there), pin "1"
(M18) its TX. Default: 4 CPUs + 1 device at the issue's 75 MHz target, with staged MMUs
(docs/timing.md)."""
from amaranth.build import Attrs
from amaranth.vendor import LatticePlatform
from amaranth_boards.orangecrab_r0_2 import OrangeCrabR0_2_85FPlatform
from amaranth_boards.resources import LEDResources, UARTResource

from .ecp5_pll import ECP5PLL
from .flow import Board


class OrangeCrabPlatform(OrangeCrabR0_2_85FPlatform):
    resources = OrangeCrabR0_2_85FPlatform.resources + [
        UARTResource(0, rx="0", tx="1", conn=("io", 0),
                     attrs=Attrs(IO_TYPE="LVCMOS33", PULLMODE="UP")),
        # The RGB LED's green, alone, for the activity LED.
        *LEDResources(pins="M3", invert=True, attrs=Attrs(IO_TYPE="LVCMOS33")),
    ]
    # The board's build adds the DFU bootloader's suffix with dfu-suffix, which is not
    # on PyPI; docs/boards.md runs it before programming. The rest is the ECP5 flow.
    required_tools = LatticePlatform._trellis_required_tools_ecp5
    command_templates = LatticePlatform._trellis_command_templates


BOARD = Board(name="orangecrab", platform=OrangeCrabPlatform, family="ecp5", pll=ECP5PLL,
              bitstream="top.bit", led=("led", 0), mem_bytes=256 * 1024,
              cpus=4, devices=1, tlb_entries=16, freq_mhz=75,
              system_options=dict(staged=True))
