"""Formal harness of the invalidate fabric. Sources and their requests are free; targets
follow the protocol: they acknowledge only an invalidate they took, at least one cycle
later (with ``prompt_targets``: always ready, acknowledging one cycle later, as the MMU).

Properties: the completed generation never decreases, is never ahead of what completed,
and never reaches the generation of a request still in the fabric (sources issue
generations in increasing order); a sync is taken only when no invalidate is undelivered
or unacknowledged at any target; with prompt targets and CPUs, a buffered invalidate or
sync waits at most 3 cycles per source, plus one (round-robin fairness). Shootdowns are
taken in round-robin order among those that can go, but a shootdown can be passed over
while others' shootdowns keep the single shootdown slot busy: not bounded here."""
from amaranth.hdl import Assert, Assume, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hdl.fabric import FabricOp, FabricRequest, InvalidateFabric


class FabricProperties(wiring.Component):
    def __init__(self, *, cpus=2, devices=1, prompt_targets=False, generations=True,
                 faults=()):
        self.cpus, self.devices, self.prompt = cpus, devices, prompt_targets
        self.faults = faults
        self.generations = generations    # the generation properties (costly to solve)
        sources, targets = 1 + cpus, cpus + devices
        super().__init__({
            "src_valid": In(sources), "src_payload": In(FabricRequest).array(sources),
            "tgt_ready": In(targets), "tgt_ack": In(targets),
            "ipi_ready": In(cpus), "ipi_ack": In(cpus),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.fabric = fabric = InvalidateFabric(cpus=self.cpus, devices=self.devices,
                                                        faults=self.faults)
        sources, targets = fabric.sources, fabric.targets
        for i in range(sources):
            m.d.comb += [fabric.src[i].valid.eq(self.src_valid[i]),
                         fabric.src[i].payload.eq(self.src_payload[i])]
        took = Signal(targets)
        for j in range(targets):
            m.d.comb += [fabric.tgt[j].ready.eq(self.tgt_ready[j]),
                         took[j].eq(fabric.tgt[j].valid & self.tgt_ready[j])]
        m.d.comb += fabric.tgt_ack.eq(self.tgt_ack)
        ipi_took = Signal(self.cpus)
        for c in range(self.cpus):
            m.d.comb += [fabric.ipi[c].ready.eq(self.ipi_ready[c]),
                         ipi_took[c].eq(fabric.ipi[c].valid & self.ipi_ready[c])]
        m.d.comb += fabric.ipi_ack.eq(self.ipi_ack)
        ipi_outstanding = Signal(self.cpus)
        m.d.sync += ipi_outstanding.eq((ipi_outstanding & ~self.ipi_ack) | ipi_took)
        m.d.comb += Assume((self.ipi_ack & ~ipi_outstanding) == 0)

        if self.generations:
            self._generations(m, fabric)

        # Targets: an ack only for an invalidate taken in an earlier cycle.
        outstanding = Signal(targets)
        m.d.sync += outstanding.eq((outstanding & ~self.tgt_ack) | took)
        m.d.comb += Assume((self.tgt_ack & ~outstanding) == 0)
        if self.prompt:
            m.d.comb += [Assume(self.tgt_ready == (1 << targets) - 1),
                         Assume(self.tgt_ack == outstanding),
                         Assume(self.ipi_ready == (1 << self.cpus) - 1),
                         Assume(self.ipi_ack == ipi_outstanding)]

        with m.If(fabric.take_sync):
            m.d.comb += Assert((outstanding == 0) & (fabric.to_send == 0))

        if self.prompt:
            # Invalidates and syncs; a shootdown also waits for the one in flight.
            bound = 3 * sources + 1
            for i in range(sources):
                waited = Signal(range(bound + 2), name=f"waited{i}")
                with m.If(fabric.pending[i] & (fabric.slot_kinds[i] != FabricOp.SHOOTDOWN)):
                    m.d.sync += waited.eq(waited + 1)
                with m.Else():
                    m.d.sync += waited.eq(0)
                m.d.comb += Assert(waited <= bound)
        return m

    def _generations(self, m, fabric):
        sources = fabric.sources
        # Sources issue generations in increasing order, one at a time; small ones, so the
        # solver reaches depth (the logic is the same for every width).
        last_gen = Signal.like(fabric.completed_gen)
        for i in range(sources):
            p = self.src_payload[i]
            m.d.comb += Assume(p.gen < 16)
            with m.If(self.src_valid[i] & fabric.src[i].ready & p.gen_valid):
                m.d.comb += Assume(p.gen > last_gen)
                m.d.sync += last_gen.eq(p.gen)
            for k in range(i):
                m.d.comb += Assume(~(self.src_valid[i] & fabric.src[i].ready & p.gen_valid
                                     & self.src_valid[k] & fabric.src[k].ready
                                     & self.src_payload[k].gen_valid))

        previous = Signal.like(fabric.completed_gen)
        m.d.sync += previous.eq(fabric.completed_gen)
        m.d.comb += Assert(fabric.completed_gen >= previous)
        # Never ahead of what completed, never at or past a generation still pending: a
        # shootdown in flight, or a request the wrapper saw enter and not yet come back
        # as done (tracking the latest request of each source).
        m.d.comb += Assert(fabric.completed_gen <= fabric.max_done_gen)
        with m.If((fabric.sd_wait != 0) & fabric.sd_gen_valid):
            m.d.comb += Assert(fabric.completed_gen < fabric.sd_gen)
        for i in range(sources):
            held_gen = Signal.like(fabric.completed_gen, name=f"held_gen{i}")
            held = Signal(name=f"held{i}")
            p = self.src_payload[i]
            with m.If(self.src_valid[i] & fabric.src[i].ready):
                m.d.sync += [held.eq(p.gen_valid), held_gen.eq(p.gen)]
            with m.Elif(fabric.done[i]):
                m.d.sync += held.eq(0)
            with m.If(held):
                m.d.comb += Assert(fabric.completed_gen < held_gen)
