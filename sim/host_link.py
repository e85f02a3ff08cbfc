"""The host's end of the bridge protocol (``hdl/host_protocol.py``,
docs/host-protocol.md): frames out, responses in, over a byte transport.

A transport has ``write(data)`` and ``read(n)``; ``read`` returns fewer than ``n`` bytes
when its timeout passes first (as pyserial's does).
"""
from dataclasses import dataclass

from hdl.host_protocol import (CYCLES_BYTES, REQUEST_SYNC, RESPONSE_SYNC, RESULT_BYTES,
                               Command, Status, crc8)


class BridgeError(Exception):
    """The board did not answer, or answered with something that is not a good
    response to the frame sent."""


class BridgeStatusError(BridgeError):
    """The board answered the frame with an error status."""

    def __init__(self, command, status, cycles):
        self.command, self.status, self.cycles = command, status, cycles
        super().__init__(f"the board answered {_name(Command, command)} with "
                         f"{_name(Status, status)}")


@dataclass
class Response:
    status: int
    command: int
    cycles: int
    result: bytes


def request_frame(command, payload=b""):
    """The bytes of a request frame."""
    body = bytes([command, len(payload)]) + bytes(payload)
    return bytes([REQUEST_SYNC]) + body + bytes([crc8(body)])


class HostLink:
    def __init__(self, transport):
        self.transport = transport

    def call(self, command, payload=b""):
        """Send ``command`` with ``payload``; (cycle count, result bytes) of its OK
        response. An error response is a BridgeStatusError; no answer or a malformed
        one, a BridgeError."""
        self.transport.write(request_frame(command, payload))
        response = self.receive()
        if response.command != command and response.status == Status.OK:
            raise BridgeError(f"the board answered {_name(Command, response.command)} to "
                              f"{_name(Command, command)}")
        if response.status != Status.OK:
            raise BridgeStatusError(response.command, response.status, response.cycles)
        want = RESULT_BYTES[Command(command)]
        if len(response.result) != want:
            raise BridgeError(f"the board's answer to {_name(Command, command)} has "
                              f"{len(response.result)} result bytes, not {want}")
        return response.cycles, response.result

    def receive(self):
        """The next response frame."""
        header = self._read(4)
        if header[0] != RESPONSE_SYNC:
            raise BridgeError(f"bad response from the board: it starts with "
                              f"{header[0]:#04x}, not {RESPONSE_SYNC:#04x}")
        status, command, length = header[1:]
        rest = self._read(length + 1)
        if crc8(header[1:] + rest) != 0:
            raise BridgeError("bad response from the board: its CRC does not match")
        if length < CYCLES_BYTES:
            raise BridgeError(f"bad response from the board: {length} payload bytes, "
                              f"fewer than the {CYCLES_BYTES} of the cycle count")
        cycles = int.from_bytes(rest[length - CYCLES_BYTES:length], "little")
        return Response(status, command, cycles, rest[:length - CYCLES_BYTES])

    def _read(self, n):
        data = self.transport.read(n)
        if len(data) < n:
            raise BridgeError(f"no answer from the board (got {len(data)} of {n} bytes "
                              "before the timeout)")
        return bytes(data)


def _name(enum, value):
    try:
        return enum(value).name
    except ValueError:
        return f"{value:#04x}"
