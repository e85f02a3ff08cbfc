"""Migration, NUMA hinting, userfaultfd write-protect and MADV_FREE in the kernel model:
what each operation does to page tables, TLBs and the allocator, and the checker
catching each race with its fix turned off (races 2 and 6; parallel MADV_FREE)."""
import random
import re

import pytest

from sw_model.kernel.pgtable import (is_migration_entry, pte_dirty, pte_pa, pte_present,
                                     pte_protnone, pte_uffd_wp, pte_write)
from sw_model.kernel.runner import run_once
from sw_model.kernel.scenario_parser import parse_scenario_text
from sw_model.kernel.scenario import ScenarioError
from kernel_helpers import labels


def scenario(body, system="cpus=2 arch=arm64", schedule="", populate="write", bugs=()):
    return parse_scenario_text(
        f"scenario t\nsystem {system}\n" + "".join(f"bug {b}\n" for b in bugs) +
        f"mm A\n  vma 0x400000 4 rw anon\n  populate 0x400000 4 {populate}\n"
        f"{body}\n{schedule}\nexpect clean\n")


def run(body, **kw):
    out = run_once(scenario(body, **kw))
    assert out.error is None, out.error
    return out


def pas(out, agent, kind="write", va=0x400000):
    return [s.split("-> ")[1] for s in labels(out, agent) if s.startswith(f"{kind} A {va:#x} ->")]


def final_pte(body, va=0x400000, steps=None, **kw):
    """Run ``body`` on the kernel model directly (only cpu0's first ``steps`` steps, if
    given) and return the kernel and the PTE at ``va`` after."""
    from sw_model.golden_backend import GoldenBackend
    from sw_model.kernel.kernel import Kernel
    from sw_model.kernel.sched import Agent, Scheduler
    s = scenario(body, **kw)
    k = Kernel(GoldenBackend(cpus=s.system["cpus"], devices=0), arch=s.system["arch"],
               reclaim=s.system["reclaim"])
    mm = k.create_mm("A")
    k.add_vma(mm, 0x400000, 4, "rw", "anon")
    for page in range(4):
        k.populate(mm, 0x400000 + page * 0x1000, s.mms["A"].populate[0][2])
    agents = [Agent(name, [(op.name, lambda op=op, name=name: k.operation(
        name, ("cpu", int(name[3:])), op.name, op.args)) for op in ops])
              for name, ops in s.threads.items()]
    if steps is None:
        Scheduler(agents, k.backend).run()
    for _ in range(steps or 0):
        agents[0].step()
    return k, k.pgtables.ptep_get(k.pgtables.pte_offset(mm.root, va))


# Migration.
@pytest.mark.parametrize("reclaim", ["eager", "batched"])
def test_migrate_moves_the_page_flushes_and_frees_the_old_one(reclaim):
    out = run("cpu 1\n  write A 0x400000\n  write A 0x400000\ncpu 0\n  migrate A 0x400000",
              system=f"cpus=2 arch=arm64 reclaim={reclaim}",
              schedule="schedule order cpu1:op cpu0:op cpu1:op")
    before, after = pas(out, "cpu1")
    assert before != after                               # cpu1's entry was flushed
    steps = labels(out)
    assert steps.index(next(s for s in steps if s.startswith("try_to_migrate_one"))) < \
        steps.index(next(s for s in steps if s.startswith("folio_copy")))
    assert any(s.startswith(f"remove_migration_pte A 0x400000: -> {after}") for s in steps)
    assert out.stats["pages_migrated"] == 1 and out.stats["pages_freed"] == 1
    # eager: ptep_clear_flush(); batched: TLBI now, one DSB in try_to_unmap_flush().
    assert any("flush deferred" in s for s in steps) == (reclaim == "batched")
    assert out.stats["dsb"] == 1 and not out.violations


def test_migrate_keeps_write_and_dirty_state():
    k, pte = final_pte("cpu 0\n  migrate A 0x400000")
    assert pte_present(pte) and pte_write(pte) and pte_dirty(pte)
    k, pte = final_pte("cpu 0\n  migrate A 0x400000", populate="read")
    assert pte_present(pte) and not pte_write(pte) and not pte_dirty(pte)


def test_a_fault_on_a_migration_entry_waits_until_it_is_removed():
    out = run("cpu 0\n  migrate A 0x400000\ncpu 1\n  read A 0x400000",
              schedule="schedule order cpu0:3 cpu1:3 cpu0:op cpu1:op")
    cpu1 = labels(out, "cpu1")
    assert "handle_pte_fault 0x400000: ptep_get_lockless" in cpu1[1]
    assert "= 0x2e" in cpu1[1]                            # the migration entry
    assert "read A 0x400000: waits for a migration entry" in cpu1
    new = next(s for s in labels(out) if s.startswith("folio_copy")).split("-> ")[1]
    assert pas(out, "cpu1", "read") == [new] and not out.violations


