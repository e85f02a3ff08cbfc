"""x86 per-CPU TLB state and the context switch (arch/x86/mm/tlb.c, v6.15 with the
CVE-2025-37964 fix): ``struct tlb_state`` (loaded_mm, loaded_mm_asid, six ASID slots of
(ctx_id, tlb_gen)), ``tlb_state_shared.is_lazy``, choose_new_asid(),
switch_mm_irqs_off() and enter_lazy_tlb().

A PCID is per CPU on x86, but the platform's ASIDs are one 16-bit space shared by every
TLB and its invalidates are broadcasts. So CPU ``c``'s slot ``asid`` is tagged
``(c + 1) << 8 | kern_pcid(asid)``: no other agent uses that tag, and a broadcast
invalidate of it is a flush of this CPU's TLB alone (a local flush, as x86 does it).
Device TLBs keep the mm's own id (``mm.asid``, below 256)."""
from dataclasses import dataclass

from hdl.ports import InvalidateOp

from ..descriptors import encode_ttbr
from ..platform import Invalidate

#: TLB_NR_DYN_ASIDS: PCID slots each CPU hands out to the mms it runs.
TLB_NR_DYN_ASIDS = 6
#: cpu_tlbstate.loaded_mm while CR3 is being changed (LOADED_MM_SWITCHING).
LOADED_MM_SWITCHING = "LOADED_MM_SWITCHING"


def pcid_tag(cpu, asid):
    """The ASID CPU ``cpu``'s TLB entries of slot ``asid`` carry: kern_pcid(asid) =
    asid + 1, made unique to the CPU (see the module docstring)."""
    return (cpu + 1) << 8 | (asid + 1)


@dataclass
class TLBContext:
    """struct tlb_context: which mm a slot holds (mm.asid serves as context.ctx_id,
    0: none) and the mm generation its TLB entries are up to date with."""
    ctx_id: int = 0
    tlb_gen: int = 0


class TLBState:
    """cpu_tlbstate and cpu_tlbstate_shared of one CPU; loaded_mm None is init_mm."""

    def __init__(self):
        self.loaded_mm = None
        self.loaded_mm_asid = 0
        self.next_asid = 1             # slot 0 is init_mm's at boot
        self.ctxs = [TLBContext() for _ in range(TLB_NR_DYN_ASIDS)]
        self.is_lazy = False
        self.switching = None          # (next, new_asid) while loaded_mm is SWITCHING
        self.ipis_in_flight = 0        # flush IPIs decided for this CPU, not yet taken

    def settled(self):
        """(mm, asid) this CPU runs with once interrupts are on again: a flush IPI
        cannot interrupt switch_mm_irqs_off(), so it sees the switch's outcome."""
        if self.loaded_mm == LOADED_MM_SWITCHING:
            return self.switching
        return self.loaded_mm, self.loaded_mm_asid


