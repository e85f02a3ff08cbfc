"""The staged MMU (a register stage after the TLB match and one after a walk's last
memory response; docs/timing.md "Staged") against its model, cycle by cycle, on
Verilator and Icarus; the cycle counts themselves are pinned in tests/test_timing.py."""
import pytest

from hdl.mmu import MMU
from hdl.ports import InvalidateOp
from hdl.system import System
from sim.lockstep import describe, run_rtl
from sim.scripted import ScriptedEnvironment
from sim.system_lockstep import run_system_rtl
from sw_model.descriptors import AP_RW
from sw_model.memory import SparseMemory
from sw_model.mmu_ref import MMURef
from sw_model.page_table import AddressSpace, TableAllocator
from walk_cases import build_cases, check

STAGED = dict(staged=True)


def test_staged_lockstep(sim, build_root):
    seed = 20261124
    print(f"replay: shootdown diff --staged --sim {sim} --seed {seed} --cycles 30000")
    result = run_rtl(sim, cycles=30_000, seed=seed, mmu=STAGED, build_root=build_root)
    print("\n".join(describe(result)), result.stats)
    assert result.status == "ok", "\n".join(describe(result))
    stats = result.stats
    assert stats["accesses"] > 1500 and stats["invalidates"] > 200
    assert stats["mem_cas_failed"] > 0          # host writes raced the walker's CAS


def test_staged_walk_cases_on_rtl(build_root):
    script, cases, _ = build_cases(True)
    result = run_rtl("verilator", cycles=50_000, script=script, mmu=STAGED,
                     build_root=build_root)
    assert result.status == "ok", describe(result)
    assert check(result.results, cases) == []


@pytest.mark.parametrize("delay", [2, 3])
def test_staged_invalidate_at_and_after_the_walks_end_on_rtl(delay, build_root):
    """With memory latency 3, an invalidate of the walk's page in the cycle of its last
    memory response (offered 1 + 2 cycles after the leaf read is taken) retries the walk;
    in the next cycle (1 + 3) the answer stands and the TLB keeps the entry invalid: the
    RTL does both in the model's cycles."""
    memory = SparseMemory(40)
    space = AddressSpace(memory, TableAllocator(0x10_0000, 0x20_0000), 1)
    space.map(0x1000, 0x5000, ap=AP_RW)
    inv = dict(op=InvalidateOp.VAE1.value, asid=1, va=1, end=0)
    hook = {"on": "read", "addr": space.descriptor_address(0x1000, 3), "delay": delay,
            "do": {"invalidate": inv}}
    access = {"access": dict(va=0x1000, ttbr=space.ttbr, write=0, exec=0, el0=0)}
    script = ScriptedEnvironment(memory.words, [access, access], [hook], latency=3).to_json()
    result = run_rtl("verilator", cycles=500, script=script, mmu=STAGED, build_root=build_root)
    assert result.status == "ok", describe(result)
    reads = [len(r["mem"]) for r in result.results]
    assert reads == ([8, 0] if delay == 2 else [4, 4])


def test_staged_diff_reports_a_broken_rule(build_root):
    result = run_rtl("verilator", cycles=30_000, seed=3, mmu=STAGED,
                     bugs=["stale_walk_installs"], build_root=build_root,
                     waves_on_divergence=False)
    print("\n".join(describe(result)))
    assert result.status == "diverged"


def test_staged_small_system_lockstep(sim, build_root):
    """The iCEBreaker's system, staged."""
    seed = 20261125
    small = dict(cpus=1, devices=0, tlb_entries=8, tlbi_range=False, asid_bits=8,
                 gen_bits=16, staged=True)
    print(f"seed {seed}")
    result = run_system_rtl(sim, cycles=6000, seed=seed, system=small, build_root=build_root,
                            stimulus=dict(asids=[1, 2, 0x101, 0x102]))
    print("\n".join(describe(result)), result.stats)
    assert result.status == "ok", "\n".join(describe(result))
    assert result.stats["invalidates"] > 30 and result.stats["accesses"] > 100


@pytest.mark.parametrize("make", [MMU, MMURef, System])
def test_staged_must_be_a_bool(make):
    with pytest.raises(ValueError, match="staged must be True or False, not 1"):
        make(staged=1)
