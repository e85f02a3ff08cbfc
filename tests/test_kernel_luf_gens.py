"""LUF's per-CPU done generations (luf.py, tlbstate_x86.py): a CPU whose running mm
is at its tlb_gen after the deferral (a task switch, a full flush) is past the batch's
key, and luf_flush() leaves it out; a flush left with no CPU is skipped. The checker
catches a kernel that skips a CPU still holding the translation."""

from sw_model.golden_backend import GoldenBackend
from sw_model.kernel.kernel import Kernel
from sw_model.kernel.luf import LUF
from sw_model.kernel.runner import run_once
from sw_model.kernel.scenario_parser import parse_scenario_text
from kernel_helpers import run_random_schedules

#: cpu1 caches a read-only file page of P; cpu0 reclaims it (LUF defers the flush)
#: and the page sits freed; then a writable PTE is installed (a LUF flush point).
BASE = """scenario t
system cpus=2 arch={arch} reclaim=luf
mm P
  vma 0x800000 1 r file
  populate 0x800000 1 read
mm Q
  vma 0x400000 1 rw anon
cpu 1
  read P 0x800000
{cpu1}
cpu 0
  reclaim P 0x800000
{cpu0}
schedule order cpu1:op cpu0:op
expect clean
"""


def run(arch="x86", cpu1="", cpu0=""):
    out = run_once(parse_scenario_text(BASE.format(arch=arch, cpu1=cpu1, cpu0=cpu0)))
    assert out.error is None, out.error
    return out


def test_a_cpu_that_switched_mm_since_the_deferral_is_past_the_key():
    """cpu1 switches to Q (its P slot is now behind P's tlb_gen, bumped by the
    deferral): the flush when cpu1 installs a writable PTE has no CPU left."""
    out = run(cpu1="  switch_mm Q\n  write Q 0x400000\n  switch_mm P\n  read P 0x800000")
    s = out.stats
    assert s["luf_flushes_skipped"] == 1 and s["luf_cpus_skipped"] == 1
    assert s["luf_flushes"] == 0 and s["ipis"] == 0
    # Back on P, the stale slot is flushed: the read faults in a new page-cache page.
    assert ("cpu1", "read P 0x800000: translation fault at level 3") in out.trace
    assert not out.violations


def test_a_cpu_still_running_the_mm_gets_the_flush():
    out = run(cpu1="  read P 0x800000", cpu0="  write Q 0x400000")
    s = out.stats
    assert s["luf_flushes"] == 1 and s["luf_flushes_skipped"] == 0
    assert s["ipis"] == 1 and s["ipi_invalidates_ASIDE1"] == 1      # a full flush
    assert ("cpu1", "read P 0x800000: translation fault at level 3") in out.trace
    assert not out.violations


def test_the_checker_catches_a_cpu_skipped_while_it_holds_the_translation(monkeypatch):
    monkeypatch.setattr(LUF, "arch_tlbbatch_diet", lambda self, batch: set())
    out = run(cpu1="  read P 0x800000", cpu0="  write Q 0x400000")
    assert [v.kind for v in out.violations] == ["use-after-free"]
    assert out.violations[0].agent == "cpu1"


def test_arm64_has_no_per_cpu_flush_state_and_flushes_every_batch():
    out = run(arch="arm64", cpu1="  switch_mm Q\n  write Q 0x400000")
    assert out.stats["luf_flushes"] == 1 and out.stats["luf_flushes_skipped"] == 0
    assert not out.violations


def test_done_stops_below_a_batch_still_being_filled():
    k = Kernel(GoldenBackend(cpus=2, devices=0), arch="x86", reclaim="luf")
    luf = k.luf
    luf.start_batch(0)                 # key 1, reclaim on cpu0 still running
    luf.start_batch(1)                 # key 2
    luf.end_batch(1)
    luf.arch_tlbbatch_update_done(1)
    assert luf.ugen_done[1] == 0
    luf.end_batch(0)
    luf.arch_tlbbatch_update_done(1)
    assert luf.ugen_done[1] == 2


#: Anonymous pages made read-only by fork (file pages would also race a fault with
#: reclaim's page-cache removal, which the model does not lock yet), and only read: LUF
#: defers only clean read-only PTEs (a dirty one counts as writable, as in
#: set_tlb_ubc_flush_pending()).
STORM = """scenario luf-storm
system cpus=3 arch=x86 reclaim=luf frames=24
mm P
  vma 0x400000 4 rw anon
  populate 0x400000 4 read
mm C
mm Q
  vma 0x400000 2 rw anon
cpu 0
  fork P C
  reclaim P 0x400000
  reclaim P 0x401000
  reclaim C 0x402000
cpu 1
  read P 0x400000
  read C 0x401000
  switch_mm Q
  write Q 0x400000
  read P 0x402000
  read P 0x400000
cpu 2
  read C 0x400000
  kthread
  write Q 0x401000
  read C 0x403000
  write P 0x403000
"""


def test_random_interleavings_with_done_generations_are_clean():
    result = run_random_schedules(STORM)
    skipped = sum(r.stats["luf_cpus_skipped"] for r in result.runs)
    print(f"CPUs left out of LUF flushes in 25 runs: {skipped}")
    assert skipped > 0
