"""The operations a scenario can give a CPU or a device, and their arguments.

One table, read by the scenario parser (to check a file) and by the kernel (to run it).
Argument kinds: ``mm`` (a declared address space), ``va`` (a user virtual address),
``pages`` (a count >= 1), ``perms`` (``none``, ``r``, ``rw``, ``rx``, ``rwx``), ``mode``
(``read`` or ``write``).
"""

PERMS = ("none", "r", "rw", "rx", "rwx")

#: What backs a VMA: anonymous memory, the page cache, or raw PFNs (VM_PFNMAP).
#: VMA backings: anonymous, a file mapped privately (copy on write) or shared, VM_PFNMAP,
#: the hugetlbfs file mapped shared in 2 MB pages (hugetlb.py).
VMA_KINDS = ("anon", "file", "shared", "pfnmap", "hugetlb")

#: name -> (argument kinds, what it models)
CPU_OPERATIONS = {
    "read": (("mm", "va"), "a user load; page faults are handled"),
    "write": (("mm", "va"), "a user store; page faults are handled"),
    "exec": (("mm", "va"), "a user instruction fetch"),
    "munmap": (("mm", "va", "pages"), "munmap(): zap with mmu_gather, free after flush"),
    "mprotect": (("mm", "va", "pages", "perms"), "mprotect(): change_protection()"),
    "madvise_dontneed": (("mm", "va", "pages"), "madvise(MADV_DONTNEED) under mmap_lock read"),
    "fork": (("mm", "mm"), "fork(): dup_mmap() of the first mm into the second (declared "
             "with no VMAs); private pages become copy-on-write, the parent is flushed"),
    "mremap": (("mm", "va", "pages", "va"), "mremap() of the range to a new address: "
               "move_ptes() under both PTE locks, then flush the old range"),
    "truncate": (("mm", "va"), "truncate of the file page behind va: unmap_mapping_range() "
                 "of its mappings (flushed), drop it from the page cache, free it"),
    "reclaim": (("mm", "va"), "shrink_folio_list() of the folio mapped at va: try_to_unmap"),
    "try_to_unmap_flush": ((), "try_to_unmap_flush(): flush this CPU's deferred batch"),
    "mkclean": (("mm", "va"), "folio_mkclean() of the folio mapped at va (writeback)"),
    "gup_fast": (("mm", "va", "mode"), "get_user_pages_fast() pinning one page for a "
                 "read or a write: IRQs off, ptep_get_lockless, grab, re-check"),
    "unpin": ((), "unpin_user_pages() of every page this CPU pinned"),
    "irq_off": ((), "local_irq_disable(): shootdowns to this CPU wait"),
    "irq_on": ((), "local_irq_enable()"),
    "collapse": (("mm", "va"), "khugepaged collapse_huge_page() of the 2 MB range at va: "
                 "detach the PTE table, sync with GUP-fast, copy, install a PMD block"),
    "hmm_range_fault": (("mm", "va", "pages"), "hmm_range_fault() snapshot: a semi-locked "
                        "walk (mmap_lock read, no PTE lock) of the range's PFNs"),
    "migrate": (("mm", "va"), "migrate_pages() of the anonymous folio at va: migration "
                "entries, batched flush, copy, remove_migration_ptes(), old page freed"),
    "numa_hint": (("mm", "va", "pages"), "change_prot_numa(): PROT_NONE hinting PTEs "
                  "under an mmu_gather; a touch takes a NUMA fault that migrates the page"),
    "uffd_wp": (("mm", "va", "pages"), "UFFDIO_WRITEPROTECT: mwriteprotect_range() under "
                "mmap_lock read, flush deferred to tlb_finish_mmu()"),
    "uffd_unprotect": (("mm", "va", "pages"), "UFFDIO_WRITEPROTECT without MODE_WP: the "
                       "uffd-wp marks cleared (the PTEs stay read-only), waiters woken"),
    "madvise_free": (("mm", "va", "pages"), "madvise(MADV_FREE): clean the PTEs and folios "
                     "under an mmu_gather, mark them lazyfree; reclaim discards them"),
    "switch_mm": (("mm",), "the scheduler runs a thread of the mm: switch_mm_irqs_off() "
                  "(x86: pick an ASID slot, flush it if stale; leave lazy TLB mode)"),
    "kthread": ((), "a kernel thread runs on this CPU: enter_lazy_tlb() (x86: flushes of "
                "the mm skip this CPU until it switches back)"),
    "uprobe": (("mm", "va"), "uprobe_write_opcode(): the text page at va (a read-only file "
               "mapping) replaced by a copy with a breakpoint, __replace_page(): "
               "ptep_clear_flush, set_pte_at of the copy, the old page's rmap dropped"),
}
DEVICE_OPERATIONS = {
    "read": (("mm", "va"), "a DMA read through the device TLB"),
    "write": (("mm", "va"), "a DMA write through the device TLB"),
}

