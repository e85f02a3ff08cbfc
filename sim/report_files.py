"""What ``shootdown run --report DIR`` writes: the summary, the results as JSON, and the
timeline of one run (a PNG and its events as JSON).

Runs can be many, so the timeline is of one: the first flagged run (a violation or an
error), else the first run. ``run_scenario(..., record=True)`` keeps just those two
recordings.
"""
import json

from sim.run_report import as_json
from sim.timeline import draw, markers

FILES = ("timeline.png", "timeline.json", "results.json", "summary.txt")


def reported_run(result):
    """(the run the timeline shows, why that one)."""
    for run in result.runs:
        if run.flagged:
            return run, "the first flagged run"
    return result.runs[0], "the first run; none was flagged"


def run_name(run):
    return "the run in the explicit order" if run.seed is None else f"run seed={run.seed}"


def write_report(result, summary_text, directory):
    """Write FILES into ``directory`` (which exists); returns the timeline's run and
    why it was chosen."""
    run, why = reported_run(result)
    draw(run, directory / "timeline.png", f"{result.scenario.name}, {run_name(run)}")
    timeline = {"scenario": result.scenario.name, "seed": run.seed, "chosen": why,
                "cycles": run.cycles,
                "markers": [dict(cycle=cycle, kind=kind, label=label)
                            for cycle, kind, label in markers(run)],
                **run.recording.as_json()}
    (directory / "timeline.json").write_text(json.dumps(timeline, indent=1))
    (directory / "results.json").write_text(json.dumps(as_json(result), indent=1))
    (directory / "summary.txt").write_text(summary_text + "\n")
    return run, why
