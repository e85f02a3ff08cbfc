"""A byte transport into a cocotb simulation of the host SoC: bytes go onto its
``uart_rx`` pin bit by bit, and a receiver samples its ``uart_tx`` pin, so the host code
(``sim/host_link.py``, ``sim/fpga_backend.py``) runs unchanged against the bridge RTL.

Its ``write`` and ``read`` are blocking calls for code in a cocotb bridge thread
(``cocotb.task.bridge``); each runs the simulation while it waits. Bits are timed with
one timer each, not by counting clock edges in Python (a wake-up per cycle was most of
the simulation's time on Verilator); the pin is driven at falling clock edges, so no
rising edge races it.
"""
from collections import deque

import cocotb
from cocotb.task import resume
from cocotb.triggers import Event, FallingEdge, First, Timer
from cocotb.simtime import get_sim_time

#: The bench's clock period.
CLOCK_NS = 10


class UARTSimTransport:
    """``divisor``: clock cycles per bit (the SoC's); ``timeout``: clock cycles a
    ``read`` waits for its bytes. ``framing_errors`` counts received bytes whose stop bit
    was low; ``frames``, the writes (a frame each, but for the bad-frame checks')."""

    def __init__(self, dut, divisor, timeout):
        self.dut, self.divisor, self.timeout = dut, divisor, timeout
        self.framing_errors = self.frames = 0
        self._received = deque()
        self._arrived = Event()
        dut.uart_rx.value = 1
        cocotb.start_soon(self._receive())
        self.write = resume(self._send)
        self.read = resume(self._wait)
        self.write_bad_stop = resume(self._send_bad_stop)

    def _cycles(self, n):
        return Timer(n * CLOCK_NS, "ns")

    async def _send(self, data):
        self.frames += 1
        await self._bits([b for byte in data for b in (0, *(byte >> i & 1 for i in range(8)), 1)])

    async def _send_bad_stop(self, byte):
        """One byte whose stop bit is low, then the line idle again."""
        await self._bits([0, *(byte >> i & 1 for i in range(8)), 0, 1])

    async def _bits(self, bits):
        await FallingEdge(self.dut.clk)
        for bit in bits:
            self.dut.uart_rx.value = bit
            await self._cycles(self.divisor)

    async def _receive(self):
        tx, divisor = self.dut.uart_tx, self.divisor
        while True:
            await FallingEdge(tx)
            await self._cycles(divisor // 2)           # the middle of the start bit
            if int(tx.value):
                continue
            byte = 0
            for i in range(8):
                await self._cycles(divisor)
                byte |= int(tx.value) << i
            await self._cycles(divisor)
            if not int(tx.value):
                self.framing_errors += 1
            self._received.append(byte)
            self._arrived.set()

    async def _wait(self, n):
        deadline = get_sim_time("ns") + self.timeout * CLOCK_NS
        while len(self._received) < n and get_sim_time("ns") < deadline:
            self._arrived.clear()
            await First(self._arrived.wait(), Timer(deadline - get_sim_time("ns"), "ns"))
        return bytes(self._received.popleft() for _ in range(min(n, len(self._received))))
