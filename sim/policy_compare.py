"""Policy comparison (issue 4, item 6): the same workloads under every TLB-flush policy
the kernel model has, counting what each run does: flushes, shootdowns and IPIs,
invalidates by kind, syncs, TLB fills and cycles.

A workload is generated (not a shipped scenario): its operations come from a
``random.Random(WORKLOAD_SEED)``, so every policy runs exactly the same program, and its
interleavings are seeded random schedules (seeds SCHEDULE_SEED, SCHEDULE_SEED + 1, ...),
the same seeds for every policy. Every run must be clean: comparing the cost of policies
that let an access through a stale translation would be meaningless.
"""
import random
from collections import Counter
from dataclasses import dataclass, field

from sw_model.kernel.runner import run_scenario
from sw_model.kernel.scenario_parser import parse_scenario_text

#: Seeds the workloads' operations (the same program under every policy).
WORKLOAD_SEED = 2026
#: The first schedule seed; run i uses SCHEDULE_SEED + i under every policy.
SCHEDULE_SEED = 1

#: (arch, reclaim): every flush policy the kernel model has. reclaim=luf is LUF (seed
#: 004): read-only mappings' flushes deferred past the free, until the page is reused.
POLICIES = [(arch, reclaim) for arch in ("arm64", "x86")
            for reclaim in ("eager", "batched", "luf")]
#: (arch, pending): whether folio_mkclean() flushes a clean read-only PTE while a flush
#: may be pending, by mm_tlb_flush_pending() or by per-page-table generations (seed
#: 000), with batched reclaim; run on the workloads that write back (Workload.pending).
#: The baseline, pending=none, is the batched row of POLICIES.
PENDING_POLICIES = [(arch, pending) for arch in ("arm64", "x86")
                    for pending in ("coarse", "per-table")]

#: Policies of the design (docs/kernel-model.md) that the kernel model does not have yet.
NOT_MODELLED_POLICIES = {}
#: Workloads the comparison should have but the kernel model cannot run yet.
NOT_MODELLED_WORKLOADS = {}

PAGE = 0x1000
ANON = 0x400000
FILE = 0x800000


class ComparisonError(Exception):
    """A run the comparison cannot use: not clean (a violation, a deadlock, a stuck
    access), or its counts do not add up."""


def _va(base, page):
    return f"{base + page * PAGE:#x}"


def _block(head, ops):
    return [head] + [f"  {op}" for op in ops]


def _munmap_storm(rng):
    """Four CPUs touch a 24-page region, then munmap small ranges of its first 16 pages
    (1 or 2 pages each, dealt at random) between touches of the 8 pages that stay."""
    chunks, page = [], 0
    while page < 16:
        size = min(rng.choice((1, 2)), 16 - page)
        chunks.append((page, size))
        page += size
    rng.shuffle(chunks)
    lines = _block("mm A", [f"vma {_va(ANON, 0)} 24 rw anon", f"populate {_va(ANON, 0)} 24 write"])
    for cpu in range(4):
        ops = [f"write A {_va(ANON, p)}" for p in rng.sample(range(24), 3)]
        for start, size in chunks[cpu::4]:
            ops.append(f"munmap A {_va(ANON, start)} {size}")
            ops.append(f"{rng.choice(('read', 'write'))} A {_va(ANON, rng.randrange(16, 24))}")
        lines += _block(f"cpu {cpu}", ops)
    return lines


def _reclaim_pressure(rng):
    """24 pages (16 dirty anonymous, 8 clean file pages mapped read-only) in 40 frames;
    kswapd (cpu 0) reclaims 18 of them while cpus 1 to 3 keep touching the other 6, and
    now and then refault a reclaimed one.

    One reclaimer: two CPUs reclaiming at once crash the kernel model under
    reclaim=luf today (luf.py keeps a single batch for all CPUs)."""
    pages = [("anon", p) for p in range(16)] + [("file", p) for p in range(8)]
    rng.shuffle(pages)
    cold, hot = pages[:18], pages[18:]

    def touch(kind, p):
        if kind == "file":
            return f"read A {_va(FILE, p)}"
        return f"{rng.choice(('read', 'write'))} A {_va(ANON, p)}"

    lines = _block("mm A", [f"vma {_va(ANON, 0)} 16 rw anon", f"vma {_va(FILE, 0)} 8 r file",
                            f"populate {_va(ANON, 0)} 16 write",
                            f"populate {_va(FILE, 0)} 8 read"])
    lines += _block("cpu 0", [f"reclaim A {_va(ANON if kind == 'anon' else FILE, p)}"
                              for kind, p in cold])
    for cpu in (1, 2, 3):
        lines += _block(f"cpu {cpu}", [touch(*rng.choice(cold if rng.random() < 0.25 else hot))
                                       for _ in range(6)])
    return lines


