"""Multi-core system top: CPU MMUs, device TLBs, the invalidate fabric, a memory arbiter
and a host port.

- CPU *c*: an access port (``cpu_req``/``cpu_resp``), a fabric source (``src[1+c]``,
  ``done`` bit 1+c) and an interrupt enable (``irq_enable``): its TLB takes broadcast
  invalidates from the fabric, and shootdowns from its mailbox when interrupts are on
  and no broadcast arrives in the same cycle.
- Device *d*: an MMU used as a secondary, IOMMU-like translation cache on the same page
  tables (``dev_req``/``dev_resp``); it gets the invalidates that ask for devices.
- Host: fabric source 0, and ``host_mem`` for reading and writing memory through the
  arbiter (one buffered request; its response is shown a cycle after memory's).
- Memory: ``mem_req``/``mem_resp``; requesters are the host, then the CPU walkers, then
  the device walkers.

Every output is a register or a function of registers. Model twin:
``sw_model.system_ref.SystemRef``.
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out, connect

from .arbiter import MemoryArbiter
from .fabric import (GEN_BITS, FabricRequest, InvalidateFabric, check_fabric_params,
                     check_gen_bits)
from .faults import FABRIC_FAULTS, MMU_FAULTS, check_faults
from .mmu import MMU
from .tlb import check_asid_bits
from .ports import AccessRequest, AccessResponse, MemRequest, MemResponse


class System(wiring.Component):
    def __init__(self, *, cpus=4, devices=1, tlb_entries=16, pa_bits=40, ha=True, hd=True,
                 tlbi_range=True, asid_bits=16, gen_bits=GEN_BITS, staged=False, faults=()):
        self.cpus, self.devices = check_fabric_params(cpus, devices)
        check_gen_bits(gen_bits)
        check_asid_bits(asid_bits)
        faults = check_faults(faults, {**FABRIC_FAULTS, **MMU_FAULTS})
        mmu = dict(tlb_entries=tlb_entries, pa_bits=pa_bits, ha=ha, hd=hd,
                   tlbi_range=tlbi_range, asid_bits=asid_bits, staged=staged,
                   faults=faults & set(MMU_FAULTS))
        self.cpu_mmus = [MMU(**mmu) for _ in range(cpus)]
        self.dev_mmus = [MMU(**mmu) for _ in range(devices)]
        self.fabric = InvalidateFabric(cpus=cpus, devices=devices, gen_bits=gen_bits,
                                       faults=faults & set(FABRIC_FAULTS))
        self.arbiter = MemoryArbiter(1 + cpus + devices)
        members = {
            "cpu_req": In(stream.Signature(AccessRequest)).array(cpus),
            "cpu_resp": Out(stream.Signature(AccessResponse, always_ready=True)).array(cpus),
            "src": In(stream.Signature(FabricRequest)).array(1 + cpus),
            "done": Out(1 + cpus),
            "irq_enable": In(cpus),
            "host_mem": In(stream.Signature(MemRequest)),
            "host_mem_resp": Out(stream.Signature(MemResponse, always_ready=True)),
            "mem_req": Out(stream.Signature(MemRequest)),
            "mem_resp": In(stream.Signature(MemResponse, always_ready=True)),
            "completed_gen": Out(GEN_BITS),
        }
        if devices:
            members["dev_req"] = In(stream.Signature(AccessRequest)).array(devices)
            members["dev_resp"] = Out(stream.Signature(AccessResponse,
                                                       always_ready=True)).array(devices)
        super().__init__(members)
        self.host_full = Signal()
        self.host_buffer = Signal(MemRequest)
        self.from_ipi = Signal(cpus)       # the invalidate a CPU took last came from its mailbox

    def elaborate(self, platform):
        m = Module()
        fabric, arbiter = self.fabric, self.arbiter
        m.submodules.fabric = fabric
        m.submodules.arbiter = arbiter
        for c, mmu in enumerate(self.cpu_mmus):
            m.submodules[f"cpu{c}"] = mmu
        for d, mmu in enumerate(self.dev_mmus):
            m.submodules[f"dev{d}"] = mmu

        for i in range(1 + self.cpus):
            connect(m, wiring.flipped(self.src[i]), fabric.src[i])
        m.d.comb += [self.done.eq(fabric.done), self.completed_gen.eq(fabric.completed_gen)]

        # Memory: the host's buffered request, then every walker.
        walkers = self.cpu_mmus + self.dev_mmus
        m.d.comb += [arbiter.req[0].valid.eq(self.host_full),
                     arbiter.req[0].payload.eq(self.host_buffer),
                     self.host_mem.ready.eq(~self.host_full)]
        with m.If(self.host_mem.valid & ~self.host_full):
            m.d.sync += [self.host_buffer.eq(self.host_mem.payload), self.host_full.eq(1)]
        with m.If(arbiter.req[0].ready):
            m.d.sync += self.host_full.eq(0)
        m.d.sync += [self.host_mem_resp.valid.eq(arbiter.resp[0].valid),
                     self.host_mem_resp.payload.eq(arbiter.resp[0].payload)]
        for k, mmu in enumerate(walkers, start=1):
            connect(m, mmu.mem_req, arbiter.req[k])
            connect(m, arbiter.resp[k], mmu.mem_resp)
        connect(m, arbiter.mem_req, wiring.flipped(self.mem_req))
        connect(m, wiring.flipped(self.mem_resp), arbiter.mem_resp)

        # Accesses.
        for c, mmu in enumerate(self.cpu_mmus):
            connect(m, wiring.flipped(self.cpu_req[c]), mmu.req)
            connect(m, mmu.resp, wiring.flipped(self.cpu_resp[c]))
        for d, mmu in enumerate(self.dev_mmus):
            connect(m, wiring.flipped(self.dev_req[d]), mmu.req)
            connect(m, mmu.resp, wiring.flipped(self.dev_resp[d]))

        # Invalidates: a CPU's TLB takes a broadcast first, its mailbox when interrupts
        # allow; the acknowledgement goes back to whichever it came from.
        tgt_ack = Signal(self.cpus + self.devices)
        ipi_ack = Signal(self.cpus)
        for c, mmu in enumerate(self.cpu_mmus):
            broadcast, ipi = fabric.tgt[c], fabric.ipi[c]
            take_ipi = ipi.valid & self.irq_enable[c] & ~broadcast.valid
            m.d.comb += [
                broadcast.ready.eq(mmu.inv.ready),
                ipi.ready.eq(self.irq_enable[c] & ~broadcast.valid & mmu.inv.ready),
                mmu.inv.valid.eq(broadcast.valid | take_ipi),
                mmu.inv.payload.eq(Mux(broadcast.valid, broadcast.payload, ipi.payload)),
                tgt_ack[c].eq(mmu.inv_ack & ~self.from_ipi[c]),
                ipi_ack[c].eq(mmu.inv_ack & self.from_ipi[c]),
            ]
            m.d.sync += self.from_ipi[c].eq(take_ipi)
        for d, mmu in enumerate(self.dev_mmus):
            connect(m, fabric.tgt[self.cpus + d], mmu.inv)
            m.d.comb += tgt_ack[self.cpus + d].eq(mmu.inv_ack)
        m.d.comb += [fabric.tgt_ack.eq(tgt_ack), fabric.ipi_ack.eq(ipi_ack)]
        return m