#: Kinds of violation the safety checker reports (a scenario's ``expect``).
VIOLATIONS = {
    "use-after-free": "an access reached a page the kernel has freed",
    "reused-page": "an access reached a page freed and reallocated since it was mapped",
    "stale-translation": "an access used a translation that an munmap() or madvise() "
                         "had already removed and returned from",
    "page-table-page": "a user access reached a page that holds page tables",
    "write-to-clean": "a write reached a clean page that no writable PTE maps, or a "
                      "MADV_FREE'd page without dirtying its PTE (the write is lost: "
                      "nothing will write the page back)",
    "cow-write": "a write reached an anonymous page that copy-on-write shares with "
                 "another mapping (the other side sees it)",
    "luf-pte-rewrite": "LUF_DEBUG: the kernel rewrote a PTE whose flush LUF still defers",
    "luf-pagecache-replace": "LUF_DEBUG: the kernel put a new page in a page-cache slot "
                             "whose old page LUF has not flushed yet",
    "revoked-access": "an access the VMA no longer allows, after the mprotect() or "
                      "munmap() that took the permission away returned",
    "cow-reorder": "an access reached the page a copy-on-write replaced at this address "
                   "after a write to the new page had completed (writes seen out of "
                   "order: seed 003)",
    "stuck-access": "an access still faults after every fault it took was handled "
                    "(a liveness failure)",
    "freed-page-table": "a lockless walker (GUP-fast, hmm_range_fault()) read a page "
                        "table that was freed, or freed and reused, after it found it",
    "pinned-page-replaced": "the kernel replaced a page that GUP had pinned by a copy "
                            "(khugepaged collapse): what is written through the pin is "
                            "lost to the process",
    "write-after-copy": "a write reached a page after its contents were copied for this "
                        "mapping (copy-on-write, migration): the copy replacing it misses "
                        "the write",
    "lost-dirty": "reclaim dropped a page clean although a write reached it since it "
                  "was last written back (the written data is lost)",
    "wrong-page-table": "a page-table walker went on from a pmd to a page that is not "
                        "this mm's PTE table for the address (a pmd read torn, half old "
                        "and half new), and read it as one",
}

