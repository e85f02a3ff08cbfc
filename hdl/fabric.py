"""Broadcast TLB-invalidate fabric: invalidates and syncs from many sources, delivered to
every target TLB, with a completed-generation register.

Sources (the host and each CPU) offer requests on ``lib.stream`` channels into a
one-request buffer each (``ready`` is "buffer empty", so every output is a register); a
round-robin arbiter takes one buffered request when the fabric is idle. An invalidate is delivered to every CPU target
(and to the device targets when it asks), each target taking it when ready and
acknowledging when it has applied it; the invalidate is complete when every target has
acknowledged, and only then does the fabric take the next request. So when a sync is
taken, every invalidate taken before it — from its source or any other — is complete
everywhere: the sync completes at once. ``done[i]`` pulses the cycle after source i's
request completes.

``completed_gen`` holds the generation of the latest completed invalidate that carried
one; it never decreases, and since invalidates complete in the order they were taken,
every invalidate taken before it is complete too. Sources must issue generations in
increasing order for that to mean "all generations up to it".

Model twin: ``sw_model.fabric_ref.FabricRef``.
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .ports import InvalidateRequest

MAX_CPUS = 8
MAX_DEVICES = 2
GEN_BITS = 32


class FabricOp(enum.Enum, shape=1):
    INVALIDATE = 0    # TLBI ...IS
    SYNC = 1          # DSB ISH: completes when every earlier invalidate is complete


class FabricRequest(data.Struct):
    kind: FabricOp
    inv: InvalidateRequest
    devices: 1        # deliver the invalidate to the device TLBs too
    gen_valid: 1
    gen: GEN_BITS


def check_fabric_params(cpus, devices):
    """Validate the fabric size; shared by the RTL and the model."""
    for name, value, low, high in (("cpus", cpus, 1, MAX_CPUS),
                                   ("devices", devices, 0, MAX_DEVICES)):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r}")
    return cpus, devices


class InvalidateFabric(wiring.Component):
    """Ports: ``src[i]`` (FabricRequest streams; source 0 is the host, source 1+c is CPU
    c), ``done`` (one bit per source), ``tgt[j]`` (InvalidateRequest streams; targets
    0..cpus-1 are the CPU TLBs, then the device TLBs), ``tgt_ack`` (one bit per target:
    that target applied the invalidate it took), ``completed_gen``."""

    def __init__(self, *, cpus=4, devices=1):
        self.cpus, self.devices = check_fabric_params(cpus, devices)
        self.sources = 1 + cpus
        self.targets = cpus + devices
        super().__init__({
            "src": In(stream.Signature(FabricRequest)).array(self.sources),
            "done": Out(self.sources),
            "tgt": Out(stream.Signature(InvalidateRequest)).array(self.targets),
            "tgt_ack": In(self.targets),
            "completed_gen": Out(GEN_BITS),
        })
        self.busy = Signal()
        self.rr = Signal(range(self.sources))
        # Visible to formal harnesses: buffered requests, and what the engine takes.
        self.pending = Signal(self.sources)
        self.take = Signal()
        self.take_sync = Signal()
        self.to_send = Signal(self.targets)     # targets that have not taken it yet

    def elaborate(self, platform):
        m = Module()
        current = Signal(FabricRequest)
        owner = Signal(range(self.sources))
        to_send = self.to_send
        to_ack = Signal(self.targets)       # targets that have not acknowledged yet
        cpu_mask = (1 << self.cpus) - 1
        device_mask = ((1 << self.targets) - 1) & ~cpu_mask

        # One buffered request per source: ready while the buffer is empty.
        pending = self.pending
        slots = [Signal(FabricRequest, name=f"slot{i}") for i in range(self.sources)]
        for i in range(self.sources):
            m.d.comb += self.src[i].ready.eq(~pending[i])
            with m.If(self.src[i].valid & ~pending[i]):
                m.d.sync += [slots[i].eq(self.src[i].payload), pending[i].eq(1)]

        # Round-robin: the first buffered request at or after the pointer.
        grant = Signal(range(self.sources))
        any_valid = Signal()
        with m.Switch(self.rr):
            for start in range(self.sources):
                with m.Case(start):
                    for offset in reversed(range(self.sources)):
                        i = (start + offset) % self.sources
                        with m.If(pending[i]):
                            m.d.comb += [grant.eq(i), any_valid.eq(1)]
        taken = Signal(FabricRequest)
        for i in range(self.sources):
            with m.If(grant == i):
                m.d.comb += taken.eq(slots[i])

        for j in range(self.targets):
            m.d.comb += [self.tgt[j].valid.eq(to_send[j]),
                         self.tgt[j].payload.eq(current.inv)]
        m.d.sync += self.done.eq(0)

        m.d.comb += [self.take.eq(~self.busy & any_valid),
                     self.take_sync.eq(self.take & (taken.kind == FabricOp.SYNC))]
        with m.If(self.take):
            m.d.sync += [self.rr.eq(Mux(grant == self.sources - 1, 0, grant + 1)),
                         pending.bit_select(grant, 1).eq(0)]
            with m.If(taken.kind == FabricOp.SYNC):
                m.d.sync += self.done.eq(1 << grant)
            with m.Else():
                targets = Mux(taken.devices, cpu_mask | device_mask, cpu_mask)
                m.d.sync += [current.eq(taken), owner.eq(grant), to_send.eq(targets),
                             to_ack.eq(targets), self.busy.eq(1)]

        with m.If(self.busy):
            accepted = Signal(self.targets)
            for j in range(self.targets):
                m.d.comb += accepted[j].eq(self.tgt[j].valid & self.tgt[j].ready)
            remaining = to_ack & ~self.tgt_ack
            m.d.sync += [to_send.eq(to_send & ~accepted), to_ack.eq(remaining)]
            with m.If(remaining == 0):
                m.d.sync += [self.busy.eq(0), self.done.eq(1 << owner)]
                with m.If(current.gen_valid & (current.gen > self.completed_gen)):
                    m.d.sync += self.completed_gen.eq(current.gen)
        return m
