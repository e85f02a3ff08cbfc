"""The work ``SystemRef.tick`` leaves out: an MMU that is still (``MMURef.still``) and is
given nothing is not ticked, and ``SystemRef.awake`` says which MMUs are not still. Both
claims are checked against the model itself, under the seeded multi-agent stimulus (MMUs
mostly busy) and under a kernel scenario (MMUs mostly still); the whole-system lockstep
in test_system.py holds the outputs to the RTL."""
import copy
from pathlib import Path

import pytest

from sim.system_stimulus import SystemEnvironment
from sw_model.kernel.runner import run_scenario
from sw_model.kernel.scenario_parser import parse_scenario
from sw_model.mmu_ref import MMUInputs
from sw_model.system_ref import SystemRef
from test_golden_backend import state

MIXED_STORM = Path(__file__).resolve().parent.parent / "scenarios" / "mixed_storm.scn"


def check_after_tick(ref, cycle, deep):
    """``awake`` is every MMU that is not still; with ``deep``, each still MMU, ticked
    with no inputs on the side, keeps every register. Returns how many were ticked."""
    still = [mmu.still for mmu in ref.walkers]
    assert ref.awake == sum((not s) << j for j, s in enumerate(still)), cycle
    if not deep:
        return 0
    for mmu in (m for m, s in zip(ref.walkers, still) if s):
        ticked = copy.deepcopy(mmu)
        ticked.tick(MMUInputs())
        assert state(ticked) == state(mmu), cycle
    return sum(still)


@pytest.mark.parametrize("cpus,devices,seed", [(1, 0, 21), (4, 1, 22), (3, 2, 23)])
def test_under_random_stimulus(cpus, devices, seed):
    print(f"seed {seed}")
    ref, env = SystemRef(cpus=cpus, devices=devices, tlb_entries=4), \
        SystemEnvironment(seed, cpus, devices)
    woke = 0
    for cycle in range(1500):
        ref.tick(env.step(ref.outputs()))
        check_after_tick(ref, cycle, deep=True)
        woke |= ref.awake
    assert woke == (1 << (cpus + devices)) - 1        # every MMU worked at some point


def test_under_a_kernel_scenario(monkeypatch):
    tick, cycles, checked = SystemRef.tick, [0], [0]

    def checked_tick(ref, inp):
        tick(ref, inp)
        cycles[0] += 1
        checked[0] += check_after_tick(ref, cycles[0], deep=cycles[0] % 7 == 0)

    monkeypatch.setattr(SystemRef, "tick", checked_tick)
    result = run_scenario(parse_scenario(MIXED_STORM), runs=2)
    assert result.met and checked[0] > 500
