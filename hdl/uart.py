"""An 8N1 UART: a receiver and a transmitter of bytes as ``lib.stream`` streams.

The bit period is ``divisor`` clock cycles (clk_freq / baud, rounded): ``uart_divisor``
computes it and refuses a baud rate the clock cannot make within 2%.
"""
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

#: The largest bit-period error (relative) a divisor may leave; 8N1 tolerates about 5%
#: across both ends, so each end gets a little under half.
MAX_BAUD_ERROR = 0.02


def check_divisor(divisor):
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < 4:
        raise ValueError(f"a UART bit needs an integer of at least 4 clock cycles, "
                         f"not {divisor!r}")
    return divisor


def uart_divisor(clk_freq, baud):
    """Clock cycles per bit for ``baud`` at ``clk_freq`` Hz; a ValueError names the
    error when it is above 2% or the bit is shorter than 4 cycles."""
    for name, value in (("clk_freq", clk_freq), ("baud", baud)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive number, not {value!r}")
    divisor = round(clk_freq / baud)
    if divisor < 4:
        raise ValueError(f"baud {baud} is too fast for a {clk_freq} Hz clock: a bit must "
                         "last at least 4 cycles")
    error = abs(clk_freq / divisor - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(f"a {clk_freq} Hz clock cannot make {baud} baud within "
                         f"{MAX_BAUD_ERROR:.0%}: the nearest is {clk_freq / divisor:.0f} "
                         f"({error:.1%} off)")
    return divisor


class UARTReceiver(wiring.Component):
    """``rx``: the line (idle high); ``bytes``: each byte received with a good stop bit.
    A byte not taken before the next one ends is lost; a low stop bit drops the byte and
    pulses ``framing_error`` for a cycle, and nothing more is received until the line has
    gone high again (a break is one error, not many)."""

    rx: In(1, init=1)
    bytes: Out(stream.Signature(8))
    framing_error: Out(1)

    def __init__(self, divisor):
        self.divisor = check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        # Two flops: rx comes from another clock domain (the host's).
        meta, line = Signal(init=1), Signal(init=1)
        m.d.sync += [meta.eq(self.rx), line.eq(meta)]

        timer = Signal(range(self.divisor))
        bit = Signal(range(8))
        shift = Signal(8)
        with m.If(self.bytes.ready):
            m.d.sync += self.bytes.valid.eq(0)
        m.d.sync += self.framing_error.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):          # the middle of the start bit: still low?
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                    with m.If(line):
                        m.next = "IDLE"      # a glitch, not a start bit
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):           # sample each bit in its middle, LSB first
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), shift.eq(Cat(shift[1:], line)),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(line):
                        m.d.sync += [self.bytes.payload.eq(shift), self.bytes.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UARTTransmitter(wiring.Component):
    """``bytes``: taken one at a time and sent on ``tx`` as start bit, 8 data bits (LSB
    first) and a stop bit; ``bytes.ready`` is high while the line is idle."""

    bytes: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor):
        self.divisor = check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        left = Signal(range(11))               # bit periods still to run
        rest = Signal(9)                       # data then stop, sent from bit 0
        m.d.comb += self.bytes.ready.eq(left == 0)
        with m.If(self.bytes.valid & self.bytes.ready):
            m.d.sync += [self.tx.eq(0), rest.eq(Cat(self.bytes.payload, 1)), left.eq(10),
                         timer.eq(self.divisor - 1)]
        with m.Elif(left != 0):
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [left.eq(left - 1), timer.eq(self.divisor - 1)]
                with m.If(left != 1):
                    m.d.sync += [self.tx.eq(rest[0]), rest.eq(rest >> 1)]
        return m
