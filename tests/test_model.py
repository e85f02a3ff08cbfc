"""The model on its own: the directed walker/TLB cases, the permission rules against the
RTL's, and TLB invalidation properties under generated stimulus."""
import itertools

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from hdl.permissions import check_permission as rtl_check_permission
from hdl.ports import InvalidateOp, InvalidateRequest
from sim.lockstep import run_script_on_model
from sw_model.codec import Codec
from sw_model.descriptors import decode
from sw_model.permissions import check_permission
from sw_model.tlb_ref import MASK, Entry, TLBRef
from walk_cases import build_cases, check


@pytest.mark.parametrize("hw_update", [True, False], ids=["hafdbs", "no-hafdbs"])
def test_walk_cases_on_model(hw_update):
    script, cases, _ = build_cases(hw_update)
    env, _ = run_script_on_model(script, mmu=dict(ha=hw_update, hd=hw_update))
    assert check(env.results, cases) == []


def test_walk_cases_catch_a_broken_rule():
    """The checks are not vacuous: a model that installs stale walks fails the
    invalidate-during-walk case (and only cases that depend on it)."""
    script, cases, _ = build_cases(True)
    env, _ = run_script_on_model(script, bugs=["stale_walk_installs"])
    failed = {name for name, _, _ in check(env.results, cases)}
    assert "invalidate during a walk: refill dropped, walk retried" in failed


def test_hardware_updates_written_back_to_memory():
    """The walker's compare-and-swap sets AF, and clears AP[2] for a dirty write."""
    script, cases, built = build_cases(True)
    env, _ = run_script_on_model(script)
    for name, field, before, after in [
            ("hardware access flag update (CAS)", "af", 0, 1),
            ("hardware dirty update on a write to a clean DBM page", "ap2", 1, 0)]:
        (case,) = [c for c in cases if c.name == name]
        index, _ = case.expects[0]
        (addr,) = [a for kind, a in env.results[index]["mem"] if kind == "cas"]
        assert getattr(decode(built.read(addr)), field) == before
        assert getattr(decode(env.memory.read(addr)), field) == after


def test_permission_rules_match_rtl():
    """All 2^9 inputs of the permission check give the same answer in RTL and model."""
    for hd in (0, 1):
        m = Module()
        ins = [Signal(name=n) for n in ("ap1", "ap2", "uxn", "pxn", "dbm", "w", "x", "el0")]
        fault, dirty = rtl_check_permission(*ins, hd)
        out_f, out_d = Signal(), Signal()
        m.d.comb += [out_f.eq(fault), out_d.eq(dirty)]
        sim = Simulator(m)
        mismatches = []

        async def bench(ctx):
            for bits in itertools.product((0, 1), repeat=8):
                for sig, b in zip(ins, bits):
                    ctx.set(sig, b)
                want = check_permission(*bits, hd)
                got = (ctx.get(out_f), ctx.get(out_d))
                if (int(want[0]), int(want[1])) != got:
                    mismatches.append((bits, want, got))
        sim.add_testbench(bench)
        sim.run()
        assert mismatches == []


def _entry(vpn, size, asid, ng):
    mask = MASK[size]
    return Entry(vpn=vpn & mask, asid=asid, ng=ng, size=size, ppn=0, ap1=1, ap2=0,
                 uxn=0, pxn=0, dbm=0)


entries = st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 5), st.integers(1, 3),
                             st.integers(0, 1)), min_size=1, max_size=8)
ops = st.sampled_from(list(InvalidateOp))


@settings(max_examples=300, deadline=None)
@given(entries=entries, op=ops, va=st.integers(0, 4095), span=st.integers(1, 600),
       asid=st.integers(1, 3))
def test_invalidate_leaves_no_matching_entry(entries, op, va, span, asid):
    """After an invalidate, no valid entry translates an address the operation names
    (for the ASID it names), and entries it does not name survive."""
    inv_codec = Codec(InvalidateRequest)
    tlb = TLBRef(8)
    for vpn, size, easid, ng in entries:
        tlb.tick(fill=_entry(vpn, size, easid, ng))
    inv = inv_codec.unpack(inv_codec.pack(op=op.value, asid=asid, va=va, end=va + span))
    before = [(tlb.valid >> i & 1, e) for i, e in enumerate(tlb.store)]
    tlb.tick(inv=inv)
    after = [tlb.valid >> i & 1 for i in range(tlb.entries)]
    ranged = op in (InvalidateOp.RVAE1, InvalidateOp.RVAAE1)
    named_pages = range(va, va + span) if ranged else [va]
    for (was_valid, e), now_valid in zip(before, after):
        if not was_valid:
            continue
        pages = range(e.vpn, e.vpn + ((~MASK[e.size]) & ((1 << 36) - 1)) + 1)
        overlaps = any(p in pages for p in named_pages) if not ranged else \
            (e.vpn < va + span and pages[-1] >= va)
        asid_named = {
            InvalidateOp.VMALLE1: True,
            InvalidateOp.ASIDE1: e.ng and e.asid == asid,
            InvalidateOp.VAE1: overlaps and (not e.ng or e.asid == asid),
            InvalidateOp.VALE1: overlaps and (not e.ng or e.asid == asid),
            InvalidateOp.VAAE1: overlaps,
            InvalidateOp.VAALE1: overlaps,
            InvalidateOp.RVAE1: overlaps and (not e.ng or e.asid == asid),
            InvalidateOp.RVAAE1: overlaps,
        }[op]
        assert now_valid == (not asid_named), (e, op, va, span, asid)
    assert any(b for b, _ in before)


def test_replacement_prefers_invalid_then_round_robin():
    tlb = TLBRef(4)
    for n in range(4):
        tlb.tick(fill=_entry(n, 0, 1, 1))
    assert [e.vpn for e in tlb.store] == [0, 1, 2, 3]
    tlb.tick(fill=_entry(10, 0, 1, 1))            # all valid: round-robin from 0
    tlb.tick(fill=_entry(11, 0, 1, 1))
    assert [e.vpn for e in tlb.store] == [10, 11, 2, 3]
    inv = Codec(InvalidateRequest)
    tlb.tick(inv=inv.unpack(inv.pack(op=InvalidateOp.VAAE1.value, va=3)))
    tlb.tick(fill=_entry(12, 0, 1, 1))            # an invalid entry is taken first
    assert [e.vpn for e in tlb.store] == [10, 11, 2, 12]
    tlb.tick(fill=_entry(13, 0, 1, 1))            # the pointer resumes where it was
    assert [e.vpn for e in tlb.store] == [10, 11, 13, 12]


def test_lookup_prefers_lowest_index():
    tlb = TLBRef(4)
    tlb.tick(fill=_entry(0x200, 2, 1, 1))         # a 2 MB block covering 0x200..0x3FF
    tlb.tick(fill=_entry(0x205, 0, 1, 1))
    assert tlb.lookup(0x205, 1) == 0
    assert tlb.lookup(0x205, 2) is None
