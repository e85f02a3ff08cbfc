"""The untimed platform backend: the golden backend's documented rules without its clock,
and the same verdict as the golden backend on every shipped scenario."""
from pathlib import Path

import pytest

from hdl.descriptor import PageSize
from hdl.ports import InvalidateOp
from sw_model.descriptors import encode_leaf
from sw_model.kernel.runner import run_scenario
from sw_model.kernel.scenario_parser import parse_scenario
from sw_model.page_table import AddressSpace, TableAllocator
from sw_model.platform import HOST, Invalidate
from sw_model.untimed_backend import UntimedBackend

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.scn"))
ASID = 5
VA, PA, NEW_PA = 0x40_0000, 0x80_0000, 0x90_0000
CPU0, CPU1, DEV0 = ("cpu", 0), ("cpu", 1), ("dev", 0)


def vae1(va=VA, **kw):
    return Invalidate(InvalidateOp.VAE1, asid=ASID, va=va, **kw)


def backend():
    """Two CPUs and a device, VA -> PA mapped; the backend, the TTBR and the PTE."""
    b = UntimedBackend(cpus=2, devices=1)
    space = AddressSpace(b.memory, TableAllocator(0x10_0000, 0x20_0000), ASID)
    pte = space.map(VA, PA)[0]
    return b, space.ttbr, pte


def hits(b, agent, ttbr):
    """Whether ``agent``'s TLB answers for VA (an access: a miss fills it)."""
    return b.access(agent, VA, ttbr).cycles == 1


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_same_verdict_as_the_golden_backend(path):
    scenario = parse_scenario(path)
    golden, untimed = (run_scenario(scenario, backend=b) for b in ("golden", "untimed"))
    assert untimed.met == golden.met
    assert untimed.violation_kinds == golden.violation_kinds
    assert untimed.errors == golden.errors


def test_a_stale_entry_survives_until_an_invalidate_covers_it():
    b, ttbr, pte = backend()
    first = b.access(CPU0, VA + 0x10, ttbr)
    assert first.pa == PA + 0x10 and first.cycles > 1
    b.write(pte, encode_leaf(PageSize.PAGE_4K, NEW_PA))
    assert b.access(CPU0, VA, ttbr).pa == PA                 # the stale entry
    b.tlbi(CPU1, vae1(VA + 0x1000))                          # names another page
    assert b.access(CPU0, VA, ttbr).pa == PA
    b.tlbi(CPU1, vae1())
    b.dsb(CPU1)
    after = b.access(CPU0, VA, ttbr)
    assert after.pa == NEW_PA and after.cycles > 1
    assert b.stats["invalidates"] == {"VAE1": 2} and b.stats["syncs"] == 1
    assert (b.stats["accesses"], b.stats["walks"], b.stats["tlb_fills"]) == (4, 2, 2)


def test_device_tlbs_take_broadcasts_only_when_asked():
    b, ttbr, _ = backend()
    b.access(DEV0, VA, ttbr)
    b.tlbi(HOST, vae1())
    assert hits(b, DEV0, ttbr)
    b.tlbi(HOST, vae1(devices=True))
    assert not hits(b, DEV0, ttbr)


def test_a_shootdown_waits_for_interrupts_and_goes_out_in_order():
    b, ttbr, _ = backend()
    for cpu in (CPU0, CPU1):
        b.access(cpu, VA, ttbr)
    b.set_irqs(1, False)
    first = b.shootdown(CPU0, {0, 1}, vae1(), gen=1)
    b.idle(1000)
    assert not b.shootdown_done(first)
    assert hits(b, CPU1, ttbr) and not hits(b, CPU0, ttbr)
    second = b.shootdown(HOST, {0}, vae1())                   # waits behind the first
    assert not b.shootdown_done(second) and hits(b, CPU0, ttbr)
    b.tlbi(CPU1, vae1(VA + 0x1000), gen=2)                    # broadcasts go on
    b.dsb(CPU1)
    assert b.completed_gen() == 0                             # generation 1 is in flight
    b.set_irqs(1, True)
    assert b.shootdown_done(first) and b.shootdown_done(second)
    assert not hits(b, CPU1, ttbr) and b.completed_gen() == 2


def test_a_source_stuck_behind_a_shootdown_raises():
    b, _, _ = backend()
    b.set_irqs(1, False)
    first = b.shootdown(HOST, {1}, vae1())
    second = b.shootdown(HOST, {0, 1}, vae1())               # waits in the host's buffer
    with pytest.raises(RuntimeError, match=r"dsb from 'host' can never complete: the "
                       r"shootdown in flight waits for CPU\(s\) \[1\] with interrupts off"):
        b.dsb(HOST)
    b.dsb(CPU0)                                               # other sources go on
    b.set_irqs(1, True)
    b.dsb(HOST)
    assert b.shootdown_done(first) and b.shootdown_done(second)


@pytest.mark.parametrize("call,message", [
    (lambda b: b.access(("gpu", 0), VA, 0), r"unknown agent \('gpu', 0\): expected "
     r"\('cpu', 0..1\) or \('dev', 0..0\)"),
    (lambda b: b.access(CPU0, -1, 0), "VA -1 is not a 64-bit word"),
    (lambda b: b.tlbi(DEV0, vae1()), r"unknown fabric source \('dev', 0\)"),
    (lambda b: b.set_irqs(2, True), "CPU 2 is out of range"),
    (lambda b: b.shootdown(HOST, set(), vae1()), "a shootdown needs at least one target"),
    (lambda b: b.shootdown(HOST, {0}, vae1(devices=True)), "a shootdown reaches CPUs only"),
    (lambda b: b.shootdown_done(0), "unknown shootdown ticket 0"),
    (lambda b: b.read(0x1001), "physical address 0x1001 is not 8-byte aligned"),
    (lambda b: b.write(0x1000, -1), "value -1 is not a 64-bit word"),
    (lambda b: b.tlbi(HOST, "VAE1"), "expected an Invalidate, not 'VAE1'"),
    (lambda b: b.tlbi(HOST, vae1(), gen=1 << 32), "generation 4294967296 does not fit"),
    (lambda b: b.idle(-1), "cycles must be a non-negative integer, not -1"),
    (lambda b: UntimedBackend(cpus=9), "cpus must be an integer from 1 to 8"),
])
def test_bad_arguments(call, message):
    b, _, _ = backend()
    with pytest.raises(ValueError, match=message):
        call(b)