def _mprotect_churn(rng):
    """cpu 0 turns 2 to 4 pages of an 8-page buffer read-only and back, four times,
    while cpus 1 and 2 write (mostly) and read it: a write to a read-only page faults
    (SIGSEGV while the range is read-only, a write-protect fault once it is writable
    again)."""
    lines = _block("mm A", [f"vma {_va(ANON, 0)} 8 rw anon", f"populate {_va(ANON, 0)} 8 write"])
    ops = []
    for _ in range(4):
        size = rng.randint(2, 4)
        start = rng.randrange(0, 9 - size)
        ops += [f"mprotect A {_va(ANON, start)} {size} r",
                f"mprotect A {_va(ANON, start)} {size} rw"]
    lines += _block("cpu 0", ops)
    for cpu in (1, 2):
        lines += _block(f"cpu {cpu}", [
            f"{'write' if rng.random() < 0.7 else 'read'} A {_va(ANON, rng.randrange(8))}"
            for _ in range(10)])
    return lines


def _dontneed_storm(rng):
    """Four threads each MADV_DONTNEED 2 to 4 pages of a shared 16-page buffer three
    times, writing into it before and after (overlapping zaps: nested mmu_gathers)."""
    lines = _block("mm A", [f"vma {_va(ANON, 0)} 16 rw anon",
                            f"populate {_va(ANON, 0)} 16 write"])
    for cpu in range(4):
        ops = []
        for _ in range(3):
            size = rng.randint(2, 4)
            ops += [f"write A {_va(ANON, rng.randrange(16))}",
                    f"madvise_dontneed A {_va(ANON, rng.randrange(0, 17 - size))} {size}",
                    f"write A {_va(ANON, rng.randrange(16))}"]
        lines += _block(f"cpu {cpu}", ops)
    return lines


def _writeback(rng):
    """cpu 0 writes back (folio_mkclean) pages of an 8-page file mapped shared while
    cpus 1 and 2 keep writing to it (each write to a cleaned page faults to make it
    writable and dirty again)."""
    lines = _block("mm A", [f"vma {_va(FILE, 0)} 8 rw shared",
                            f"populate {_va(FILE, 0)} 8 write"])
    lines += _block("cpu 0", [f"mkclean A {_va(FILE, rng.randrange(8))}" for _ in range(8)])
    for cpu in (1, 2):
        lines += _block(f"cpu {cpu}", [
            f"{'write' if rng.random() < 0.75 else 'read'} A {_va(FILE, rng.randrange(8))}"
            for _ in range(8)])
    return lines


def _munmap_writeback(rng):
    """cpus 0 and 1 munmap 1 or 2 pages at a time of a 16-page anonymous region, touching
    what stays; cpu 2 writes back (folio_mkclean) pages of an 8-page shared file mapping
    in another page table, 12 times, while cpu 3 dirties a few of them again."""
    lines = _block("mm A", [f"vma {_va(ANON, 0)} 16 rw anon", f"populate {_va(ANON, 0)} 16 write",
                            f"vma {_va(FILE, 0)} 8 rw shared",
                            f"populate {_va(FILE, 0)} 8 write"])
    chunks = [(page, 2) for page in range(0, 12, 2)]
    rng.shuffle(chunks)
    for cpu in (0, 1):
        ops = []
        for start, size in chunks[cpu::2]:
            ops += [f"munmap A {_va(ANON, start)} {size}",
                    f"write A {_va(ANON, rng.randrange(12, 16))}"]
        lines += _block(f"cpu {cpu}", ops)
    lines += _block("cpu 2", [f"mkclean A {_va(FILE, rng.randrange(8))}" for _ in range(12)])
    lines += _block("cpu 3", [f"write A {_va(FILE, rng.randrange(8))}" for _ in range(3)])
    return lines


