"""A system without FEAT_TLBIRANGE (``tlbi_range=False``, the small iCE40 build): a range
invalidate names every VA, in the RTL as in the model, and the arm64 kernel model flushes
a range with one TLBI per page, or the whole ASID from MAX_DVM_OPS pages on, as
``__flush_tlb_range()`` does when ``system_supports_tlb_range()`` is false."""
from collections import Counter
from types import SimpleNamespace

import pytest

from hdl.ports import InvalidateOp
from sw_model.golden_backend import GoldenBackend
from sw_model.kernel.runner import run_once
from sw_model.kernel.scenario_parser import parse_scenario_text
from sw_model.kernel.tlbflush_arm64 import MAX_DVM_OPS, Arm64TLBFlush
from sw_model.tlb_ref import invalidate_names
from kernel_helpers import drain
from system_bench import run_system_lockstep

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def test_a_range_names_every_va_without_tlbi_range():
    inv = SimpleNamespace(op=InvalidateOp.RVAE1.value, asid=5, va=0x100, end=0x104)
    outside = dict(vpn=0x200, asid=5, ng=1, size=0)
    assert not invalidate_names(inv, **outside)
    assert invalidate_names(inv, **outside, tlbi_range=False)
    # The ASID still counts for RVAE1.
    assert not invalidate_names(inv, **dict(outside, asid=6), tlbi_range=False)


def test_system_without_tlbi_range_matches_model():
    seed = 14
    print(f"seed {seed}")
    divergence, stats = run_system_lockstep(seed, 3000, cpus=1, devices=0,
                                            options=dict(tlbi_range=False))
    assert divergence is None, divergence
    assert stats["accesses"] > 30 and stats["invalidates"] > 20


def test_system_diff_catches_a_tlbi_range_mismatch():
    divergence, _ = run_system_lockstep(14, 3000, cpus=1, devices=0,
                                        options=dict(tlbi_range=False), ref_options={})
    assert divergence is not None


def mprotect(pages, tlbi_range):
    text = (f"scenario t\nsystem cpus=2 arch=arm64\nmm A\n"
            f"  vma 0x400000 {pages} rw anon\n  populate 0x400000 {pages} write\n"
            f"cpu 1\n  read A 0x400000\n  read A {0x400000 + (pages - 1) * 4096:#x}\n"
            f"  read A 0x400000\ncpu 0\n  mprotect A 0x400000 {pages} r\n"
            f"schedule order cpu1:op cpu1:op cpu0:op cpu1:op\nexpect clean\n")

    def backend(system):
        return GoldenBackend(cpus=system["cpus"], devices=system["devices"],
                             tlb_entries=system["tlb"], tlbi_range=tlbi_range)
    outcome = run_once(parse_scenario_text(text), backend=backend)
    assert outcome.error is None and not outcome.violations, outcome.error
    return {k: v for k, v in outcome.stats.items() if k.startswith("tlbi_") and v}


def test_kernel_flushes_page_by_page_without_tlbi_range():
    assert mprotect(5, tlbi_range=True) == {"tlbi_rvae1": 1}
    assert mprotect(5, tlbi_range=False) == {"tlbi_vale1": 5}


class RecordingBackend:
    """Just what Arm64TLBFlush reaches: the TLBIs it issues, by op."""
    devices = 0

    def __init__(self, tlbi_range):
        self.tlbi_range, self.ops = tlbi_range, Counter()

    def tlbi(self, source, inv, gen=None):
        self.ops[inv.op.name] += 1

    def dsb(self, source):
        pass


def flush_range_ops(pages, tlbi_range):
    """The TLBIs arm64's flush_tlb_range() issues for ``pages`` pages."""
    notifier = SimpleNamespace(secondary_tlbs_after=lambda mm: False,
                               arch_invalidate_secondary_tlbs=lambda *args: iter(()))
    kernel = SimpleNamespace(backend=RecordingBackend(tlbi_range), device_tlb="broadcast",
                             mmu_notifier=notifier, stats=Counter(),
                             tlb_gens=SimpleNamespace(label=lambda gens: None))
    mm = SimpleNamespace(asid=3, name="A")
    drain(Arm64TLBFlush(kernel).flush_tlb_range(0, mm, 0x400000, 0x400000 + pages * 4096))
    return dict(kernel.backend.ops)


def test_kernel_flushes_the_asid_from_max_dvm_ops_pages_without_tlbi_range():
    assert flush_range_ops(MAX_DVM_OPS - 1, False) == {"VALE1": MAX_DVM_OPS - 1}
    assert flush_range_ops(MAX_DVM_OPS, False) == {"ASIDE1": 1}
    assert flush_range_ops(MAX_DVM_OPS, True) == {"RVAE1": 1}
    assert flush_range_ops(MAX_DVM_OPS + 1, True) == {"ASIDE1": 1}