#: Kernel fixes a scenario can turn off (``bug NAME``) to show the race each one closes.
FIXES = {
    "batched_pending": "flush_tlb_batched_pending() before changing PTEs (2017)",
    "nested_flush": "tlb_finish_mmu() flushes the whole mm after parallel gathers (2017)",
    "pfnmap_flush": "tlb_end_vma() flushes VM_PFNMAP ranges at once (CVE-2022-39188)",
    "delay_rmap": "zap keeps a dirty shared page in the rmap, under the PTE lock, until "
                  "after the TLB flush (2022)",
    "luf_refill_flush": "LUF flushes before a PTE or page-cache slot whose old page's "
                        "flush it deferred is filled again (seed 004)",
    "mremap_flush": "move_ptes() flushes the old range before dropping the PTE locks "
                    "(CVE-2018-18281)",
    "secondary_tlbs": "the arch TLB flushes also invalidate device TLBs through the mmu "
                      "notifier hook arch_invalidate_secondary_tlbs() (v6.6)",
    "pae_lockless_retry": "under PAE, ptep_get_lockless() reads pte_low again after "
                          "pte_high and retries if it changed (race 1, CVE-2012-2373, at the PTE level)",
    "contpte_dirty_or": "arm64 contpte: ptep_get(), ptep_get_lockless() and "
                        "contpte_convert() OR the access/dirty bits of all 16 entries",
    "clear_flush_notify": "under mmu_notifier=v4.15, a copy-on-write invalidates device "
                          "TLBs inside the PTE lock, before the PTE points to the new "
                          "page (ptep_clear_flush_notify(), 2017)",
    "table_sync": "a detached page table is freed or reused only after every CPU with "
                  "interrupts off (GUP-fast) has left: RCU table freeing and "
                  "tlb_remove_table_sync_one() (khugepaged, 2022)",
    "gup_pmd_recheck": "GUP-fast re-checks the PMD after grabbing the page and backs off "
                       "if the table was detached (2022)",
    "numa_flush_pending": "pte_accessible() counts a PROT_NONE PTE as accessible while a "
                          "flush of its mm is pending, so migration flushes it (2013)",
    "uffd_wp_flush": "do_wp_page() flushes before copying on a uffd-wp VMA with a flush "
                     "pending (2020)",
    "switch_mm_window": "x86 should_flush_tlb() sends the flush IPI to a CPU whose "
                        "loaded_mm is LOADED_MM_SWITCHING (CVE-2025-37964)",
    "ptdesc_tlb_gen": "under pending=per-table, a page-table change that needs a flush "
                      "stores its pending TLB generation in the table's ptdesc (seed 000)",
    "pmd_read_atomic": "under pae=on, a walker holding mmap_lock for read loads pmd_low "
                       "first and pmd_high only if pmd_low is not none "
                       "(pmd_read_atomic(), race 1, CVE-2012-2373)",
    "hugetlb_unshare_flush": "huge_pmd_unshare() widens the mmu_gather to the whole "
                             "PUD range it unshared, so the flush covers every 2 MB "
                             "page the mm lost (tlb_flush_pmd_range(), race 7, "
                             "CVE-2021-4002)",
}

#: System settings a scenario may give, with their defaults and allowed values.
SYSTEM_SETTINGS = {
    "cpus": (2, range(1, 9)),
    "devices": (0, range(0, 3)),
    "tlb": (16, range(4, 65)),
    "arch": ("arm64", ("arm64", "x86")),            # how TLBs are flushed
    # Reclaim flushes at once, defers to the end of reclaim, or (LUF) until the page is
    # reused or something could observe a stale read-only entry.
    "reclaim": ("batched", ("eager", "batched", "luf")),
    "frames": (64, range(8, 4097)),                 # user page frames in the allocator
    # x86 PAE: 64-bit PTEs read by lockless walkers as two 32-bit halves; half the
    # frames sit above 4 GB (highmem).
    "pae": ("off", ("off", "on")),
    # arm64: device TLBs snoop the CPUs' TLBIs (an SMMU with broadcast TLB maintenance),
    # or only the IOMMU driver's own invalidates, sent from the mmu notifier.
    "device_tlb": ("broadcast", ("broadcast", "notifier")),
    # When the mmu notifier invalidates device TLBs: from the arch TLB flushes (v6.6),
    # or by the 2017 in-PTL rules of ->invalidate_range() (v4.15 to v6.5).
    "mmu_notifier": ("v6.6", ("v6.6", "v4.15")),
    # arm64: anonymous faults and file read faults map 64 KB folios (mTHP) as contpte
    # blocks where an aligned 64 KB fits the VMA and maps nothing yet.
    "mthp": ("off", ("off", "on")),
    # Whether folio_mkclean() flushes a clean read-only PTE: never (upstream), while
    # mm_tlb_flush_pending(), or while its table's TLB generation is newer than the
    # fabric's completed one (seed 000).
    "pending": ("none", ("none", "coarse", "per-table")),
    # Where zap takes a dirty shared page out of the rmap: under the PTE lock after a
    # flush (upstream, 2022), or after the gather's flush, the lock dropped (seed 000).
    "zap_rmap": ("locked", ("locked", "deferred")),
    # x86 PAE with CONFIG_HIGHPTE: PTE tables come from highmem (above 4 GB), the
    # upper levels still from below.
    "highpte": ("off", ("off", "on")),
}
