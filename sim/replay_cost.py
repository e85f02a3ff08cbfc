"""What prefix sharing would cost against a replay (docs/benchmarks.md): the explorer
replays every interleaving from the start because its agents are generators, which
CPython cannot copy. Per interleaving, in one run: a whole replay of a small scenario,
a deepcopy of its set-up kernel (what copying the state at a branch point would cost at
least), and a fork of this process (the other way to share a prefix).

    python -m sim.replay_cost
"""
import copy
import gc
import os
import time
from pathlib import Path

from sim.race_exploration import schedule_free
from sw_model.kernel.runner import run_once
from sw_model.kernel.scenario_parser import parse_scenario_text

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "zap_vs_mkclean.scn"
REPEAT = 100


def per_call_ms(action):
    started = time.perf_counter()
    for _ in range(REPEAT):
        action()
    return (time.perf_counter() - started) / REPEAT * 1e3


def fork_and_wait():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def main():
    scenario = parse_scenario_text(schedule_free(SCENARIO), str(SCENARIO))
    kernels = []
    replay = per_call_ms(lambda: run_once(scenario, None, "untimed",
                                          on_start=lambda k, _: kernels.append(k)))
    kernel = kernels[-1]            # set up, before its first step
    deep = per_call_ms(lambda: copy.deepcopy(kernel))
    gc.freeze()                     # fewer pages for the child to copy
    forked = per_call_ms(fork_and_wait)
    print(f"{SCENARIO.name}, {REPEAT} each: replay {replay:.2f} ms, deepcopy of the "
          f"set-up kernel {deep:.2f} ms, fork {forked:.2f} ms")


if __name__ == "__main__":
    main()
