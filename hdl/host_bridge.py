"""The host bridge: frames in from the UART, commands run on the system, responses out
(frame format: ``hdl/host_protocol.py``, docs/host-protocol.md).

The system's clock runs only when the bridge says (``step``, the system's and its
memory's clock enable), and each command runs it exactly as the golden backend's method
of the same name does (``sw_model/golden_backend.py``): wait, stepping, until the port
is ready; offer the request for one step; for a read, write, CAS, sync or access, wait,
stepping, until it is answered. So a command takes as many system cycles on the board as
the model takes for the same call, and the host can compare both the result and the
cycle count with a model run beside it. A wait that passes ``watchdog`` steps ends with
STUCK instead of hanging.

Shootdown tickets are kept as the golden backend keeps them: the ticket in each
source's buffer, and the one in flight, updated after every step from the sources'
ready bits and the fabric's ``sd_wait``; a ticket is done once it is in neither.

The bridge is sized for the iCE40UP5K, where a flip-flop costs a logic cell and a LUT
that feeds only one flip-flop shares its cell. So one byte-wide shift register,
``window``, serves both directions: a request's payload shifts in at its top (payloads
end at its top whatever their length, so each field has one place and drives the
system's ports by wiring alone), and a command's result is loaded into it and shifted
out at its bottom. Each result has its own place in the window, shared with as few
others as can be (``RESULT_AT``), so loading it takes few multiplexers; the window is
shifted down to it before the response goes out. The cycle count follows the result.
One counter, ``timer``, is the frame's inter-byte timeout, a command's watchdog, IDLE's
count and ACCESS's latency.
"""
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .fabric import GEN_BITS, MAX_CPUS, FabricOp, FabricRequest
from .host_protocol import (ACCESS_EL0, ACCESS_EXEC, ACCESS_WRITE,
                            CYCLES_BYTES, FLAG_DEVICES, FLAG_GEN_VALID, INFO_ASID16,
                            INFO_HA, INFO_HD, INFO_STAGED, INFO_TLBI_RANGE,
                            MAX_REQUEST, MAX_RESULT, REQUEST_BYTES, REQUEST_SYNC,
                            RESPONSE_SYNC, RESULT_BYTES, TICKET_BITS, VERSION, Command,
                            Status, crc8)
from .ports import AccessRequest, AccessResponse, MemRequest, MemResponse
from .step_memory import COUNTER_BITS, in_window

assert max(Command) < 16, "the bridge decodes a command from its low four bits"
assert 1 << TICKET_BITS > 2 + MAX_CPUS, "outstanding tickets must have distinct numbers"
#: The window byte where each command's result is loaded: the host memory's word and
#: ACCESS's answer share bytes 0-7, the ticket and SHOOTDOWN_DONE's bit share byte 8
#: with ACCESS's latency (8-11), and COMPLETED_GEN (12-15) and the counters (16-23) have
#: theirs to themselves; INFO's constants (8-23) cost no multiplexer.
RESULT_AT = {Command.READ: 0, Command.WRITE: 0, Command.CAS: 0, Command.ACCESS: 0,
             Command.SHOOTDOWN: 8, Command.SHOOTDOWN_DONE: 8, Command.COMPLETED_GEN: 12,
             Command.COUNTERS: 16, Command.INFO: 8}


def crc8_next(crc, byte):
    """The CRC-8 (polynomial 0x07) after ``byte``, as logic: the CRC is linear in
    ``crc ^ byte``, so each output bit is the XOR of the input bits whose own CRC has
    it set. (The shift-and-conditional-XOR loop written as logic doubles the expression
    each round, and Yosys' Verilog of it ran to 290K lines.)"""
    c = crc ^ byte
    columns = [crc8(bytes([1 << i])) for i in range(8)]
    return Cat(Cat(c[i] for i in range(8) if columns[i] >> j & 1).xor() for j in range(8))


def below(value, bound):
    """``value < bound`` for a constant ``bound``, without the carry chain Yosys gives
    a comparison (on the iCE40 a logic cell a bit): the high bits zero, and for a bound
    that is not a power of two, the low bits one of the few values below it."""
    if bound <= 0:
        return Const(0)
    high = (bound - 1).bit_length()
    ok = value[high:] == 0 if high < len(value) else Const(1)
    if bound & (bound - 1):
        ok &= Cat(value[:high] == v for v in range(bound)).any()
    return ok


