"""The board's physical memory: a block RAM answering the system's memory channel with
the timing the golden model assumes (``sim/memory_port.py``, latency 2), on a clock
that runs only when the bridge steps the system.

A request taken in step c is answered in step c + 2 and performed then: the RAM is read
in step c + 1 (its data is there in step c + 2, and nothing else writes it in between:
one request is in flight at a time) and a write, or a CAS whose old word equals
``expected``, writes in step c + 2. The RAM holds the words of the window
[``base``, ``base + size``); outside it a read is zero and a write is dropped, which is
what the model's sparse memory does for addresses nothing stores to (the host bridge
refuses host stores outside the window).

Clearing the memory (the host's RESET) takes a cycle per 64 words, not one per word: a
second, narrow RAM holds a written bit for each word, a word whose bit is clear reads as
zero, and clearing zeroes only those bits.
"""
from amaranth.hdl import Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .ports import MemRequest, MemResponse

COUNTER_BITS = 32
#: Written bits per row of the written-bits RAM: the words one clear cycle clears.
WRITTEN_ROW = 64


def check_window(base, size, pa_bits):
    """A memory window: ``size`` a power of two of at least 8 bytes, ``base`` aligned
    to 8 bytes, the window within the physical address space."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 8 or size & (size - 1):
        raise ValueError(f"mem_bytes must be a power of two of at least 8, not {size!r}")
    if not isinstance(base, int) or isinstance(base, bool) or base < 0 or base & 7:
        raise ValueError(f"mem_base must be a non-negative multiple of 8, not {base!r}")
    if base + size > 1 << pa_bits:
        raise ValueError(f"memory window {base:#x} + {size:#x} is outside the "
                         f"{pa_bits}-bit physical address space")
    return base, size


def in_window(addr, base, size):
    """Whether ``addr`` is in [``base``, ``base + size``): a test of the high bits when
    the window is aligned to its size, which needs no carry chain (on the iCE40 a
    comparison's carry chain takes a logic cell per bit), else two comparisons."""
    if base % size == 0:
        low = size.bit_length() - 1
        return addr[low:] == base >> low
    return (addr >= base) & (addr < base + size)


class StepMemory(wiring.Component):
    """``req``/``resp``: the system's memory channel; ``step``: the system's clock
    enable; ``clear``: a pulse that zeroes every word, the pipeline and the counters
    (``clearing`` is high until done, one cycle per 64 words); the counters count what
    memory performed, as the model's ``mem_reads``, ``mem_writes``, ``mem_cas`` and
    ``mem_cas_failed`` do."""

    def __init__(self, *, base, size, pa_bits):
        self.base, self.size = check_window(base, size, pa_bits)
        self.depth = size // 8
        self.row_bits = min(WRITTEN_ROW, self.depth)
        self.rows = self.depth // self.row_bits
        super().__init__({
            "req": In(stream.Signature(MemRequest)),
            "resp": Out(stream.Signature(MemResponse, always_ready=True)),
            "step": In(1),
            "clear": In(1),
            "clearing": Out(1),
            "reads": Out(COUNTER_BITS),
            "writes": Out(COUNTER_BITS),
            "cas": Out(COUNTER_BITS),
            "cas_failed": Out(COUNTER_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = Memory(shape=64, depth=self.depth, init=[])
        rd, wr = ram.read_port(), ram.write_port()
        # The written bits, read and written beside the words they stand for.
        m.submodules.written = written = Memory(shape=self.row_bits, depth=self.rows, init=[])
        written_rd, written_wr = written.read_port(), written.write_port()
        row_shift = self.row_bits.bit_length() - 1

        taken, performing = Signal(), Signal()
        # The last request taken: the arbiter has one in flight at a time, so it is also
        # the one performing (one register, not one per stage: the iCE40UP5K is small).
        req = Signal(MemRequest)
        performing_in = Signal()             # the word is in the window
        offset = Signal(range(self.size))    # within the window, when it is in it
        m.d.comb += offset.eq(req.addr - self.base)
        req_in = in_window(req.addr, self.base, self.size)
        m.d.comb += [self.req.ready.eq(1), rd.addr.eq(offset[3:]), rd.en.eq(self.step),
                     written_rd.addr.eq(offset[3 + row_shift:]), written_rd.en.eq(self.step)]

        word = Signal(range(self.depth))
        m.d.comb += word.eq(req.addr[3:] - (self.base >> 3))
        was_written = written_rd.data.bit_select(word[:row_shift], 1)
        old = Signal(64)
        m.d.comb += old.eq((performing_in & was_written).replicate(64) & rd.data)
        stores = Signal()                    # the request performed stores its word
        m.d.comb += stores.eq(performing & performing_in & (
            req.write | req.cas & (old == req.expected)))
        m.d.comb += [self.resp.valid.eq(performing), self.resp.payload.data.eq(old),
                     wr.addr.eq(word), wr.data.eq(req.desired),
                     written_wr.addr.eq(word[row_shift:]),
                     written_wr.data.eq(written_rd.data
                                        | Const(1, self.row_bits) << word[:row_shift])]

        clear_row = Signal(range(self.rows))
        with m.If(self.clearing):
            m.d.comb += [written_wr.addr.eq(clear_row), written_wr.data.eq(0),
                         written_wr.en.eq(1)]
            m.d.sync += clear_row.eq(clear_row + 1)
            with m.If(clear_row == self.rows - 1):
                m.d.sync += self.clearing.eq(0)
        with m.Elif(self.step):
            m.d.comb += [wr.en.eq(stores), written_wr.en.eq(stores)]
            with m.If(self.req.valid):
                m.d.sync += req.eq(self.req.payload)
            m.d.sync += [taken.eq(self.req.valid),
                         performing.eq(taken), performing_in.eq(req_in)]
            with m.If(performing):
                with m.If(req.cas):
                    m.d.sync += self.cas.eq(self.cas + 1)
                    with m.If(old != req.expected):
                        m.d.sync += self.cas_failed.eq(self.cas_failed + 1)
                with m.Elif(req.write):
                    m.d.sync += self.writes.eq(self.writes + 1)
                with m.Else():
                    m.d.sync += self.reads.eq(self.reads + 1)
        with m.If(self.clear):
            m.d.sync += [self.clearing.eq(1), clear_row.eq(0), taken.eq(0),
                         performing.eq(0), self.reads.eq(0), self.writes.eq(0),
                         self.cas.eq(0), self.cas_failed.eq(0)]
        return m
