"""Stage-1 permission check as combinational logic (twin: sw_model/permissions.py)."""
from amaranth.hdl import Mux


def check_permission(ap1, ap2, uxn, pxn, dbm, write, exec_, el0, hd):
    """Return (permission_fault, needs_dirty_update) as 1-bit expressions.

    Same rules as the model: a fetch checks UXN at EL0, and PXN or EL0-writability at
    EL1; a data access checks AP[1] at EL0 and AP[2] for writes; with ``hd`` a read-only
    DBM page is writable-clean, so it is EL0-writable and a write to it needs AP[2]
    cleared.
    """
    writable_clean = ap2 & dbm & hd
    el0_writable = ap1 & (~ap2 | writable_clean)
    fetch_fault = Mux(el0, uxn, pxn | el0_writable)
    data_fault = (el0 & ~ap1) | (write & ap2 & ~writable_clean)
    fault = Mux(exec_, fetch_fault, data_fault)
    needs_dirty = ~exec_ & ~(el0 & ~ap1) & write & writable_clean
    return fault, needs_dirty
