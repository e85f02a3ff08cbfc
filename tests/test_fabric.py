"""The invalidate fabric: RTL against its model cycle by cycle (Amaranth's simulator),
formal properties, parameters, and invalidate+sync latency against the number of targets."""
import gc

import pytest
from hypothesis import given, settings, strategies as st

from fabric_bench import REQUEST, run_fabric_lockstep
from formal_fabric import FabricProperties
from hdl.fabric import FabricOp, InvalidateFabric
from sim.formal import prove
from sw_model.fabric_ref import FabricInputs, FabricRef

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


@pytest.mark.parametrize("cpus,devices", [(1, 0), (4, 1), (8, 2)])
def test_fabric_matches_model(cpus, devices):
    seed = 1000 * cpus + devices
    print(f"seed {seed}")
    divergence, stats = run_fabric_lockstep(seed, 4000, cpus=cpus, devices=devices)
    assert divergence is None, divergence
    assert stats["invalidates"] > 200 and stats["syncs"] > 100 and stats["done"] > 300


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), offer=st.floats(0.01, 1.0),
       ready=st.floats(0.05, 1.0), sync_share=st.floats(0.0, 1.0))
def test_fabric_matches_model_generated_mixes(seed, offer, ready, sync_share):
    divergence, _ = run_fabric_lockstep(seed, 600, cpus=3, devices=1, offer=offer,
                                        ready=ready, sync_share=sync_share)
    assert divergence is None, divergence


@pytest.mark.parametrize("prompt", [False, True], ids=["any-targets", "prompt-targets"])
def test_fabric_formal(prompt, build_root):
    result = prove(FabricProperties(cpus=2, devices=1, prompt_targets=prompt),
                   build_root / f"formal-fabric-{prompt}", depth=24)
    assert result.status == "PASS", (result.failed_assertions, result.workdir)


@pytest.mark.parametrize("kwargs,message", [
    (dict(cpus=0), "cpus must be an integer from 1 to 8, not 0"),
    (dict(cpus=9), "cpus must be an integer from 1 to 8, not 9"),
    (dict(devices=3), "devices must be an integer from 0 to 2, not 3"),
    (dict(cpus="4"), "cpus must be an integer"),
])
@pytest.mark.parametrize("cls", [InvalidateFabric, FabricRef])
def test_fabric_params(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)
    gc.collect()      # the refused component goes now, inside the warning filter


def invalidate_sync_latency(cpus, devices):
    """Cycles from a CPU offering an invalidate (with an immediately following sync) to the
    sync's done pulse, with targets that take at once and acknowledge a cycle later."""
    ref = FabricRef(cpus=cpus, devices=devices)
    inp = FabricInputs(ref.sources)
    inp.tgt_ready = (1 << ref.targets) - 1
    queue = [REQUEST.pack(kind=FabricOp.INVALIDATE.value, devices=1),
             REQUEST.pack(kind=FabricOp.SYNC.value)]
    syncs_done = 0
    for cycle in range(100):
        ready, done, tgt_valid, _, _ = ref.outputs()
        if done >> 1 & 1:
            syncs_done += 1
            if syncs_done == 2:
                return cycle
        if inp.src_valid & ready & 2:
            queue.pop(0)
        inp.src_valid = 2 if queue else 0
        inp.src_payload[1] = queue[0] if queue else 0
        inp.tgt_ack = ref.to_ack & ~ref.to_send      # a cycle after they took it
        ref.tick(inp)
    raise AssertionError("sync never completed")


def test_invalidate_sync_latency_is_constant_in_targets():
    latencies = {n: invalidate_sync_latency(n, 1) for n in (1, 2, 4, 8)}
    print("invalidate+sync latency by CPU count:", latencies)
    assert len(set(latencies.values())) == 1
    assert latencies[1] <= 6
