"""Cycle-matched model of ``hdl.fabric.InvalidateFabric``."""
from hdl.fabric import FabricOp, FabricRequest, check_fabric_params

from .codec import Codec

FABRIC_REQUEST = Codec(FabricRequest)
INV_OFFSET, INV_MASK = FABRIC_REQUEST.field("inv")


class FabricInputs:
    """The inputs of one cycle: per source a valid bit and a packed FabricRequest, per
    target its ready and ack bits (as masks)."""
    __slots__ = ("src_valid", "src_payload", "tgt_ready", "tgt_ack")

    def __init__(self, sources):
        self.src_valid = 0
        self.src_payload = [0] * sources
        self.tgt_ready = 0
        self.tgt_ack = 0


class FabricRef:
    def __init__(self, *, cpus=4, devices=1):
        self.cpus, self.devices = check_fabric_params(cpus, devices)
        self.sources = 1 + cpus
        self.targets = cpus + devices
        self.pending = 0                       # bit i: source i's buffer holds a request
        self.slots = [0] * self.sources        # packed FabricRequest per source
        self.rr = 0
        self.busy = False
        self.current = None                    # decoded request being delivered
        self.current_inv = 0                   # its packed InvalidateRequest
        self.owner = 0
        self.to_send = 0
        self.to_ack = 0
        self.done = 0
        self.completed_gen = 0

    def outputs(self):
        """(src_ready mask, done mask, tgt_valid mask, packed InvalidateRequest delivered
        or None, completed_gen)."""
        inv = self.current_inv if self.to_send else None
        return (~self.pending & ((1 << self.sources) - 1), self.done, self.to_send, inv,
                self.completed_gen)

    def grant(self):
        """The first buffered request at or after the round-robin pointer, or None."""
        for offset in range(self.sources):
            i = (self.rr + offset) % self.sources
            if self.pending >> i & 1:
                return i
        return None

    def tick(self, inp):
        cpu_mask = (1 << self.cpus) - 1
        all_mask = (1 << self.targets) - 1
        pending, done = self.pending, 0
        for i in range(self.sources):
            if inp.src_valid >> i & 1 and not self.pending >> i & 1:
                self.slots[i] = inp.src_payload[i]
                pending |= 1 << i
        grant = self.grant()
        if not self.busy and grant is not None:
            self.rr = 0 if grant == self.sources - 1 else grant + 1
            pending &= ~(1 << grant)
            taken = FABRIC_REQUEST.unpack(self.slots[grant])
            if taken.kind == FabricOp.SYNC.value:
                done = 1 << grant
            else:
                self.current, self.owner = taken, grant
                self.current_inv = (self.slots[grant] >> INV_OFFSET) & INV_MASK
                self.to_send = self.to_ack = all_mask if taken.devices else cpu_mask
                self.busy = True
        elif self.busy:
            remaining = self.to_ack & ~inp.tgt_ack
            self.to_send &= ~(self.to_send & inp.tgt_ready)
            self.to_ack = remaining
            if remaining == 0:
                self.busy = False
                done = 1 << self.owner
                gen = self.current.gen
                if self.current.gen_valid and gen > self.completed_gen:
                    self.completed_gen = gen
        self.pending = pending
        self.done = done

