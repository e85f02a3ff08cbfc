"""Cycle-matched model of ``hdl.system.System``: the block models joined the way the RTL
joins the blocks."""
from hdl.fabric import GEN_BITS, check_fabric_params
from hdl.ports import InvalidateRequest

from .arbiter_ref import ArbiterInputs, ArbiterRef
from .codec import Codec
from .fabric_ref import FabricInputs, FabricRef
from .mmu_ref import MMUInputs, MMURef

INVALIDATE = Codec(InvalidateRequest)


class SystemInputs:
    """One cycle's inputs. Access requests are decoded AccessRequests (or None)."""
    __slots__ = ("cpu_req", "dev_req", "src_valid", "src_payload", "irq_enable",
                 "host_mem_valid", "host_mem", "mem_req_ready", "mem_resp_valid", "mem_resp")

    def __init__(self, cpus, devices):
        self.cpu_req = [None] * cpus
        self.dev_req = [None] * devices
        self.src_valid = 0
        self.src_payload = [0] * (1 + cpus)
        self.irq_enable = 0
        self.host_mem_valid = self.host_mem = 0
        self.mem_req_ready = self.mem_resp_valid = self.mem_resp = 0


class SystemRef:
    def __init__(self, *, cpus=4, devices=1, tlb_entries=16, pa_bits=40, ha=True, hd=True,
                 tlbi_range=True, asid_bits=16, gen_bits=GEN_BITS, staged=False, bugs=(),
                 faults=()):
        self.cpus, self.devices = check_fabric_params(cpus, devices)
        mmu = dict(tlb_entries=tlb_entries, pa_bits=pa_bits, ha=ha, hd=hd,
                   tlbi_range=tlbi_range, asid_bits=asid_bits, staged=staged, bugs=bugs)
        self.cpu_mmus = [MMURef(**mmu) for _ in range(cpus)]
        self.dev_mmus = [MMURef(**mmu) for _ in range(devices)]
        self.fabric = FabricRef(cpus=cpus, devices=devices, gen_bits=gen_bits, faults=faults)
        self.arbiter = ArbiterRef(1 + cpus + devices)
        self.walkers = self.cpu_mmus + self.dev_mmus    # memory requesters 1, 2, ...
        self.host_full = False
        self.host_buffer = 0
        self.host_mem_resp = None
        self.from_ipi = 0
        self.awake = 0            # bit j: MMU j was not still after its last tick

    def mem_request(self):
        """The request offered to memory (packed), or None."""
        arb = self.arbiter
        if not arb.offering:
            return None
        if arb.owner == 0:
            return self.host_buffer
        return self.walkers[arb.owner - 1].walker.mem_request

    def outputs(self):
        """(cpu (ready, resp) pairs, device pairs, src_ready, done, host_mem_ready,
        host_mem_resp or None, mem_req or None, completed_gen)."""
        src_ready, done, *_ = self.fabric.outputs()
        return ([(int(m.req_ready), m.resp) for m in self.cpu_mmus],
                [(int(m.req_ready), m.resp) for m in self.dev_mmus],
                src_ready, done, int(not self.host_full), self.host_mem_resp,
                self.mem_request(), self.fabric.completed_gen)

    def tick(self, inp):
        fabric, arbiter = self.fabric, self.arbiter
        _, _, tgt_valid, tgt_inv, _, ipi_valid, ipi_inv = fabric.outputs()

        # Invalidates, as masks over the targets (CPUs first): a CPU's TLB takes a
        # broadcast first, its mailbox when interrupts allow; the acknowledgement goes
        # back to whichever it came from.
        take_ipi = ipi_valid & inp.irq_enable & ~tgt_valid
        # The MMUs to tick: those awake, and those given a request or an invalidate. The
        # others are still (``MMURef.still``): a tick would keep their every register, and
        # they have no acknowledgement and no memory request to give.
        requests = inp.cpu_req + inp.dev_req
        moving = self.awake | tgt_valid | take_ipi
        ticked = []
        if moving or any(requests):                 # a request is a non-empty tuple
            ticked = [(j, mmu, req) for j, (mmu, req) in enumerate(zip(self.walkers, requests))
                      if req is not None or moving >> j & 1]
        acks = 0
        for j, mmu, _ in ticked:
            acks |= mmu.tlb.inv_ack << j
        fin = FabricInputs(fabric.sources)
        fin.src_valid, fin.src_payload = inp.src_valid, inp.src_payload
        fin.tgt_ready = (1 << fabric.targets) - 1
        fin.tgt_ack, fin.ipi_ack = acks & ~self.from_ipi, acks & self.from_ipi
        fin.ipi_ready = inp.irq_enable & ~tgt_valid
        # Decoded once for all the TLBs that take them.
        broadcast_inv = INVALIDATE.unpack(tgt_inv) if tgt_valid else None
        shootdown_inv = INVALIDATE.unpack(ipi_inv) if take_ipi else None

        # Memory: the host's buffered request, then every walker's (a still MMU has none).
        ain = ArbiterInputs(arbiter.requesters)
        ain.req_valid = int(self.host_full)
        ain.req_payload[0] = self.host_buffer
        for j, mmu, _ in ticked:
            request = mmu.walker.mem_request
            if request is not None:
                ain.req_valid |= 1 << (j + 1)
                ain.req_payload[j + 1] = request
        ain.mem_ready, ain.mem_resp_valid, ain.mem_resp = \
            inp.mem_req_ready, inp.mem_resp_valid, inp.mem_resp
        ready, resp, _, _ = arbiter.outputs(ain)

        awake = 0
        for j, mmu, req in ticked:
            mi = MMUInputs()
            mi.req_valid, mi.req = int(req is not None), req
            if tgt_valid >> j & 1:
                mi.inv_valid, mi.inv = 1, broadcast_inv
            elif take_ipi >> j & 1:
                mi.inv_valid, mi.inv = 1, shootdown_inv
            mi.mem_req_ready = ready >> (j + 1) & 1
            mi.mem_resp_valid, mi.mem_resp = resp >> (j + 1) & 1, inp.mem_resp
            mmu.tick(mi)
            awake |= (not mmu.still) << j
        self.awake = awake

        if inp.host_mem_valid and not self.host_full:
            self.host_buffer, self.host_full = inp.host_mem, True
        if ready & 1:
            self.host_full = False
        self.host_mem_resp = inp.mem_resp if resp & 1 else None
        fabric.tick(fin)
        arbiter.tick(ain)
        self.from_ipi = take_ipi
