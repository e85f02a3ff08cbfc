"""The timing contract of docs/timing.md, measured on the model with a memory of fixed
latency L (the RTL is held to the same cycles by the lockstep tests)."""
import pytest

from hdl.descriptor import PageSize
from hdl.ports import InvalidateOp
from sim.lockstep import run_script_on_model
from sim.scripted import ScriptedEnvironment
from sw_model.descriptors import AP_RO, AP_RW
from sw_model.memory import SparseMemory
from sw_model.page_table import AddressSpace, TableAllocator


def run(latency, script_for):
    memory = SparseMemory(40)
    space = AddressSpace(memory, TableAllocator(0x10_0000, 0x20_0000), 1)
    script = script_for(space)
    env_json = ScriptedEnvironment(memory.words, script, latency=latency).to_json()
    env, _ = run_script_on_model(env_json)
    return [r["cycles"] for r in env.results]


def access(space, va, write=0):
    return {"access": dict(va=va, ttbr=space.ttbr, write=write, exec=0, el0=0)}


@pytest.mark.parametrize("latency", [1, 2, 5])
def test_hit_and_walk_latency(latency):
    def script(space):
        space.map(0x1000, 0x5000, ap=AP_RW)
        space.map(0x4000_0000, 0x8000_0000, PageSize.BLOCK_2M, ap=AP_RW)
        space.map(0x2000, 0x6000, ap=AP_RW, af=0)
        space.map(0x3000, 0x7000, ap=AP_RO, dbm=1)
        return [access(space, 0x1000), access(space, 0x1008), access(space, 0x4000_0000),
                access(space, 0x2000), access(space, 0x3000, write=1)]
    miss4, hit, miss3, af_update, dirty_update = run(latency, script)
    step = latency + 1                      # one descriptor read: request + latency
    assert hit == 1
    assert miss4 == 4 * step + 1
    assert miss3 == 3 * step + 1
    assert af_update == dirty_update == 5 * step + 1


def test_invalidate_during_walk_costs_a_retry():
    latency = 2

    def script(space):
        space.map(0x1000, 0x5000, ap=AP_RW)
        return [access(space, 0x1000)]
    (plain,) = run(latency, script)

    memory = SparseMemory(40)
    space = AddressSpace(memory, TableAllocator(0x10_0000, 0x20_0000), 1)
    space.map(0x1000, 0x5000, ap=AP_RW)
    l1 = space.descriptor_address(0x1000, 1)
    hook = {"on": "read", "addr": l1, "do": {"invalidate": dict(
        op=InvalidateOp.VMALLE1.value, asid=0, va=0, end=0)}}
    env_json = ScriptedEnvironment(memory.words, [access(space, 0x1000)], [hook],
                                   latency=latency).to_json()
    env, _ = run_script_on_model(env_json)
    (retried,) = [r["cycles"] for r in env.results]
    # The first walk runs to its end, one RETRY cycle, then a whole new walk.
    assert retried == plain + 1 + 4 * (latency + 1)
