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

The request's two 64-bit operands (``expected``, ``desired``) wait for step c + 2 in a
second block RAM, not in flip-flops (on the iCE40UP5K a flip-flop costs a logic cell, a
block RAM nothing of them). Its row 1 is never written, so it reads zero: clearing the
memory (the host's RESET) writes what it reads there into every word, a word a cycle.

With ``spram`` the words are in the iCE40UP5K's SPRAM (``hdl/spram.py``: 128 KB, a
window of up to that) instead of block RAM, with the same timing; the operands stay in
block RAM.
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .host_protocol import COUNTER_BYTES
from .ports import MemRequest, MemResponse
from .spram import SPRAM, SPRAM_BYTES

#: The counters wrap as the host protocol's COUNTERS gives them.
COUNTER_BITS = 8 * COUNTER_BYTES
#: A request's operands, kept in a block RAM from when it is taken until it is performed.
Operands = data.StructLayout({"expected": 64, "desired": 64})


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


def check_spram(spram, size):
    """Whether the words are in SPRAM (a bool), which holds a window of up to 128 KB."""
    if not isinstance(spram, bool):
        raise ValueError(f"spram must be True or False, not {spram!r}")
    if spram and size > SPRAM_BYTES:
        raise ValueError(f"mem_bytes in SPRAM must be at most {SPRAM_BYTES // 1024} KB "
                         f"(the iCE40UP5K's), not {size // 1024} KB")
    return spram


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
    (``clearing`` is high until done, a cycle per word); the counters count what memory
    performed, as the model's ``mem_reads``, ``mem_writes``, ``mem_cas`` and
    ``mem_cas_failed`` do (wrapping at ``2 ** COUNTER_BITS``). ``spram``: keep the
    words in the iCE40UP5K's SPRAM rather than in block RAM."""

    def __init__(self, *, base, size, pa_bits, spram=False):
        self.base, self.size = check_window(base, size, pa_bits)
        self.spram = check_spram(spram, size)
        self.depth = size // 8
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

    def word(self, addr):
        """The RAM word of ``addr``, when it is in the window."""
        bits = (self.depth - 1).bit_length()
        if self.base % self.size == 0:
            return addr[3:3 + bits]
        return (addr[3:] - (self.base >> 3))[:bits]

    def ram(self, m, word, data, store):
        """The words: ``store`` writes ``data`` to ``word``, and a step reads ``word``,
        its data returned for the next cycle. No read that matters meets a write: the
        reads that do are in step c + 1, the writes in a step that performs (c + 2 of
        its request, and with one request in flight the next is taken in that step at
        the soonest, so a write is never in the c + 1 of another) or while clearing
        (no request is in flight then)."""
        if self.spram:
            # One port, read every cycle that does not write. A cycle that writes does
            # not read: the reads lost so are a performing step's (its data would be for
            # step c + 3) and clearing's, whose data nothing uses. ``word`` changes only
            # in a step or while clearing, so the cycles between steps c + 1 and c + 2
            # read the same word again: the data does not rest on the SPRAM keeping its
            # output while deselected.
            m.submodules.ram = ram = SPRAM()
            m.d.comb += [ram.addr.eq(word), ram.data_in.eq(data), ram.write.eq(store)]
            return ram.data_out
        # Yosys may leave out its logic for reading during a write: on the iCE40 that is
        # a flip-flop and a LUT a bit.
        m.submodules.ram = ram = Memory(shape=64, depth=self.depth, init=[],
                                        attrs={"no_rw_check": 1})
        rd, wr = ram.read_port(), ram.write_port()
        m.d.comb += [rd.addr.eq(word), rd.en.eq(self.step),
                     wr.addr.eq(word), wr.data.eq(data), wr.en.eq(store)]
        return rd.data

    def elaborate(self, platform):
        m = Module()
        m.submodules.operands = operands = Memory(
            shape=Operands, depth=2, init=[],
            attrs={"no_rw_check": 1, "ram_style": "block"})
        operands_rd, operands_wr = operands.read_port(), operands.write_port()
        # Row 1 while clearing (also the write's address, though nothing writes then: a
        # constant address would have Yosys make the RAM flip-flops).
        zero_row = Signal()
        m.d.comb += zero_row.eq(self.clear | self.clearing)

        # The last request taken: the arbiter has one in flight at a time, so it is also
        # the one performing. ``word`` counts the words while clearing.
        taken, performing = Signal(), Signal()
        word, inside, write, cas = Signal(range(self.depth)), Signal(), Signal(), Signal()
        store = Signal()                     # the RAM writes ``word``
        read = self.ram(m, word, operands_rd.data.desired, store)
        m.d.comb += [self.req.ready.eq(1),
                     operands_wr.data.expected.eq(self.req.payload.expected),
                     operands_wr.data.desired.eq(self.req.payload.desired),
                     operands_wr.en.eq(self.step & self.req.valid & ~self.clear),
                     operands_wr.addr.eq(zero_row), operands_rd.addr.eq(zero_row),
                     operands_rd.en.eq(self.step | self.clear)]
        old = Signal(64)
        m.d.comb += old.eq(inside.replicate(64) & read)
        failed = Signal()                    # a CAS whose old word is not ``expected``
        m.d.comb += failed.eq(old != operands_rd.data.expected)
        m.d.comb += [self.resp.valid.eq(performing), self.resp.payload.data.eq(old)]

        with m.If(self.clearing):
            m.d.comb += store.eq(1)          # the operands' row 1: zero
            m.d.sync += word.eq(word + 1)
            with m.If(word == self.depth - 1):
                m.d.sync += self.clearing.eq(0)
        with m.Elif(self.step):
            m.d.comb += store.eq(performing & inside & (write | cas & ~failed))
            with m.If(self.req.valid):
                m.d.sync += [word.eq(self.word(self.req.payload.addr)),
                             inside.eq(in_window(self.req.payload.addr, self.base,
                                                 self.size)),
                             write.eq(self.req.payload.write), cas.eq(self.req.payload.cas)]
            m.d.sync += [taken.eq(self.req.valid), performing.eq(taken)]
            with m.If(performing):
                with m.If(cas):
                    m.d.sync += self.cas.eq(self.cas + 1)
                    with m.If(failed):
                        m.d.sync += self.cas_failed.eq(self.cas_failed + 1)
                with m.Elif(write):
                    m.d.sync += self.writes.eq(self.writes + 1)
                with m.Else():
                    m.d.sync += self.reads.eq(self.reads + 1)
        with m.If(self.clear):
            m.d.sync += [self.clearing.eq(1), word.eq(0), taken.eq(0),
                         performing.eq(0), self.reads.eq(0), self.writes.eq(0),
                         self.cas.eq(0), self.cas_failed.eq(0)]
        return m
