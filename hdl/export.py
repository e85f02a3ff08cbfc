"""Verilog of a component whose signature has constant members (e.g. the ``ready`` of an
``always_ready`` stream): those become constants inside, not ports."""
from amaranth.back import verilog
from amaranth.hdl import Const, Value


def component_ports(component):
    """The signals of every non-constant signature member."""
    return [Value.cast(value) for _, _, value in component.signature.flatten(component)
            if not isinstance(value, Const)]


def to_verilog(component, name):
    return verilog.convert(component, name=name, ports=component_ports(component),
                           emit_src=False)
