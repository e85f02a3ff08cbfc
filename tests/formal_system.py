"""Formal harness of the whole system: once an invalidate is complete, no TLB it targets
holds a valid entry it names.

Every input of ``hdl.system.System`` is free: fabric requests from the host and every CPU,
CPU and device accesses, interrupt enables, host memory requests, memory readiness and
every word memory returns. The solver also picks which invalidate to watch: the first
INVALIDATE the host's fabric port accepts while ``watch`` is high (in cycle t0). It is
complete when a SYNC the host offers after it is done — the sync has left the host's
buffer, which the fabric does only when every invalidate it took before is acknowledged
by every target, and ``done`` pulses for it.

Property: from then on, no valid entry of a TLB the invalidate targets (every CPU's; the
devices' when it asks for them) is named by it.

Assumptions:

- memory gives one response per accepted request, at least a cycle later;
- software unmapped what the invalidate names before issuing it, so a walk that begins
  after t0 reads tables without those mappings and installs nothing it names (otherwise a
  later walk could rightly bring a named translation back, and "no TLB holds a named
  entry" would not be the contract). Walks begun at or before t0 are unconstrained: they
  may have read the old tables, and the MMU must drop whatever named entry they would
  install — the walk-in-flight rule. This constrains descriptor data only, so it never
  blocks a trace: a faulting descriptor always satisfies it.

Which entries an invalidate names is written here from the TLBI operations' meaning, not
taken from the TLB's matching logic."""
from amaranth.hdl import Assert, Assume, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from hdl.descriptor import vpn_mask_of
from hdl.fabric import FabricOp
from hdl.ports import InvalidateOp, InvalidateRequest
from hdl.system import System


def names(inv, entry):
    """Whether invalidate ``inv`` names TLB ``entry`` (``vpn`` aligned to its size): VA
    forms when the entry covers ``inv.va``, range forms when its pages meet [va, end);
    the ASID-tagged forms spare other ASIDs' non-global entries."""
    mask = vpn_mask_of(entry.size.as_value())
    last = entry.vpn | (~mask & ((1 << 36) - 1))
    covers_va = (inv.va & mask) == entry.vpn
    meets_range = (entry.vpn < inv.end) & (inv.va <= last)
    asid_ok = ~entry.ng | (entry.asid == inv.asid)
    op = inv.op
    return ((op == InvalidateOp.VMALLE1)
            | ((op == InvalidateOp.ASIDE1) & entry.ng & (entry.asid == inv.asid))
            | (((op == InvalidateOp.VAE1) | (op == InvalidateOp.VALE1)) & covers_va & asid_ok)
            | (((op == InvalidateOp.VAAE1) | (op == InvalidateOp.VAALE1)) & covers_va)
            | ((op == InvalidateOp.RVAE1) & meets_range & asid_ok)
            | ((op == InvalidateOp.RVAAE1) & meets_range))


class SystemInvalidateProperties(wiring.Component):
    """Ports: every input of the System (``cpu_req__0__valid``, ...) and ``watch``. The
    System's outputs are not ports, so logic that only feeds them (responses, the
    completed generation) stays out of the proof."""

    def __init__(self, *, cpus=2, devices=1, tlb_entries=4, faults=()):
        self.system = System(cpus=cpus, devices=devices, tlb_entries=tlb_entries,
                             faults=faults)
        self._inputs = {"__".join(map(str, path)): (path, member.shape)
                        for path, member, value in self.system.signature.flatten(self.system)
                        if member.flow == In and not isinstance(value, Const)}
        super().__init__({**{name: In(shape) for name, (_, shape) in self._inputs.items()},
                          "watch": In(1)})
        self.complete = Signal()        # the watched invalidate's sync has completed

    def elaborate(self, platform):
        m = Module()
        m.submodules.system = system = self.system
        theirs = {path: value for path, _, value in system.signature.flatten(system)}
        for name, (path, _) in self._inputs.items():
            m.d.comb += theirs[path].eq(getattr(self, name))

        # Memory: one response per accepted request, at least a cycle later.
        outstanding = Signal()
        with m.If(system.mem_req.valid & system.mem_req.ready):
            m.d.sync += outstanding.eq(1)
        with m.Elif(system.mem_resp.valid):
            m.d.sync += outstanding.eq(0)
        m.d.comb += Assume(~system.mem_resp.valid | outstanding)

        host = system.src[0]
        accepted = host.valid & host.ready
        issued = Signal()               # from the cycle after t0
        watched = Signal(InvalidateRequest)
        to_devices = Signal()
        with m.If(~issued & self.watch & accepted
                  & (host.payload.kind == FabricOp.INVALIDATE)):
            m.d.sync += [issued.eq(1), watched.eq(host.payload.inv),
                         to_devices.eq(host.payload.devices)]

        # Completion: a SYNC offered after it leaves the buffer (the fabric takes a sync
        # only when everything taken before is acknowledged everywhere), and ``done``
        # pulses for it.
        sync_buffered = Signal()
        with m.If(issued & accepted & (host.payload.kind == FabricOp.SYNC)):
            m.d.sync += sync_buffered.eq(1)
        sync_done = sync_buffered & host.ready & ~self.complete
        with m.If(sync_done):
            m.d.sync += self.complete.eq(1)
            m.d.comb += Assert(system.done[0])
        complete = self.complete | sync_done

        for k, mmu in enumerate(system.cpu_mmus + system.dev_mmus):
            targeted = 1 if k < system.cpus else to_devices
            tlb = mmu.tlb
            fresh = Signal(name=f"fresh{k}")    # the walk in flight began after t0
            with m.If(mmu.walker.start):
                m.d.sync += fresh.eq(issued)
            m.d.comb += Assume(~(targeted & fresh & tlb.fill_en
                                 & names(watched, tlb.fill_entry)))
            for i, entry in enumerate(tlb.store):
                m.d.comb += Assert(~(complete & targeted & tlb.valid[i]
                                     & names(watched, entry)))
        return m
