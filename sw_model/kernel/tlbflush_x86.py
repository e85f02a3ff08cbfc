"""x86 TLB shootdown (arch/x86/mm/tlb.c, v6.15): per-mm generations, flush IPIs to the
CPUs of mm_cpumask that should_flush_tlb() picks, and flush_tlb_func() on each target
deciding from its own generation what to flush; the sender waits for every IPI.

The kernel decides what each target flushes, as flush_tlb_func() does on that CPU, at
the moment the IPI is sent, from the state the target takes it in (a CPU inside
switch_mm_irqs_off() takes it after the switch); the IPI carries that decision (a
partial or full flush of the target's PCID, or an invalidate that names nothing) and
the hardware applies it when the target takes the interrupt. The IPIs go one at a time
(the fabric has one shootdown in flight). mm_cpumask is never trimmed by time
(should_trim_cpumask() is due once a second, never within a run)."""
from dataclasses import dataclass

from hdl.ports import InvalidateOp

from ..platform import Invalidate
from .page_alloc import PAGE_SIZE
from .sched import Blocked
from .tlbstate_x86 import LOADED_MM_SWITCHING, X86ContextSwitch, pcid_tag

#: tlb_single_page_flush_ceiling: more pages than this become a full flush.
FLUSH_CEILING = 33
#: flush_tlb_info.end of a flush of everything.
TLB_FLUSH_ALL = -1
#: What an IPI whose target has nothing to flush carries: no TLB entry has ASID 0.
NOTHING = Invalidate(InvalidateOp.ASIDE1, asid=0)
#: flush_tlb_func() outcomes and the counter (kernel.stats) each one adds to.
OUTCOMES = {"partial": "x86_partial_flushes", "full": "x86_full_flushes",
            "up to date": "x86_flushes_up_to_date", "not loaded": "x86_cpumask_trimmed",
            "lazy: leave_mm": "x86_lazy_leave_mm", "init_mm": "x86_flushes_init_mm"}


@dataclass(frozen=True)
class FlushTLBInfo:
    """struct flush_tlb_info; mm None: a flush of whatever each CPU has loaded."""
    mm: object
    start: int
    end: int                      # TLB_FLUSH_ALL: the whole mm
    new_tlb_gen: int | None       # None: TLB_GENERATION_INVALID
    freed_tables: bool = False


