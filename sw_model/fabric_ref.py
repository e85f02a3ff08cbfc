"""Cycle-matched model of ``hdl.fabric.InvalidateFabric``."""
from hdl.fabric import GEN_BITS, FabricOp, FabricRequest, check_fabric_params, check_gen_bits
from hdl.faults import check_faults

from .codec import Codec

FABRIC_REQUEST = Codec(FabricRequest)
INV_OFFSET, INV_MASK = FABRIC_REQUEST.field("inv")
#: The fabric faults of hdl/faults.py that the model can be broken with, as the RTL is.
MODEL_FAULTS = ("early_sync", "skip_target")


class FabricInputs:
    """The inputs of one cycle: per source a valid bit and a packed FabricRequest; per
    target its ready and ack bits, per CPU its ipi ready and ack bits (as masks)."""
    __slots__ = ("src_valid", "src_payload", "tgt_ready", "tgt_ack", "ipi_ready", "ipi_ack")

    def __init__(self, sources):
        self.src_valid = 0
        self.src_payload = [0] * sources
        self.tgt_ready = self.tgt_ack = self.ipi_ready = self.ipi_ack = 0


class FabricRef:
    def __init__(self, *, cpus=4, devices=1, gen_bits=GEN_BITS, faults=()):
        self.cpus, self.devices = check_fabric_params(cpus, devices)
        self.gen_bits = check_gen_bits(gen_bits)
        self._gen_mask = (1 << gen_bits) - 1   # a generation's bits that the fabric keeps
        self.faults = check_faults(faults, MODEL_FAULTS)
        self.sources = 1 + cpus
        self.targets = cpus + devices
        self.pending = 0                       # bit i: source i's buffer holds a request
        self.slots = [0] * self.sources        # packed FabricRequest per source
        self.decoded = [None] * self.sources   # the same, decoded once as it arrives
        self.rr = 0
        self.busy = False
        self.current = None                    # decoded request being delivered
        self.current_inv = 0                   # its packed InvalidateRequest
        self.owner = 0
        self.to_send = 0
        self.to_ack = 0
        # The shootdown in flight: mailboxes not yet taken, CPUs yet to acknowledge.
        self.sd_send = 0
        self.sd_wait = 0
        self.sd_inv = 0
        self.sd_owner = 0
        self.sd_gen_valid = 0
        self.sd_gen = 0
        self.max_done_gen = 0                  # highest generation completed so far
        self.done = 0
        self.completed_gen = 0

    def outputs(self):
        """(src_ready mask, done mask, tgt_valid mask, packed InvalidateRequest delivered
        or None, completed_gen, ipi_valid mask, packed shootdown invalidate or None)."""
        return (~self.pending & ((1 << self.sources) - 1), self.done, self.to_send,
                self.current_inv if self.to_send else None, self.completed_gen,
                self.sd_send, self.sd_inv if self.sd_send else None)

    def _eligible(self, i):
        if not self.pending >> i & 1:
            return False
        shootdown = self.decoded[i].kind == FabricOp.SHOOTDOWN.value
        return not (shootdown and self.sd_wait)

    def grant(self):
        """The first buffered request at or after the round-robin pointer that can go
        now (a shootdown waits while another is in flight), or None."""
        if not self.pending:
            return None
        for offset in range(self.sources):
            i = (self.rr + offset) % self.sources
            if self._eligible(i):
                return i
        return None

    def lowest_pending_gen(self):
        """The lowest generation still in the fabric, or 2**gen_bits when there is none."""
        lowest = [self.decoded[i].gen & self._gen_mask for i in range(self.sources)
                  if self.pending >> i & 1 and self.decoded[i].gen_valid]
        if self.busy and self.current.gen_valid:
            lowest.append(self.current.gen & self._gen_mask)
        if self.sd_wait and self.sd_gen_valid:
            lowest.append(self.sd_gen)
        return min(lowest, default=1 << self.gen_bits)

    def tick(self, inp):
        if not (self.pending or inp.src_valid or self.busy or self.sd_wait or self.sd_send):
            # Nothing buffered, arriving or in flight: only ``done`` ends, and with nothing
            # pending the completed generation catches up with the highest one done.
            self.completed_gen = max(self.completed_gen, self.max_done_gen)
            self.done = 0
            return
        cpu_mask = (1 << self.cpus) - 1
        all_mask = (1 << self.targets) - 1
        # The completed generation moves up to what completed, below what is pending.
        reachable = min(self.max_done_gen, self.lowest_pending_gen() - 1)
        self.completed_gen = max(self.completed_gen, reachable)
        pending, done, sd_done = self.pending, 0, 0
        arriving = inp.src_valid & ~self.pending
        for i in range(self.sources):
            if arriving >> i & 1:
                self.slots[i] = inp.src_payload[i]
                self.decoded[i] = FABRIC_REQUEST.unpack(inp.src_payload[i])
                pending |= 1 << i
        sd_busy = self.sd_wait != 0
        sd_remaining = self.sd_wait & ~inp.ipi_ack
        sd_send = self.sd_send & ~(self.sd_send & inp.ipi_ready)
        sd_wait = sd_remaining
        grant = self.grant()
        busy = self.busy
        may_take = not busy or ("early_sync" in self.faults and grant is not None
                                and self.decoded[grant].kind == FabricOp.SYNC.value)
        if may_take and grant is not None:
            self.rr = 0 if grant == self.sources - 1 else grant + 1
            pending &= ~(1 << grant)
            taken = self.decoded[grant]
            if taken.kind == FabricOp.SYNC.value:
                done = 1 << grant
            elif taken.kind == FabricOp.SHOOTDOWN.value:
                mask = taken.mask & cpu_mask
                sd_send = sd_wait = mask
                self.sd_inv = (self.slots[grant] >> INV_OFFSET) & INV_MASK
                self.sd_owner, self.sd_gen_valid = grant, taken.gen_valid
                self.sd_gen = taken.gen & self._gen_mask
                if mask == 0:
                    done = 1 << grant               # nobody to interrupt
            else:
                self.current, self.owner = taken, grant
                self.current_inv = (self.slots[grant] >> INV_OFFSET) & INV_MASK
                reached = cpu_mask
                if "skip_target" in self.faults:
                    reached &= ~(1 << (self.cpus - 1))
                self.to_send = self.to_ack = (reached | all_mask & ~cpu_mask
                                              if taken.devices else reached)
                self.busy = True
        if busy:
            remaining = self.to_ack & ~inp.tgt_ack
            self.to_send &= ~(self.to_send & inp.tgt_ready)
            self.to_ack = remaining
            if remaining == 0:
                self.busy = False
                done = 1 << self.owner
                if self.current.gen_valid:
                    self.max_done_gen = max(self.max_done_gen,
                                            self.current.gen & self._gen_mask)
        # The shootdown completes when its last CPU acknowledges.
        if sd_busy and sd_remaining == 0:
            sd_done = 1 << self.sd_owner
            if self.sd_gen_valid:
                self.max_done_gen = max(self.max_done_gen, self.sd_gen)
        self.pending, self.sd_send, self.sd_wait = pending, sd_send, sd_wait
        self.done = done | sd_done
