"""A byte transport into a cocotb simulation of the host SoC: bytes go onto its
``uart_rx`` pin bit by bit, and a receiver samples its ``uart_tx`` pin, so the host code
(``sim/host_link.py``, ``sim/fpga_backend.py``) runs unchanged against the bridge RTL.

Its ``write`` and ``read`` are blocking calls for code in a cocotb bridge thread
(``cocotb.task.bridge``); each runs the simulation while it waits.
"""
from collections import deque

import cocotb
from cocotb.task import resume
from cocotb.triggers import ClockCycles, FallingEdge


class UARTSimTransport:
    """``divisor``: clock cycles per bit (the SoC's); ``timeout``: clock cycles a
    ``read`` waits for its bytes. ``framing_errors`` counts received bytes whose stop bit
    was low."""

    def __init__(self, dut, divisor, timeout):
        self.dut, self.divisor, self.timeout = dut, divisor, timeout
        self.framing_errors = 0
        self._received = deque()
        dut.uart_rx.value = 1
        cocotb.start_soon(self._receive())
        self.write = resume(self._send)
        self.read = resume(self._wait)
        self.write_bad_stop = resume(self._send_bad_stop)

    async def _send(self, data):
        for byte in data:
            await self._bits([0, *(byte >> i & 1 for i in range(8)), 1])

    async def _send_bad_stop(self, byte):
        """One byte whose stop bit is low, then the line idle again."""
        await self._bits([0, *(byte >> i & 1 for i in range(8)), 0, 1])

    async def _bits(self, bits):
        for bit in bits:
            self.dut.uart_rx.value = bit
            await ClockCycles(self.dut.clk, self.divisor)

    async def _receive(self):
        tx, clk, divisor = self.dut.uart_tx, self.dut.clk, self.divisor
        while True:
            await FallingEdge(tx)
            await ClockCycles(clk, divisor // 2)       # the middle of the start bit
            if int(tx.value):
                continue
            byte = 0
            for i in range(8):
                await ClockCycles(clk, divisor)
                byte |= int(tx.value) << i
            await ClockCycles(clk, divisor)
            if not int(tx.value):
                self.framing_errors += 1
            self._received.append(byte)

    async def _wait(self, n):
        waited, period = 0, 10 * self.divisor          # one character time
        while len(self._received) < n and waited < self.timeout:
            await ClockCycles(self.dut.clk, period)
            waited += period
        return bytes(self._received.popleft() for _ in range(min(n, len(self._received))))
