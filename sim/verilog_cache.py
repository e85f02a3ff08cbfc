"""The system top's Verilog, kept on disk: Amaranth takes seconds to convert the 4-CPU
system (6.6 s here), which would otherwise be most of a cached replay's start-up."""
import hashlib
import json
from pathlib import Path

import amaranth
from amaranth.back import verilog

import hdl
from sim.build import DEFAULT_BUILD_ROOT
from sim.system_bus_top import SystemBusTop

#: Whatever defines the design: the HDL package and the bus wrapper.
_SOURCES = sorted(Path(hdl.__file__).parent.glob("*.py")) + [
    Path(__file__).parent / "system_bus_top.py"]


def system_verilog(toplevel, params, faults=(), build_root=DEFAULT_BUILD_ROOT):
    """Verilog of ``SystemBusTop(**params, faults=faults)`` named ``toplevel``, converted
    once per design: keyed by the parameters, the faults, the Amaranth version and the
    text of every source file of the design."""
    digest = hashlib.sha256(json.dumps([toplevel, params, sorted(faults),
                                        amaranth.__version__]).encode())
    for source in _SOURCES:
        digest.update(source.read_bytes())
    path = Path(build_root) / "verilog" / f"{toplevel}-{digest.hexdigest()[:12]}.v"
    if path.exists():
        return path.read_text()
    text = verilog.convert(SystemBusTop(**params, faults=faults), name=toplevel,
                           emit_src=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(path)               # never a half-written file under the real name
    return text
