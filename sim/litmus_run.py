"""``shootdown litmus``: the herd7 VMSA litmus tests run on a platform backend, each judged
against its verdict (sw_model/litmus), with a summary of what ran and what was skipped."""
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sw_model.golden_backend import GoldenBackend
from sw_model.platform import Divergence
from sw_model.litmus.errors import LitmusError, Unsupported
from sw_model.litmus.execution import Prepared
from sw_model.litmus.kinds import Kinds
from sw_model.litmus.outcomes import GAPS, MAX_EXECUTIONS, explore
from sw_model.litmus.parse import parse_file
from sw_model.litmus.verdict import FAIL, OBSERVED, PASS, check_judgeable, judge

#: The shipped tests: the catalogue's TLBI tests and its kinds files (CeCILL-B, see the
#: NOTICE beside them).
CATALOGUE = Path(__file__).resolve().parent / "litmus" / "aarch64-VMSA" / "tests"
SKIPPED = "skipped"
#: TLB entries of each CPU in the system the tests run on (golden and RTL alike).
TLB_ENTRIES = 16


@dataclass
class TestResult:
    name: str
    path: str
    status: str                     # pass, FAIL, allowed (not) observed, skipped
    verdict: str | None = None
    ets2: str | None = None
    reason: str | None = None       # why skipped
    executions: int = 0
    cut: int = 0                    # executions ended by the loop bound
    complete: bool = True
    seconds: float = 0.0
    outcomes: list = field(default_factory=list)   # (text, executions, condition holds)
    ets2_observed: bool = False


def collect(paths):
    """(path, named) of the .litmus files named (named: True) or found, sorted, in the
    directories named; a path that does not exist or holds no test is a LitmusError."""
    files = []
    for path in paths or [CATALOGUE]:
        path = Path(path)
        if path.is_dir():
            found = sorted(path.glob("*.litmus"))
            if not found:
                raise LitmusError(str(path), "no .litmus file in the directory")
            files.extend((f, False) for f in found)
        elif path.is_file():
            files.append((path, True))
        else:
            raise LitmusError(str(path), "no such file or directory")
    return files


def golden_factory(faults=()):
    """Backends for a prepared test of n threads: the golden system with n CPUs (so that
    ``skip_target`` misses the last thread's CPU), no device."""
    def make(prepared):
        return lambda: GoldenBackend(cpus=prepared.threads, devices=0,
                                     tlb_entries=TLB_ENTRIES, faults=faults)
    return make


def run_test(path, kinds, factory, named=True, gaps=GAPS, max_executions=MAX_EXECUTIONS,
             snapshots=True):
    """One test, judged or skipped. A test the front end cannot read is a LitmusError if
    it was ``named``, else skipped with the reason. ``snapshots``: the backends can be
    copied (``outcomes.explore``). On the RTL a divergence from the model fails the
    test."""
    started = time.perf_counter()
    try:
        test = parse_file(path)
    except LitmusError as e:
        if named:
            raise
        return TestResult(e.test, str(path), SKIPPED, reason=f"cannot read: {e.construct}")
    verdict = kinds.verdict(test.name)
    result = TestResult(test.name, str(path), SKIPPED, verdict.base, verdict.ets2)
    try:
        check_judgeable(test, verdict)
        prepared = Prepared(test)
        exploration = explore(prepared, factory(prepared), gaps, max_executions, snapshots)
        judged = judge(prepared, exploration, verdict)
    except Unsupported as e:
        result.reason = e.reason
    except Divergence as e:
        result.status, result.reason = FAIL, str(e)
    else:
        result.status, result.outcomes = judged.status, judged.outcomes
        result.ets2_observed = judged.ets2_observed
        result.executions, result.complete = exploration.executions, exploration.complete
        result.cut = exploration.cut
    result.seconds = time.perf_counter() - started
    return result


def run_tests(files, factory, progress=None, **options):
    """Every test of ``files`` (``collect``), in order."""
    results, kinds = [], {}
    for path, named in files:
        directory = Path(path).parent
        if directory not in kinds:
            kinds[directory] = Kinds(directory)
        result = run_test(path, kinds[directory], factory, named, **options)
        results.append(result)
        if progress:
            progress(result)
    return results