def check_bridge_params(frame_timeout, watchdog):
    for name, value in (("frame_timeout", frame_timeout), ("watchdog", watchdog)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 16:
            raise ValueError(f"{name} must be an integer of at least 16 cycles, "
                             f"not {value!r}")


class HostBridge(wiring.Component):
    """``rx``/``rx_error``: bytes and framing errors from the UART receiver; ``tx``:
    bytes to its transmitter. The system side: every input port of ``hdl.system.System``
    but the memory channel, its outputs, the fabric's ``sd_wait``, and ``step`` (its
    clock enable) and ``reset``; the memory's ``mem_clear``/``mem_clearing`` and its
    counters. ``busy``: a frame is being received, run or answered.

    ``memory``: (base, size) of the board's memory window, which host reads, writes and
    CASes must fall in; ``frame_timeout``: cycles a frame may pause between bytes;
    ``watchdog``: system steps a command's wait may take. The rest describe the system,
    for INFO: ``ha``/``hd`` the walkers' hardware AF and dirty updates, ``tlbi_range``
    the TLBs' range invalidates, ``asid_bits`` and ``gen_bits`` what the TLBs and the
    fabric keep, ``staged`` the MMUs' register stages."""

    def __init__(self, *, cpus, devices, tlb_entries, pa_bits, memory, frame_timeout,
                 watchdog, ha=True, hd=True, tlbi_range=True, asid_bits=16, gen_bits=GEN_BITS,
                 staged=False):
        check_bridge_params(frame_timeout, watchdog)
        self.cpus, self.devices, self.tlb_entries, self.pa_bits = (cpus, devices,
                                                                   tlb_entries, pa_bits)
        self.features = (INFO_HA * bool(ha) | INFO_HD * bool(hd)
                         | INFO_TLBI_RANGE * bool(tlbi_range) | INFO_ASID16 * (asid_bits == 16)
                         | INFO_STAGED * bool(staged))
        self.gen_bits = gen_bits
        self.mem_base, self.mem_size = memory
        self.frame_timeout, self.watchdog = frame_timeout, watchdog
        members = {
            "rx": In(stream.Signature(8)),
            "rx_error": In(1),
            "tx": Out(stream.Signature(8)),
            "busy": Out(1),
            "step": Out(1),
            "reset": Out(1),
            "cpu_req": Out(stream.Signature(AccessRequest)).array(cpus),
            "cpu_resp": In(stream.Signature(AccessResponse, always_ready=True)).array(cpus),
            "src": Out(stream.Signature(FabricRequest)).array(1 + cpus),
            "irq_enable": Out(cpus, init=(1 << cpus) - 1),
            "host_mem": Out(stream.Signature(MemRequest)),
            "host_mem_resp": In(stream.Signature(MemResponse, always_ready=True)),
            "completed_gen": In(GEN_BITS),
            "sd_wait": In(cpus),
            "mem_clear": Out(1),
            "mem_clearing": In(1),
            "mem_counters": In(COUNTER_BITS).array(4),
        }
        if devices:
            members["dev_req"] = Out(stream.Signature(AccessRequest)).array(devices)
            members["dev_resp"] = In(stream.Signature(AccessResponse,
                                                      always_ready=True)).array(devices)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cpus, devices = self.cpus, self.devices
        dev_req = list(self.dev_req) if devices else []
        dev_resp = list(self.dev_resp) if devices else []

        # The request's payload as it arrived (nothing shifts it while a command runs),
        # then the response.
        window = Signal(8 * MAX_REQUEST)

        def field(command, offset, size):
            """Bytes [offset, offset + size) of ``command``'s request payload."""
            start = MAX_REQUEST - REQUEST_BYTES[command] + offset
            return window[8 * start:8 * (start + size)]

        cmd, length, crc, count = Signal(8), Signal(8), Signal(8), Signal(8)
        # The commands are 1 to 14: their low four bits tell them apart (and are four
        # LUT inputs, not eight), once ``known`` has checked the high ones.
        code = cmd[:4]
        status, result_len = Signal(4), Signal(range(MAX_RESULT + 1))
        skip = Signal(range(MAX_REQUEST))        # window bytes below the result
        # IDLE's count and ACCESS's latency are 32 bits.
        timer = Signal(max(32, self.frame_timeout.bit_length(),
                           (self.watchdog + 1).bit_length()))
        cycles = Signal(8 * CYCLES_BYTES)
        m.d.sync += cycles.eq(cycles + self.step)

        # The requests, wired from their fields: the payloads are laid out so that READ,
        # WRITE and CAS share the PA and the value, and TLBI, SHOOTDOWN and DSB the source.
        host_req, fab_req = Signal(MemRequest), Signal(FabricRequest)
        acc_req = Signal(AccessRequest)
        pa = field(Command.READ, 0, 8)
        m.d.comb += [host_req.addr.eq(pa), host_req.write.eq(code == Command.WRITE),
                     host_req.cas.eq(code == Command.CAS),
                     host_req.expected.eq(field(Command.CAS, 0, 8)),
                     host_req.desired.eq(field(Command.WRITE, 0, 8))]

        def fabric(offset, size):
            return field(Command.TLBI, offset, size)

        op, flags, mask, source = fabric(0, 1), fabric(13, 1), fabric(18, 1), fabric(19, 1)
        inv = fab_req.inv
        # A frame starts with the window zeroed, so DSB's request is a SYNC and zeros.
        m.d.comb += [
            fab_req.kind.eq(Mux(code == Command.DSB, FabricOp.SYNC,
                                Mux(code == Command.TLBI, FabricOp.INVALIDATE,
                                    FabricOp.SHOOTDOWN))),
            inv.op.eq(op), inv.asid.eq(fabric(1, 2)), inv.va.eq(fabric(3, 5)),
            inv.end.eq(fabric(8, 5)),
            fab_req.devices.eq((flags & FLAG_DEVICES).any()),
            fab_req.gen_valid.eq((flags & FLAG_GEN_VALID).any()),
            fab_req.gen.eq(fabric(14, 4)), fab_req.mask.eq(mask[:MAX_CPUS])]
        access_flags, agent = field(Command.ACCESS, 16, 1), field(Command.ACCESS, 17, 1)
        m.d.comb += [acc_req.va.eq(field(Command.ACCESS, 0, 8)),
                     acc_req.ttbr.as_value().eq(field(Command.ACCESS, 8, 8)),
                     acc_req.write.eq((access_flags & ACCESS_WRITE).any()),
                     acc_req.exec.eq((access_flags & ACCESS_EXEC).any()),
                     acc_req.el0.eq((access_flags & ACCESS_EL0).any())]

        # The port a command waits on and offers to: host memory, sources, CPUs, devices.
        ports_ready = [self.host_mem.ready, *(s.ready for s in self.src),
                       *(r.ready for r in self.cpu_req), *(r.ready for r in dev_req)]
        ports_done = [self.host_mem_resp.valid, *(s.ready for s in self.src),
                      *(r.valid for r in self.cpu_resp), *(r.valid for r in dev_resp)]
        port = Signal(range(len(ports_ready)))
        wait_done = Signal()
        first_src, first_access = 1, 2 + cpus
        offer = Signal()
        m.d.comb += [self.host_mem.valid.eq(offer & (port == 0)),
                     self.host_mem.payload.eq(host_req)]
        for i, src in enumerate(self.src):
            m.d.comb += [src.valid.eq(offer & (port == first_src + i)),
                         src.payload.eq(fab_req)]
        for k, req in enumerate([*self.cpu_req, *dev_req]):
            m.d.comb += [req.valid.eq(offer & (port == first_access + k)),
                         req.payload.eq(acc_req)]
        source_index = Signal(range(1 + cpus))      # the fabric source a port is
        m.d.comb += source_index.eq(port - first_src)
        port_ready = Array(ports_ready)[port]
        port_done = Array(ports_done)[port]
        access_resp = Array(r.payload for r in [*self.cpu_resp, *dev_resp])[
            port - first_access]

        # Shootdown tickets, as GoldenBackend._track_shootdowns keeps them: after each
        # step, a buffered ticket whose source is ready again went into flight, and the
        # one in flight is done once no CPU is left to acknowledge it.
        ticket_next = Signal(TICKET_BITS)
        wrapped = Signal()                       # every number issued since RESET
        buffered = Signal(1 + cpus)
        buffered_ticket = Array(Signal(TICKET_BITS, name=f"buffered_ticket{i}")
                                for i in range(1 + cpus))
        flight, flight_ticket = Signal(), Signal(TICKET_BITS)
        stepped = Signal()
        m.d.sync += stepped.eq(self.step)
        src_ready = Cat(s.ready for s in self.src)
        moved = Signal(1 + cpus)                 # at most one: the lowest source
        registered = Signal(1 + cpus)            # a shootdown just put in its buffer
        with m.If(stepped):
            took = buffered & src_ready
            m.d.comb += moved.eq(took & -took)
            for i in range(1 + cpus):
                with m.If(moved[i]):
                    m.d.sync += flight_ticket.eq(buffered_ticket[i])
            m.d.sync += flight.eq((flight | moved.any()) & (self.sd_wait != 0))
        m.d.sync += buffered.eq(buffered & ~moved | registered)
        asked = field(Command.SHOOTDOWN_DONE, 0, 1)
        issued = below(asked, 1 << TICKET_BITS) & (wrapped | (asked < ticket_next))
        ticket = asked[:TICKET_BITS]
        outstanding = (flight & (flight_ticket == ticket)) | Cat(
            buffered[i] & (buffered_ticket[i] == ticket) for i in range(1 + cpus)).any()

        # Argument checks, by command.
        source_ok = below(source, cpus + 1)
        fabric_ok = (source_ok & below(op, 8) & below(fabric(3, 5), 1 << 36)
                     & below(fabric(8, 5), 1 << 36) & below(flags, 4)
                     & below(mask, 1 << cpus))
        agent_ok = Mux(agent[7], below(agent[:7], devices), below(agent, cpus))
        pa_ok = (pa[:3] == 0) & below(pa, 1 << self.pa_bits)
        irq_value, irq_cpu = field(Command.SET_IRQS, 0, 1), field(Command.SET_IRQS, 1, 1)
        argument_ok = Signal()
        memory_ok = Signal(init=1)
        with m.Switch(code):
            with m.Case(Command.READ, Command.WRITE, Command.CAS):
                m.d.comb += [argument_ok.eq(pa_ok),
                             memory_ok.eq(in_window(pa, self.mem_base, self.mem_size))]
            with m.Case(Command.TLBI):
                m.d.comb += argument_ok.eq(fabric_ok & (mask == 0))
            with m.Case(Command.SHOOTDOWN):
                m.d.comb += argument_ok.eq(fabric_ok & (mask != 0)
                                           & ~(flags & FLAG_DEVICES).any())
            with m.Case(Command.DSB):
                m.d.comb += argument_ok.eq(source_ok)
            with m.Case(Command.SHOOTDOWN_DONE):
                m.d.comb += argument_ok.eq(issued)
            with m.Case(Command.SET_IRQS):
                m.d.comb += argument_ok.eq(below(irq_cpu, cpus) & below(irq_value, 2))
            with m.Case(Command.ACCESS):
                m.d.comb += argument_ok.eq(agent_ok & below(access_flags, 8))
            with m.Default():
                m.d.comb += argument_ok.eq(1)
        known = Signal()
        length_ok = Signal()
        with m.Switch(code):
            for command, size in REQUEST_BYTES.items():
                with m.Case(command):
                    m.d.comb += [known.eq(cmd[4:] == 0), length_ok.eq(length == size)]

        # The window: zeroed when a frame starts, a byte shifted in at the top for each
        # payload byte and out at the bottom for each response byte, and the result
        # loaded in its place when a command ends.
        clear, shift, shift_in = Signal(), Signal(), Signal(8)
        result, capture = Signal(len(window)), Signal()
        with m.If(clear):
            m.d.sync += window.eq(0)
        with m.Elif(shift):
            m.d.sync += window.eq(Cat(window[8:], shift_in))
        with m.Elif(capture):
            m.d.sync += window.eq(result)

        def respond(code, command=None, value=None):
            """Answer ``code``; with ``command``'s result ``value`` if given."""
            m.d.sync += [status.eq(code), count.eq(0)]
            if value is None:
                m.d.sync += result_len.eq(0)
            else:
                at = RESULT_AT[command]
                m.d.comb += [result[8 * at:8 * at + len(value)].eq(value), capture.eq(1)]
                m.d.sync += [result_len.eq(RESULT_BYTES[command]), skip.eq(at)]
            m.next = "ANSWER"

        crc_byte = Signal(8)                     # the byte the CRC takes in this cycle
        crc_next = Signal(8)
        m.d.comb += crc_next.eq(crc8_next(crc, crc_byte))
        rx, tx = self.rx, self.tx
        with m.FSM() as fsm:
            m.d.comb += self.busy.eq(~fsm.ongoing("SYNC"))
            with m.State("SYNC"):
                m.d.comb += rx.ready.eq(1)
                with m.If(rx.valid & (rx.payload == REQUEST_SYNC)):
                    m.d.comb += clear.eq(1)
                    m.d.sync += [cmd.eq(0), crc.eq(0), count.eq(0), timer.eq(0)]
                    m.next = "COMMAND"
            for state, after in (("COMMAND", "LENGTH"), ("LENGTH", "PAYLOAD"),
                                 ("PAYLOAD", "CRC"), ("CRC", "CHECK")):
                with m.State(state):
                    m.d.comb += [rx.ready.eq(1), crc_byte.eq(rx.payload)]
                    m.d.sync += timer.eq(timer + 1)
                    with m.If(rx.valid):
                        m.d.sync += [timer.eq(0), crc.eq(crc_next)]
                        if state == "COMMAND":
                            m.d.sync += cmd.eq(rx.payload)
                            m.next = after
                        elif state == "LENGTH":
                            m.d.sync += length.eq(rx.payload)
                            m.next = after
                            with m.If(rx.payload == 0):
                                m.next = "CRC"
                        elif state == "PAYLOAD":
                            m.d.comb += [shift.eq(1), shift_in.eq(rx.payload)]
                            m.d.sync += count.eq(count + 1)
                            with m.If(count + 1 == length):
                                m.next = after
                        else:
                            m.next = after
                    with m.Elif(self.rx_error):
                        respond(Status.FRAMING)
                    with m.Elif(timer == self.frame_timeout):
                        respond(Status.TIMEOUT)
            with m.State("CHECK"):            # crc now includes the CRC byte: 0 if good
                m.d.sync += [timer.eq(0), wait_done.eq(0)]
                with m.If(crc != 0):
                    respond(Status.BAD_CRC)
                with m.Elif(~known):
                    respond(Status.UNKNOWN_COMMAND)
                with m.Elif(~length_ok):
                    respond(Status.BAD_LENGTH)
                with m.Elif(~argument_ok):
                    respond(Status.BAD_ARGUMENT)
                with m.Elif(~memory_ok):
                    respond(Status.NO_MEMORY)
                with m.Else():
                    m.next = "RUN"
            with m.State("RUN"):               # one cycle: set up the command
                with m.Switch(code):
                    with m.Case(Command.INFO):
                        respond(Status.OK, Command.INFO, Cat(
                            Const(VERSION, 8), Const(cpus, 8), Const(devices, 8),
                            Const(self.tlb_entries, 8), Const(self.pa_bits, 8),
                            Const(self.mem_size.bit_length() - 1, 8),
                            Const(self.features, 8), Const(self.gen_bits, 8),
                            Const(self.mem_base, 64)))
                    with m.Case(Command.RESET):
                        m.next = "RESET"
                    with m.Case(Command.READ, Command.WRITE, Command.CAS):
                        m.d.sync += [port.eq(0), wait_done.eq(1)]
                        m.next = "READY"
                    with m.Case(Command.TLBI, Command.SHOOTDOWN, Command.DSB):
                        m.d.sync += port.eq(first_src + source)
                        with m.If(code == Command.DSB):
                            m.d.sync += wait_done.eq(1)
                        m.next = "READY"
                    with m.Case(Command.SHOOTDOWN_DONE):
                        respond(Status.OK, Command.SHOOTDOWN_DONE, ~outstanding)
                    with m.Case(Command.COMPLETED_GEN):
                        respond(Status.OK, Command.COMPLETED_GEN, self.completed_gen)
                    with m.Case(Command.SET_IRQS):
                        cpu_bit = Const(1, cpus) << irq_cpu[:3]
                        m.d.sync += self.irq_enable.eq(Mux(
                            irq_value[0], self.irq_enable | cpu_bit,
                            self.irq_enable & ~cpu_bit))
                        respond(Status.OK)
                    with m.Case(Command.ACCESS):
                        m.d.sync += [
                            port.eq(Mux(agent[7], first_access + cpus + agent[:7],
                                        first_access + agent)),
                            wait_done.eq(1)]
                        m.next = "READY"
                    with m.Case(Command.IDLE):
                        m.next = "IDLE"
                    with m.Case(Command.COUNTERS):
                        respond(Status.OK, Command.COUNTERS, Cat(*self.mem_counters))
            with m.State("RESET"):
                m.d.comb += [self.reset.eq(1), self.step.eq(1), self.mem_clear.eq(1)]
                m.next = "CLEARING"
            with m.State("CLEARING"):
                with m.If(~self.mem_clearing):
                    m.d.sync += [cycles.eq(0), ticket_next.eq(0), wrapped.eq(0),
                                 buffered.eq(0), flight.eq(0),
                                 self.irq_enable.eq((1 << cpus) - 1)]
                    respond(Status.OK)
            with m.State("IDLE"):              # step until the timer reaches the count
                with m.If(timer == field(Command.IDLE, 0, 4)):
                    respond(Status.OK)
                with m.Else():
                    m.d.comb += self.step.eq(1)
                    m.d.sync += timer.eq(timer + 1)
            with m.State("READY"):            # step until the port is ready
                with m.If(port_ready):
                    m.next = "OFFER"
                with m.Elif(timer == self.watchdog):
                    respond(Status.STUCK)
                with m.Else():
                    m.d.comb += self.step.eq(1)
                    m.d.sync += timer.eq(timer + 1)
            with m.State("OFFER"):            # one step with the request offered
                m.d.comb += [offer.eq(1), self.step.eq(1)]
                # From here the timer counts the cycles since the offer: the latency.
                m.d.sync += timer.eq(1)
                with m.If(code == Command.SHOOTDOWN):
                    m.d.sync += buffered_ticket[source_index].eq(ticket_next)
                    m.next = "REGISTER"
                with m.Else():
                    m.next = "DONE"
            with m.State("REGISTER"):         # after the offer's step has been tracked
                m.d.comb += registered.eq(Const(1, 1 + cpus) << source_index)
                m.d.sync += [ticket_next.eq(ticket_next + 1),
                             wrapped.eq(wrapped | ticket_next.all())]
                respond(Status.OK, Command.SHOOTDOWN, ticket_next)
            with m.State("DONE"):             # step until it is answered
                with m.If(~wait_done | port_done):
                    with m.Switch(code):
                        with m.Case(Command.READ, Command.WRITE, Command.CAS):
                            respond(Status.OK, Command.READ,
                                    self.host_mem_resp.payload.data)
                        with m.Case(Command.ACCESS):
                            fault, level = Signal(8), Signal(8)
                            m.d.comb += [fault.eq(access_resp.fault),
                                         level.eq(access_resp.level)]
                            respond(Status.OK, Command.ACCESS,
                                    Cat(access_resp.pa, fault, level, timer[:32]))
                        with m.Default():
                            respond(Status.OK)
                with m.Elif(timer == self.watchdog + 1):
                    respond(Status.STUCK)
                with m.Else():
                    m.d.comb += self.step.eq(1)
                    m.d.sync += timer.eq(timer + 1)
            with m.State("ANSWER"):           # shift the window down to the result
                with m.If(count == skip):
                    m.d.sync += count.eq(0)
                    m.next = "SEND_SYNC"
                with m.Else():
                    m.d.comb += shift.eq(1)
                    m.d.sync += count.eq(count + 1)
            # Nothing steps the system while answering, so ``cycles`` holds still.
            cycles_byte = cycles.word_select(count[:(CYCLES_BYTES - 1).bit_length()], 8)
            sends = [("SEND_SYNC", RESPONSE_SYNC), ("SEND_STATUS", status),
                     ("SEND_COMMAND", cmd), ("SEND_LENGTH", result_len + CYCLES_BYTES),
                     ("SEND_RESULT", window[:8]), ("SEND_CYCLES", cycles_byte),
                     ("SEND_CRC", crc), ("SYNC", None)]
            for (state, value), (after, _) in zip(sends, sends[1:]):
                with m.State(state):
                    m.d.comb += [tx.valid.eq(1), tx.payload.eq(value), crc_byte.eq(value)]
                    with m.If(tx.ready):
                        m.d.sync += crc.eq(0 if state == "SEND_SYNC" else crc_next)
                        m.next = after
                        if state == "SEND_LENGTH":
                            with m.If(result_len == 0):
                                m.next = "SEND_CYCLES"
                        elif state == "SEND_RESULT":
                            m.d.comb += shift.eq(1)
                            m.d.sync += count.eq(count + 1)
                            with m.If(count + 1 != result_len):
                                m.next = state
                            with m.Else():
                                m.d.sync += count.eq(0)
                        elif state == "SEND_CYCLES":
                            m.d.sync += count.eq(count + 1)
                            with m.If(count != CYCLES_BYTES - 1):
                                m.next = state
        return m
