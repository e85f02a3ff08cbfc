"""Board top-levels and build flows for open FPGA boards (amaranth-boards)."""
from . import icebreaker, orangecrab, ulx3s

#: The boards ``shootdown synth --board`` builds, by name.
BOARDS = {board.BOARD.name: board.BOARD for board in (icebreaker, ulx3s, orangecrab)}
