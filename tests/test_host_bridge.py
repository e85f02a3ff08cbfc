"""The host bridge's parts that need no system: the UART (Amaranth's simulator), the
frame CRC, the host end's handling of bad responses, and parameter checks. The bridge
itself is tested through the SoC in tests/test_fpga_backend.py."""
import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hdl.host_bridge import HostBridge, crc8_next
from hdl.host_protocol import CYCLES_BYTES, RESPONSE_SYNC, Command, Status, crc8
from hdl.host_soc import HostSoC
from hdl.step_memory import StepMemory
from hdl.uart import UARTReceiver, UARTTransmitter, uart_divisor
from sim.host_link import BridgeError, BridgeStatusError, HostLink

# Components refused at construction are garbage, and Amaranth says so when it collects them.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

DIVISOR = 5


def test_uart_bit_timing_and_loopback():
    """Each bit lasts ``divisor`` cycles on tx (start low, LSB first, stop high), and
    the receiver wired to it gets every byte back."""
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(DIVISOR)
    m.submodules.rx = rx = UARTReceiver(DIVISOR)
    m.d.comb += rx.rx.eq(tx.tx)
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    sent = [rng.randrange(256) for _ in range(6)]
    line, received, starts = [], [], []

    async def bench(ctx):
        async def tick():
            await ctx.tick()
            line.append(ctx.get(tx.tx))
            if ctx.get(rx.bytes.valid):
                received.append(ctx.get(rx.bytes.payload))

        ctx.set(rx.bytes.ready, 1)
        for byte in sent:
            while not ctx.get(tx.bytes.ready):
                await tick()
            ctx.set(tx.bytes.payload, byte)
            ctx.set(tx.bytes.valid, 1)
            await tick()                          # taken: the start bit begins
            starts.append(len(line) - 1)
            ctx.set(tx.bytes.valid, 0)
        for _ in range(12 * DIVISOR):
            await tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert received == sent
    for k, byte in enumerate(sent):
        bits = line[starts[k]:starts[k] + 10 * DIVISOR]
        want = [0, *(byte >> i & 1 for i in range(8)), 1]
        assert bits == [b for b in want for _ in range(DIVISOR)], k


def test_receiver_reports_a_low_stop_bit_and_drops_the_byte():
    m = Module()
    m.submodules.rx = rx = UARTReceiver(DIVISOR)
    errors, got = [], []

    async def bench(ctx):
        ctx.set(rx.bytes.ready, 1)
        for bit in [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1]:   # 0x55, stop bit low
            ctx.set(rx.rx, bit)
            for _ in range(DIVISOR):
                await ctx.tick()
                errors.append(ctx.get(rx.framing_error))
                got.append(ctx.get(rx.bytes.valid))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert sum(errors) == 1 and not any(got)


def test_the_bridge_crc_logic_is_crc8_smbus():
    assert crc8(b"123456789") == 0xF4              # the catalogue's check value
    m = Module()
    crc, byte, out = Signal(8), Signal(8), Signal(8)
    m.d.comb += out.eq(crc8_next(crc, byte))
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    pairs = [(rng.randrange(256), rng.randrange(256)) for _ in range(64)]

    async def bench(ctx):
        for c, b in pairs:
            ctx.set(crc, c)
            ctx.set(byte, b)
            assert ctx.get(out) == crc8(bytes([b]), c), (c, b)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


class FakeTransport:
    def __init__(self, answer):
        self.answer, self.sent = bytearray(answer), b""

    def write(self, data):
        self.sent += data

    def read(self, n):
        out, self.answer = bytes(self.answer[:n]), self.answer[n:]
        return out


def response(status, command, payload):
    body = bytes([status, command, len(payload)]) + payload
    return bytes([RESPONSE_SYNC]) + body + bytes([crc8(body)])


def test_host_link_frames_and_refuses_bad_answers():
    cycles = (1234).to_bytes(CYCLES_BYTES, "little")
    link = HostLink(FakeTransport(response(0, Command.READ, bytes(range(8)) + cycles)))
    assert link.call(Command.READ, bytes(8)) == (1234, bytes(range(8)))
    assert link.transport.sent == bytes([0xA5, 3, 8, *bytes(8), crc8(bytes([3, 8, *bytes(8)]))])
    cases = [
        (b"", "no answer from the board"),
        (b"\x00" + response(0, Command.READ, bytes(8) + cycles)[1:], "starts with 0x00"),
        (response(0, Command.READ, bytes(8) + cycles)[:-1] + b"\x00", "CRC does not match"),
        (response(0, Command.IDLE, cycles), "answered IDLE to READ"),
        (response(0, Command.READ, cycles), "has 0 result bytes, not 8"),
        (response(0, Command.READ, b"1"),
         f"fewer than the {CYCLES_BYTES} of the cycle count"),
    ]
    for answer, message in cases:
        with pytest.raises(BridgeError, match=message):
            HostLink(FakeTransport(answer)).call(Command.READ, bytes(8))
    with pytest.raises(BridgeStatusError, match="READ with NO_MEMORY") as e:
        HostLink(FakeTransport(response(Status.NO_MEMORY, Command.READ, cycles))).call(
            Command.READ, bytes(8))
    assert e.value.cycles == 1234


