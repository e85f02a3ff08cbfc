"""ULX3S-85F (LFE5U-85F-6BG381C): 25 MHz oscillator into the PLL, the FT231X USB-serial
bridge as the UART (FPGA pins M1 = RX, L4 = TX). Default: 4 CPUs + 1 device at the
issue's 75 MHz target, with staged MMUs (docs/timing.md)."""
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from .ecp5_pll import ECP5PLL
from .flow import Board

BOARD = Board(name="ulx3s", platform=ULX3S_85F_Platform, family="ecp5", pll=ECP5PLL,
              bitstream="top.bit", led=("led", 0), mem_bytes=256 * 1024,
              cpus=4, devices=1, tlb_entries=16, freq_mhz=75,
              system_options=dict(staged=True))
