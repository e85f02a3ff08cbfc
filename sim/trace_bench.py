"""Trace replay without Python in the loop: a generated Verilog testbench that reads
recorded bus values from a file (here a pipe: ``Replay``), drives the input bus and
checks the output bus every cycle, and stops at the first mismatch. Built once per design
as a standalone binary (Verilator ``--binary``) or vvp program (Icarus); the trace is
data given at run time, so one build serves every scenario of a configuration.

Trace: binary records, each ``cycles`` (8 bytes), ``input`` and ``expected`` (the
bus widths rounded up to whole bytes), big-endian, as Verilog's ``$fread`` reads them
(parsing hex text took three times as long a cycle): for ``cycles`` cycles, check that
the output bus equals ``expected`` at the falling edge, then drive ``input`` until the
next one. A record of 0 cycles resets the design (two clock edges, the input bus zero):
each run of a scenario starts with one. The result file holds ``ok CYCLES``,
or ``diverged CYCLE EXPECTED ACTUAL`` (hex) for the first cycle whose outputs differ;
cycles are counted over the whole file, resets excluded.
"""
import fcntl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sim.build import DEFAULT_BUILD_ROOT, retrigger_comb_blocks, stage
from sim.toolchain import setup_simulator

TESTBENCH = "trace_tb"
#: Verilator's options for the replay binary: those of the cocotb benches (sim/build.py)
#: less VPI, which nothing here uses.
VERILATOR_ARGS = ["-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "fast"]
ICARUS_ARGS = ["-g2012"]
PIPE_BYTES = 1 << 20

_TESTBENCH = """\
module {tb};
  reg clk = 0;
  reg rst = 1;
  reg [{iw}-1:0] i_bus = 0;
  wire [{ow}-1:0] o_bus;
  reg [{ib}*8-1:0] stimulus;
  reg [{ob}*8-1:0] expected;
  reg [63:0] cycles;
  reg [63:0] cycle = 0;
  reg [8*4096-1:0] trace_path, result_path;
  integer trace, result, got;

  {top} dut(.clk(clk), .rst(rst), .i_bus(i_bus), .o_bus(o_bus));

  always #5 clk = ~clk;

  initial begin
    if (!$value$plusargs("trace=%s", trace_path) || !$value$plusargs("result=%s", result_path)) begin
      $display("usage: +trace=FILE +result=FILE");
      $finish;
    end
    trace = $fopen(trace_path, "rb");
    if (trace == 0) begin
      $display("cannot open the trace file %0s", trace_path);
      $finish;
    end
    result = $fopen(result_path, "w");
    while ($fread(cycles, trace) == 8) begin
      got = $fread(stimulus, trace);
      got = $fread(expected, trace);
      if (cycles == 0) begin
        rst = 1;
        i_bus = 0;
        @(negedge clk);
        @(negedge clk);
        rst = 0;
      end
      // Outputs are registers: at the falling edge they are the cycle's, and the input
      // driven there is taken at the next rising edge.
      repeat (cycles) begin
        if (o_bus !== expected[{ow}-1:0]) begin
          $fwrite(result, "diverged %0d %h %h\\n", cycle, expected[{ow}-1:0], o_bus);
          $fclose(result);
          $finish;
        end
        i_bus = stimulus[{iw}-1:0];
        @(negedge clk);
        cycle = cycle + 1;
      end
    end
    $fwrite(result, "ok %0d\\n", cycle);
    $fclose(result);
    $finish;
  end
endmodule
"""


@dataclass
class ReplayOutcome:
    cycles: int                         # cycles checked (up to the divergence, if any)
    diverged: bool
    expected: int = 0
    actual: int = 0
    unknown_bits: bool = False          # the RTL showed X or Z (read as 0 in ``actual``)


def testbench(toplevel, in_width, out_width):
    return _TESTBENCH.format(tb=TESTBENCH, top=toplevel, iw=in_width, ow=out_width,
                             ib=_bytes(in_width), ob=_bytes(out_width))


def build_replay(sim, design, toplevel, in_width, out_width, build_root=DEFAULT_BUILD_ROOT):
    """Build (or reuse) the replay of Verilog ``design`` (top ``toplevel``, buses of the
    given widths) on ``sim``; returns the command that runs it (add the plusargs)."""
    setup_simulator(sim)
    if sim == "icarus":
        design = retrigger_comb_blocks(design)
    files = {f"{TESTBENCH}.v": testbench(toplevel, in_width, out_width),
             f"{toplevel}.v": design}
    args = VERILATOR_ARGS if sim == "verilator" else ICARUS_ARGS
    build_dir = stage(files, args, f"trace-{sim}-{toplevel}", build_root)
    sources = [str(build_dir / name) for name in files]
    if sim == "verilator":
        binary = build_dir / "obj" / TESTBENCH
        command = ["verilator", "--binary", "-j", "2", *args, "--top-module", TESTBENCH,
                   "-Mdir", str(build_dir / "obj"), "-o", TESTBENCH, *sources]
        run = [str(binary)]
    else:
        binary = build_dir / f"{TESTBENCH}.vvp"
        command = ["iverilog", *args, "-s", TESTBENCH, "-o", str(binary), *sources]
        run = ["vvp", "-n", str(binary)]
    if not binary.exists():
        log = build_dir / "build.log"
        with open(log, "w") as out:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode or not binary.exists():
            raise RuntimeError(f"the {sim} build of the trace replay failed; see {log}")
    return run


class Replay:
    """The built replay (``run``, from ``build_replay``) running, its trace written to
    it through a pipe run by run as the runs are recorded: the simulator checks one run
    on one core while Python records the next on the other. A context manager (the
    simulator is stopped if the caller fails); ``finish()`` gives the outcome."""

    def __init__(self, run, in_width, out_width, workdir):
        self._result = Path(workdir) / "result.txt"
        self._log = Path(workdir) / "replay.log"
        self._ib, self._ob = _bytes(in_width), _bytes(out_width)
        self.records = 0                        # recorded so far, resets excluded
        with open(self._log, "w") as log:
            self._proc = subprocess.Popen(
                [*run, "+trace=/dev/stdin", f"+result={self._result}"],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)
        self._pipe = self._proc.stdin
        _widen(self._pipe)

    def run(self, records):
        """One run's [cycles, input, output] records, after a reset."""
        self.records += len(records)
        if self._pipe is None:
            return
        ib, ob = self._ib, self._ob
        try:
            self._pipe.write(bytes(8 + ib + ob))
            self._pipe.writelines(cycles.to_bytes(8, "big") + inp.to_bytes(ib, "big")
                                  + out.to_bytes(ob, "big") for cycles, inp, out in records)
        except BrokenPipeError:                 # the replay stopped: a divergence
            self._pipe = None

    def finish(self):
        """Wait for the replay to check everything written; its ReplayOutcome."""
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        self._proc.wait()
        if not self._result.exists():
            raise RuntimeError(f"the trace replay ended without a result (exit status "
                               f"{self._proc.returncode}): "
                               f"{self._log.read_text().strip()[-500:]}")
        words = self._result.read_text().split()
        if words[0] == "ok":
            return ReplayOutcome(int(words[1]), False)
        actual = words[3].lower()
        known = actual.translate(str.maketrans("xz", "00"))
        return ReplayOutcome(int(words[1]), True, int(words[2], 16), int(known, 16),
                             unknown_bits=known != actual)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


def _widen(pipe):
    """A pipe that holds a whole run (~340 KB for 1,250 cycles of 4 CPUs), so that
    Python need not wait for the simulator to take a run before recording the next.
    Linux only; elsewhere, or past the system's limit, the default size serves."""
    try:
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError):
        pass


def _bytes(bits):
    return -(-bits // 8)
