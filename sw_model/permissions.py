"""Stage-1 permission check, the Python twin of ``hdl.permissions.check_permission``."""


def check_permission(ap1, ap2, uxn, pxn, dbm, write, exec_, el0, hd):
    """Return (permission_fault, needs_dirty_update) for one access.

    An instruction fetch (``exec_``; its ``write`` is ignored) checks only execute
    permission: UXN at EL0, whatever AP[1] says (execute-only pages); at EL1, PXN, and no
    execution from a page EL0 can write. A data access checks AP[1] (EL0 access) and
    AP[2] (read-only). With hardware dirty management (``hd``) a read-only page with DBM
    set is writable-clean: it counts as writable, and a write to it needs AP[2] cleared.
    """
    writable_clean = ap2 and dbm and hd
    if exec_:
        if el0:
            return bool(uxn), False
        el0_writable = ap1 and (not ap2 or writable_clean)
        return bool(pxn or el0_writable), False
    if el0 and not ap1:
        return True, False
    if write and ap2:
        return (False, True) if writable_clean else (True, False)
    return False, False
