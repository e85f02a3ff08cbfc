"""LUF, lazy unmap flush (Byungchul Park's RFC, v11, not merged; seed 004): reclaim
defers the flush for a folio whose mappings were all read-only, not until the end of
reclaim but until the freed page is handed out again — or until something that a stale
read-only entry could observe happens (a writable PTE installed, writeback, truncate).

Each deferred batch has a key from a global generation (luf_ugen); a freed folio
carries the key of the batch that unmapped it. With LUF_DEBUG (seed 004) the kernel
also reports, at the moment it happens, a LUF'd PTE being rewritten or a LUF'd
page-cache slot being replaced before the flush.

Each CPU records the generation it is done with (ugen_done): a batch's flush goes only
to the CPUs of its cpumask not yet past its key, and is skipped when none is left.
What moves a CPU's done generation is arch code: on x86, a CPU whose running mm is at
its tlb_gen (after a task switch, or a full flush) holds no usable deferred entry,
since each deferral bumps its mm's tlb_gen (tlbstate_x86.py); arm64 has no per-CPU
flush state, so there LUF flushes every batch."""
from dataclasses import dataclass, field

from .sched import Blocked, Deadlock, Scheduler


@dataclass
class LUFBatch:
    key: int
    cpu: int                                   # the CPU whose reclaim deferred it
    translations: set = field(default_factory=set)   # (mm name, page VA)
    cpus: set = field(default_factory=set)     # CPUs that may cache them


class LUF:
    def __init__(self, kernel):
        self.k = kernel
        self.ugen = 0                          # luf_ugen
        self.pending = []                      # LUFBatch, oldest first
        self.batch = {}                        # CPU -> the batch its reclaim is filling
        self.ugen_done = {}                    # CPU -> the key it has flushed up to

    def start_batch(self, cpu):
        self.ugen += 1
        self.batch[cpu] = LUFBatch(self.ugen, cpu)

    def defer(self, cpu, mm, va, folio):
        """try_to_unmap_one() of a read-only mapping under LUF: no flush now."""
        batch = self.batch[cpu]
        batch.translations.add((mm.name, va & ~0xFFF))
        folio.luf_key = batch.key
        batch.cpus |= mm.cpumask               # as arch_tlbbatch_add_pending() does,
        mm.tlb_gen += 1                        # with x86's inc_mm_tlb_gen()
        self.k.stats["luf_deferred"] += 1

    def end_batch(self, cpu):
        batch = self.batch.pop(cpu)
        if batch.translations:
            self.pending.append(batch)
            self.k.stats["luf_batches"] += 1

    def pending_for(self, mm_name, page):
        return any((mm_name, page) in b.translations for b in self.pending)

    def key_pending(self, key):
        return any(b.key == key for b in self.pending)

    def arch_tlbbatch_update_done(self, cpu):
        """This CPU holds no usable entry of any batch deferred so far: it is done up
        to the newest key whose deferrals are all over."""
        filling = [b.key for b in self.batch.values()]
        self.ugen_done[cpu] = min(filling) - 1 if filling else self.ugen

    def arch_tlbbatch_diet(self, batch):
        """The batch's CPUs not yet done with its key (the others are skipped)."""
        cpus = {c for c in batch.cpus if self.ugen_done.get(c, 0) < batch.key}
        self.k.stats["luf_cpus_skipped"] += len(batch.cpus) - len(cpus)
        return cpus

    def luf_flush(self, why, upto=None):
        """Flush the deferred batches (with keys up to ``upto``, or all). On x86, one
        batched flush of the CPUs not past them, from the CPU that deferred the first
        (each runs flush_tlb_func(); the bumped tlb_gen catches the mms it does not
        run), and of the device TLBs; on arm64 each translation by broadcast."""
        batches = [b for b in self.pending if upto is None or b.key <= upto]
        targets = set()
        for b in batches:
            self.pending.remove(b)
            if self.k.flush.name == "x86":
                cpus = self.arch_tlbbatch_diet(b)
                targets |= cpus
                if not cpus:
                    self.k.stats["luf_flushes_skipped"] += 1
                    continue
            else:
                for mm_name, va in sorted(b.translations):
                    yield from self.k.flush.flush_tlb_page(b.cpu, self.k.mms[mm_name], va)
            self.k.stats["luf_flushes"] += 1
        if batches and self.k.flush.name == "x86" and (targets or self.k.backend.devices):
            yield from self.k.flush.arch_tlbbatch_flush(batches[0].cpu, targets)
        if batches:
            yield f"luf_flush ({why}): keys {[b.key for b in batches]}" + \
                (f", cpus {sorted(targets)}" if self.k.flush.name == "x86" else "")

    def flush_now(self, why, upto=None):
        """luf_flush() from a path that cannot yield (inside one step): the waits for
        the hardware are run out here."""
        for out in self.luf_flush(why, upto):
            for _ in range(Scheduler.IDLE_LIMIT):
                if not isinstance(out, Blocked) or out.ready():
                    break
                self.k.backend.idle(1)
            else:
                raise Deadlock(f"luf_flush ({why}) inside a step waits for {out.why}, "
                               "which only another agent's step can end")
