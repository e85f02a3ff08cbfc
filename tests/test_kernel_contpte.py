"""arm64 contpte reads (sw_model/kernel/contpte.py): the hardware dirties one entry of
a 64 KB block, ptep_get() ORs the 16, and ptep_get_lockless() retries on a block caught
mid-change. The blocks are written straight into the page tables."""
from sw_model.descriptors import DESCRIPTOR, decode
from sw_model.golden_backend import GoldenBackend
from sw_model.kernel.contpte import (CONT_PTES, contpte_ptep_get,
                                     contpte_ptep_get_lockless)
from sw_model.kernel.kernel import Kernel
from sw_model.kernel.pgtable import mk_pte, pte_dirty
from kernel_helpers import drain

BLOCK = 0x410000                # a 64 KB-aligned VA


def block_kernel(**fixes):
    """A kernel whose mm A maps BLOCK with one contpte block of writable, clean pages
    (64 KB-aligned frames); returns (kernel, mm, the 16 PTE addresses)."""
    k = Kernel(GoldenBackend(cpus=2, devices=0), frames=64, fixes=fixes)
    mm = k.create_mm("A")
    k.add_vma(mm, BLOCK, CONT_PTES, "rw", "anon")
    pteps = [k.pgtables.pte_offset(mm.root, BLOCK + i * 0x1000, alloc=True)
             for i in range(CONT_PTES)]
    frames = [k.allocator.alloc("anon") for _ in range(32)]
    run = [f for f in frames if f.pa % 0x10000 == 0][0]
    for i, ptep in enumerate(pteps):
        folio = k.allocator.folio_at(run.pa + i * 0x1000)
        pte = DESCRIPTOR.pack(**decode(mk_pte(folio.pa, write=True))._replace(
            contiguous=1)._asdict())
        k.install_pte(mm, BLOCK + i * 0x1000, ptep, folio, pte)
    return k, mm, pteps


def test_hardware_dirties_only_the_entry_it_walked():
    k, mm, pteps = block_kernel()
    for page in (5, 7):
        t = k.backend.access(("cpu", 0), BLOCK + page * 0x1000, mm.ttbr, write=True)
        assert t.fault is None
    dirty = [bool(pte_dirty(k.pgtables.ptep_get(p))) for p in pteps]
    # The write to page 7 hit the 64 KB TLB entry filled by page 5's walk.
    assert dirty == [i == 5 for i in range(CONT_PTES)]


def test_ptep_get_ors_the_block_unless_the_fix_is_off():
    for fixed in (True, False):
        k, mm, pteps = block_kernel(contpte_dirty_or=fixed)
        k.backend.access(("cpu", 0), BLOCK + 5 * 0x1000, mm.ttbr, write=True)
        assert bool(pte_dirty(contpte_ptep_get(k, pteps[0]))) == fixed
        assert pte_dirty(contpte_ptep_get(k, pteps[5]))


def test_lockless_read_of_a_consistent_block_ors_it():
    k, mm, pteps = block_kernel()
    k.backend.access(("cpu", 0), BLOCK + 9 * 0x1000, mm.ttbr, write=True)
    labels, pte = drain(contpte_ptep_get_lockless(k, pteps[2]))
    assert len(labels) == 1 and pte == contpte_ptep_get(k, pteps[2]) and pte_dirty(pte)


def test_lockless_read_retries_on_a_block_mid_change():
    k, mm, pteps = block_kernel()
    gen = contpte_ptep_get_lockless(k, pteps[2])
    assert "contpte entry" in next(gen)
    saved = k.pgtables.ptep_get(pteps[11])
    k.pgtables.set_pte_at(pteps[11], 0)          # an unfold's break, half done
    assert "inconsistent, retry" in next(gen)
    k.pgtables.set_pte_at(pteps[11], saved)      # ...and its make
    labels, pte = drain(gen)
    assert pte == contpte_ptep_get(k, pteps[2])


def test_gup_fast_pins_a_contpte_page_whose_dirty_bit_is_a_neighbours():
    k, mm, pteps = block_kernel()
    k.backend.access(("cpu", 0), BLOCK + 5 * 0x1000, mm.ttbr, write=True)
    labels, _ = drain(k.operation("cpu1", ("cpu", 1), "gup_fast", ("A", BLOCK, "write")))
    assert labels[-1].endswith("pinned") and not k.checker.violations
