"""The platform backend: the one seam between the kernel model and "the hardware".

The kernel model (``sw_model.kernel``) reaches memory, TLBs and the invalidate fabric
only through this interface, so the golden backend (the cycle-matched reference, here in
``sw_model.golden_backend``), the RTL backend (cocotb) and the FPGA backend (a board over
a UART) are interchangeable under it.

Agents: CPU ``c`` is ``("cpu", c)``; device ``d`` is ``("dev", d)``. Fabric sources are
the host (``HOST``) and the CPUs (``("cpu", c)``); devices issue no invalidates. Every
method runs the hardware clock until the operation has done what its docstring promises,
and no further; ``cycles`` says how far the clock has run. While a method runs the clock,
the rest of the system runs too (a shootdown in flight reaches CPUs whose interrupts are
on). All CPUs start with interrupts on.

Bad arguments (an unknown agent or source, a CPU out of range, a misaligned or
out-of-range physical address, a value that is not a 64-bit word, an empty shootdown)
raise ValueError. An operation that can never complete raises RuntimeError: e.g. a
source whose buffer holds a shootdown that waits behind one to a CPU with interrupts off
cannot issue anything more until those interrupts come on.
"""
from dataclasses import dataclass

from hdl.ports import InvalidateOp

HOST = "host"


@dataclass(frozen=True)
class Invalidate:
    """One TLB invalidate, as the fabric carries it. ``va`` and ``end`` are byte
    addresses below 2**48 (``end`` exclusive, range forms only: the range names every
    page that [va, end) touches); ``devices``: device TLBs too (broadcasts only)."""
    op: InvalidateOp
    asid: int = 0
    va: int = 0
    end: int = 0
    devices: bool = False


@dataclass(frozen=True)
class Translation:
    """What an access did: the physical address it reached, or the fault it took."""
    pa: int | None
    fault: str | None = None      # FaultKind name: TRANSLATION, ACCESS_FLAG, PERMISSION, ...
    level: int = 0
    cycles: int = 0               # from request to response: 1 is a TLB hit (or a fault
                                  # found without a walk)


class SystemLimit(ValueError):
    """A call the system as configured cannot take (an ASID or a generation wider than
    it keeps): the backend refuses it before anything moves."""


class Divergence(Exception):
    """A backend checked against the reference model (the RTL in lockstep) found its
    outputs different from the model's at ``cycle``: ``signals`` is a list of (field,
    expected, actual). Nothing after it can be trusted, so the run ends there."""

    def __init__(self, cycle, signals, waves=None):
        self.cycle, self.signals, self.waves = cycle, signals, waves
        shown = ", ".join(f"{name} expected {e:#x}, got {a:#x}" for name, e, a in signals[:4])
        more = f" (and {len(signals) - 4} more)" if len(signals) > 4 else ""
        super().__init__(f"RTL diverged from the model at cycle {cycle}: {shown}{more}")


def shootdown_targets(cpus, inv, check_cpu):
    """The CPUs of a shootdown as a set, checked as ``Platform.shootdown`` says
    (``check_cpu`` refuses a CPU out of range)."""
    try:
        cpus = set(cpus)
    except TypeError:
        raise ValueError(f"cpus must be a set of CPU numbers, not {cpus!r}") from None
    if not cpus:
        raise ValueError("a shootdown needs at least one target CPU")
    for c in cpus:
        check_cpu(c)
    if isinstance(inv, Invalidate) and inv.devices:
        raise ValueError("a shootdown reaches CPUs only: devices=True is not allowed")
    return cpus


class Platform:
    """Interface; backends override every method."""

    cpus: int
    devices: int
    #: Whether the TLBs match a range invalidate against its bounds (FEAT_TLBIRANGE);
    #: without, one names every VA, and the arm64 kernel issues per-page TLBIs instead.
    tlbi_range = True
    #: The ASID bits the TLBs match (ID_AA64MMFR0_EL1.ASIDBits: 8 or 16).
    asid_bits = 16
    #: The generation bits the fabric keeps (requests carry no higher ones).
    gen_bits = 32

    @property
    def cycles(self):
        """Clock cycles run so far."""
        raise NotImplementedError

    @property
    def stats(self):
        """A snapshot of the counters: ``accesses``, ``walks`` (accesses that walked),
        ``tlb_fills``, ``invalidates`` (broadcast invalidates taken: a dict by op name),
        ``shootdowns``, ``syncs``, and memory's ``mem_reads``, ``mem_writes`` (walkers'
        and host's alike); a backend may add more."""
        raise NotImplementedError

    # Memory, through the host port (page tables live here).
    def read(self, pa):
        """The 64-bit word at ``pa``."""
        raise NotImplementedError

    def write(self, pa, value):
        """Store a 64-bit word at ``pa`` (8-byte aligned); done when memory has
        performed it."""
        raise NotImplementedError

    def cas(self, pa, expected, desired):
        """Atomic compare-and-swap of the word at ``pa``; returns the old value."""
        raise NotImplementedError

    # The invalidate fabric.
    def tlbi(self, source, inv, gen=None):
        """Issue a broadcast invalidate (TLBI ...IS) from ``source``, carrying generation
        ``gen`` (32 bits) if given; returns once the fabric has taken it into the
        source's one-request buffer (not when complete)."""
        raise NotImplementedError

    def dsb(self, source):
        """A sync (DSB ISH) from ``source``: returns when every broadcast invalidate
        ``source`` issued before it, and every one the fabric had started delivering, is
        applied everywhere, walks in flight included. An invalidate still waiting in
        another source's buffer may complete later. It does not wait for shootdowns."""
        raise NotImplementedError

    def shootdown(self, source, cpus, inv, gen=None):
        """Send a targeted shootdown (the IPI model) to the CPUs in ``cpus`` (a non-empty
        set of CPU numbers; ``inv.devices`` must be False); returns a ticket once the
        fabric has taken it into the source's buffer. A CPU with interrupts off delays
        it; one shootdown is in flight at a time, a later one waits in its buffer."""
        raise NotImplementedError

    def shootdown_done(self, ticket):
        """Whether every target of the shootdown ``ticket`` has acknowledged it."""
        raise NotImplementedError

    def completed_gen(self):
        """The fabric's completed-generation register: every invalidate or shootdown
        with a generation up to it that the fabric has taken is complete."""
        raise NotImplementedError

    def set_irqs(self, cpu, enabled):
        """Interrupts on or off on ``cpu`` (off delays shootdowns to it)."""
        raise NotImplementedError

    # Agents.
    def access(self, agent, va, ttbr, *, write=False, exec=False, el0=True):
        """A user (``el0``) or kernel access by ``agent`` through its TLB and walker,
        with ``ttbr`` a packed TTBR0_EL1 (``AddressSpace.ttbr``); returns a
        ``Translation`` once the agent has answered."""
        raise NotImplementedError

    def idle(self, cycles=1):
        """Let the clock run ``cycles`` cycles: in-flight shootdowns may be taken and
        acknowledged."""
        raise NotImplementedError
