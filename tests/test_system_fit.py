"""The place-and-route top of the system alone: two ports, every System input on the
shift register, every output in the fold (the P&R itself takes minutes: docs/benchmarks.md)."""
import pytest
from amaranth.hdl import Const, Fragment, Value
from amaranth.lib.wiring import In

from hdl.system import System
from sim.system_fit import FitTop

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def test_fit_top_drives_every_input_from_the_chain():
    system = System(cpus=1, devices=0, tlb_entries=4)
    widths = {In: 0, "out": 0}
    for _, member, value in system.signature.flatten(system):
        if not isinstance(value, Const):
            widths[In if member.flow == In else "out"] += len(Value.cast(value))
    top = FitTop(system)
    Fragment.get(top, None)
    assert list(top.signature.members) == ["sin", "sout"]
    assert top.chain_bits == widths[In] > 600 and widths["out"] > 300
