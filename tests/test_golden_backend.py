"""The golden platform backend: each method's promise, on page tables built in its
memory."""
import enum

import pytest

from hdl.descriptor import PageSize
from hdl.ports import InvalidateOp
from sw_model.descriptors import encode_leaf
from sw_model.golden_backend import GoldenBackend
from sw_model.page_table import AddressSpace, TableAllocator
from sw_model.platform import HOST, Invalidate

ASID = 5
VA, PA, NEW_PA = 0x40_0000, 0x80_0000, 0x90_0000
CPU0, CPU1, DEV0 = ("cpu", 0), ("cpu", 1), ("dev", 0)


def vae1(va=VA, **kw):
    return Invalidate(InvalidateOp.VAE1, asid=ASID, va=va, **kw)


def backend(pages=1, through_host_port=False, **kw):
    """A backend with ``pages`` 4 KB pages mapped at VA -> PA; returns it, the address
    space and the descriptor addresses."""
    b = GoldenBackend(**{"cpus": 2, "devices": 1, **kw})
    # The backend has read/write/pa_bits, so the table builder can write through it.
    memory = b if through_host_port else b.memory
    space = AddressSpace(memory, TableAllocator(0x10_0000, 0x20_0000), ASID)
    ptes = [space.map(VA + n * 0x1000, PA + n * 0x1000)[0] for n in range(pages)]
    return b, space, ptes


def cached(b, cpu, va=VA):
    return b.system.cpu_mmus[cpu].tlb.lookup(va >> 12, ASID) is not None


@pytest.mark.parametrize("through_host_port", [False, True])
def test_access_walks_then_hits(through_host_port):
    b, space, _ = backend(through_host_port=through_host_port)
    reads, writes = b.stats["mem_reads"], b.stats["mem_writes"]
    assert (writes > 0) == through_host_port
    first = b.access(CPU0, VA + 0x123, space.ttbr)
    assert first.pa == PA + 0x123 and first.fault is None and first.cycles > 1
    second = b.access(CPU0, VA + 0x456, space.ttbr, write=True)
    assert second.pa == PA + 0x456 and second.cycles == 1
    stats = b.stats
    assert (stats["accesses"], stats["walks"], stats["tlb_fills"]) == (2, 1, 1)
    assert stats["mem_reads"] == reads + 4 and stats["mem_writes"] == writes


def test_faults_are_reported():
    b, space, _ = backend()
    miss = b.access(CPU0, VA + 0x20_0000, space.ttbr)
    assert (miss.pa, miss.fault, miss.level) == (None, "TRANSLATION", 2)
    fetch = b.access(CPU0, VA, space.ttbr, exec=True, el0=False)
    assert fetch.fault == "PERMISSION" and fetch.level == 3   # EL0-writable: no PXN fetch


def test_pte_rewrite_tlbi_dsb_makes_the_next_access_walk():
    b, space, (pte,) = backend()
    b.access(CPU0, VA, space.ttbr)
    b.write(pte, encode_leaf(PageSize.PAGE_4K, NEW_PA))
    assert b.access(CPU0, VA, space.ttbr).pa == PA           # still the old, cached one
    b.tlbi(CPU1, vae1(), gen=1)
    b.dsb(CPU1)
    after = b.access(CPU0, VA, space.ttbr)
    assert after.pa == NEW_PA and after.cycles > 1
    assert b.stats["invalidates"] == {"VAE1": 1} and b.stats["syncs"] == 1


def test_dsb_returns_on_the_syncs_done_pulse():
    b, _, _ = backend()
    b.tlbi(HOST, vae1())
    b.dsb(HOST)
    assert b.system.fabric.done == 1                          # source 0, this very cycle
    b.idle()
    assert b.system.fabric.done == 0


def test_range_invalidate_names_every_page_the_range_touches():
    b, space, _ = backend(pages=3)
    for n in range(3):
        b.access(CPU0, VA + n * 0x1000, space.ttbr)
    b.tlbi(HOST, Invalidate(InvalidateOp.RVAE1, asid=ASID, va=VA + 0x800, end=VA + 0x1001))
    b.dsb(HOST)
    assert [cached(b, 0, VA + n * 0x1000) for n in range(3)] == [False, False, True]