def _fork_cow(rng):
    """A process with two writing threads forks (cpu 2); the child (cpu 3) and the
    parent's threads then write and read the 8 shared pages: every first write of a
    page on either side copies it."""
    lines = _block("mm P", [f"vma {_va(ANON, 0)} 8 rw anon", f"populate {_va(ANON, 0)} 8 write"])
    lines += ["mm C"]

    def touches(mm, count):
        return [f"{'write' if rng.random() < 0.6 else 'read'} {mm} {_va(ANON, rng.randrange(8))}"
                for _ in range(count)]

    lines += _block("cpu 0", touches("P", 6)) + _block("cpu 1", touches("P", 6))
    lines += _block("cpu 2", ["fork P C", *touches("P", 3)])
    lines += _block("cpu 3", touches("C", 8))
    return lines


def _reclaim_after_fork(rng):
    """A parent forks a child (cpu 0, which then reclaims as kswapd); the two share 12
    anonymous and 4 file pages copy-on-write, so reclaim unmaps most pages from two
    mms. cpu 1 (the parent) and cpu 2 (the child) keep reading and now and then writing
    pages reclaim may take."""
    lines = _block("mm P", [f"vma {_va(ANON, 0)} 12 rw anon", f"vma {_va(FILE, 0)} 4 r file",
                            f"populate {_va(ANON, 0)} 12 write",
                            f"populate {_va(FILE, 0)} 4 read"])
    lines += ["mm C"]
    pages = [(ANON, p) for p in range(12)] + [(FILE, p) for p in range(4)]
    rng.shuffle(pages)
    lines += _block("cpu 0", ["fork P C", *[f"reclaim P {_va(base, p)}"
                                           for base, p in pages[:12]]])
    for cpu, mm in ((1, "P"), (2, "C")):
        ops = []
        for _ in range(6):
            base, p = rng.choice(pages)
            write = base == ANON and rng.random() < 0.3
            ops.append(f"{'write' if write else 'read'} {mm} {_va(base, p)}")
        lines += _block(f"cpu {cpu}", ops)
    return lines


def _mixed(rng):
    """Reclaim against the system calls that must first flush what it deferred
    (flush_tlb_batched_pending()): kswapd, mprotect, munmap and MADV_DONTNEED on one
    16-page buffer, writers, and a device doing DMA through its TLB."""
    lines = _block("mm A", [f"vma {_va(ANON, 0)} 16 rw anon",
                            f"populate {_va(ANON, 0)} 16 write"])
    lines += _block("cpu 0", [f"reclaim A {_va(ANON, p)}" for p in rng.sample(range(16), 6)])
    lines += _block("cpu 1", [op for p in rng.sample(range(8), 3)
                              for op in (f"mprotect A {_va(ANON, p)} 1 r",
                                         f"write A {_va(ANON, rng.randrange(16))}",
                                         f"mprotect A {_va(ANON, p)} 1 rw")])
    lines += _block("cpu 2", [op for p in (8, 10, 12)
                              for op in (f"write A {_va(ANON, rng.randrange(16))}",
                                         f"munmap A {_va(ANON, p)} 1")])
    lines += _block("cpu 3", [op for _ in range(3)
                              for op in (f"madvise_dontneed A {_va(ANON, rng.randrange(15))} 2",
                                         f"write A {_va(ANON, rng.randrange(16))}")])
    lines += _block("dev 0", [f"{rng.choice(('read', 'write'))} A {_va(ANON, rng.randrange(16))}"
                              for _ in range(6)])
    return lines


def _migration(rng):
    """16 anonymous pages, 8 written (dirty, writable) and 8 only read (clean,
    read-only): cpu 0 migrates 8 of them (move_pages, as compaction would), cpu 1 marks
    4 for NUMA hinting and touches them (each hinting fault migrates its page), cpus 2
    and 3 read and write the buffer meanwhile."""
    lines = _block("mm A", [f"vma {_va(ANON, 0)} 16 rw anon",
                            f"populate {_va(ANON, 0)} 8 write",
                            f"populate {_va(ANON, 8)} 8 read"])
    lines += _block("cpu 0", [f"migrate A {_va(ANON, p)}" for p in rng.sample(range(16), 8)])
    hinted = rng.sample(range(16), 4)
    lines += _block("cpu 1", [f"numa_hint A {_va(ANON, p)} 1" for p in hinted] +
                    [f"read A {_va(ANON, p)}" for p in hinted])
    for cpu in (2, 3):
        lines += _block(f"cpu {cpu}", [
            f"{'write' if p < 8 and rng.random() < 0.5 else 'read'} A {_va(ANON, p)}"
            for p in (rng.randrange(16) for _ in range(6))])
    return lines


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    system: str                 # system settings other than arch and reclaim
    body: object                # rng -> scenario lines (mm, cpu and dev blocks)
    pending: bool = False       # also run under PENDING_POLICIES (it writes back)

    def scenario_text(self, arch, reclaim, runs, pending="none"):
        body = self.body(random.Random(WORKLOAD_SEED))
        settings = f" pending={pending}" if pending != "none" else ""
        return "\n".join([f"scenario {self.name}", f"description {self.description}",
                          f"system {self.system} arch={arch} reclaim={reclaim}{settings}",
                          *body, f"schedule random seed={SCHEDULE_SEED} runs={runs}",
                          "expect clean", ""])

    def scenario(self, arch, reclaim, runs, pending="none"):
        return parse_scenario_text(self.scenario_text(arch, reclaim, runs, pending),
                                   f"<workload {self.name}>")

    def policies(self):
        """(arch, reclaim, pending) of every policy this workload runs under."""
        return [(arch, reclaim, "none") for arch, reclaim in POLICIES] + \
            [(arch, "batched", pending) for arch, pending in PENDING_POLICIES
             if self.pending]