def test_migration_entry_is_not_present_and_names_the_old_page():
    k, pte = final_pte("cpu 0\n  migrate A 0x400000", steps=3)
    assert is_migration_entry(pte) and not pte_present(pte)
    assert k.allocator.folio_at(pte_pa(pte)).kind == "anon"


def test_a_pinned_page_is_not_migrated():
    out = run("cpu 0\n  gup_fast A 0x400000 read\n  migrate A 0x400000\n  unpin")
    assert any("pinned, -EAGAIN" in s for s in labels(out))
    assert out.stats["pages_migrated"] == 0


def test_migrate_of_nothing_mapped_does_nothing():
    out = run("cpu 0\n  munmap A 0x400000 1\n  migrate A 0x400000")
    assert any("no anonymous page mapped" in s for s in labels(out))


def test_luf_defers_a_read_only_migration_flush_until_the_pte_is_refilled():
    """LUF defers the flush of a read-only mapping, but remove_migration_ptes() fills
    that PTE again at once, and the model's LUF flushes before a LUF'd PTE is refilled
    (luf_refill_flush): the flush only moves past the copy."""
    out = run("cpu 1\n  read A 0x400000\n  read A 0x400000\ncpu 0\n  migrate A 0x400000",
              system="cpus=2 arch=arm64 reclaim=luf", populate="read",
              schedule="schedule order cpu1:op cpu0:op cpu1:op")
    steps = labels(out)
    assert any(s.startswith("try_to_migrate_one") and "flush deferred" in s for s in steps)
    assert not any(s.startswith("arch_tlbbatch_add_pending") for s in steps)
    old, new = next(s for s in steps if s.startswith("folio_copy")).split()[1::2]
    assert pas(out, "cpu1", "read") == [old, new] and out.stats["luf_flushes"] == 1
    assert not out.violations


def test_a_write_between_copy_and_free_is_a_write_after_copy():
    out = run_once(scenario("cpu 1\n  write A 0x400000\n  write A 0x400000\ncpu 0\n"
                            "  numa_hint A 0x400000 1\ncpu 2\n  read A 0x400000",
                            system="cpus=3 arch=x86", bugs=["numa_flush_pending"],
                            schedule="schedule order cpu1:op cpu0:2 cpu2:7 cpu1:op"))
    assert labels(out, "cpu2")[-1].startswith("folio_copy")
    assert [v.kind for v in out.violations] == ["write-after-copy"]


# NUMA hinting.
def test_numa_hint_makes_ptes_prot_none_and_flushes_at_the_end():
    out = run("cpu 1\n  read A 0x400000\ncpu 0\n  numa_hint A 0x400000 2",
              schedule="schedule order cpu1:op cpu0:op")
    steps = labels(out)
    assert steps[-3] == "flush_tlb_range 0x400000-0x402000" and steps[-2] == "tlb_finish_mmu"
    k, pte = final_pte("cpu 0\n  numa_hint A 0x400000 2", va=0x401000)
    assert pte_protnone(pte) and k.numa_hinted == {("A", 0x400000), ("A", 0x401000)}


def test_numa_hinting_fault_migrates_the_page():
    out = run("cpu 0\n  read A 0x400000\n  numa_hint A 0x400000 1\n  read A 0x400000")
    first, second = pas(out, "cpu0", "read")
    assert first != second and out.stats["pages_migrated"] == 1
    assert any("do_numa_page 0x400000: misplaced" in s for s in labels(out))
    assert not out.violations


# userfaultfd write-protect.
def test_uffd_wp_write_protects_and_a_write_waits_for_the_monitor():
    out = run("cpu 0\n  write A 0x400000\n  uffd_wp A 0x400000 1\n  read A 0x400000\n"
              "  write A 0x400000\ncpu 1\n  uffd_unprotect A 0x400000 1",
              schedule="schedule order cpu0:op cpu0:op cpu0:op cpu0:4 cpu1:op cpu0:op")
    steps = labels(out)
    assert "write A 0x400000: waits for the userfaultfd monitor to unprotect" in steps
    assert any(s.startswith("handle_userfault 0x400000") for s in steps)
    assert len(set(pas(out, "cpu0") + pas(out, "cpu0", "read"))) == 1   # same page
    assert not out.violations


def test_uffd_wp_sets_the_mark_and_unprotect_clears_it_read_only():
    _, pte = final_pte("cpu 0\n  uffd_wp A 0x400000 1")
    assert pte_uffd_wp(pte) and not pte_write(pte) and pte_present(pte)
    _, pte = final_pte("cpu 0\n  uffd_wp A 0x400000 1\n  uffd_unprotect A 0x400000 1")
    assert not pte_uffd_wp(pte) and not pte_write(pte) and pte_dirty(pte)


