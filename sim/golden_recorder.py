"""A golden run recorded as the RTL top's two buses (``SystemBusTop``'s ``i_bus`` and
``o_bus``), cycle by cycle: the stimulus and the expected outputs of trace mode."""
from functools import cache

from sim.system_bus_top import SystemBuses
from sw_model.golden_backend import ACCESS, GoldenBackend
from sw_model.system_ref import SystemInputs


class RecordingBackend(GoldenBackend):
    """The golden backend, unchanged in behaviour, keeping ``records``: run-length
    [cycles, input bus, output bus] entries in cycle order, equal consecutive cycles
    merged. The idle cycles the backend skips without ticking are recorded the same way:
    nothing offered, no memory response, the outputs they would all show."""

    def __init__(self, **params):
        super().__init__(**params)
        self.buses = buses(self.cpus, self.devices)
        self.records = []
        self._recorded = 0                      # cycles in ``records``
        self._no_requests = [None] * (self.cpus + self.devices)
        self._quiet = {}                        # (irq_enable, mem_req_ready) -> input bus

    def _tick(self):
        # The outputs are registers: read before the edge, they are this cycle's. The
        # inputs are complete only once the base tick has set the memory response, and
        # the caller clears its offer only after this returns.
        out = self.buses.pack_outputs(self.system.outputs())
        super()._tick()
        inp = self._inp
        if any(inp.cpu_req) or any(inp.dev_req):
            requests = [None if r is None else _packed(ACCESS, r)
                        for r in inp.cpu_req + inp.dev_req]
            self._record(1, self.buses.pack_inputs(inp, requests), out)
        elif inp.src_valid or inp.host_mem_valid or inp.mem_resp_valid:
            self._record(1, self.buses.pack_inputs(inp, self._no_requests), out)
        else:
            self._record(1, self._quiet_inputs(), out)

    def idle(self, cycles=1):
        super().idle(cycles)
        skipped = self._cycles - self._recorded
        if skipped:
            self._record(skipped, self._quiet_inputs(),
                         self.buses.pack_outputs(self.system.outputs()))

    def _quiet_inputs(self):
        """The input bus with nothing offered and no memory response."""
        key = self._inp.irq_enable, self._inp.mem_req_ready
        if key not in self._quiet:
            quiet = SystemInputs(self.cpus, self.devices)
            quiet.irq_enable, quiet.mem_req_ready = key
            self._quiet[key] = self.buses.pack_inputs(quiet, self._no_requests)
        return self._quiet[key]

    def _record(self, cycles, inp, out):
        records = self.records
        if records and records[-1][1] == inp and records[-1][2] == out:
            records[-1][0] += cycles
        else:
            records.append([cycles, inp, out])
        self._recorded += cycles


@cache
def buses(cpus, devices):
    """The packing of a system's buses: made once (its codecs take ~40 ms to build, as
    long as a short scenario run)."""
    return SystemBuses(cpus, devices)


def _packed(codec, value):
    """The integer of an unpacked (named-tuple) value of ``codec``."""
    return codec.pack(**{name: field._asdict() if hasattr(field, "_asdict") else field
                         for name, field in value._asdict().items()})