WORKLOADS = [
    Workload("munmap-storm", "4 CPUs touch a region; repeated munmap of 1-2 pages",
             "cpus=4", _munmap_storm),
    Workload("reclaim-pressure", "kswapd takes 18 of 24 pages while 3 CPUs touch the "
             "rest", "cpus=4 frames=40", _reclaim_pressure),
    Workload("mprotect-churn", "RW to R and back, 4 times, against 2 writers",
             "cpus=3", _mprotect_churn),
    Workload("dontneed-storm", "4 threads MADV_DONTNEED overlapping ranges",
             "cpus=4", _dontneed_storm),
    Workload("writeback", "folio_mkclean of a shared file mapping against 2 writers",
             "cpus=3", _writeback, pending=True),
    Workload("munmap-writeback", "munmap storm in one page table, writeback in another",
             "cpus=4", _munmap_writeback, pending=True),
    Workload("fork-cow", "fork with 2 writing threads, then copy-on-write on both sides",
             "cpus=4", _fork_cow),
    Workload("reclaim-after-fork", "kswapd reclaims 12 of 16 pages a parent and its "
             "child share", "cpus=3 frames=48", _reclaim_after_fork),
    Workload("mixed", "reclaim vs mprotect, munmap, DONTNEED, writers and a device",
             "cpus=4 devices=1", _mixed),
    Workload("migration", "8 pages migrated and 4 NUMA-hinted (migrated on touch) "
             "against 2 CPUs touching them", "cpus=4", _migration),
]

def run_counts(run):
    """What one run did, as flat counts (invalidates as ``inv_<KIND>``)."""
    s = run.stats
    counts = Counter({
        "flushes": s["dsb"] + s["shootdowns"],     # rounds the flushing CPU waits for
        "shootdowns": s["shootdowns"], "ipis": s["ipis"], "dsb": s["dsb"],
        "syncs": s["hw_syncs"], "secondary": s["secondary_tlb_invalidates"],
        "tlb_fills": s["hw_tlb_fills"], "faults": s["faults"], "cycles": run.cycles,
        "luf_flushes": s["luf_flushes"], "mkclean_flushes": s["mkclean_flushes"],
        "mkclean_pending_flushes": s["mkclean_pending_flushes"],
        **{key: value for key, value in s.items() if key.startswith(("x86_", "luf_"))},
    })
    # Broadcast invalidates as the hardware counted them; what x86 flush IPIs carried
    # as the kernel counted them (an IPI whose target had nothing to flush, none).
    for prefix in ("hw_invalidates_", "ipi_invalidates_"):
        for key, value in s.items():
            if key.startswith(prefix) and value and key != "ipi_invalidates_none":
                counts[f"inv_{key[len(prefix):]}"] += value
    counts["invalidates"] = sum(v for k, v in counts.items() if k.startswith("inv_"))
    return counts


@dataclass
class Row:
    workload: Workload
    arch: str
    reclaim: str
    pending: str = "none"
    runs: list = field(default_factory=list)      # run_counts() per run, in seed order

    @property
    def policy(self):
        return f"{self.arch} {self.reclaim}" + \
            (f" {self.pending}" if self.pending != "none" else "")

    def mean(self, key):
        return sum(r[key] for r in self.runs) / len(self.runs)

    def kinds(self):
        """Invalidate kinds seen, with their mean count per run."""
        keys = sorted({k for r in self.runs for k in r if k.startswith("inv_")})
        return {k[4:]: self.mean(k) for k in keys}


