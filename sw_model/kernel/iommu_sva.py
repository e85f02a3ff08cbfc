"""The IOMMU side of shared virtual addressing (drivers/iommu/iommu-sva.c,
arm-smmu-v3-sva.c, intel/svm.c): the secondary-TLB callback the driver registers as an
mmu notifier, and the handler of the faults a device reports (PRI / stall)."""
from hdl.ports import InvalidateOp

from ..platform import HOST, Invalidate
from .fault import handle_mm_fault
from .page_alloc import PAGE_SIZE

#: The CPU that runs the I/O page-fault work queue.
IOPF_CPU = 0


def sva_invalidate_secondary_tlbs(k, mm, start, end, via, gen=None):
    """arm_smmu_mm_arch_invalidate_secondary_tlbs() and its kin: an SMMU with broadcast
    TLB maintenance took the CPUs' TLBIs already, so nothing; else the driver invalidates
    [start, end) of the mm's ASID in the device TLBs itself (here: a host-issued
    invalidate the fabric also delivers to devices, then a sync), the whole ASID for a
    whole-mm range. The invalidate carries TLB generation ``gen`` (tlb_gen.py)."""
    if k.device_tlb == "broadcast" or not k.backend.devices:
        return
    if start == 0 and end >= 1 << 48:
        inv = Invalidate(InvalidateOp.ASIDE1, asid=mm.asid, devices=True)
    elif end - start == PAGE_SIZE:
        inv = Invalidate(InvalidateOp.VAE1, asid=mm.asid, va=start, devices=True)
    else:
        inv = Invalidate(InvalidateOp.RVAE1, asid=mm.asid, va=start, end=end, devices=True)
    k.backend.tlbi(HOST, inv, gen=gen)
    k.backend.dsb(HOST)
    k.stats["secondary_tlb_invalidates"] += 1
    yield f"{via} {mm.name} {start:#x}-{end:#x}: device TLB {inv.op.name}"


def iommu_sva_handle_iopf(k, agent, mm, va, *, write, exec=False):
    """iommu_sva_handle_iopf(): a device access that faulted is handled like a CPU's,
    by handle_mm_fault() on the device's mm (on the IOPF work queue's CPU); the device
    then retries. Returns what handle_mm_fault() does (an error fails the access)."""
    return (yield from handle_mm_fault(k, agent, IOPF_CPU, mm, va, write=write, exec=exec))
