"""cocotb bench of the host SoC: the host code talks to it byte by byte through its UART
pins (``sim/uart_sim_transport.py``). Configured by $SHOOTDOWN_LOCKSTEP (see
sim.bridge_run): ``scenario`` runs a kernel scenario on the fpga backend, the golden
model beside it; ``bad_frames`` sends every kind of bad frame and checks that each gets
its error response and the next good frame its answer."""
import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.task import bridge
from cocotb.triggers import ClockCycles

from hdl.host_protocol import REQUEST_SYNC, Command, Status
from sim.fpga_backend import board_info, run_on_board
from sim.host_link import BridgeStatusError, HostLink, request_frame
from sim.run_report import summary
from sim.uart_sim_transport import CLOCK_NS, UARTSimTransport
from sw_model.kernel.scenario_parser import parse_scenario


def bad_frames(link, transport, cpus):
    """(name, the status it got) for each kind of bad frame, each followed by a good
    INFO frame (its status too)."""
    cases = [
        ("bad CRC", request_frame(Command.INFO)[:-1] + b"\x01"),
        ("unknown command", request_frame(0x7F)),
        ("bad length", request_frame(Command.READ, bytes(4))),
        ("long frame", request_frame(Command.READ, bytes(200))),
        ("agent out of range", request_frame(Command.ACCESS, bytes(17) + bytes([cpus]))),
        ("misaligned address", request_frame(Command.READ, (0x10_0004).to_bytes(8, "little"))),
        ("address outside memory", request_frame(Command.READ, bytes(8))),
        ("empty shootdown", request_frame(Command.SHOOTDOWN, bytes(20))),
        ("unknown ticket", request_frame(Command.SHOOTDOWN_DONE, bytes(1))),
        ("unfinished frame", bytes([REQUEST_SYNC, Command.READ, 8, 1, 2])),
        ("framing error", None),
        ("noise before a frame", b"\x00\x13\xff" + request_frame(Command.INFO)),
    ]
    out = []
    for name, frame in cases:
        if frame is None:
            transport.write(bytes([REQUEST_SYNC, Command.READ]))
            transport.write_bad_stop(0x08)
        else:
            transport.write(frame)
        got = link.receive().status
        out.append((name, Status(got).name, _status(link, Command.INFO)))
    # A wait that cannot end: a shootdown to a CPU with interrupts off stays in flight,
    # the next one waits in the host's buffer, and a third cannot be offered.
    link.call(Command.SET_IRQS, bytes([0, 0]))
    shootdown = bytes(18) + bytes([1, 0])            # CPU mask 1, from the host
    link.call(Command.SHOOTDOWN, shootdown)
    link.call(Command.SHOOTDOWN, shootdown)
    out.append(("wait past the watchdog", _status(link, Command.SHOOTDOWN, shootdown),
                _status(link, Command.RESET)))
    return out


def _status(link, command, payload=b""):
    try:
        link.call(command, payload)
    except BridgeStatusError as e:
        return Status(e.status).name
    return Status.OK.name


@cocotb.test()
async def host_soc(dut):
    cfg = json.loads(os.environ["SHOOTDOWN_LOCKSTEP"])
    Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi").start()
    dut.rst.value = 1
    dut.uart_rx.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    transport = UARTSimTransport(dut, cfg["divisor"], cfg["timeout"])
    link = HostLink(transport)
    started, start_cycle = time.perf_counter(), get_sim_time("ns") // CLOCK_NS
    if cfg["mode"] == "bad_frames":
        cases = await bridge(bad_frames)(link, transport, cfg["system"]["cpus"])
        out = {"cases": cases}
    else:
        scenario = parse_scenario(cfg["scenario"])
        info = await bridge(board_info)(link)
        result, counters = await bridge(run_on_board)(link, scenario)
        diverged = next((r for r in result.runs if r.divergence), None)
        out = {"met": result.met, "summary": summary(result, 0.0),
               "cycles": [r.cycles for r in result.runs],
               "observed": result.violation_kinds or ["clean"],
               "divergence": diverged and diverged.error, "counters": counters,
               "info": info}
    # What the run cost, for docs/benchmarks.md: frames sent, clock cycles, seconds.
    out.update(framing_errors=transport.framing_errors, frames=transport.frames,
               clock_cycles=int(get_sim_time("ns") // CLOCK_NS - start_cycle),
               seconds=time.perf_counter() - started)
    with open(cfg["result"], "w") as f:
        json.dump(out, f)
