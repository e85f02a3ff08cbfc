"""Formal harness of the invalidate fabric. Sources and their requests are free; targets
follow the protocol: they acknowledge only an invalidate they took, at least one cycle
later (with ``prompt_targets``: always ready, acknowledging one cycle later, as the MMU).

Properties: the completed generation never decreases and moves only as an invalidate
completes; a sync is taken only when no invalidate is undelivered or unacknowledged at
any target; with prompt targets, a buffered request waits at most 3 cycles per source
(round-robin fairness)."""
from amaranth.hdl import Assert, Assume, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hdl.fabric import FabricRequest, InvalidateFabric


class FabricProperties(wiring.Component):
    def __init__(self, *, cpus=2, devices=1, prompt_targets=False):
        self.cpus, self.devices, self.prompt = cpus, devices, prompt_targets
        sources, targets = 1 + cpus, cpus + devices
        super().__init__({
            "src_valid": In(sources), "src_payload": In(FabricRequest).array(sources),
            "tgt_ready": In(targets), "tgt_ack": In(targets),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.fabric = fabric = InvalidateFabric(cpus=self.cpus, devices=self.devices)
        sources, targets = fabric.sources, fabric.targets
        for i in range(sources):
            m.d.comb += [fabric.src[i].valid.eq(self.src_valid[i]),
                         fabric.src[i].payload.eq(self.src_payload[i])]
        took = Signal(targets)
        for j in range(targets):
            m.d.comb += [fabric.tgt[j].ready.eq(self.tgt_ready[j]),
                         took[j].eq(fabric.tgt[j].valid & self.tgt_ready[j])]
        m.d.comb += fabric.tgt_ack.eq(self.tgt_ack)

        # Targets: an ack only for an invalidate taken in an earlier cycle.
        outstanding = Signal(targets)
        m.d.sync += outstanding.eq((outstanding & ~self.tgt_ack) | took)
        m.d.comb += Assume((self.tgt_ack & ~outstanding) == 0)
        if self.prompt:
            m.d.comb += [Assume(self.tgt_ready == (1 << targets) - 1),
                         Assume(self.tgt_ack == outstanding)]

        previous = Signal.like(fabric.completed_gen)
        m.d.sync += previous.eq(fabric.completed_gen)
        m.d.comb += Assert(fabric.completed_gen >= previous)
        with m.If(fabric.completed_gen != previous):
            m.d.comb += Assert(fabric.done != 0)

        with m.If(fabric.take_sync):
            m.d.comb += Assert((outstanding == 0) & (fabric.to_send == 0))

        if self.prompt:
            bound = 3 * sources
            for i in range(sources):
                waited = Signal(range(bound + 2), name=f"waited{i}")
                with m.If(fabric.pending[i]):
                    m.d.sync += waited.eq(waited + 1)
                with m.Else():
                    m.d.sync += waited.eq(0)
                m.d.comb += Assert(waited <= bound)
        return m
