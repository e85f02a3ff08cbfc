"""Sparse 64-bit-word physical memory, where page tables live."""


class SparseMemory:
    """Word-addressed by byte address; unwritten words read as zero."""

    def __init__(self, pa_bits=48):
        self.pa_bits = pa_bits
        self.words = {}

    def _check(self, addr):
        if not isinstance(addr, int) or addr < 0 or addr >> self.pa_bits:
            raise ValueError(f"physical address {addr!r} is outside the "
                             f"{self.pa_bits}-bit physical address space")
        if addr & 7:
            raise ValueError(f"physical address {addr:#x} is not 8-byte aligned")

    def read(self, addr):
        self._check(addr)
        return self.words.get(addr, 0)

    def write(self, addr, value):
        self._check(addr)
        if not 0 <= value < 1 << 64:
            raise ValueError(f"value {value!r} is not a 64-bit word")
        self.words[addr] = value

    def cas(self, addr, expected, desired):
        """Atomic compare-and-swap; returns the old value."""
        old = self.read(addr)
        if old == expected:
            self.write(addr, desired)
        return old
