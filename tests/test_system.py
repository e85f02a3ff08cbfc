"""The multi-core system (CPU MMUs, device TLBs, fabric, arbiter, host port) against its
model, every output every cycle, in Amaranth's simulator; and injected faults that the
whole-system diff catches."""
import gc

import pytest

from hdl.system import System
from sim.system_bus_top import SystemBuses
from sim.system_stimulus import SystemEnvironment
from sw_model.system_ref import SystemRef
from system_bench import run_system_lockstep

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


@pytest.mark.parametrize("cpus,devices,seed", [(1, 0, 11), (2, 1, 12), (4, 1, 13)])
def test_system_matches_model(cpus, devices, seed):
    print(f"seed {seed}")
    divergence, stats = run_system_lockstep(seed, 3000, cpus=cpus, devices=devices)
    assert divergence is None, divergence
    assert stats["accesses"] > 30 and stats["invalidates"] > 20
    assert stats["host_writes"] > 20 and stats["syncs"] > 5


@pytest.mark.parametrize("fault", ["skip_target", "drop_ack", "early_sync",
                                   "stale_walk_installs"])
def test_system_diff_catches_fault(fault):
    divergence, _ = run_system_lockstep(1, 4000, faults=[fault])
    print(fault, divergence and divergence["cycle"])
    assert divergence is not None


@pytest.mark.parametrize("cpus,devices", [(1, 0), (4, 1), (2, 2)])
def test_output_bus_reads_back_as_model_outputs(cpus, devices):
    """What the plain bench gives the environment is what the model would have."""
    ref, buses = SystemRef(cpus=cpus, devices=devices), SystemBuses(cpus, devices)
    env = SystemEnvironment(7, cpus, devices)
    for _ in range(2000):
        outputs = ref.outputs()
        assert buses.split_outputs(buses.pack_outputs(outputs)) == outputs
        ref.tick(env.step(outputs))


@pytest.mark.parametrize("cls", [System, SystemRef])
def test_system_params(cls):
    with pytest.raises(ValueError, match="cpus must be an integer from 1 to 8"):
        cls(cpus=0)
    with pytest.raises(ValueError, match="TLB entries must be between 4 and 64"):
        cls(tlb_entries=2)
    gc.collect()
