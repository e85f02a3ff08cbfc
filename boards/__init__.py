"""Board top-levels and build flows for open FPGA boards (amaranth-boards)."""
