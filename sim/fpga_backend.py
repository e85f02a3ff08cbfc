"""The fpga platform backend: the kernel model drives the system on a board (or the
bridge RTL in a simulation) through the host bridge, with the golden model run beside
it.

Each Platform call runs on the model first (so a bad argument, or a call that can never
complete, is refused before anything is sent), then as one command on the board; the
board's result and its cycle count after the command (32 bits: the model's modulo 2^32)
must equal the model's, or the call raises ``Divergence``. The bridge runs the system's
clock only inside a command, exactly as the model runs it (hdl/host_bridge.py), so the
cycle counts agree to the cycle. The board's memory counters are in ``stats`` as
``board_mem_*``, for comparing with the model's ``mem_*`` at the end of a run
(``counter_differences``).
"""
from hdl.descriptor import FaultKind
from hdl.fabric import check_gen_bits
from hdl.host_protocol import (ACCESS_EL0, ACCESS_EXEC, ACCESS_WRITE, AGENT_DEVICE,
                               COUNTER_BYTES, COUNTERS, CYCLES_BYTES, FLAG_DEVICES,
                               FLAG_GEN_VALID, INFO_ASID16, INFO_HA, INFO_HD, INFO_STAGED,
                               INFO_TLBI_RANGE, TICKET_BITS, VERSION, Command)
from sim.host_link import BridgeError
from sw_model.golden_backend import GoldenBackend, invalidate_request
from sw_model.kernel.runner import run_scenario
from sw_model.kernel.kernel import POOL_BASE
from sw_model.kernel.page_alloc import PAGE_SIZE
from sw_model.platform import Divergence, SystemLimit

#: Physical address bits of the model the board is compared with.
PA_BITS = 40
#: The most cycles one IDLE command runs (its count is 32 bits).
MAX_IDLE = (1 << 32) - 1
COUNTER_MASK = (1 << 8 * COUNTER_BYTES) - 1
#: The board's cycle count is the model's modulo this.
CYCLE_MASK = (1 << 8 * CYCLES_BYTES) - 1
#: The board numbers shootdown tickets modulo this.
TICKETS = 1 << TICKET_BITS


def board_info(link):
    """The board's configuration (the INFO command) as a dict."""
    _, r = link.call(Command.INFO)
    features = r[6]
    return dict(version=r[0], cpus=r[1], devices=r[2], tlb=r[3], pa_bits=r[4],
                mem_bytes=1 << r[5], ha=bool(features & INFO_HA), hd=bool(features & INFO_HD),
                tlbi_range=bool(features & INFO_TLBI_RANGE),
                asid_bits=16 if features & INFO_ASID16 else 8, gen_bits=r[7],
                staged=bool(features & INFO_STAGED),
                mem_base=int.from_bytes(r[8:16], "little"))


#: What the model takes from the board's INFO rather than from the scenario: the board
#: is built with them (``shootdown synth --board``), and the kernel model adapts to them.
BOARD_OPTIONS = ("tlbi_range", "asid_bits", "gen_bits", "staged")


def check_board(info, system):
    """Refuse a scenario the board cannot run, naming what differs: the board is built
    for one system, and its memory must hold the page allocator's frames below 4 GB
    (page tables live there; user pages are never written)."""
    if info["version"] != VERSION:
        raise BridgeError(f"the board speaks host protocol version {info['version']}, "
                          f"this host version {VERSION}: rebuild the bitstream")
    # The golden model's SystemRef: 40-bit PAs, hardware AF and dirty updates.
    want = dict(cpus=system["cpus"], devices=system["devices"], tlb=system["tlb"],
                pa_bits=PA_BITS, ha=True, hd=True)
    wrong = [f"{name} {info[name]} (the scenario needs {value})"
             for name, value in want.items() if info[name] != value]
    if wrong:
        raise BridgeError(f"the board is built for another system: {', '.join(wrong)}")
    try:
        check_gen_bits(info["gen_bits"])
    except ValueError as e:
        raise BridgeError(f"the board's INFO is not one this host reads: {e}") from None
    frames = system["frames"] // 2 if system.get("pae") == "on" else system["frames"]
    need_end = POOL_BASE + frames * PAGE_SIZE
    have_end = info["mem_base"] + info["mem_bytes"]
    if POOL_BASE < info["mem_base"] or need_end > have_end:
        raise BridgeError(f"the scenario needs {frames * PAGE_SIZE // 1024} KB of memory at "
                          f"{POOL_BASE:#x} ({frames} frames); the board has "
                          f"{info['mem_bytes'] // 1024} KB at {info['mem_base']:#x}")


def counter_differences(stats, prefix=""):
    """(name, model, board) of each memory counter where the board's differs in
    ``stats`` (the backend's, or a run's with its ``prefix``)."""
    return [(name, stats[prefix + name], stats[f"{prefix}board_{name}"]) for name in COUNTERS
            if stats[prefix + name] & COUNTER_MASK != stats[f"{prefix}board_{name}"]]


def run_on_board(link, scenario, *, seed=None, runs=None):
    """Every run of ``scenario`` on the fpga backend over ``link``, after checking that
    the board can run it: the result, and for each run the memory counters where board
    and model differ. The model is built with the board's ``BOARD_OPTIONS``, and a call
    it refuses on them (an ASID or a generation wider than the board keeps: a
    SystemLimit) ends the run with a BridgeError saying so; other errors are not
    renamed."""
    info = board_info(link)
    check_board(info, scenario.system)
    options = {name: info[name] for name in BOARD_OPTIONS}

    def backend(system):
        return FPGABackend(link, cpus=system["cpus"], devices=system["devices"],
                           tlb_entries=system["tlb"], **options)

    try:
        result = run_scenario(scenario, backend=backend, seed=seed, runs=runs)
    except SystemLimit as e:
        # The model checks each call before the board sees it.
        raise BridgeError(f"the model refused a call on the board's system "
                          f"({_describe(options)}): {e}") from None
    return result, [counter_differences(r.stats, "hw_") for r in result.runs]


