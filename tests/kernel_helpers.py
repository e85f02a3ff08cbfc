"""Small helpers the kernel-model tests share."""


def drain(gen):
    """Run a step generator to its end; returns (its labels, its return value)."""
    labels = []
    try:
        while True:
            labels.append(next(gen))
    except StopIteration as stop:
        return labels, stop.value


def labels(outcome, agent="cpu0"):
    """The labels of ``agent``'s steps in a run, in order."""
    return [label for a, label in outcome.trace if a == agent]


def index(steps, prefix):
    """Where the first step starting with ``prefix`` is."""
    return next(i for i, s in enumerate(steps) if s.startswith(prefix))


def run_random_schedules(text, runs=25):
    """``text`` (a scenario without schedule and expect lines) under ``runs`` random
    interleavings from a fresh seed, which is printed to replay a failure; returns the
    result, asserted clean."""
    import random

    from sw_model.kernel.runner import run_scenario
    from sw_model.kernel.scenario_parser import parse_scenario_text
    seed = random.randrange(1 << 16)
    print(f"seed={seed} (replay: schedule random seed={seed} runs={runs})")
    result = run_scenario(parse_scenario_text(
        text + f"schedule random seed={seed} runs={runs}\nexpect clean\n"))
    assert result.met, (result.violation_kinds, result.errors)
    return result
