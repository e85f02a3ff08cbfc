"""Pack and unpack integers with the field offsets of an amaranth ``lib.data`` layout.

The RTL and the model share one layout definition; this turns a layout into plain
(name, offset, width) triples once, so per-cycle packing is a few shifts.
"""
from collections import namedtuple

from amaranth.hdl import Shape
from amaranth.lib import data


class Codec:
    """Converts between an integer and the named fields of ``layout`` (nested structs
    become nested named tuples; enum fields stay plain integers)."""

    def __init__(self, layout):
        self.layout = data.Layout.cast(layout)
        self.width = self.layout.size
        self._fields = []
        for name, field in self.layout:
            sub = field.shape
            nested = Codec(sub) if isinstance(sub, data.Layout) or _is_struct(sub) else None
            self._fields.append((name, field.offset, (1 << Shape.cast(field.shape).width) - 1,
                                 nested))
        self._by_name = {name: (offset, mask, nested)
                         for name, offset, mask, nested in self._fields}
        self._tuple = namedtuple(getattr(layout, "__name__", "Fields"),
                                 [name for name, *_ in self._fields])
        self._flat = all(nested is None for *_, nested in self._fields)

    def pack(self, **values):
        """Integer with each named field set; absent fields are zero. A nested field takes
        an int or a dict. A value that does not fit its field is a ValueError."""
        result = 0
        for name, value in values.items():
            try:
                offset, mask, nested = self._by_name[name]
            except KeyError:
                raise ValueError(f"unknown field {name!r}") from None
            if nested is not None and isinstance(value, dict):
                value = nested.pack(**value)
            if not 0 <= value <= mask:
                raise ValueError(f"field {name}={value:#x} does not fit in "
                                 f"{mask.bit_length()} bits")
            result |= value << offset
        return result

    def unpack(self, value):
        """Immutable named tuple with one attribute per field."""
        if self._flat:
            return self._tuple._make([(value >> offset) & mask
                                      for _, offset, mask, _ in self._fields])
        return self._tuple._make([nested.unpack((value >> offset) & mask) if nested
                                  else (value >> offset) & mask
                                  for _, offset, mask, nested in self._fields])

    def field(self, name):
        """(offset, mask) of a top-level field, for hot paths that read just one."""
        for fname, offset, mask, _ in self._fields:
            if fname == name:
                return offset, mask
        raise KeyError(name)


def _is_struct(shape):
    return isinstance(shape, type) and issubclass(shape, data.Struct)
