"""Stage-1 permission check, the Python twin of ``hdl.permissions.check_permission``."""


def check_permission(ap1, ap2, uxn, pxn, dbm, write, exec_, el0, hd):
    """Return (permission_fault, needs_dirty_update) for one access.

    AP[1] grants EL0 access, AP[2] makes the page read-only; EL1 may not execute a page
    that EL0 can write; a write to a read-only page with DBM set is allowed when hardware
    dirty-state management (``hd``) is on, and then needs the descriptor updated.
    """
    fault = False
    if el0 and not ap1:
        fault = True
    if exec_:
        if el0 and uxn:
            fault = True
        if not el0 and (pxn or (ap1 and not ap2)):
            fault = True
    needs_dirty = False
    if write and ap2:
        if dbm and hd:
            needs_dirty = True
        else:
            fault = True
    return fault, needs_dirty and not fault
