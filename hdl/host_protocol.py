"""The host bridge's frame format, shared by the RTL (``hdl/host_bridge.py``) and the
host (``sim/fpga_backend.py``); docs/host-protocol.md describes it byte by byte.

A request is ``REQUEST_SYNC, command, length, payload[length], crc``; a response is
``RESPONSE_SYNC, status, command, length, payload[length], crc``. The CRC is CRC-8 with
polynomial x^8 + x^2 + x + 1 (0x07), initial value 0, no reflection, no final XOR
(CRC-8/SMBUS), over every byte after the sync byte. Multi-byte fields are little-endian.
Every response payload ends with the cycle count (its low 32 bits).

Request payloads are laid out so that the bridge can keep the last ``MAX_REQUEST`` bytes
received in a byte-wide shift register and find each field at one place whatever the
command: a command's payload ends where every other's does, so a field several commands
share (the PA of READ, WRITE and CAS; the source of TLBI, SHOOTDOWN and DSB) comes last,
and the same distance from the end in each.
"""
import enum

#: INFO's first byte; 2: INFO reports the hardware AF/dirty updates; 3: payloads laid
#: out from their end (shared fields last), a 32-bit cycle count after the result,
#: 16-bit memory counters, tickets modulo 16, INFO's features byte (range TLBIs, ASID bits)
#: and generation bits; 4: INFO's features say whether the MMUs are staged.
VERSION = 4
REQUEST_SYNC = 0xA5
RESPONSE_SYNC = 0x5A
CRC_POLY = 0x07
#: Bytes of a response payload after the command's own result: the cycle count.
CYCLES_BYTES = 4


class Command(enum.IntEnum):
    INFO = 0x01
    RESET = 0x02
    READ = 0x03
    WRITE = 0x04
    CAS = 0x05
    TLBI = 0x06
    DSB = 0x07
    SHOOTDOWN = 0x08
    SHOOTDOWN_DONE = 0x09
    COMPLETED_GEN = 0x0A
    SET_IRQS = 0x0B
    ACCESS = 0x0C
    IDLE = 0x0D
    COUNTERS = 0x0E


#: Request payload bytes of each command (a frame with another length is BAD_LENGTH).
REQUEST_BYTES = {
    Command.INFO: 0, Command.RESET: 0, Command.READ: 8, Command.WRITE: 16, Command.CAS: 24,
    Command.TLBI: 20, Command.DSB: 1, Command.SHOOTDOWN: 20, Command.SHOOTDOWN_DONE: 1,
    Command.COMPLETED_GEN: 0, Command.SET_IRQS: 2, Command.ACCESS: 18, Command.IDLE: 4,
    Command.COUNTERS: 0,
}
#: Result bytes before the cycle count in an OK response.
RESULT_BYTES = {
    Command.INFO: 16, Command.RESET: 0, Command.READ: 8, Command.WRITE: 8, Command.CAS: 8,
    Command.TLBI: 0, Command.DSB: 0, Command.SHOOTDOWN: 1, Command.SHOOTDOWN_DONE: 1,
    Command.COMPLETED_GEN: 4, Command.SET_IRQS: 0, Command.ACCESS: 12, Command.IDLE: 0,
    Command.COUNTERS: 8,
}
MAX_REQUEST = max(REQUEST_BYTES.values())
MAX_RESULT = max(RESULT_BYTES.values())


class Status(enum.IntEnum):
    OK = 0
    BAD_CRC = 1             # the CRC byte does not match
    UNKNOWN_COMMAND = 2
    BAD_LENGTH = 3          # the length is not the command's
    BAD_ARGUMENT = 4        # a field out of range (agent, source, CPU mask, op, address)
    NO_MEMORY = 5           # a host read/write/CAS outside the board's memory window
    TIMEOUT = 6             # the frame stopped before its end (inter-byte timeout)
    FRAMING = 7             # a UART framing error (low stop bit) inside a frame
    STUCK = 8               # the command's wait ran past the watchdog; RESET to go on


#: Shootdown tickets are numbered modulo 2 ** TICKET_BITS. At most one per fabric
#: source's buffer (the host's and each CPU's) and one in flight are outstanding, all
#: among the last few issued, so among the last 2 ** TICKET_BITS a number names one
#: ticket, and an older ticket is done.
TICKET_BITS = 4

#: The counters COUNTERS returns, in order (``COUNTER_BYTES`` each, wrapping).
COUNTERS = ("mem_reads", "mem_writes", "mem_cas", "mem_cas_failed")
COUNTER_BYTES = 2

#: ACCESS agent byte: bit 7 set for a device, the index below it.
AGENT_DEVICE = 0x80
#: TLBI/SHOOTDOWN flags byte.
FLAG_DEVICES, FLAG_GEN_VALID = 1, 2
#: ACCESS flags byte.
ACCESS_WRITE, ACCESS_EXEC, ACCESS_EL0 = 1, 2, 4
#: INFO's features byte: the walkers' hardware access-flag and dirty updates (FEAT_HAFDBS),
#: range TLBIs (FEAT_TLBIRANGE), 16-bit ASIDs (else 8: ID_AA64MMFR0_EL1.ASIDBits), MMUs
#: with a register stage in the lookup and the walk's end (docs/timing.md).
INFO_HA, INFO_HD, INFO_TLBI_RANGE, INFO_ASID16, INFO_STAGED = 1, 2, 4, 8, 16


def crc8(data, crc=0):
    """CRC-8 (polynomial 0x07, MSB first, init 0) of ``data``."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc << 1 ^ CRC_POLY) & 0xFF if crc & 0x80 else crc << 1 & 0xFF
    return crc
