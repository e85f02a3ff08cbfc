"""Page migration (mm/migrate.c, mm/rmap.c, v6.10): migrate_pages() of one anonymous
folio — try_to_migrate() turns every PTE into a migration entry (the flush batched
with TTU_BATCH_FLUSH since v6.4, and under LUF deferred past the free for read-only
mappings), one try_to_unmap_flush(), the copy, remove_migration_ptes() to the new
page, the old page freed. A fault on a migration entry waits until it is gone."""
from .pgtable import (is_migration_entry, make_migration_entry, mk_pte, pte_dirty,
                      pte_mkuffd_wp, pte_pa, pte_uffd_wp, pte_write)
from .rmap import flush_cleared_pte, try_to_unmap_flush
from .sched import Blocked
from .vmscan import folio_at_va


def migration_entry_wait(k, ptep):
    """migration_entry_wait(): sleep until the migration entry is replaced."""
    while is_migration_entry(k.pgtables.ptep_get(ptep)):
        yield Blocked(lambda: not is_migration_entry(k.pgtables.ptep_get(ptep)),
                      "a migration entry")
    yield "migration_entry_wait: done"


def try_to_migrate(k, agent, cpu, folio):
    """try_to_migrate() → try_to_migrate_one() per mapping: clear the PTE, flush it (or
    defer, as reclaim does), put a migration entry in its place. Returns the entries
    installed, (mm, va, ptep, entry)."""
    pt = k.pgtables
    entries = []
    for name, va in sorted(folio.rmap):
        mm = k.mms[name]
        ptep, ptl = yield from pt.pte_offset_map_lock(agent, mm.root, va)
        pte = pt.ptep_get_and_clear(ptep)
        deferred = yield from flush_cleared_pte(k, cpu, mm, va, folio, pte, ptep)
        entry = make_migration_entry(pte)
        pt.set_pte_at(ptep, entry)
        k.unmap_folio(mm, va, folio, dirty=pte_dirty(pte))
        entries.append((mm, va, ptep, entry))
        ptl.unlock(agent)
        note = " (flush deferred)" if deferred else ""
        yield f"try_to_migrate_one {name} {va:#x}: migration entry {entry:#x}{note}"
    return entries


def remove_migration_ptes(k, agent, entries, new):
    """remove_migration_ptes() → remove_migration_pte(): each migration entry still in
    place becomes a PTE of the new page (one zapped meanwhile stays gone)."""
    pt = k.pgtables
    restored_any = False
    for mm, va, ptep, old_entry in entries:
        ptl = pt.pte_lockptr(ptep)
        yield from ptl.lock(agent)
        # page_vma_mapped_walk() finds the entry by its page: uffd-wp may have changed
        # its other bits meanwhile.
        entry = pt.ptep_get(ptep)
        restored = is_migration_entry(entry) and pte_pa(entry) == pte_pa(old_entry)
        if restored:
            vma = mm.find_vma(va)
            pte = mk_pte(new.pa, write=pte_write(entry), dirty=pte_dirty(entry),
                         exec=vma.may_exec)
            if pte_uffd_wp(entry):
                pte = pte_mkuffd_wp(pte)
            k.install_pte(mm, va, ptep, new, pte)
            restored_any = True
        ptl.unlock(agent)
        yield f"remove_migration_pte {mm.name} {va:#x}: " + \
            (f"-> {new.pa:#x}" if restored else "entry gone")
    return restored_any


def migrate_pages(k, agent, cpu, folio):
    """migrate_pages() of one folio (MIGRATE_ASYNC: the unmap flush batched). A pinned
    folio is not migrated (its reference count would not match: -EAGAIN). Returns the
    new folio, or None."""
    if folio.pins:
        yield f"migrate_pages: folio {folio.pa:#x} pinned, -EAGAIN"
        return None
    yield f"migrate_pages: folio {folio.pa:#x}"
    if k.luf is not None:
        k.luf.start_batch(cpu)
    entries = yield from try_to_migrate(k, agent, cpu, folio)
    if k.luf is not None:
        k.luf.end_batch(cpu)
    yield from try_to_unmap_flush(k, cpu)
    new = k.allocator.alloc("anon")
    new.dirty = folio.dirty                              # folio_migrate_flags()
    folio.copied_for |= {(mm.name, va) for mm, va, _, _ in entries}
    yield f"folio_copy {folio.pa:#x} -> {new.pa:#x}"
    if not (yield from remove_migration_ptes(k, agent, entries, new)):
        k.allocator.free(new)            # every entry was zapped meanwhile: nothing maps it
    k.put_folio(folio)
    k.stats["pages_migrated"] += 1
    yield f"migrate_pages: {folio.pa:#x} -> {new.pa:#x}, old page freed"
    return new


def migrate(k, agent, cpu, mm, va):
    """move_pages(2) of the anonymous folio behind ``va`` to another node: isolated and
    migrated with mmap_lock held for read, as the NUMA hinting fault does."""
    yield from mm.mmap_lock.down_read(agent)
    folio = folio_at_va(k, mm, va)
    if folio is None or folio.kind != "anon":
        yield f"migrate {mm.name} {va:#x}: no anonymous page mapped"
    else:
        yield from migrate_pages(k, agent, cpu, folio)
    mm.mmap_lock.up_read(agent)