def test_a_write_fault_on_a_pinned_page_copies_it():
    out = run("cpu 0\n  read A 0x400000\n  gup_fast A 0x400000 read\n  write A 0x400000\n"
              "  unpin", populate="read")
    assert any(s.startswith("wp_page_copy 0x400000") for s in labels(out))
    read, write = pas(out, "cpu0", "read") + pas(out, "cpu0")
    assert read != write and not out.violations


# MADV_FREE.
def test_madvise_free_cleans_and_reclaim_discards_without_pageout():
    out = run("cpu 0\n  write A 0x400000\n  madvise_free A 0x400000 1\n  reclaim A 0x400000\n"
              "  read A 0x400000")
    steps = labels(out)
    assert not any(s.startswith("pageout") for s in steps)
    assert out.stats["lazyfree_discarded"] == 1 and out.stats["pages_freed"] == 1
    _, pte = final_pte("cpu 0\n  madvise_free A 0x400000 1")
    assert pte_present(pte) and pte_write(pte) and not pte_dirty(pte)


def test_a_write_after_madvise_free_redirties_and_reclaim_keeps_the_page():
    out = run("cpu 0\n  write A 0x400000\n  madvise_free A 0x400000 1\n  write A 0x400000\n"
              "  reclaim A 0x400000\n  read A 0x400000")
    steps = labels(out)
    assert "try_to_unmap_one A 0x400000: lazyfree folio redirtied, kept" in steps
    assert out.stats["pages_freed"] == 0
    assert len(set(pas(out, "cpu0") + pas(out, "cpu0", "read"))) == 1
    assert not out.violations


def test_madvise_free_skips_file_mappings():
    s = parse_scenario_text("scenario f\nmm A\n  vma 0x800000 1 rw file\n"
                            "  populate 0x800000 1 write\ncpu 0\n  madvise_free A 0x800000 1\n"
                            "expect clean\n")
    out = run_once(s)
    assert not any("lazyfree" in s for s in labels(out))


def _no_range_flush(policy):
    class Broken(policy):
        def flush_tlb_range(self, cpu, mm, start, end, freed_tables=False, gens=()):
            yield "flush_tlb_range skipped (broken policy)"
    return Broken


def test_checker_flags_a_write_lost_through_a_stale_dirty_entry(monkeypatch):
    from sw_model.kernel import kernel
    from sw_model.kernel.tlbflush_arm64 import Arm64TLBFlush
    body = "cpu 1\n  write A 0x400000\n  write A 0x400000\ncpu 0\n  madvise_free A 0x400000 1"
    order = "schedule order cpu1:op cpu0:op cpu1:op"
    assert not run(body, schedule=order).violations
    monkeypatch.setitem(kernel.FLUSH_POLICIES, "arm64", _no_range_flush(Arm64TLBFlush))
    out = run(body, schedule=order)
    assert [v.kind for v in out.violations] == ["write-to-clean"]


# Operations in scenario files.
@pytest.mark.parametrize("line, error", [
    ("migrate A", "'migrate' takes 2 arguments (mm va), got 1"),
    ("numa_hint A 0x400000", "'numa_hint' takes 3 arguments (mm va pages), got 2"),
    ("uffd_wp A 0x400001 1", "address 0x400001 is not page-aligned"),
    ("madvise_free A 0x400000 0", "pages must be at least 1, not 0"),
    ("uffd_unprotect B 0x400000 1", "unknown mm 'B'"),
])
def test_bad_new_operations_are_named(line, error):
    with pytest.raises(ScenarioError, match=re.escape(error)):
        parse_scenario_text(f"scenario t\nmm A\ncpu 0\n  {line}\nexpect clean\n")


def test_random_migration_storm_is_clean():
    """NUMA hinting, migration, MADV_FREE, uffd-wp and reclaim against writers, in random
    interleavings of a random program; the seed is printed to replay a failure."""
    seed = random.randrange(1 << 16)
    print(f"seed {seed}")
    rng = random.Random(seed)
    va = lambda: f"{0x400000 + rng.randrange(4) * 0x1000:#x}"
    ops = [f"numa_hint A {va()} 1", f"migrate A {va()}", f"madvise_free A {va()} 1",
           f"reclaim A {va()}", "uffd_wp A 0x400000 4", "uffd_unprotect A 0x400000 4"]
    body = ("cpu 0\n" + "".join(f"  {op}\n" for op in rng.sample(ops[:4], 4)) +
            "cpu 1\n" + "".join(f"  {rng.choice(('read', 'write'))} A {va()}\n" for _ in range(5))
            + "cpu 2\n  " + "\n  ".join(ops[4:]) + "\n" +
            "cpu 3\n" + "".join(f"  read A {va()}\n" for _ in range(4)))
    s = scenario(body, system="cpus=4 arch=x86", schedule=f"schedule random seed={seed} runs=15")
    for run_seed in range(seed, seed + 15):
        out = run_once(s, run_seed)
        assert out.error is None and not out.violations, (seed, run_seed, out.violations,
                                                          out.error)
