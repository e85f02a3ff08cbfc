"""The ``shootdown`` command."""
import argparse
import sys
import time
from pathlib import Path

from sim.toolchain import SIMULATORS, ToolchainError

EXIT_USAGE = 2
#: The shipped scenario ``shootdown run`` runs when given none.
DEFAULT_SCENARIO = "mixed_storm.scn"
#: Seeded schedules per workload and policy in ``shootdown compare``.
COMPARE_RUNS = 20


class UsageError(Exception):
    """Bad arguments: reported on one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _positive(text):
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _non_negative(what):
    """An argparse type: an integer >= 0, named ``what`` in its error."""
    def parse(text):
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} {text!r} is not an integer") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{what} {text!r} must not be negative")
        return value
    return parse


_seed = _non_negative("seed")
_bound = _non_negative("bound")


def _add_mmu_options(p):
    p.add_argument("--tlb-entries", type=int, default=16, metavar="E",
                   help="TLB entries, 4 to 64 (default 16)")
    p.add_argument("--pa-bits", type=int, default=40, metavar="B",
                   help="physical address size, 32 to 48 (default 40)")
    p.add_argument("--no-hw-update", action="store_true",
                   help="no hardware AF/dirty update (FEAT_HAFDBS off)")
    p.add_argument("--staged", action=argparse.BooleanOptionalAction,
                   help="a register stage after the TLB match and one after a walk's last "
                        "memory response, for FPGA clock rates (docs/timing.md; default: "
                        "off, or the board's with --board)")


def _add_board_options(p):
    p.add_argument("--board", metavar="NAME", help="place and route the SoC for a board: "
                   "icebreaker, ulx3s or orangecrab (docs/boards.md)")
    p.add_argument("--cpus", type=int, metavar="N", help="board: CPUs (default: the board's)")
    p.add_argument("--devices", type=int, metavar="D",
                   help="board: device TLBs (default: the board's)")
    p.add_argument("--freq", type=float, metavar="MHZ",
                   help="board: the clock target (default: the board's)")
    p.add_argument("--per-entry", type=int, metavar="E2",
                   help="board: also build with E2-entry TLBs and report the LUTs and FFs "
                        "per TLB entry")
    p.add_argument("--json", type=Path, metavar="OUT", help="board: write the report as JSON")
    p.add_argument("--tlbi-range", action=argparse.BooleanOptionalAction,
                   help="board: range TLBIs (FEAT_TLBIRANGE); --no-tlbi-range: without, the "
                        "kernel model issues a TLBI a page (default: the board's)")
    p.add_argument("--asid-bits", type=int, metavar="8|16",
                   help="board: ASID bits the TLBs keep (default: the board's)")
    p.add_argument("--gen-bits", type=int, metavar="N",
                   help="board: generation bits the fabric keeps, 8 to 32 (default: the "
                        "board's)")
    p.add_argument("--mem-kb", type=int, metavar="KB",
                   help="board: the memory in KB, a power of two (default: the board's)")
    p.add_argument("--spram", action=argparse.BooleanOptionalAction,
                   help="board: the memory in the iCE40UP5K's SPRAM (up to 128 KB); "
                        "--no-spram: in block RAM (default: the board's)")
    p.add_argument("--pnr-seed", type=_seed, metavar="S",
                   help="board: nextpnr's placement seed (default 1)")


def _mmu_params(args):
    from hdl.tlb import check_entries
    from hdl.walker import check_walker_params
    hw = not args.no_hw_update
    try:
        check_entries(args.tlb_entries)
        check_walker_params(args.pa_bits, hw, hw)
    except ValueError as e:
        raise UsageError(str(e)) from None
    # Staged only when asked: a build's cache key is its parameters.
    return dict(tlb_entries=args.tlb_entries, pa_bits=args.pa_bits, ha=hw, hd=hw,
                **({"staged": True} if args.staged else {}))


def build_parser():
    parser = _Parser(prog="shootdown", description="Shootdown: an MMU in Amaranth, diffed "
                     "cycle by cycle against its Python golden model.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    diff = sub.add_parser("diff", help="lockstep diff of the MMU RTL against the model")
    diff.add_argument("--sim", choices=SIMULATORS, default="verilator")
    diff.add_argument("--cycles", type=_positive, default=100_000)
    diff.add_argument("--seed", type=_seed, default=1)
    diff.add_argument("--build-dir", type=Path, default=Path("build"))
    diff.add_argument("--model-bug", action="append", default=[], metavar="RULE",
                      help="break one rule in the model, to see the diff catch it")
    diff.add_argument("--cpus", type=int, metavar="N",
                      help="diff the multi-core system with N CPUs (1 to 8)")
    diff.add_argument("--devices", type=int, metavar="M",
                      help="and M device TLBs (0 to 2; default 1)")
    _add_mmu_options(diff)

    verilog = sub.add_parser("verilog", help="write the generated Verilog")
    verilog.add_argument("outdir", type=Path)
    _add_mmu_options(verilog)

    bench = sub.add_parser("bench", help="measure lockstep, plain cocotb and model speed")
    bench.add_argument("--cycles", type=_positive, default=100_000)
    bench.add_argument("--seed", type=_seed, default=1)
    bench.add_argument("--sim", choices=SIMULATORS, action="append", dest="sims")
    bench.add_argument("--no-synth", action="store_true", help="skip the resource counts")
    bench.add_argument("--system", action="store_true",
                       help="the whole system (4 CPUs, 1 device, 8-entry TLBs) instead of "
                            "one MMU; no resource counts")
    bench.add_argument("--build-dir", type=Path, default=Path("build"))

    run = sub.add_parser("run", help="run a kernel scenario and check every access")
    run.add_argument("scenario", nargs="?", type=Path,
                     help=f"a scenario file (default: the shipped {DEFAULT_SCENARIO})")
    run.add_argument("--backend", choices=("golden", "rtl", "fpga"), default="golden",
                     help="golden: the cycle-matched model; rtl: the Amaranth RTL in a "
                          "cocotb simulation, checked against the model every cycle; "
                          "fpga: a board over its UART host bridge, checked against the "
                          "model every call")
    run.add_argument("--sim", choices=SIMULATORS,
                     help="rtl: the simulator (default verilator)")
    run.add_argument("--diff", action="store_true",
                     help="rtl: on a divergence, report it field by field and replay "
                          "the run with a waveform up to a few cycles past it")
    run.add_argument("--waves", type=Path, metavar="FILE",
                     help="rtl: write the run's waveform (FST on Verilator, VCD on Icarus)")
    run.add_argument("--rtl-fault", action="append", default=[], metavar="FAULT",
                     help="rtl: build the RTL with a simulation-only hardware fault "
                          "(hdl/faults.py), to see the diff catch it")
    run.add_argument("--build-dir", type=Path, default=Path("build"),
                     help="rtl: where simulator builds are kept (default build)")
    run.add_argument("--mode", choices=("lockstep", "trace"), default="lockstep",
                     help="rtl: lockstep (the RTL clocked beside the model, compared every "
                          "cycle) or trace (the golden run recorded, replayed on the RTL "
                          "with no Python in the loop, compared afterwards)")
    run.add_argument("--runs", type=_positive, help="random schedules: how many runs")
    run.add_argument("--seed", type=_seed, help="random schedules: the first seed")
    run.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")
    run.add_argument("--save-violation", type=Path, metavar="FILE",
                     help="write the first violating run as a scenario that replays it")
    run.add_argument("--report", type=Path, metavar="DIR",
                     help="write the summary, the results as JSON and a timeline PNG of "
                          "the first flagged run (else the first run) into DIR")
    run.add_argument("--port", metavar="PORT",
                     help="fpga: the board's serial port (e.g. /dev/ttyUSB1)")
    run.add_argument("--baud", type=_positive, default=115200,
                     help="fpga: the UART's baud rate (default 115200)")
    run.add_argument("--timeout", type=float, default=2.0, metavar="SECONDS",
                     help="fpga: how long to wait for each answer (default 2)")

    explore = sub.add_parser("explore", help="search a scenario's interleavings for a "
                             "violation, fewest preemptions first")
    explore.add_argument("scenario", type=Path, nargs="?", help="a scenario file (its "
                         "schedule is ignored)")
    explore.add_argument("--all-races", action="store_true",
                         help="instead of a scenario: every modelled race pair of "
                              "`shootdown bugs` without its schedule, as a table")
    explore.add_argument("--mode", choices=("untimed", "timed"), default="untimed",
                         help="untimed (the fast backend; a violation is confirmed on "
                              "the golden one) or timed (the golden backend throughout)")
    explore.add_argument("--no-prune", action="store_true",
                         help="no state hashing: run every interleaving to its end")
    explore.add_argument("--bound", type=_bound, default=2, metavar="K",
                         help="at most K preemptions per interleaving (default 2)")
    explore.add_argument("--count", choices=("switch", "in-op"), default="switch",
                         help="what is a preemption: switch (default), any switch away "
                              "from an agent that could go on; in-op, only one inside "
                              "an operation (between two, a CPU is in user space)")
    explore.add_argument("--max-runs", type=_positive, metavar="N",
                         help="stop after N interleavings")
    explore.add_argument("--save-violation", type=Path, metavar="FILE",
                         help="write the violating interleaving as a scenario that "
                              "replays it")

    compare = sub.add_parser("compare", help="run the same workloads under every TLB flush "
                             "policy and compare what they cost")
    compare.add_argument("--runs", type=_positive, default=COMPARE_RUNS,
                         help=f"seeded schedules per workload and policy (default "
                         f"{COMPARE_RUNS})")
    compare.add_argument("--plot", type=Path, metavar="FILE", help="write a PNG bar chart")
    compare.add_argument("--json", type=Path, metavar="OUT", help="write the counts as JSON")

    bugs = sub.add_parser("bugs", help="the historical Linux TLB races: each buggy "
                          "scenario flagged, each fixed one clean (docs/bugs.md)")
    bugs.add_argument("name", nargs="?", help="one race, by name or number (default: all)")
    bugs.add_argument("--backend", choices=("golden", "rtl"), default="golden")
    bugs.add_argument("--sim", choices=SIMULATORS, help="rtl: the simulator "
                      "(default verilator)")
    bugs.add_argument("--build-dir", type=Path, default=Path("build"),
                      help="rtl: where simulator builds are kept (default build)")
    bugs.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")

    litmus = sub.add_parser("litmus", help="the Armv8-A VMSA litmus tests (herd7 "
                            "catalogue): every interleaving, each test against its verdict")
    litmus.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help=".litmus files or directories (default: the shipped TLBI "
                             "tests of the catalogue)")
    litmus.add_argument("--backend", choices=("golden", "rtl"), default="golden")
    litmus.add_argument("--sim", choices=SIMULATORS,
                        help="rtl: the simulator (default verilator)")
    litmus.add_argument("--fault", action="append", default=[], metavar="NAME",
                        help="break the fabric with a fault of hdl/faults.py (early_sync, "
                             "skip_target): the model, and on the rtl backend the RTL too, "
                             "to see Forbidden outcomes appear")
    litmus.add_argument("--max-executions", type=_positive, metavar="N",
                        help="executions explored at most per test (default 5000)")
    litmus.add_argument("--build-dir", type=Path, default=Path("build"),
                        help="rtl: where simulator builds are kept (default build)")
    litmus.add_argument("--json", type=Path, metavar="OUT", help="write the results as JSON")

    synth = sub.add_parser("synth", help="synthesize the MMU and report resources, or "
                           "build a board's bitstream (--board) and report its timing")
    synth.add_argument("--target", choices=("ice40", "ecp5", "all"),
                       help="yosys only, the MMU alone (default all)")
    synth.add_argument("--build-dir", type=Path, default=Path("build"))
    _add_mmu_options(synth)
    synth.set_defaults(tlb_entries=None)          # the board's, or 16 for --target
    _add_board_options(synth)
    return parser


def cmd_diff(args):
    from sim.lockstep import describe, run_rtl
    from sw_model.mmu_ref import BUGS
    for bug in args.model_bug:
        if bug not in BUGS:
            raise UsageError(f"unknown model bug {bug!r}; known: {', '.join(BUGS)}")
    mmu = _mmu_params(args)
    if args.cpus is not None or args.devices is not None:
        from hdl.fabric import check_fabric_params
        from sim.system_lockstep import run_system_rtl
        cpus = 4 if args.cpus is None else args.cpus
        devices = 1 if args.devices is None else args.devices
        try:
            check_fabric_params(cpus, devices)
        except ValueError as e:
            raise UsageError(str(e)) from None
        system = dict(mmu, cpus=cpus, devices=devices)
        print(f"lockstep diff of the system: {args.sim}, {args.cycles} cycles, seed "
              f"{args.seed}, {system}", flush=True)
        result = run_system_rtl(args.sim, cycles=args.cycles, seed=args.seed, system=system,
                                bugs=args.model_bug, build_root=args.build_dir)
    else:
        print(f"lockstep diff: {args.sim}, {args.cycles} cycles, seed {args.seed}, "
              f"MMU {mmu}", flush=True)
        result = run_rtl(args.sim, cycles=args.cycles, seed=args.seed, mmu=mmu,
                         bugs=args.model_bug, build_root=args.build_dir)
    print("\n".join(describe(result)))
    if result.status != "ok":
        return 1
    print(f"no divergence in {result.cycles} cycles ({result.stats['accesses']} accesses, "
          f"{result.stats['invalidates']} invalidates, {result.stats['host_writes']} "
          "host descriptor writes"
          + (f", {result.stats['shootdowns']} shootdowns, {result.stats['syncs']} syncs)"
             if "syncs" in result.stats else ")"))
    return 0


def cmd_verilog(args):
    from hdl.export import to_verilog
    from hdl.mmu import MMU
    from sim.build import TOPLEVEL, bus_top_verilog
    mmu = _mmu_params(args)
    try:
        args.outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {args.outdir}: {e.strerror}") from None
    (args.outdir / "mmu.v").write_text(to_verilog(MMU(**mmu), "mmu"))
    (args.outdir / f"{TOPLEVEL}.v").write_text(bus_top_verilog(mmu, build_root=None))
    print(f"wrote {args.outdir / 'mmu.v'} and {args.outdir / (TOPLEVEL + '.v')}")
    return 0


def cmd_bench(args):
    from sim.benchmark import report, run_benchmarks
    print("benchmark:", flush=True)
    rows, resources = run_benchmarks(cycles=args.cycles, seed=args.seed, sims=args.sims,
                                     synth=not args.no_synth, system=args.system,
                                     build_root=str(args.build_dir),
                                     progress=lambda text: print(text, flush=True))
    print(report(rows, resources, args.cycles, args.seed, system=args.system))
    return 0


def cmd_run(args):
    import json

    from sim.run_report import as_json, summary
    from sw_model.kernel.runner import replay_text, run_scenario
    from sw_model.kernel.scenario import ScenarioError
    from sw_model.kernel.scenario_parser import parse_scenario
    path = args.scenario or shipped_scenarios() / DEFAULT_SCENARIO
    try:
        scenario = parse_scenario(path)
    except ScenarioError as e:
        raise UsageError(str(e)) from None
    if args.report:
        _report_dir(args.report)                 # now, not after the runs

    if args.backend == "rtl":
        return _run_on_rtl(args, scenario)
    for flag, given in (("--sim", args.sim), ("--diff", args.diff), ("--waves", args.waves),
                        ("--rtl-fault", args.rtl_fault), ("--mode", args.mode != "lockstep")):
        if given:
            raise UsageError(f"{flag} is for --backend rtl")
    if args.backend == "fpga":
        return _run_on_fpga(args, scenario)
    if args.port:
        raise UsageError("--port is for --backend fpga")

    def progress(done, total):
        if sys.stdout.isatty() and total >= 20 and (done % max(1, total // 20) == 0
                                                    or done == total):
            bar = "#" * (30 * done // total)
            print(f"\r  [{bar:30s}] {done}/{total} runs", end="\n" if done == total else "",
                  flush=True)

    started = time.perf_counter()
    result = run_scenario(scenario, backend=args.backend, seed=args.seed, runs=args.runs,
                          progress=progress, record=bool(args.report))
    text = summary(result, time.perf_counter() - started)
    print(text)
    if args.report:
        from sim.report_files import FILES, run_name, write_report
        try:
            run, why = write_report(result, text, args.report)
        except OSError as e:
            raise UsageError(f"cannot write the report in {args.report}: {e.strerror}") \
                from None
        print(f"  report in {args.report}/ ({', '.join(FILES)}): timeline of "
              f"{run_name(run)}, {why}")
    outputs = []
    if args.json:
        outputs.append((args.json, json.dumps(as_json(result), indent=1)))
    if args.save_violation and result.minimal:
        outputs.append((args.save_violation, replay_text(
            path.read_text(), result.minimal.run, result.minimal.dropped,
            result.minimal.seed)))
    elif args.save_violation:
        print(f"  no violation to save in {args.save_violation}")
    for out, text in outputs:
        try:
            out.write_text(text)
        except OSError as e:
            raise UsageError(f"cannot write {out}: {e.strerror}") from None
    return 0 if result.met else 1


def _run_trace(args, scenario, faults):
    """--backend rtl --mode trace: the golden run recorded, replayed on the RTL."""
    import json

    from sim.run_report import as_json, summary
    from sim.rtl_run import rtl_system
    from sim.trace_mode import run_trace
    for flag, given in (("--diff", args.diff), ("--waves", args.waves),
                        ("--report", args.report)):
        if given:
            raise UsageError(f"{flag} is for --mode lockstep")
    try:
        rtl_system(scenario.system)
    except ValueError as e:
        raise UsageError(f"{scenario.path}: {e}") from None
    trace = run_trace(scenario, sim=args.sim or "verilator", seed=args.seed,
                      runs=args.runs, faults=faults, build_root=args.build_dir)
    print(summary(trace.result, trace.seconds["record"]))
    print("\n".join(trace.describe()))
    if args.json:
        try:
            args.json.write_text(json.dumps(dict(as_json(trace.result), trace=trace.as_json()),
                                            indent=1))
        except OSError as e:
            raise UsageError(f"cannot write {args.json}: {e.strerror}") from None
    return 0 if trace.result.met and trace.ok else 1


def _run_on_rtl(args, scenario):
    import json

    from hdl.faults import FABRIC_FAULTS, MMU_FAULTS, check_faults
    from sim.rtl_run import run_on_rtl
    if args.save_violation:
        raise UsageError("--save-violation needs the golden backend (a violation the RTL "
                         "shows replays there: the two run in lockstep)")
    try:
        faults = check_faults(args.rtl_fault, {**FABRIC_FAULTS, **MMU_FAULTS})
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.mode == "trace":
        return _run_trace(args, scenario, faults)
    sim = args.sim or "verilator"
    print(f"building and running {scenario.path} on the RTL ({sim})...", flush=True)
    try:
        result = run_on_rtl(scenario, sim=sim, seed=args.seed, runs=args.runs,
                            waves=args.waves, faults=faults, waves_on_divergence=args.diff,
                            report=args.report, build_root=args.build_dir)
    except ToolchainError as e:
        raise UsageError(str(e)) from None
    print(result.summary)
    d = result.divergence
    if d and args.diff:
        print(f"  first divergence, cycle {d['cycle']}: field, expected, actual")
        for sig in d["signals"]:
            print(f"    {sig['signal']}: expected {sig['expected']:#x}, "
                  f"actual {sig['actual']:#x}")
    if result.waves:
        print(f"  waveform: {result.waves}")
    if args.report:
        print(f"  report in {args.report}/")
    if args.json:
        try:
            args.json.write_text(json.dumps(dict(result.report, divergence=d), indent=1))
        except OSError as e:
            raise UsageError(f"cannot write {args.json}: {e.strerror}") from None
    return 0 if result.met and not d else 1


def _run_on_fpga(args, scenario):
    import json

    from sim.fpga_backend import run_on_board
    from sim.host_link import BridgeError, HostLink
    from sim.run_report import as_json, summary
    from sim.serial_transport import SerialTransport
    for flag, given in (("--report", args.report), ("--save-violation", args.save_violation)):
        if given:
            raise UsageError(f"{flag} needs the golden backend (the board runs in lockstep "
                             "with it: a run replays there)")
    if not args.port:
        raise UsageError("--backend fpga needs --port, the board's serial port")
    if not args.timeout > 0:
        raise UsageError(f"--timeout {args.timeout} must be positive")
    try:
        transport = SerialTransport(args.port, args.baud, args.timeout)
    except OSError as e:
        raise UsageError(str(e)) from None
    started = time.perf_counter()
    try:
        result, counters = run_on_board(HostLink(transport), scenario, seed=args.seed,
                                        runs=args.runs)
    except BridgeError as e:
        raise UsageError(f"{args.port}: {e}") from None
    finally:
        transport.close()
    print(summary(result, time.perf_counter() - started))
    wrong = [(i, c) for i, c in enumerate(counters) if c]
    for i, differences in wrong:
        print(f"  run {i + 1}: memory counters differ: " + ", ".join(
            f"{name} model {model}, board {board}" for name, model, board in differences))
    if args.json:
        try:
            args.json.write_text(json.dumps(as_json(result), indent=1))
        except OSError as e:
            raise UsageError(f"cannot write {args.json}: {e.strerror}") from None
    return 0 if result.met and not wrong else 1


def _report_dir(directory):
    import importlib.util
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--report needs matplotlib: pip install 'shootdown[plot]'")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--report {directory}: not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {directory}: {e.strerror}") from None


def cmd_compare(args):
    import importlib.util
    import json

    from sim.policy_compare import ComparisonError, as_json, compare, plot, report
    if args.plot:
        if args.plot.suffix.lower() != ".png":
            raise UsageError(f"--plot writes a PNG: {args.plot} must end in .png")
        if importlib.util.find_spec("matplotlib") is None:     # now, not after the runs
            raise UsageError("--plot needs matplotlib: pip install 'shootdown[plot]'")
    print(f"policy comparison, {args.runs} run(s) per workload and policy:", flush=True)
    try:
        rows = compare(args.runs, progress=lambda row: print(
            f"  {row.workload.name:18s} {row.policy:14s} clean", flush=True))
    except ComparisonError as e:
        print(f"shootdown: error: {e}", file=sys.stderr)
        return 1
    print(report(rows, args.runs))
    outputs = [(args.json, lambda path: path.write_text(json.dumps(as_json(rows, args.runs),
                                                                   indent=1))),
               (args.plot, lambda path: plot(rows, path, args.runs))]
    for path, write in outputs:
        if path:
            try:
                write(path)
            except OSError as e:
                raise UsageError(f"cannot write {path}: {e.strerror}") from None
            print(f"wrote {path}")
    return 0


def cmd_bugs(args):
    import json

    from sim.bugs import UnknownRace, run_races, select, table
    try:
        races = select(args.name)
    except UnknownRace as e:
        raise UsageError(str(e)) from None
    if args.sim and args.backend != "rtl":
        raise UsageError("--sim is for --backend rtl")
    if args.backend == "rtl":
        print(f"building and running the scenario pairs on the RTL "
              f"({args.sim or 'verilator'})...", flush=True)
    results = run_races(races, args.backend, args.sim or "verilator", args.build_dir)
    print(table(results, args.backend))
    if args.json:
        try:
            args.json.write_text(json.dumps(dict(backend=args.backend,
                                                 races=[r.as_json() for r in results]),
                                            indent=1))
        except OSError as e:
            raise UsageError(f"cannot write {args.json}: {e.strerror}") from None
    return 0 if all(r.ok for r in results) else 1


#: ``explore --mode``: the backend each mode runs on.
EXPLORE_BACKENDS = {"untimed": "untimed", "timed": "golden"}


def cmd_explore(args):
    from sw_model.kernel.explore import confirmation, explore, summary
    from sw_model.kernel.runner import replay_text
    from sw_model.kernel.scenario import ScenarioError
    from sw_model.kernel.scenario_parser import parse_scenario
    backend = EXPLORE_BACKENDS[args.mode]
    if args.all_races:
        return _explore_races(args, backend)
    if args.scenario is None:
        raise UsageError("explore needs a scenario file, or --all-races")
    try:
        scenario = parse_scenario(args.scenario)
    except ScenarioError as e:
        raise UsageError(str(e)) from None
    found = explore(scenario, args.bound, backend=backend, prune=not args.no_prune,
                    max_runs=args.max_runs, count=args.count)
    print(summary(found))
    if confirmation(found):
        print(f"  {confirmation(found)}")
    if found.errors:
        print(f"  {len(found.errors)} interleavings ended in an error; the first: "
              f"{found.errors[0]}")
    if found.run is None:
        if args.save_violation:
            print(f"  no violation to save in {args.save_violation}")
        return 1 if found.errors else 0
    text = replay_text(args.scenario.read_text(), found.witness, origin=(
        f"the interleaving `shootdown explore --bound {args.bound} --count {args.count}` "
        "found"))
    print(text, end="")
    if args.save_violation:
        try:
            args.save_violation.write_text(text)
        except OSError as e:
            raise UsageError(f"cannot write {args.save_violation}: {e.strerror}") from None
    return 1


def cmd_litmus(args):
    import json

    from sim.litmus_run import (collect, failed, golden_factory, line, run_on_rtl,
                                run_tests, summary, as_json)
    from sw_model.fabric_ref import MODEL_FAULTS
    from sw_model.litmus.errors import LitmusError
    from sw_model.litmus.outcomes import MAX_EXECUTIONS
    for fault in args.fault:
        if fault not in MODEL_FAULTS:
            raise UsageError(f"unknown fault {fault!r}; known: {', '.join(MODEL_FAULTS)}")
    if args.sim and args.backend != "rtl":
        raise UsageError("--sim is for --backend rtl")
    limit = args.max_executions or MAX_EXECUTIONS
    started = time.perf_counter()

    def progress(result):
        print(line(result), flush=True)
    try:
        files = collect(args.paths)
        if args.backend == "rtl":
            print(f"building and running the tests on the RTL ({args.sim or 'verilator'}, "
                  "in lockstep with the model)...", flush=True)
            results = run_on_rtl(files, args.sim or "verilator", args.build_dir, limit,
                                 progress, args.fault)
        else:
            results = run_tests(files, golden_factory(args.fault), progress,
                                max_executions=limit)
    except LitmusError as e:
        raise UsageError(str(e)) from None
    print(summary(results, time.perf_counter() - started))
    if args.json:
        try:
            args.json.write_text(json.dumps(dict(backend=args.backend, faults=args.fault,
                                                 tests=as_json(results)), indent=1))
        except OSError as e:
            raise UsageError(f"cannot write {args.json}: {e.strerror}") from None
    return 1 if failed(results) else 0


def _explore_races(args, backend):
    from sim.race_exploration import explore_races, footer, header, row
    if args.scenario is not None or args.save_violation:
        raise UsageError("--all-races takes no scenario and no --save-violation")
    print(header(args.bound, backend, args.count), flush=True)
    results = []
    for result in explore_races(args.bound, backend=backend, prune=not args.no_prune,
                                max_runs=args.max_runs, count=args.count):
        print(row(result), flush=True)
        results.append(result)
    print(footer(results))
    return 0 if all(r.ok for r in results) else 1


def shipped_scenarios():
    from importlib.resources import files
    return Path(str(files("scenarios")))


def cmd_synth(args):
    from sim.synth import synthesize
    board_only = [f"--{name.replace('_', '-')}" for name in
                  ("cpus", "devices", "freq", "per_entry", "json", "tlbi_range",
                   "asid_bits", "gen_bits", "mem_kb", "spram", "pnr_seed")
                  if getattr(args, name) is not None]
    if args.board:
        if args.target:
            raise UsageError("--target and --board exclude each other")
        return cmd_synth_board(args)
    if board_only:
        raise UsageError(f"{board_only[0]} needs --board")
    if args.tlb_entries is None:
        args.tlb_entries = 16
    mmu = _mmu_params(args)
    targets = ("ice40", "ecp5") if args.target in (None, "all") else (args.target,)
    print(f"{'target':8} {'LUT':>7} {'FF':>7} {'BRAM':>5} {'carry':>6}   MMU {mmu}")
    for target in targets:
        r = synthesize(target, mmu, args.build_dir / f"synth-{target}")
        print(f"{target:8} {r['LUT']:>7} {r['FF']:>7} {r['BRAM']:>5} {r['carry']:>6}",
              flush=True)
    return 0


def cmd_synth_board(args):
    import json

    from boards import BOARDS
    from boards.flow import BoardError, BuildError, build_board, describe, per_entry
    if args.board not in BOARDS:
        raise UsageError(f"unknown board {args.board!r}; choose from {', '.join(BOARDS)}")
    board = BOARDS[args.board]
    entries = [board.tlb_entries if args.tlb_entries is None else args.tlb_entries]
    if args.per_entry is not None:
        if args.per_entry == entries[0]:
            raise UsageError(f"--per-entry {args.per_entry} is the TLB size already built")
        entries.append(args.per_entry)
    options = dict(pa_bits=args.pa_bits, ha=not args.no_hw_update, hd=not args.no_hw_update)
    options.update({name: getattr(args, name)
                    for name in ("tlbi_range", "asid_bits", "gen_bits", "staged")
                    if getattr(args, name) is not None})
    if args.mem_kb is not None and (args.mem_kb < 1 or args.mem_kb & (args.mem_kb - 1)):
        raise UsageError(f"--mem-kb must be a power of two, not {args.mem_kb}")
    mem_bytes = None if args.mem_kb is None else args.mem_kb * 1024
    reports = []
    for tlb_entries in entries:
        try:
            report = build_board(board, cpus=args.cpus, devices=args.devices,
                                 tlb_entries=tlb_entries, freq_mhz=args.freq,
                                 system_options=options, mem_bytes=mem_bytes,
                                 spram=args.spram, build_root=args.build_dir,
                                 seed=1 if args.pnr_seed is None else args.pnr_seed)
        except BoardError as e:
            raise UsageError(str(e)) from None
        except BuildError as e:
            print(f"shootdown: error: {e}", file=sys.stderr)
            return 1
        print("\n".join(describe(report)), flush=True)
        reports.append(report)
    result = reports[0]
    if len(reports) == 2:
        slope = per_entry(*reports)
        print(f"per TLB entry ({entries[0]} to {entries[1]} entries, per TLB): "
              f"{slope['LUT']:.1f} LUTs, {slope['FF']:.1f} FFs")
        result = {"builds": reports, "per_tlb_entry": slope}
    if args.json:
        try:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        except OSError as e:
            raise UsageError(f"cannot write {args.json}: {e.strerror}") from None
    return 0 if all(r["timing_met"] for r in reports) else 1


def main(argv=None):
    commands = {"diff": cmd_diff, "verilog": cmd_verilog, "synth": cmd_synth,
                "bench": cmd_bench, "run": cmd_run, "compare": cmd_compare,
                "bugs": cmd_bugs, "explore": cmd_explore, "litmus": cmd_litmus}
    try:
        args = build_parser().parse_args(argv)
        return commands[args.command](args)
    except UsageError as e:
        print(f"shootdown: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ToolchainError as e:
        print(f"shootdown: error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
