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