def check_clean(workload, policy, result):
    for run in result.runs:
        where = f"{workload.name} under {policy}, run seed={run.seed}"
        if run.error:
            raise ComparisonError(f"{where}: {run.error}")
        if run.violations:
            raise ComparisonError(f"{where}: {run.violations[0].describe()}")
        if run.stats["stuck_accesses"]:
            raise ComparisonError(f"{where}: {run.stats['stuck_accesses']} access(es) stuck")


def compare(runs, workloads=None, progress=None):
    """Every workload under every policy, ``runs`` seeded schedules each. Raises
    ComparisonError at the first run that is not clean."""
    rows = []
    for workload in workloads or WORKLOADS:
        for arch, reclaim, pending in workload.policies():
            result = run_scenario(workload.scenario(arch, reclaim, runs, pending))
            row = Row(workload, arch, reclaim, pending)
            check_clean(workload, row.policy, result)
            row.runs = [run_counts(r) for r in result.runs]
            rows.append(row)
            if progress:
                progress(rows[-1])
    return rows


def _num(value):
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.1f}"


#: The table's count columns: (count, heading).
COLUMNS = [("flushes", "flushes"), ("shootdowns", "shootdowns"), ("ipis", "IPIs"),
           ("invalidates", "invalidates (by kind)"), ("syncs", "syncs"),
           ("tlb_fills", "TLB fills"), ("cycles", "cycles"),
           ("luf_batches", "LUF batches deferred (flushed)"),
           ("mkclean_flushes", "mkclean flushes (for a pending flush)")]


def _cell(row, key):
    if key == "invalidates":
        kinds = ", ".join(f"{k} {_num(v)}" for k, v in row.kinds().items())
        return f"{_num(row.mean(key))} ({kinds or 'none'})"
    if key == "luf_batches":
        return (f"{_num(row.mean(key))} ({_num(row.mean('luf_flushes'))})"
                if row.reclaim == "luf" else "-")
    if key == "mkclean_flushes":
        return (f"{_num(row.mean(key))} ({_num(row.mean('mkclean_pending_flushes'))})"
                if row.workload.pending else "-")
    return _num(row.mean(key))


def table(rows):
    """The comparison as a Markdown table: means per run."""
    out = ["| workload | policy | " + " | ".join(h for _, h in COLUMNS) + " |",
           "|---|---|" + "---:|" * 3 + "---|" + "---:|" * 3 + "---|" * 2]
    for row in rows:
        out.append(f"| {row.workload.name} | {row.policy} | "
                   + " | ".join(_cell(row, key) for key, _ in COLUMNS) + " |")
    missing = [("every workload", name, why) for name, why in NOT_MODELLED_POLICIES.items()]
    missing += [(name, "every policy", why) for name, why in NOT_MODELLED_WORKLOADS.items()]
    for workload, policy, why in missing:
        out.append(f"| {workload} | {policy} | "
                   + " | ".join(f"not modelled: {why}" if key == "invalidates"
                                else "not modelled" for key, _ in COLUMNS) + " |")
    return "\n".join(out)


def versus_eager(rows):
    """Per workload and arch: batched and LUF reclaim against eager, in percent."""
    by = {(r.workload.name, r.arch, r.reclaim): r for r in rows}
    keys = ("flushes", "ipis", "invalidates", "tlb_fills", "cycles")
    out = ["| workload | policy | " + " | ".join(h.split(" (")[0] for k, h in COLUMNS
                                               if k in keys) + " |",
           "|---|---|" + "---:|" * len(keys)]
    for row in rows:
        eager = by.get((row.workload.name, row.arch, "eager"))
        if row.reclaim == "eager" or eager is None or row.pending != "none":
            continue
        out.append(f"| {row.workload.name} | {row.policy} | "
                   + " | ".join(_changes(eager, row, keys)) + " |")
    return "\n".join(out)


def _changes(base, row, keys):
    """Per count: the baseline's mean → the row's, in percent."""
    cells = []
    for key in keys:
        e, b = base.mean(key), row.mean(key)
        cells.append("-" if e == b == 0 else
                     f"{_num(e)} → {_num(b)} ({round(100 * (b - e) / e):+d}%)" if e
                     else f"0 → {_num(b)}")
    return cells