def line(result):
    """One test's line of the report."""
    if result.status == SKIPPED:
        return f"{result.name}: skipped ({result.reason})"
    seen = sum(1 for _, _, holds in result.outcomes if holds)
    text = (f"{result.name}: {result.status} ({result.verdict}; {len(result.outcomes)} "
            f"outcome(s), {seen} satisfying the condition; {result.executions} executions"
            f"{f', {result.cut} cut by the loop bound' if result.cut else ''}"
            f"{'' if result.complete else ', INCOMPLETE'})")
    if result.status == FAIL:
        shown = [f"    {'*' if holds else ' '} {text} ({n}x)"
                 for text, n, holds in result.outcomes]
        text += "\n" + "\n".join(shown)
    return text


def summary(results, seconds):
    counts = Counter(r.status for r in results)
    ran = len(results) - counts[SKIPPED]
    forbidden = [r for r in results if r.status == FAIL and r.verdict == "Forbidden"]
    required = [r for r in results if r.status == FAIL and r.verdict == "Required"]
    allowed = [r for r in results if r.verdict == "Allowed" and r.status != SKIPPED]
    reasons = Counter(_reason_class(r.reason) for r in results if r.status == SKIPPED)
    lines = [f"{len(results)} tests: {ran} run, {counts[SKIPPED]} skipped, in {seconds:.1f} s",
             f"  Forbidden observed: {len(forbidden)} (must be 0)",
             f"  Required not always: {len(required)} (must be 0)",
             f"  passed: {counts[PASS]}",
             f"  Allowed observed: {counts[OBSERVED]} of {len(allowed)}",
             f"  Allowed here though Forbidden under FEAT_ETS2: "
             f"{sum(r.ets2_observed for r in results)}",
             f"  incomplete explorations: {sum(not r.complete for r in results)}"]
    if reasons:
        lines.append("  skipped because:")
        lines += [f"    {n:4d}  {reason}" for reason, n in reasons.most_common()]
    return "\n".join(lines)


def _reason_class(reason):
    """A skip reason without the test's particulars (for counting)."""
    return reason.split(" (")[0]


def failed(results):
    return any(r.status == FAIL for r in results)


def as_json(results):
    return [asdict(r) for r in results]


def run_on_rtl(files, sim="verilator", build_root=None, max_executions=MAX_EXECUTIONS,
               progress=None, faults=()):
    """The tests on the system RTL in lockstep with the model: one build and one
    simulation per system the tests need (CPUs, HA, HD). A test whose threads differ in
    TTHM is skipped: the RTL's HA and HD are system-wide. ``faults``: fabric faults built
    into the RTL and given to the model alike."""
    from sim.build import DEFAULT_BUILD_ROOT, build_verilog
    from sim.lockstep import run_bench
    from sim.rtl_run import PA_BITS
    from sim.system_lockstep import TOPLEVEL, system_verilog
    build_root = build_root or DEFAULT_BUILD_ROOT
    results, groups = {}, {}
    files = [(Path(path).resolve(), named) for path, named in files]   # for the simulator
    for path, named in files:
        try:
            test = parse_file(path)
        except LitmusError as e:
            if named:
                raise
            results[str(path)] = TestResult(e.test, str(path), SKIPPED,
                                             reason=f"cannot read: {e.construct}")
            continue
        try:
            prepared = Prepared(test)
        except Unsupported as e:
            results[str(path)] = TestResult(test.name, str(path), SKIPPED, reason=e.reason)
            continue
        if len(set(prepared.hw)) > 1:
            results[str(path)] = TestResult(test.name, str(path), SKIPPED, reason=(
                "TTHM differs between threads: the RTL's HA and HD are system-wide"))
            continue
        groups.setdefault((prepared.threads, *prepared.hw[0]), []).append(str(path))
    for (cpus, ha, hd), paths in sorted(groups.items()):
        system = dict(cpus=cpus, devices=0, tlb_entries=TLB_ENTRIES, pa_bits=PA_BITS,
                      ha=ha, hd=hd)
        runner, build_dir = build_verilog(sim, system_verilog(system, faults, build_root),
                                          TOPLEVEL, build_root, False)
        cfg = dict(tests=paths, cpus=cpus, tlb=TLB_ENTRIES, faults=list(faults),
                   max_executions=max_executions)
        raw, _ = run_bench(runner, build_dir, "sim.litmus_rtl_bench", TOPLEVEL, cfg, False)
        for entry in raw:
            result = TestResult(**entry)
            results[result.path] = result
            if progress:
                progress(result)
    return [results[str(path)] for path, _ in files]
