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


def run(latency, script_for, staged=False):
    memory = SparseMemory(40)
    space = AddressSpace(memory, TableAllocator(0x10_0000, 0x20_0000), 1)
    script = script_for(space)
    env_json = ScriptedEnvironment(memory.words, script, latency=latency).to_json()
    env, _ = run_script_on_model(env_json, mmu=dict(staged=staged))
    return [r["cycles"] for r in env.results]


def access(space, va, write=0):
    return {"access": dict(va=va, ttbr=space.ttbr, write=write, exec=0, el0=0)}


@pytest.mark.parametrize("staged", [False, True])
@pytest.mark.parametrize("latency", [1, 2, 5])
def test_hit_and_walk_latency(latency, staged):
    def script(space):
        space.map(0x1000, 0x5000, ap=AP_RW)
        space.map(0x4000_0000, 0x8000_0000, PageSize.BLOCK_2M, ap=AP_RW)
        space.map(0x2000, 0x6000, ap=AP_RW, af=0)
        space.map(0x3000, 0x7000, ap=AP_RO, dbm=1)
        return [access(space, 0x1000), access(space, 0x1008), access(space, 0x4000_0000),
                access(space, 0x2000), access(space, 0x3000, write=1)]
    miss4, hit, miss3, af_update, dirty_update = run(latency, script, staged)
    step = latency + 1                      # one descriptor read: request + latency
    # Staged: one more cycle after the match, and one after the walk's last response.
    assert hit == 1 + staged
    assert miss4 == 4 * step + 1 + 2 * staged
    assert miss3 == 3 * step + 1 + 2 * staged
    assert af_update == dirty_update == 5 * step + 1 + 2 * staged


def _inv(op, va=0, end=0, asid=0):
    return dict(op=op.value, asid=asid, va=va >> 12, end=end >> 12)


# The walk is of VA 0x1000, ASID 1, to a non-global 4K page (or a 2M block: ``block``).
@pytest.mark.parametrize("inv, block, retried", [
    (_inv(InvalidateOp.VMALLE1), False, True),
    (_inv(InvalidateOp.VAE1, 0x1000, asid=1), False, True),
    (_inv(InvalidateOp.VAE1, 0x1000, asid=2), False, False),   # another ASID, not global
    (_inv(InvalidateOp.VAAE1, 0x1000), False, True),
    (_inv(InvalidateOp.VAE1, 0x2000, asid=1), False, False),   # another page...
    (_inv(InvalidateOp.VAE1, 0x2000, asid=1), True, True),     # ...that the block covers
    (_inv(InvalidateOp.ASIDE1, asid=1), False, True),
    (_inv(InvalidateOp.ASIDE1, asid=2), False, False),
    (_inv(InvalidateOp.RVAE1, 0x0, 0x1000, asid=1), False, False),   # end is exclusive
    (_inv(InvalidateOp.RVAE1, 0x0, 0x2000, asid=1), False, True),
    (_inv(InvalidateOp.RVAAE1, 0x2000, 0x4000), False, False),
    (_inv(InvalidateOp.RVAAE1, 0x2000, 0x4000), True, True),
])
def test_invalidate_during_walk_retries_only_if_it_names_the_result(inv, block, retried):
    latency = 2
    size = PageSize.BLOCK_2M if block else PageSize.PAGE_4K
    va = 0x1000

    def script(space):
        space.map(va & ~0x1F_FFFF if block else va, 0x20_0000, size, ap=AP_RW)
        return [access(space, va)]
    (plain,) = run(latency, script)

    memory = SparseMemory(40)
    space = AddressSpace(memory, TableAllocator(0x10_0000, 0x20_0000), 1)
    script(space)
    l1 = space.descriptor_address(va, 1)
    hook = {"on": "read", "addr": l1, "do": {"invalidate": inv}}
    env_json = ScriptedEnvironment(memory.words, [access(space, va)], [hook],
                                   latency=latency).to_json()
    env, _ = run_script_on_model(env_json)
    (cycles,) = [r["cycles"] for r in env.results]
    levels = 3 if block else 4
    # A stale walk runs to its end, one RETRY cycle, then a whole new walk.
    assert cycles == plain + (1 + levels * (latency + 1) if retried else 0)


def test_faulting_walk_is_never_retried():
    """A walk that ends in a fault installs nothing, so an invalidate cannot make it
    stale: it answers its fault."""
    latency = 2
    memory = SparseMemory(40)
    space = AddressSpace(memory, TableAllocator(0x10_0000, 0x20_0000), 1)
    space.map(0x2000, 0x5000, ap=AP_RW)            # builds the tables; 0x1000 stays invalid
    l1 = space.descriptor_address(0x1000, 1)
    hook = {"on": "read", "addr": l1, "do": {"invalidate": _inv(InvalidateOp.VMALLE1)}}
    env_json = ScriptedEnvironment(memory.words, [access(space, 0x1000)], [hook],
                                   latency=latency).to_json()
    env, _ = run_script_on_model(env_json)
    (cycles,) = [r["cycles"] for r in env.results]
    assert cycles == 4 * (latency + 1) + 1


def _walk_with_late_invalidate(inv, delay, staged, latency=2):
    """Cycles of two accesses to VA 0x1000 (ASID 1, a 4K page) when ``inv`` is offered
    ``delay`` cycles after the cycle following the acceptance of the walk's leaf read."""
    memory = SparseMemory(40)
    space = AddressSpace(memory, TableAllocator(0x10_0000, 0x20_0000), 1)
    space.map(0x1000, 0x5000, ap=AP_RW)
    l3 = space.descriptor_address(0x1000, 3)
    hook = {"on": "read", "addr": l3, "delay": delay, "do": {"invalidate": inv}}
    env_json = ScriptedEnvironment(memory.words, [access(space, 0x1000)] * 2, [hook],
                                   latency=latency).to_json()
    env, _ = run_script_on_model(env_json, mmu=dict(staged=staged))
    return [r["cycles"] for r in env.results]


@pytest.mark.parametrize("names", [True, False])
def test_staged_invalidate_after_the_last_response(names):
    """Staged: an invalidate in the cycle of the walk's last response makes it stale, as
    unstaged; one in the next cycle (while the result waits in its register) does not
    hold up the answer, but the TLB keeps the entry invalid, so the next access walks."""
    latency = 2
    inv = _inv(InvalidateOp.VAE1, 0x1000 if names else 0x8000, asid=1)
    walk, retry = 4 * (latency + 1) + 3, 2 + 4 * (latency + 1)
    # The leaf read is accepted in cycle c; its response arrives in c + latency.
    at_response = _walk_with_late_invalidate(inv, latency - 1, staged=True)
    assert at_response == [walk + retry, 2] if names else [walk, 2]
    after = _walk_with_late_invalidate(inv, latency, staged=True)
    assert after == [walk, walk] if names else [walk, 2]
    # Unstaged, the result is in the TLB by then: the invalidate removes it.
    unstaged = _walk_with_late_invalidate(inv, latency, staged=False)
    assert unstaged == [walk - 2, walk - 2] if names else [walk - 2, 1]