def versus_unchecked(rows):
    """Per workload that writes back: the coarse and per-table checks against
    folio_mkclean() trusting every clean read-only PTE (pending=none), in percent."""
    by = {(r.workload.name, r.policy): r for r in rows}
    keys = ("mkclean_flushes", "flushes", "ipis", "invalidates", "cycles")
    out = ["| workload | policy | mkclean flushes | flushes | IPIs | invalidates | cycles |",
           "|---|---|" + "---:|" * len(keys)]
    for row in rows:
        base = by.get((row.workload.name, f"{row.arch} batched"))
        if row.pending != "none" and base is not None:
            out.append(f"| {row.workload.name} | {row.policy} | "
                       + " | ".join(_changes(base, row, keys)) + " |")
    return "\n".join(out)


def report(rows, runs):
    workloads = dict.fromkeys(r.workload for r in rows)
    return "\n".join([
        f"policy comparison: {len(workloads)} workload(s) x {len(POLICIES)} policies "
        f"(+ {len(PENDING_POLICIES)} mkclean checks on those that write back), "
        f"{runs} run(s) each (workload seed {WORKLOAD_SEED}, schedule seeds "
        f"{SCHEDULE_SEED}-{SCHEDULE_SEED + runs - 1}); every run clean; means per run",
        "", table(rows), "", "batched and LUF reclaim against eager (means per run):", "",
        versus_eager(rows), "", "folio_mkclean()'s pending-flush checks against none "
        "(batched reclaim, means per run):", "", versus_unchecked(rows)])


def as_json(rows, runs):
    return {
        "workload_seed": WORKLOAD_SEED,
        "schedule_seeds": [SCHEDULE_SEED, SCHEDULE_SEED + runs - 1],
        "policies": [f"{a} {r}" for a, r in POLICIES],
        "pending_policies": [f"{a} batched {p}" for a, p in PENDING_POLICIES],
        "not_modelled": {"policies": NOT_MODELLED_POLICIES,
                         "workloads": NOT_MODELLED_WORKLOADS},
        "rows": [{
            "workload": row.workload.name, "description": row.workload.description,
            "arch": row.arch, "reclaim": row.reclaim, "pending": row.pending,
            "mean": {k: row.mean(k) for k in sorted(set().union(*row.runs))},
            "runs": [dict(sorted(r.items())) for r in row.runs],
        } for row in rows],
    }


#: Bar colours: blues for arm64, reds for x86, darker for eager.
COLOURS = {"arm64 eager": "#08519c", "arm64 batched": "#4292c6", "arm64 luf": "#9ecae1",
           "x86 eager": "#a50f15", "x86 batched": "#ef3b2c", "x86 luf": "#fc9272",
           "arm64 batched coarse": "#31a354", "arm64 batched per-table": "#a1d99b",
           "x86 batched coarse": "#756bb1", "x86 batched per-table": "#bcbddc"}
#: What the plot shows: (count, panel title).
PLOTTED = [("flushes", "flushes (DSBs / shootdown rounds)"), ("ipis", "shootdown IPIs"),
           ("invalidates", "invalidates"), ("tlb_fills", "TLB fills"),
           ("cycles", "simulated cycles"), ("mkclean_flushes", "folio_mkclean() flushes")]


def plot(rows, path, runs):
    """Grouped bars, one group per workload and one bar per policy, for each PLOTTED
    count (means per run), drawn on an Agg canvas (no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    names = list(dict.fromkeys(r.workload.name for r in rows))
    by = {(r.workload.name, r.policy): r for r in rows}
    policies = list(COLOURS)
    width = 0.8 / len(policies)
    fig = Figure(figsize=(12, 11))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(PLOTTED), 1, sharex=True)
    for ax, (key, title) in zip(axes, PLOTTED):
        for i, policy in enumerate(policies):
            xs = [n + (i - (len(policies) - 1) / 2) * width for n in range(len(names))]
            ys = [by[name, policy].mean(key) if (name, policy) in by else 0 for name in names]
            ax.bar(xs, ys, width, label=policy, color=COLOURS[policy])
        ax.set_title(title, fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", linewidth=0.3)
    axes[-1].set_xticks(range(len(names)), names, fontsize=8)
    missing = f" ({'; '.join(NOT_MODELLED_POLICIES)}: not modelled)" \
        if NOT_MODELLED_POLICIES else ""
    fig.suptitle(f"TLB flush policies, means of {runs} seeded runs per workload{missing}; "
                 "the mkclean checks run only where pages are written back",
                 fontsize=9, y=0.995)
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=8, ncol=len(policies) // 2,
               loc="upper center", bbox_to_anchor=(0.5, 0.97))
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=80, format="png")
