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

Targeted shootdowns (the IPI model): a SHOOTDOWN request names CPUs by ``mask``. Taking
it puts the invalidate in each named CPU's mailbox and frees the fabric at once; a CPU
takes it from its ``ipi`` port when it can (a CPU with interrupts off delays it),
applies it to its own TLB and acknowledges on ``ipi_ack``. The shootdown is complete, and
its source's ``done`` pulses, when every named CPU has acknowledged. One shootdown is in
flight at a time; a later one waits in its source's buffer while other sources go on.
A sync waits for broadcast invalidates only, as a DSB does not wait for IPIs: so a CPU
that has interrupts off can still complete its own invalidates and syncs.

``completed_gen`` never decreases and never reaches the generation of a request still in
the fabric (buffered, being delivered, or a shootdown in flight): each cycle it moves up
to the highest generation completed so far, capped below the lowest one still pending.
So when it reads g, every request with a generation up to g that the fabric has received
is complete. (It shows a completion two cycles after the last acknowledgement: one for
the completion to register, one for the cap.) Software must hand out generations in the
order it issues them for the register to mean "all generations up to g".

``gen_bits`` (8 to 32): the generation bits the fabric keeps; the ports stay 32 bits
wide, a request's generation above them is ignored and ``completed_gen`` reads them
zero-extended. Fewer bits are cheaper; software must then stay below 2**gen_bits.

Model twin: ``sw_model.fabric_ref.FabricRef``.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .faults import FABRIC_FAULTS, check_faults
from .ports import InvalidateRequest

MAX_CPUS = 8
MAX_DEVICES = 2
GEN_BITS = 32
MIN_GEN_BITS = 8


class FabricOp(enum.Enum, shape=2):
    INVALIDATE = 0    # TLBI ...IS
    SYNC = 1          # DSB ISH: completes when every earlier invalidate is complete
    SHOOTDOWN = 2     # an IPI to the CPUs in ``mask``, each invalidating its own TLB


class FabricRequest(data.Struct):
    kind: FabricOp
    inv: InvalidateRequest
    devices: 1        # deliver the invalidate to the device TLBs too
    gen_valid: 1
    gen: GEN_BITS
    mask: MAX_CPUS    # SHOOTDOWN: the CPUs to interrupt


def check_fabric_params(cpus, devices):
    """Validate the fabric size; shared by the RTL and the model."""
    for name, value, low, high in (("cpus", cpus, 1, MAX_CPUS),
                                   ("devices", devices, 0, MAX_DEVICES)):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r}")
    return cpus, devices


def check_gen_bits(gen_bits):
    """Validate the generation width; shared by the RTL and the model."""
    if not isinstance(gen_bits, int) or isinstance(gen_bits, bool) \
            or not MIN_GEN_BITS <= gen_bits <= GEN_BITS:
        raise ValueError(f"gen_bits must be an integer from {MIN_GEN_BITS} to {GEN_BITS}, "
                         f"not {gen_bits!r}")
    return gen_bits