def test_shootdown_waits_for_interrupts():
    b, space, _ = backend()
    for cpu in (CPU0, CPU1):
        b.access(cpu, VA, space.ttbr)
    b.set_irqs(1, False)
    ticket = b.shootdown(HOST, {0, 1}, vae1(), gen=1)
    b.idle(200)
    assert not b.shootdown_done(ticket)
    assert not cached(b, 0) and cached(b, 1)
    assert b.access(CPU1, VA, space.ttbr).cycles == 1
    # Its source's invalidates and syncs, and CPU 1's own, complete meanwhile.
    for source in (HOST, CPU1):
        b.tlbi(source, vae1(VA + 0x1000))
        b.dsb(source)
    assert not b.shootdown_done(ticket)
    b.set_irqs(1, True)
    for _ in range(10):
        if b.shootdown_done(ticket):
            break
        b.idle()
    assert b.shootdown_done(ticket)
    assert not cached(b, 1)
    assert b.access(CPU1, VA, space.ttbr).cycles > 1
    assert b.stats["shootdowns"] == 1 and b.stats["invalidates"] == {"VAE1": 2}


def test_shootdown_done_in_the_cycle_of_its_sources_sync():
    # The shootdown and the sync after it complete at the same edge: one done pulse.
    b, _, _ = backend()
    ticket = b.shootdown(HOST, {1}, vae1())
    b.dsb(HOST)
    assert b.shootdown_done(ticket)


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
    b.idle(10)
    assert b.shootdown_done(first) and b.shootdown_done(second)


def test_tlbi_reaches_device_tlbs_when_asked():
    b, space, _ = backend()
    b.access(DEV0, VA, space.ttbr)
    b.tlbi(HOST, vae1())
    b.dsb(HOST)
    assert b.access(DEV0, VA, space.ttbr).cycles == 1
    b.tlbi(HOST, vae1(devices=True))
    b.dsb(HOST)
    again = b.access(DEV0, VA, space.ttbr)
    assert again.cycles > 1 and again.pa == PA


def test_completed_gen_waits_for_each_generation():
    b, _, _ = backend()
    b.set_irqs(1, False)
    ticket = b.shootdown(HOST, {1}, vae1(), gen=1)
    b.tlbi(CPU0, vae1(), gen=2)
    b.dsb(CPU0)
    b.idle(20)
    assert b.completed_gen() == 0                             # generation 1 is pending
    b.set_irqs(1, True)
    b.idle(10)
    assert b.shootdown_done(ticket) and b.completed_gen() == 2
    b.tlbi(CPU0, vae1(), gen=3)
    assert b.completed_gen() == 2                             # taken, not complete
    b.dsb(CPU0)
    assert b.completed_gen() == 3


def test_cas_read_write():
    b, _, _ = backend()
    addr = 0x30_0008
    assert b.read(addr) == 0
    b.write(addr, 7)
    assert b.cas(addr, 8, 9) == 7 and b.read(addr) == 7
    assert b.cas(addr, 7, 9) == 7 and b.read(addr) == 9 == b.memory.read(addr)
    assert (b.stats["mem_cas"], b.stats["mem_cas_failed"]) == (2, 1)


def test_idle_skips_still_cycles_exactly():
    """Skipping a still system gives the state that running it cycle by cycle gives."""
    def scenario(b, space):
        yield b.access(CPU0, VA, space.ttbr)
        b.set_irqs(1, False)
        yield b.shootdown(HOST, {0, 1}, vae1(), gen=4)
        yield b.tlbi(CPU0, vae1(), gen=5)
        yield b.shootdown(HOST, {1}, vae1())
        yield b.write(0x30_0000, 1)
        yield b.set_irqs(1, True)
        yield b.access(CPU1, VA, space.ttbr)

    (fast, space, _), (slow, _, _) = backend(), backend()
    for a, b in zip(scenario(fast, space), scenario(slow, space)):
        assert a == b
        fast.idle(300)
        for _ in range(300):
            slow._tick()
        assert fast.cycles == slow.cycles
        assert state(fast.system) == state(slow.system)


