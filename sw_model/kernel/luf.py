"""LUF, lazy unmap flush (Byungchul Park's RFC, v11, not merged; seed 004): reclaim
defers the flush for a folio whose mappings were all read-only, not until the end of
reclaim but until the freed page is handed out again — or until something that a stale
read-only entry could observe happens (a writable PTE installed, writeback, truncate).

Each deferred batch has a key from a global generation (luf_ugen); a freed folio
carries the key of the batch that unmapped it. With LUF_DEBUG (seed 004) the kernel
also reports, at the moment it happens, a LUF'd PTE being rewritten or a LUF'd
page-cache slot being replaced before the flush."""
from dataclasses import dataclass, field

from .sched import Blocked


@dataclass
class LUFBatch:
    key: int
    cpu: int                                   # the CPU whose reclaim deferred it
    translations: set = field(default_factory=set)   # (mm name, page VA)


class LUF:
    def __init__(self, kernel):
        self.k = kernel
        self.ugen = 0                          # luf_ugen
        self.pending = []                      # LUFBatch, oldest first
        self.batch = {}                        # CPU -> the batch its reclaim is filling

    def start_batch(self, cpu):
        self.ugen += 1
        self.batch[cpu] = LUFBatch(self.ugen, cpu)

    def defer(self, cpu, mm, va, folio):
        """try_to_unmap_one() of a read-only mapping under LUF: no flush now."""
        batch = self.batch[cpu]
        batch.translations.add((mm.name, va & ~0xFFF))
        folio.luf_key = batch.key

    def end_batch(self, cpu):
        batch = self.batch.pop(cpu)
        if batch.translations:
            self.pending.append(batch)

    def pending_for(self, mm_name, page):
        return any((mm_name, page) in b.translations for b in self.pending)

    def key_pending(self, key):
        return any(b.key == key for b in self.pending)

    def luf_flush(self, why, upto=None):
        """Flush the deferred batches (with keys up to ``upto``, or all), each from the
        CPU that deferred it."""
        batches = [b for b in self.pending if upto is None or b.key <= upto]
        for b in batches:
            self.pending.remove(b)
            for mm_name, va in sorted(b.translations):
                yield from self.k.flush.flush_tlb_page(b.cpu, self.k.mms[mm_name], va)
            self.k.stats["luf_flushes"] += 1
        if batches:
            yield f"luf_flush ({why}): keys {[b.key for b in batches]}"

    def flush_now(self, why, upto=None):
        """luf_flush() from a path that cannot yield (inside one step): the waits for
        the hardware are run out here."""
        for out in self.luf_flush(why, upto):
            while isinstance(out, Blocked) and not out.ready():
                self.k.backend.idle(1)
