"""Python golden model: cycle-matched references of the hdl blocks, page tables, memory."""