def state(obj):
    if isinstance(obj, list):
        return [state(x) for x in obj]
    if hasattr(obj, "__dict__") and not isinstance(obj, (type, enum.Enum)):
        return {k: state(v) for k, v in vars(obj).items()}
    return obj


def test_idle_is_cheap_when_still():
    b, _, _ = backend(cpus=4)
    b.idle(10 ** 9)
    assert b.cycles == 10 ** 9


def test_bad_arguments():
    b, space, _ = backend()
    ttbr = space.ttbr
    agents = r"expected \('cpu', 0..1\) or \('dev', 0..0\)"
    cases = [
        (lambda: b.access(("gpu", 0), VA, ttbr), r"unknown agent \('gpu', 0\): " + agents),
        (lambda: b.access(("cpu", 2), VA, ttbr), r"unknown agent \('cpu', 2\): " + agents),
        (lambda: b.access(("dev", 1), VA, ttbr), r"unknown agent \('dev', 1\)"),
        (lambda: b.access(0, VA, ttbr), "unknown agent 0"),
        (lambda: b.access(CPU0, -1, ttbr), "VA -1 is not a 64-bit word"),
        (lambda: b.access(CPU0, VA, 1 << 64), "TTBR 18446744073709551616 is not a 64-bit"),
        (lambda: b.tlbi(DEV0, vae1()),
         r"unknown fabric source \('dev', 0\): expected HOST or \('cpu', 0..1\)"),
        (lambda: b.dsb(1), "unknown fabric source 1"),
        (lambda: b.tlbi(("cpu", 5), vae1()),
         "CPU 5 is out of range: this system has CPUs 0..1"),
        (lambda: b.set_irqs(2, True), "CPU 2 is out of range"),
        (lambda: b.shootdown(HOST, set(), vae1()), "a shootdown needs at least one target"),
        (lambda: b.shootdown(HOST, 1, vae1()), "cpus must be a set of CPU numbers, not 1"),
        (lambda: b.shootdown(HOST, {0, 3}, vae1()), "CPU 3 is out of range"),
        (lambda: b.shootdown(HOST, {0}, vae1(devices=True)),
         "a shootdown reaches CPUs only"),
        (lambda: b.shootdown_done(0), "unknown shootdown ticket 0"),
        (lambda: b.read(0x1001), "physical address 0x1001 is not 8-byte aligned"),
        (lambda: b.read(1 << 40), "is outside the 40-bit physical address space"),
        (lambda: b.write(0x1000, 1 << 64), "value 18446744073709551616 is not a 64-bit"),
        (lambda: b.write(0x1000, -1), "value -1 is not a 64-bit word"),
        (lambda: b.cas(0x1000, -1, 0), "expected value -1 is not a 64-bit word"),
        (lambda: b.cas(0x1000, 0, 1.5), "desired value 1.5 is not a 64-bit word"),
        (lambda: b.tlbi(HOST, "VAE1"), "expected an Invalidate, not 'VAE1'"),
        (lambda: b.tlbi(HOST, vae1(), gen=1 << 32),
         "generation 4294967296 does not fit in 32 bits"),
        (lambda: b.tlbi(HOST, vae1(), gen="1"), "generation '1' is not an integer"),
        (lambda: b.tlbi(HOST, Invalidate(InvalidateOp.ASIDE1, asid=1 << 16)),
         "ASID 65536 does not fit in 16 bits"),
        (lambda: b.tlbi(HOST, vae1(1 << 48)),
         "invalidate va 281474976710656 is outside the 48-bit VA range"),
        (lambda: b.tlbi(HOST, Invalidate(InvalidateOp.RVAAE1, end=(1 << 48) - 1)),
         "invalidate end 0xffffffffffff rounds up past the last page"),
        (lambda: b.idle(-1), "cycles must be a non-negative integer, not -1"),
        (lambda: GoldenBackend(mem_latency=0),
         "mem_latency must be an integer of at least 1"),
        (lambda: GoldenBackend(cpus=9), "cpus must be an integer from 1 to 8"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
    assert b.cycles == 0                                      # refused before the clock ran