class InvalidateFabric(wiring.Component):
    """Ports: ``src[i]`` (FabricRequest streams; source 0 is the host, source 1+c is CPU
    c), ``done`` (one bit per source), ``tgt[j]`` (InvalidateRequest streams; targets
    0..cpus-1 are the CPU TLBs, then the device TLBs), ``tgt_ack`` (one bit per target:
    that target applied the invalidate it took), ``completed_gen``."""

    def __init__(self, *, cpus=4, devices=1, gen_bits=GEN_BITS, faults=()):
        self.cpus, self.devices = check_fabric_params(cpus, devices)
        self.gen_bits = check_gen_bits(gen_bits)
        self.faults = check_faults(faults, FABRIC_FAULTS)
        self.sources = 1 + cpus
        self.targets = cpus + devices
        super().__init__({
            "src": In(stream.Signature(FabricRequest)).array(self.sources),
            "done": Out(self.sources),
            "tgt": Out(stream.Signature(InvalidateRequest)).array(self.targets),
            "tgt_ack": In(self.targets),
            "ipi": Out(stream.Signature(InvalidateRequest)).array(cpus),
            "ipi_ack": In(cpus),
            "completed_gen": Out(GEN_BITS),
        })
        self.busy = Signal()
        self.rr = Signal(range(self.sources))
        # Visible to formal harnesses: buffered requests, and what the engine takes.
        self.pending = Signal(self.sources)
        self.take = Signal()
        self.take_sync = Signal()
        self.to_send = Signal(self.targets)     # targets that have not taken it yet
        self.sd_wait = Signal(cpus)             # CPUs yet to acknowledge the shootdown
        self.sd_gen_valid = Signal()
        self.sd_gen = Signal(gen_bits)
        self.max_done_gen = Signal(gen_bits)    # highest generation completed so far
        self.completed = Signal(gen_bits)       # completed_gen, in the bits kept
        self.slot_kinds = [Signal(FabricOp, name=f"slot_kind{i}") for i in range(self.sources)]

    def elaborate(self, platform):
        m = Module()
        bits = self.gen_bits
        current = Signal(FabricRequest)
        owner = Signal(range(self.sources))
        to_send = self.to_send
        to_ack = Signal(self.targets)       # targets that have not acknowledged yet
        cpu_mask = (1 << self.cpus) - 1
        device_mask = ((1 << self.targets) - 1) & ~cpu_mask

        # One buffered request per source: ready while the buffer is empty.
        pending = self.pending
        slots = [Signal(FabricRequest, name=f"slot{i}") for i in range(self.sources)]
        m.d.comb += [self.slot_kinds[i].eq(slots[i].kind) for i in range(self.sources)]
        for i in range(self.sources):
            m.d.comb += self.src[i].ready.eq(~pending[i])
            with m.If(self.src[i].valid & ~pending[i]):
                m.d.sync += [slots[i].eq(self.src[i].payload), pending[i].eq(1)]

        # Round-robin: the first buffered request at or after the pointer that can go
        # now (a shootdown waits while another is in flight).
        sd_busy = self.sd_wait != 0
        eligible = Signal(self.sources)
        for i in range(self.sources):
            m.d.comb += eligible[i].eq(pending[i] & ~(sd_busy & (slots[i].kind
                                                                 == FabricOp.SHOOTDOWN)))
        grant = Signal(range(self.sources))
        any_valid = Signal()
        with m.Switch(self.rr):
            for start in range(self.sources):
                with m.Case(start):
                    for offset in reversed(range(self.sources)):
                        i = (start + offset) % self.sources
                        with m.If(eligible[i]):
                            m.d.comb += [grant.eq(i), any_valid.eq(1)]
        taken = Signal(FabricRequest)
        for i in range(self.sources):
            with m.If(grant == i):
                m.d.comb += taken.eq(slots[i])

        for j in range(self.targets):
            m.d.comb += [self.tgt[j].valid.eq(to_send[j]),
                         self.tgt[j].payload.eq(current.inv)]

        # Shootdown mailboxes, one per CPU, all holding the one shootdown in flight.
        sd_send = Signal(self.cpus)
        sd_inv = Signal(InvalidateRequest)
        sd_owner = Signal(range(self.sources))
        sd_gen_valid, sd_gen = self.sd_gen_valid, self.sd_gen
        for c in range(self.cpus):
            m.d.comb += [self.ipi[c].valid.eq(sd_send[c]), self.ipi[c].payload.eq(sd_inv)]
        ipi_taken = Signal(self.cpus)
        for c in range(self.cpus):
            m.d.comb += ipi_taken[c].eq(self.ipi[c].valid & self.ipi[c].ready)
        sd_remaining = self.sd_wait & ~self.ipi_ack
        m.d.sync += [sd_send.eq(sd_send & ~ipi_taken), self.sd_wait.eq(sd_remaining)]

        done = Signal(self.sources)          # completed by the engine this cycle
        sd_done = Signal(self.sources)       # completed by the shootdown this cycle
        engine_gen = Signal(bits)            # generations completed this cycle (0: none)
        shootdown_gen = Signal(bits)
        m.d.sync += self.done.eq(done | sd_done)

        may_take = ~self.busy
        if "early_sync" in self.faults:
            may_take |= taken.kind == FabricOp.SYNC
        m.d.comb += [self.take.eq(may_take & any_valid),
                     self.take_sync.eq(self.take & (taken.kind == FabricOp.SYNC))]
        with m.If(self.take):
            m.d.sync += [self.rr.eq(Mux(grant == self.sources - 1, 0, grant + 1)),
                         pending.bit_select(grant, 1).eq(0)]
            with m.If(taken.kind == FabricOp.SYNC):
                m.d.comb += done.eq(1 << grant)
            with m.Elif(taken.kind == FabricOp.SHOOTDOWN):
                mask = taken.mask[:self.cpus]
                m.d.sync += [sd_send.eq(mask), self.sd_wait.eq(mask), sd_inv.eq(taken.inv),
                             sd_owner.eq(grant), sd_gen_valid.eq(taken.gen_valid),
                             sd_gen.eq(taken.gen[:bits])]
                with m.If(mask == 0):
                    m.d.comb += done.eq(1 << grant)     # nobody to interrupt
            with m.Else():
                reached = cpu_mask
                if "skip_target" in self.faults:
                    reached &= ~(1 << (self.cpus - 1))
                targets = Mux(taken.devices, reached | device_mask, reached)
                m.d.sync += [current.eq(taken), owner.eq(grant), to_send.eq(targets),
                             to_ack.eq(targets), self.busy.eq(1)]

        with m.If(self.busy):
            accepted = Signal(self.targets)
            for j in range(self.targets):
                m.d.comb += accepted[j].eq(self.tgt[j].valid & self.tgt[j].ready)
            acks = self.tgt_ack
            if "drop_ack" in self.faults:
                dropped = Signal()
                last = 1 << (self.targets - 1)
                with m.If(self.tgt_ack & last & ~dropped):
                    m.d.sync += dropped.eq(1)
                acks = Mux(dropped, self.tgt_ack, self.tgt_ack & ~last)
            remaining = to_ack & ~acks
            m.d.sync += [to_send.eq(to_send & ~accepted), to_ack.eq(remaining)]
            with m.If(remaining == 0):
                m.d.sync += self.busy.eq(0)
                m.d.comb += done.eq(1 << owner)
                with m.If(current.gen_valid):
                    m.d.comb += engine_gen.eq(current.gen[:bits])

        # The shootdown completes when its last CPU acknowledges.
        sd_completing = sd_busy & (sd_remaining == 0)
        with m.If(sd_completing):
            m.d.comb += sd_done.eq(1 << sd_owner)
            with m.If(sd_gen_valid):
                m.d.comb += shootdown_gen.eq(sd_gen)
        m.d.sync += self.max_done_gen.eq(_max3(self.max_done_gen, engine_gen, shootdown_gen))

        # The lowest generation still in the fabric caps the completed one: completed_gen
        # moves up to max_done_gen when that is below every generation in the fabric,
        # else to just below the lowest of them. Each test compares with every candidate
        # side by side, not with the lowest once found: comparators in a row were the
        # fabric's longest path on the FPGAs.
        candidates = [(pending[i] & slots[i].gen_valid, slots[i].gen[:bits])
                      for i in range(self.sources)]
        candidates += [(self.busy & current.gen_valid, current.gen[:bits]),
                       (sd_busy & sd_gen_valid, sd_gen)]
        below_all = Cat(~present | (self.max_done_gen < gen)
                        for present, gen in candidates).all()
        if "early_gen" in self.faults:
            below_all = 1
        # Below the lowest, and above completed_gen: every generation in the fabric is
        # more than one above it.
        above_next = Cat(~present | (gen > self.completed + 1)
                         for present, gen in candidates).all()
        with m.If(below_all):
            with m.If(self.max_done_gen > self.completed):
                m.d.sync += self.completed.eq(self.max_done_gen)
        with m.Elif(above_next):
            m.d.sync += self.completed.eq(_lowest(candidates, bits) - 1)
        m.d.comb += self.completed_gen.eq(self.completed)
        return m


def _max3(a, b, c):
    """The largest of three, from three comparisons side by side."""
    a_top, b_over_c = (a >= b) & (a >= c), b >= c
    return Mux(a_top, a, Mux(b_over_c, b, c))


def _lowest(candidates, bits):
    """The lowest generation among the (present, gen) pairs, 2**bits if none is
    present. A balanced tree of comparisons: its depth, the fabric's longest path on the
    FPGAs, grows with log2 of the sources instead of with their number."""
    level = list(candidates)
    while len(level) > 1:
        pairs = [(pa | pb, Mux(pa & (~pb | (a < b)), a, b))
                 for (pa, a), (pb, b) in zip(level[0::2], level[1::2])]
        level = pairs + level[len(pairs) * 2:]
    present, gen = level[0]
    return Mux(present, gen, Const(1 << bits, bits + 1))