def _describe(options):
    return (f"{'' if options['tlbi_range'] else 'no '}range TLBIs, "
            f"{options['asid_bits']}-bit ASIDs, {options['gen_bits']}-bit generations"
            f"{', staged MMUs' if options['staged'] else ''}")


class FPGABackend(GoldenBackend):
    """``tlbi_range``, ``asid_bits``, ``gen_bits``, ``staged``: the board's (its INFO)."""

    def __init__(self, link, *, cpus, devices, tlb_entries, **board_options):
        super().__init__(cpus=cpus, devices=devices, tlb_entries=tlb_entries,
                         pa_bits=PA_BITS, **board_options)
        self._link = link
        self._board("reset", Command.RESET)

    @property
    def stats(self):
        _, counts = self._link.call(Command.COUNTERS)
        n = COUNTER_BYTES
        board = {f"board_{name}": _int(counts[n * i:n * (i + 1)])
                 for i, name in enumerate(COUNTERS)}
        return {**super().stats, **board}

    def read(self, pa):
        value = super().read(pa)
        got = self._board("read", Command.READ, _le(pa, 8))
        self._compare([("read data", value, _int(got))])
        return value

    def write(self, pa, value):
        super().write(pa, value)
        self._board("write", Command.WRITE, _le(value, 8) + _le(pa, 8))

    def cas(self, pa, expected, desired):
        old = super().cas(pa, expected, desired)
        got = self._board("cas", Command.CAS,
                          _le(expected, 8) + _le(desired, 8) + _le(pa, 8))
        self._compare([("cas old value", old, _int(got))])
        return old

    def tlbi(self, source, inv, gen=None):
        super().tlbi(source, inv, gen)
        self._board("tlbi", Command.TLBI, self._fabric_payload(source, inv, gen, 0))

    def dsb(self, source):
        super().dsb(source)
        self._board("dsb", Command.DSB, bytes([self._source(source)]))

    def shootdown(self, source, cpus, inv, gen=None):
        ticket = super().shootdown(source, cpus, inv, gen)
        mask = sum(1 << c for c in set(cpus))
        got = self._board("shootdown", Command.SHOOTDOWN,
                          self._fabric_payload(source, inv, gen, mask))
        self._compare([("shootdown ticket", ticket % TICKETS, got[0])])
        return ticket

    def shootdown_done(self, ticket):
        done = super().shootdown_done(ticket)
        # A ticket older than the last TICKETS issued cannot be outstanding, on the
        # board or in the model, and the board's number for it names a newer one.
        if self._next_ticket - ticket <= TICKETS:
            got = self._board("shootdown_done", Command.SHOOTDOWN_DONE,
                              bytes([ticket % TICKETS]))
            self._compare([("shootdown done", int(done), got[0])])
        return done

    def completed_gen(self):
        gen = super().completed_gen()
        got = self._board("completed_gen", Command.COMPLETED_GEN)
        self._compare([("completed gen", gen, _int(got))])
        return gen

    def set_irqs(self, cpu, enabled):
        super().set_irqs(cpu, enabled)
        self._board("set_irqs", Command.SET_IRQS, bytes([int(bool(enabled)), cpu]))

    def access(self, agent, va, ttbr, *, write=False, exec=False, el0=True):
        t = super().access(agent, va, ttbr, write=write, exec=exec, el0=el0)
        kind, k = agent
        flags = (ACCESS_WRITE * bool(write) | ACCESS_EXEC * bool(exec)
                 | ACCESS_EL0 * bool(el0))
        got = self._board("access", Command.ACCESS,
                          _le(va, 8) + _le(ttbr, 8)
                          + bytes([flags, k | (AGENT_DEVICE if kind == "dev" else 0)]))
        fault = FaultKind.NONE.value if t.fault is None else FaultKind[t.fault].value
        checks = [("access fault", fault, got[6]), ("access latency", t.cycles,
                                                    _int(got[8:12]))]
        checks.append(("access pa", t.pa, _int(got[:6])) if t.fault is None
                      else ("access fault level", t.level, got[7]))
        self._compare(checks)
        return t

    def idle(self, cycles=1):
        super().idle(cycles)
        while cycles:
            chunk = min(cycles, MAX_IDLE)
            self._board("idle", Command.IDLE, _le(chunk, 4))
            cycles -= chunk

    def _board(self, what, command, payload=b""):
        """Run ``command`` on the board; its result bytes, once its cycle count is the
        model's."""
        board_cycles, result = self._link.call(command, payload)
        self._compare([(f"cycles after {what}", self._cycles & CYCLE_MASK, board_cycles)])
        return result

    def _compare(self, checks):
        differences = [(name, expected, actual) for name, expected, actual in checks
                       if expected != actual]
        if differences:
            raise Divergence(self._cycles, differences)

    def _fabric_payload(self, source, inv, gen, mask):
        fields = invalidate_request(inv)
        flags = FLAG_DEVICES * bool(inv.devices) | FLAG_GEN_VALID * (gen is not None)
        return (bytes([fields["op"]]) + _le(fields["asid"], 2) + _le(fields["va"], 5)
                + _le(fields["end"], 5) + bytes([flags]) + _le(gen or 0, 4)
                + bytes([mask, self._source(source)]))


def _le(value, size):
    return value.to_bytes(size, "little")


def _int(data):
    return int.from_bytes(data, "little")
