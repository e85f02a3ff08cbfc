"""Pack and unpack integers with the field offsets of an amaranth ``lib.data`` layout.

The RTL and the model share one layout definition; this turns a layout into plain
(name, offset, width) triples once, so per-cycle packing is a few shifts.
"""
from types import SimpleNamespace

from amaranth.hdl import Shape
from amaranth.lib import data


class Codec:
    """Converts between an integer and the named fields of ``layout`` (nested structs
    become nested namespaces; enum fields stay plain integers)."""

    def __init__(self, layout):
        self.layout = data.Layout.cast(layout)
        self.width = self.layout.size
        self._fields = []
        for name, field in self.layout:
            sub = field.shape
            nested = Codec(sub) if isinstance(sub, data.Layout) or _is_struct(sub) else None
            self._fields.append((name, field.offset, (1 << Shape.cast(field.shape).width) - 1,
                                 nested))
        self._names = frozenset(name for name, *_ in self._fields)

    def pack(self, **values):
        """Integer with each named field set; absent fields are zero. A nested field takes
        an int or a dict. A value that does not fit its field is a ValueError."""
        if not values.keys() <= self._names:
            raise ValueError(f"unknown field(s) {sorted(values.keys() - self._names)}")
        result = 0
        for name, offset, mask, nested in self._fields:
            value = values.get(name, 0)
            if isinstance(value, dict):
                value = nested.pack(**value)
            value = int(value)
            if value < 0 or value > mask:
                raise ValueError(f"field {name}={value:#x} does not fit in "
                                 f"{mask.bit_length()} bits")
            result |= value << offset
        return result

    def unpack(self, value):
        """Namespace with one attribute per field."""
        out = SimpleNamespace()
        for name, offset, mask, nested in self._fields:
            field = (value >> offset) & mask
            setattr(out, name, nested.unpack(field) if nested else field)
        return out

    def field(self, name):
        """(offset, mask) of a top-level field, for hot paths that read just one."""
        for fname, offset, mask, _ in self._fields:
            if fname == name:
                return offset, mask
        raise KeyError(name)


def _is_struct(shape):
    return isinstance(shape, type) and issubclass(shape, data.Struct)