@pytest.mark.parametrize("make, message", [
    (lambda: uart_divisor(12_000_000, 1_000_000), None),
    (lambda: uart_divisor(10_000_000, 1_500_000), "cannot make 1500000 baud within 2%"),
    (lambda: uart_divisor(1_000_000, 500_000), "too fast"),
    (lambda: uart_divisor(0, 9600), "clk_freq must be a positive number"),
    (lambda: UARTReceiver(3), "at least 4 clock cycles"),
    (lambda: StepMemory(base=0, size=3000, pa_bits=40), "power of two"),
    (lambda: StepMemory(base=4, size=4096, pa_bits=40), "multiple of 8"),
    (lambda: StepMemory(base=1 << 40, size=4096, pa_bits=40), "outside the 40-bit"),
    (lambda: StepMemory(base=0, size=256 << 10, pa_bits=40, spram=True),
     r"mem_bytes in SPRAM must be at most 128 KB \(the iCE40UP5K's\), not 256 KB"),
    (lambda: StepMemory(base=0, size=4096, pa_bits=40, spram=1), "spram must be True or False"),
    (lambda: HostBridge(cpus=1, devices=0, tlb_entries=4, pa_bits=40, memory=(0, 8),
                        frame_timeout=3, watchdog=100), "frame_timeout must be"),
    (lambda: HostSoC(clk_freq=12_000_000, baud=115200, mem_bytes=100_000),
     "mem_bytes must be a power of two"),
    (lambda: HostSoC(clk_freq=12_000_000, baud=4_000_000), "too fast"),
    (lambda: HostSoC(clk_freq=12_000_000, spram=True), "not 256 KB"),
])
def test_parameters_are_checked(make, message):
    if message is None:
        assert make() == 12
    else:
        with pytest.raises(ValueError, match=message):
            make()


@pytest.mark.parametrize("base", [0x1000, 0x1008])     # aligned to its size, and not
def test_step_memory_clears_a_word_a_cycle(base):
    """Words written before a clear read as zero after it (a CAS too); clearing takes a
    cycle per word; counters restart; a failed CAS stores nothing; outside the window
    reads are zero and writes are dropped."""
    words = 128
    mem = StepMemory(base=base, size=8 * words, pa_bits=40)
    log = []

    async def bench(ctx):
        async def request(word, *, write=None, cas=None):
            ctx.set(mem.req.payload, {
                "addr": base + 8 * word, "write": write is not None, "cas": cas is not None,
                "expected": cas[0] if cas else 0,
                "desired": write if write is not None else cas[1] if cas else 0})
            ctx.set(mem.req.valid, 1)
            await ctx.tick()
            ctx.set(mem.req.valid, 0)
            while not ctx.get(mem.resp.valid):
                await ctx.tick()
            old = ctx.get(mem.resp.payload.data)
            await ctx.tick()
            return old

        ctx.set(mem.step, 1)
        for word, value in [(0, 11), (1, 12), (127, 13)]:
            await request(word, write=value)
        log.append([await request(w) for w in (0, 1, 127)])
        ctx.set(mem.clear, 1)
        await ctx.tick()
        ctx.set(mem.clear, 0)
        clearing = 0
        while ctx.get(mem.clearing):
            clearing += 1
            await ctx.tick()
        log.append(clearing)
        log.append([await request(w) for w in (0, 1, 127)])
        log.append([await request(0, cas=(0, 5)), await request(127, cas=(13, 6))])
        log.append([await request(w) for w in (0, 127)])
        log.append([ctx.get(c) for c in (mem.reads, mem.writes, mem.cas, mem.cas_failed)])
        await request(-1, write=7)                      # before the window
        log.append([await request(-1), await request(words)])

    sim = Simulator(mem)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert log == [[11, 12, 13], words, [0, 0, 0], [0, 0], [5, 0], [5, 0, 2, 1], [0, 0]]
