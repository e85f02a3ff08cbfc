"""iCEBreaker (iCE40UP5K-SG48): the 12 MHz oscillator (into the PLL for other clocks), the
FTDI's second channel as the UART (FPGA pins 6 = RX, 9 = TX). Default: the largest
configuration that fits (docs/boards.md): staged MMUs (docs/timing.md), no range TLBIs
(the kernel model issues one TLBI a page instead, as arm64 Linux does without
FEAT_TLBIRANGE), 8-bit ASIDs and 16-bit generations, at 18 MHz from the PLL, a clock its
timing meets (about 20 MHz; the issue's 30 MHz is not met). The memory is the UP5K's SPRAM, all 128 KB of it (its block RAMs
hold 8 KB beside the system)."""
from amaranth_boards.icebreaker import ICEBreakerPlatform

from .flow import Board
from .ice40_pll import ICE40PLL

BOARD = Board(name="icebreaker", platform=ICEBreakerPlatform, family="ice40", pll=ICE40PLL,
              bitstream="top.bin", led=("led_g", 0), mem_bytes=128 * 1024,
              cpus=1, devices=0, tlb_entries=8, freq_mhz=18,
              system_options=dict(tlbi_range=False, asid_bits=8, gen_bits=16, staged=True),
              spram=True)