class X86ContextSwitch:
    """The context-switch half of arch/x86/mm/tlb.c, on ``kernel``'s CPUs."""

    def __init__(self, kernel):
        self.k = kernel
        self.cpu_tlbstate = [TLBState() for _ in range(kernel.backend.cpus)]

    def local_flush(self, cpu, inv, gen=None):
        """A flush of this CPU's own TLB (INVLPG, or a CR3 write that flushes): a
        broadcast invalidate of a tag only this CPU uses (carrying TLB generation
        ``gen``, tlb_gen.py), then a sync."""
        self.k.backend.tlbi(("cpu", cpu), inv, gen=gen)
        self.k.backend.dsb(("cpu", cpu))
        self.k.stats["x86_local_flushes"] += 1

    def flush_asid(self, cpu, asid):
        """Everything of one PCID on this CPU (the full flush: flush_tlb_local())."""
        return Invalidate(InvalidateOp.ASIDE1, asid=pcid_tag(cpu, asid))

    def choose_new_asid(self, cpu, next, next_tlb_gen):
        """choose_new_asid(): the slot already holding ``next`` (flush if it is behind
        ``next_tlb_gen``), else the next slot round-robin, flushed."""
        state = self.cpu_tlbstate[cpu]
        for asid, ctx in enumerate(state.ctxs):
            if ctx.ctx_id == next.asid:
                return asid, ctx.tlb_gen < next_tlb_gen
        asid, state.next_asid = state.next_asid, state.next_asid + 1
        if asid >= TLB_NR_DYN_ASIDS:
            asid, state.next_asid = 0, 1
        self.k.stats["x86_asid_slots_taken"] += 1
        return asid, True

    def switch_mm_irqs_off(self, cpu, next):
        """switch_mm() → switch_mm_irqs_off() to ``next`` (None: init_mm); three steps
        when the mm changes: announce the switch and pick the slot, load CR3 (flushing
        a stale slot), set loaded_mm. Interrupts are off throughout in the kernel; the
        model leaves the hardware's on, since a flush IPI is decided from the state
        after the switch (TLBState.settled()) and flushes the PCID the switch loads:
        taken early, it does what it would do after."""
        state = self.cpu_tlbstate[cpu]
        prev, prev_asid = state.loaded_mm, state.loaded_mm_asid
        was_lazy, state.is_lazy = state.is_lazy, False
        name = next.name if next is not None else "init_mm"
        if prev is next:
            if not was_lazy or next is None:
                label = f"switch_mm_irqs_off {name}: already loaded"
            elif state.ctxs[prev_asid].tlb_gen == next.tlb_gen:
                label = f"switch_mm_irqs_off {name}: leaves lazy TLB mode, up to date"
            else:
                # The mm was flushed while this CPU was lazy (its IPIs were skipped).
                state.ctxs[prev_asid].tlb_gen = next.tlb_gen
                self.local_flush(cpu, self.flush_asid(cpu, prev_asid))
                self.k.stats["x86_lazy_catchup_flushes"] += 1
                label = f"switch_mm_irqs_off {name}: leaves lazy TLB mode, flushed " \
                        f"to tlb_gen {next.tlb_gen}"
            self.luf_caught_up(cpu)
            yield label
            return
        state.loaded_mm = LOADED_MM_SWITCHING
        if next is None:
            new_asid, need_flush = prev_asid, False      # init_mm maps no user memory
            state.switching = (None, new_asid)
            yield "switch_mm_irqs_off init_mm: loaded_mm = LOADED_MM_SWITCHING"
        else:
            # Start receiving flush IPIs, then read the generation (the lazy
            # mm_cpumask: this CPU stays in prev's mask until a flush trims it).
            next.cpumask.add(cpu)
            next_tlb_gen = next.tlb_gen
            new_asid, need_flush = self.choose_new_asid(cpu, next, next_tlb_gen)
            if need_flush:
                state.ctxs[new_asid] = TLBContext(next.asid, next_tlb_gen)
            state.switching = (next, new_asid)
            yield f"switch_mm_irqs_off {name}: loaded_mm = LOADED_MM_SWITCHING, " \
                  f"tlb_gen {next_tlb_gen}, asid {new_asid}" + \
                  (" (stale: flush)" if need_flush else " (up to date)")
        if need_flush:
            self.local_flush(cpu, self.flush_asid(cpu, new_asid))
            self.k.stats["x86_switch_flushes"] += 1
        elif next is not None:
            self.k.stats["x86_switch_noflush"] += 1
        yield f"load_new_mm_cr3 asid {new_asid}" + (" with flush" if need_flush else "")
        # The CR3 write is done: from here this CPU fills from next's page tables, and
        # only now does loaded_mm say so (the CVE-2025-37964 window).
        state.loaded_mm, state.loaded_mm_asid, state.switching = next, new_asid, None
        self.luf_caught_up(cpu)
        yield f"switch_mm_irqs_off {name}: loaded_mm = {name}"

    def luf_caught_up(self, cpu):
        """Under LUF: once the mm this CPU runs is at its tlb_gen, no translation LUF
        deferred so far is usable here (a deferral bumps its mm's tlb_gen, so any
        other mm is flushed when switched to): the CPU's done generation moves up."""
        state = self.cpu_tlbstate[cpu]
        mm, asid = state.loaded_mm, state.loaded_mm_asid
        if self.k.luf is not None and mm != LOADED_MM_SWITCHING and \
                not state.ipis_in_flight and \
                (mm is None or state.ctxs[asid].tlb_gen == mm.tlb_gen):
            self.k.luf.arch_tlbbatch_update_done(cpu)

    def enter_lazy_tlb(self, cpu):
        """enter_lazy_tlb(): a kernel thread runs on the user mm's page tables; the
        CPU stays in mm_cpumask but flushes of the mm skip it."""
        state = self.cpu_tlbstate[cpu]
        if state.loaded_mm is not None:
            state.is_lazy = True
        yield "enter_lazy_tlb" + ("" if state.loaded_mm is not None else ": init_mm, nothing")

    def user_ttbr(self, cpu, mm):
        """A user thread of ``mm`` runs on this CPU: the scheduler's switch_mm() if
        another mm is loaded or the CPU is lazy (inside the access's step); the CR3
        (TTBR) the CPU's accesses use."""
        state = self.cpu_tlbstate[cpu]
        if state.loaded_mm is not mm or state.is_lazy:
            for _ in self.switch_mm_irqs_off(cpu, mm):
                pass
        return encode_ttbr(mm.root, pcid_tag(cpu, state.loaded_mm_asid))
