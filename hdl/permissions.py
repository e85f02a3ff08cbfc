"""Stage-1 permission check as combinational logic (twin: sw_model/permissions.py)."""


def check_permission(ap1, ap2, uxn, pxn, dbm, write, exec_, el0, hd):
    """Return (permission_fault, needs_dirty_update) as 1-bit expressions.

    Same rules as the model: AP[1] grants EL0, AP[2] is read-only, EL1 cannot execute an
    EL0-writable page, and a write to a read-only DBM page needs a dirty update when ``hd``.
    """
    fault = ((el0 & ~ap1)
             | (exec_ & el0 & uxn)
             | (exec_ & ~el0 & (pxn | (ap1 & ~ap2)))
             | (write & ap2 & ~(dbm & hd)))
    needs_dirty = write & ap2 & dbm & hd & ~fault
    return fault, needs_dirty
