"""The iCE40UP5K's four single-port RAMs (SB_SPRAM256KA, 16K words of 16 bits each) side
by side as one RAM of 16K 64-bit words: 128 KB, all the SPRAM the UP5K has.

One port, clocked by the ``sync`` domain and always selected: each cycle it writes
``data_in`` to word ``addr`` if ``write`` is high, else reads word ``addr``, whose data
is on ``data_out`` in the next cycle (after a write it is undefined). Nothing
initialises an SPRAM: its words are undefined at power-up. The cell is the FPGA's own, so a simulation needs a model of it
(yosys's, ``sim/ice40_cells.py``).
"""
from amaranth.hdl import ClockSignal, Const, Instance, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: Address bits of one SB_SPRAM256KA (16K words), and so of the bank (the four share it).
ADDR_BITS = 14
#: Bytes the bank holds.
SPRAM_BYTES = 8 << ADDR_BITS
#: Bits of one SB_SPRAM256KA's word: the bank's 64 take four.
CELL_WIDTH = 16


class SPRAM(wiring.Component):
    """``addr``, ``data_in``, ``write`` in; ``data_out`` out (see above)."""

    addr: In(ADDR_BITS)
    data_in: In(64)
    write: In(1)
    data_out: Out(64)

    def elaborate(self, platform):
        m = Module()
        for i in range(64 // CELL_WIDTH):
            bits = slice(CELL_WIDTH * i, CELL_WIDTH * (i + 1))
            m.submodules[f"cell{i}"] = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=self.addr, i_DATAIN=self.data_in[bits],
                i_MASKWREN=Const(0b1111, 4),          # whole words: every nibble
                i_WREN=self.write, i_CHIPSELECT=Const(1), i_CLOCK=ClockSignal(),
                # Always awake and powered (POWEROFF is active low).
                i_STANDBY=Const(0), i_SLEEP=Const(0), i_POWEROFF=Const(1),
                o_DATAOUT=self.data_out[bits])
        return m