class X86TLBFlush:
    name = "x86"

    def __init__(self, kernel):
        self.k = kernel
        self.cs = X86ContextSwitch(kernel)

    # The context switch (tlbstate_x86.py).
    def user_ttbr(self, cpu, mm):
        return self.cs.user_ttbr(cpu, mm)

    def switch_mm(self, cpu, mm):
        return self.cs.switch_mm_irqs_off(cpu, mm)

    def enter_lazy_tlb(self, cpu):
        return self.cs.enter_lazy_tlb(cpu)

    # The sender.
    def should_flush_tlb(self, cpu, info):
        """should_flush_tlb(): whether ``cpu`` gets the IPI. A lazy CPU catches up when
        it switches back; a CPU running another mm, when it switches to this one."""
        state = self.cs.cpu_tlbstate[cpu]
        if state.is_lazy:
            self.k.stats["x86_ipis_skipped_lazy"] += 1
            return False
        if info.mm is None or state.loaded_mm is info.mm:
            return True
        if state.loaded_mm == LOADED_MM_SWITCHING and self.k.fixes["switch_mm_window"]:
            return True                # it may already use next's page tables
        self.k.stats["x86_ipis_skipped_not_loaded"] += 1
        return False

    def flush_tlb_func(self, cpu, info):
        """flush_tlb_func() on ``cpu``: (the invalidate of its PCID it does, or None;
        the outcome). Nothing if this CPU is up to date with ``new_tlb_gen`` or with
        the mm; a partial flush only if it brings the CPU from one generation behind
        to the mm's latest; else a full flush. The CPU is then at the mm's tlb_gen."""
        state = self.cs.cpu_tlbstate[cpu]
        loaded, asid = state.settled()
        if info.mm is not None and info.mm is not loaded:
            info.mm.cpumask.discard(cpu)         # left in mm_cpumask lazily: trim it
            return None, "not loaded"
        if loaded is None:
            return None, "init_mm"
        if state.is_lazy:
            for _ in self.cs.switch_mm_irqs_off(cpu, None):    # cheaper than a flush
                pass
            return None, "lazy: leave_mm"
        ctx = state.ctxs[asid]
        local_tlb_gen = ctx.tlb_gen
        if info.new_tlb_gen is not None and info.new_tlb_gen <= local_tlb_gen:
            return None, "up to date"
        mm_tlb_gen = loaded.tlb_gen
        if local_tlb_gen == mm_tlb_gen:
            return None, "up to date"
        ctx.tlb_gen = mm_tlb_gen
        if (info.end != TLB_FLUSH_ALL and info.new_tlb_gen == local_tlb_gen + 1
                and info.new_tlb_gen == mm_tlb_gen):
            tag = pcid_tag(cpu, asid)
            if info.end - info.start == PAGE_SIZE:
                return Invalidate(InvalidateOp.VAE1, asid=tag, va=info.start), "partial"
            return Invalidate(InvalidateOp.RVAE1, asid=tag, va=info.start,
                              end=info.end), "partial"
        return self.cs.flush_asid(cpu, asid), "full"

    def _flush_tlb_func(self, cpu, info):
        inv, outcome = self.flush_tlb_func(cpu, info)
        self.k.stats[OUTCOMES[outcome]] += 1
        return inv, outcome

    def native_flush_tlb_multi(self, cpu, cpumask, info, what, gens=(), last=True):
        """flush_tlb_multi(): flush_tlb_func() here and by IPI on every CPU of
        ``cpumask`` that should flush (all of them when page tables were freed: a lazy
        CPU could walk into them); wait for each IPI's acknowledgement. If ``last``
        (no device invalidate follows), the last request carries the generation of
        the changes ``gens`` it flushes (tlb_gen.py); the ones before it, none of
        theirs: the register must not pass it while a TLB may still be stale."""
        targets = [t for t in sorted(cpumask)
                   if info.freed_tables or self.should_flush_tlb(t, info)]
        remote = [t for t in targets if t != cpu]
        label = self.k.tlb_gens.label
        carried = gens if last else ()
        notes = []
        if cpu in targets:
            inv, outcome = self._flush_tlb_func(cpu, info)
            if inv is not None:
                self.cs.local_flush(cpu, inv, label(() if remote else carried))
            self.cs.luf_caught_up(cpu)
            notes.append(f"local flush_tlb_func ({outcome})")
        if remote:
            self.k.stats["shootdowns"] += 1
        for t in remote:
            inv, outcome = self._flush_tlb_func(t, info)
            ticket = self.k.backend.shootdown(("cpu", cpu), {t}, inv or NOTHING,
                                              gen=label(carried if t == remote[-1] else ()))
            self.cs.cpu_tlbstate[t].ipis_in_flight += 1
            self.k.stats["ipis"] += 1
            self.k.stats[f"ipi_invalidates_{inv.op.name if inv else 'none'}"] += 1
            yield f"{what}: " + ", ".join(notes + [f"IPI to cpus [{t}] ({outcome})"])
            notes = []
            while not self.k.backend.shootdown_done(ticket):
                yield Blocked(lambda: self.k.backend.shootdown_done(ticket),
                              f"flush IPIs to cpus [{t}]", hardware=True)
            self.cs.cpu_tlbstate[t].ipis_in_flight -= 1
            self.cs.luf_caught_up(t)
        if remote:
            yield f"{what}: all acknowledged"
        elif notes:
            yield f"{what}: {notes[0]}"
        else:
            yield f"{what}: " + ("no CPU has the mm" if not cpumask else
                                 f"IPIs skipped for cpus {sorted(cpumask)}")

    def flush_tlb_mm_range(self, cpu, mm, start, end, freed_tables=False, gens=()):
        """flush_tlb_mm_range(): a new generation, one round of flush_tlb_func();
        past the ceiling a full flush; then the IOMMU driver's hook for device TLBs,
        which the IPIs do not reach (v6.6)."""
        mm.tlb_gen += 1
        pages = (end - start) // PAGE_SIZE
        if pages > FLUSH_CEILING:
            info = FlushTLBInfo(mm, 0, TLB_FLUSH_ALL, mm.tlb_gen, freed_tables)
        else:
            info = FlushTLBInfo(mm, start, end, mm.tlb_gen, freed_tables)
        yield from self.native_flush_tlb_multi(
            cpu, set(mm.cpumask), info, f"flush_tlb_mm_range {start:#x}-{end:#x}", gens,
            last=not self.k.mmu_notifier.secondary_tlbs_after(mm))
        yield from self.k.mmu_notifier.arch_invalidate_secondary_tlbs(mm, start, end, gens)

    def flush_tlb_page(self, cpu, mm, va, gens=()):
        yield from self.flush_tlb_mm_range(cpu, mm, va & ~0xFFF, (va & ~0xFFF) + PAGE_SIZE,
                                           gens=gens)

    def flush_tlb_range(self, cpu, mm, start, end, freed_tables=False, gens=()):
        yield from self.flush_tlb_mm_range(cpu, mm, start, end, freed_tables, gens)

    def flush_tlb_mm(self, cpu, mm, gens=()):
        yield from self.flush_tlb_mm_range(cpu, mm, 0, 1 << 48, gens=gens)

    def ptep_set_access_flags_flush(self, cpu, mm, va):
        """x86 does not flush a permission upgrade: a CPU that faults on its stale entry
        drops it (the fault itself invalidates it on x86)."""
        return
        yield

    def flush_tlb_fix_spurious_fault(self, cpu, mm, va):
        """What a page fault does to the faulting CPU's own TLB entry on x86: a local
        flush of the page in this CPU's PCID (returns True: the entry is fixed)."""
        state = self.cs.cpu_tlbstate[cpu]
        self.cs.local_flush(cpu, Invalidate(InvalidateOp.VAE1, va=va & ~0xFFF,
                                            asid=pcid_tag(cpu, state.loaded_mm_asid)))
        yield f"flush_tlb_fix_spurious_fault {va:#x}: local flush"
        page = va & ~0xFFF
        yield from self.k.mmu_notifier.arch_invalidate_secondary_tlbs(mm, page,
                                                                      page + PAGE_SIZE)
        return True

    # Batched unmap flush (reclaim): remember the CPUs now, one full flush later.
    def new_batch(self):
        return set()                  # CPUs that must flush (arch_tlbflush_unmap_batch)

    def arch_tlbbatch_add_pending(self, cpu, batch, mm, va, gens=()):
        """arch_tlbbatch_add_pending(): inc_mm_tlb_gen() and add mm_cpumask(); device
        TLBs are invalidated now, for the whole mm (v6.6: the batch has no mm); the
        change's generation goes with arch_tlbbatch_flush()'s IPIs."""
        mm.tlb_gen += 1
        batch |= mm.cpumask
        yield f"arch_tlbbatch_add_pending {va:#x} (cpus {sorted(mm.cpumask)})"
        yield from self.k.mmu_notifier.arch_invalidate_secondary_tlbs(mm, 0, 1 << 48)

    def arch_tlbbatch_flush(self, cpu, batch, gens=()):
        """arch_tlbbatch_flush(): flush_tlb_func() of no particular mm on the batch's
        CPUs: each flushes the mm it runs if it is behind; the others' slots are behind
        their mm's tlb_gen and are flushed when switched to."""
        targets = set(batch)
        batch.clear()
        info = FlushTLBInfo(None, 0, TLB_FLUSH_ALL, None)
        yield from self.native_flush_tlb_multi(cpu, targets, info, "arch_tlbbatch_flush",
                                               gens)
        self.k.tlb_gens.flushed(gens)
