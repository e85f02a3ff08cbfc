"""Armv8-A VMSA conformance: the herd7 litmus catalogue run on the platform backend.

``parse`` reads a ``.litmus`` file, ``kinds`` the expected verdicts, ``memory_map`` lays the
initial state out in page tables and physical memory, ``a64`` runs one thread's A64 code
an instruction at a time, ``outcomes`` explores the interleavings and ``verdict`` judges
the final states against the test's verdict."""
