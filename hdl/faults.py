"""Simulation-only hardware faults, injected to show that the checks catch them.

Each is a constructor parameter (``faults=``) of the block it breaks, empty by default;
the synthesis and board flows never pass one."""

FABRIC_FAULTS = {
    "drop_ack": "the first acknowledgement from the last target is lost",
    "early_sync": "a sync is taken while an invalidate is still being delivered",
    "skip_target": "broadcast invalidates never reach the last CPU's TLB",
    "early_gen": "the completed generation is not held below pending generations",
}
MMU_FAULTS = {
    "stale_walk_installs": "a walk that overlapped an invalidate still fills the TLB",
}


def check_faults(faults, known):
    faults = frozenset(faults)
    unknown = faults - set(known)
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(known)}")
    return faults
