"""The rtl platform backend: the kernel model drives the Amaranth system
(``hdl/system.py`` inside ``sim/system_bus_top.py``) in a cocotb simulation, in lockstep
with its cycle-matched model.

Every cycle the backend offers the same inputs to the RTL and to ``SystemRef`` and
compares the RTL's whole output bus with the model's before the clock edge; the first
difference raises ``Divergence``, which ends the run with the cycle, the fields, their
expected and actual values. Because the two agree up to there, the backend's decisions
(when a port is ready, what an access answered, when the system is quiescent and idle
cycles can be run without Python) are the same whichever of the two they are read from;
the model's are used, as in the golden backend, of which this is a subclass. Memory is
the backend's Python memory, answering the RTL's requests.

The kernel model is plain blocking Python; cocotb is asynchronous. The scenario runs in
a cocotb bridge thread (``cocotb.task.bridge``), and each clock cycle is one call back
into the simulator's thread (``cocotb.task.resume``), which reads ``o_bus``, drives ``i_bus`` and
waits for the next falling edge. A run of idle cycles is one call.
"""
from cocotb.task import resume
from cocotb.triggers import ClockCycles, FallingEdge

from sim.bench_support import drive
from sim.system_bus_top import SystemBuses
from sw_model.golden_backend import ACCESS, GoldenBackend
from sw_model.platform import Divergence

#: Cycles a divergent run goes on for, so that its waveform shows what followed.
WAVES_AFTER = 8


class RTLLink:
    """The simulator's side: one DUT (``system_bus_top``) with its clock running."""

    def __init__(self, dut):
        self.dut = dut
        self._falling = FallingEdge(dut.clk)

    async def reset(self):
        """Hold reset for two cycles; return at a falling edge with ``i_bus`` zero."""
        self.dut.rst.value = 1
        drive(self.dut.i_bus, 0)
        await self._falling
        await self._falling
        self.dut.rst.value = 0

    async def cycle(self, i_value):
        """This cycle's output bus, then drive ``i_value`` and let the clock edge pass."""
        actual = self.dut.o_bus.value.to_unsigned()
        drive(self.dut.i_bus, i_value)
        await self._falling
        return actual

    async def cycles(self, i_value, n):
        """``n`` cycles with ``i_value`` held: no Python in between."""
        drive(self.dut.i_bus, i_value)
        await ClockCycles(self.dut.clk, n, rising=False)


class RTLBackend(GoldenBackend):
    def __init__(self, link, *, cpus, devices, tlb_entries, waves=False, faults=()):
        # ``faults``: the RTL's fabric faults, given to the model too, so that the two
        # still agree (only the faults the model takes: fabric_ref.MODEL_FAULTS).
        super().__init__(cpus=cpus, devices=devices, tlb_entries=tlb_entries,
                         faults=faults)
        self._link = link
        self._cycle = resume(link.cycle)
        self._cycles_held = resume(link.cycles)
        self._buses = SystemBuses(cpus, devices)
        self._waves = waves
        resume(link.reset)()

    def _inputs(self):
        inp = self._inp
        payload = [None if r is None else ACCESS.pack(**_fields(r))
                   for r in inp.cpu_req + inp.dev_req]
        return self._buses.pack_inputs(inp, payload)

    def _clock(self, inp):
        expected = self._buses.pack_outputs(self.system.outputs())
        actual = self._cycle(self._inputs())
        if actual != expected:
            self._diverged(expected, actual)
        super()._clock(inp)

    def _skip(self, cycles):
        self._inp.mem_resp_valid = 0          # no memory answer in a quiescent cycle
        self._cycles_held(self._inputs(), cycles)
        super()._skip(cycles)

    def _diverged(self, expected, actual):
        if self._waves:                      # let the waveform show what followed
            self._cycles_held(self._inputs(), WAVES_AFTER)
        raise Divergence(self._cycles, self._buses.diff(expected, actual))


def _fields(value):
    """A decoded request (nested named tuples) as the nested dicts ``Codec.pack`` takes."""
    return {name: _fields(v) if hasattr(v, "_asdict") else v
            for name, v in value._asdict().items()}
