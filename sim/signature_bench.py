"""The page pool's short signature against the full one (docs/benchmarks.md): the same
search, race 6's schedule-free buggy scenario at bound 3 counting in-op preemptions,
stopped after RUNS runs, hashing from the first, alternately with the pool written as
``PageAllocator.signature_state()`` says (untouched frames by address) and in full
(its attributes but ``stats`` and ``untouched``, as before that method), twice each
in one process. Equal explored and pruned counts show the same states were merged.

    python -m sim.signature_bench
"""
from pathlib import Path

from sim.race_exploration import schedule_free
from sw_model.kernel import state_signature
from sw_model.kernel.explore import explore
from sw_model.kernel.page_alloc import PageAllocator
from sw_model.kernel.scenario_parser import parse_scenario_text

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "uffd_wp_vs_cow_buggy.scn"
RUNS = 1500
SHORT = PageAllocator.signature_state


def write_pool(short):
    """Signatures from now on write the pool short or in full."""
    state_signature._Signer.reductions.clear()
    if short:
        PageAllocator.signature_state = SHORT
        state_signature.SKIPPED.pop("PageAllocator", None)
    else:
        del PageAllocator.signature_state
        state_signature.SKIPPED["PageAllocator"] = {"stats", "untouched"}


def main():
    scenario = parse_scenario_text(schedule_free(SCENARIO), str(SCENARIO))
    for _ in range(2):
        for short in (False, True):
            write_pool(short)
            f = explore(scenario, 3, count="in-op", max_runs=RUNS, hash_after=0,
                        confirm=False)
            print(f"pool {'short' if short else 'full '}: {f.explored} explored, "
                  f"{f.pruned} pruned, {f.seconds:.1f} s, "
                  f"{(f.explored + f.pruned) / f.seconds:.0f} runs/s", flush=True)
    write_pool(True)


if __name__ == "__main__":
    main()
