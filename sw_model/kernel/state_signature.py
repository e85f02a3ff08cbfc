"""A complete signature of a run's state between two steps, for the explorer's state
hashing (docs/explore.md): two states with equal signatures behave the same from there.

It is the whole object graph reachable from the roots (the kernel, the platform, the
agents), serialized by the pickler (C speed; it numbers each object on first sight, so
sharing and identity are kept): equal signatures mean isomorphic graphs with equal
values. What the pickler cannot write is written here, by identity within this process
where it is the same in every run (classes, code objects, modules) and by content
otherwise: a suspended generator is its code, its position (``f_lasti``), what its frame
holds (its locals and its value stack, where a ``for`` loop keeps its iterator) and the
generator it delegates to; a function is its code, its defaults and its closure. So an
operation half-way through is as much a part of the state as the page tables.

Left out are the counters and logs that no decision reads (``SKIPPED``): the kernel's
``stats`` and ``accesses``, the platforms' statistics and clock. An object with a
``signature_state()`` method is written as what it returns (the page allocator: its
statistics left out, and its folios never handed out, as built, by address). Sets and dicts are
written in their iteration order, which follows insertion history: equal states may
then get different signatures, which only prunes less.
"""
import gc
import io
import pickle
import types

#: Attributes that only count or log, by class name.
SKIPPED = {"Kernel": {"stats", "accesses"},
           "UntimedBackend": {"_stats", "_cycles"}, "GoldenBackend": {"_stats", "_cycles"},
           "MemoryPort": {"stats"}}
_BY_IDENTITY = (type, types.CodeType, types.ModuleType, types.BuiltinFunctionType)


def _identity(number):
    """Stands for an object that is the same in every run (never called)."""


def _generator(code):
    """Stands for a suspended generator (never called)."""


def _function(code):
    """Stands for a function and its closure (never called)."""


def _instance(cls):
    """Stands for an object written without its skipped attributes (never called)."""


_MARKERS = {_identity, _generator, _function, _instance}
_EMPTY_CELL = "<empty cell>"


def _by_identity(x):
    return _identity, (id(x),)


# Contents go in the reduction's state, written after the object is numbered, so a
# cycle through it (a closure over the kernel that holds it) ends in a reference.
def _reduce_generator(x):
    # What the frame holds, as the garbage collector sees it: its locals and its value
    # stack, where a ``for`` loop keeps its iterator (which pickles with its position);
    # not the frame object itself, a view of the same that ``gi_frame`` makes.
    frame = x.gi_frame
    if frame is None:
        return _generator, (id(x.gi_code),), None
    held = [r for r in gc.get_referents(x) if type(r) is not types.FrameType]
    return _generator, (id(x.gi_code),), (frame.f_lasti, held, x.gi_yieldfrom)


def _reduce_cell(x):
    return _instance, (id(types.CellType),), _cell(x)


def _reduce_function(x):
    if x in _MARKERS:
        return NotImplemented                           # by reference
    return _function, (id(x.__code__),), (x.__defaults__, tuple(
        _cell(c) for c in x.__closure__ or ()))


def _reduce_namedtuple(x):
    return _instance, (id(type(x)),), tuple(x)


def _cell(cell):
    try:
        return cell.cell_contents
    except ValueError:
        return _EMPTY_CELL


def _reduction(t):
    """How objects of type ``t`` are written: None for the pickler's own way."""
    if issubclass(t, _BY_IDENTITY):
        return _by_identity
    if t is types.GeneratorType:
        return _reduce_generator
    if t is types.FunctionType:
        return _reduce_function
    if t is types.CellType:
        return _reduce_cell
    if issubclass(t, tuple):                          # namedtuples, by their class
        return _reduce_namedtuple
    if hasattr(t, "signature_state"):
        return lambda x: (_instance, (id(t),), x.signature_state())
    skip = SKIPPED.get(t.__name__)
    if skip is not None:
        return lambda x: (_instance, (id(t),),
                          {k: v for k, v in vars(x).items() if k not in skip})
    return None


class _Signer(pickle.Pickler):
    reductions = {}                                   # type -> _reduction(type)

    def reducer_override(self, x):
        t = type(x)
        try:
            reduce = self.reductions[t]
        except KeyError:
            reduce = self.reductions[t] = _reduction(t)
        return NotImplemented if reduce is None else reduce(x)


def signature(*roots):
    """The signature of everything reachable from ``roots`` (bytes)."""
    out = io.BytesIO()
    _Signer(out, protocol=pickle.HIGHEST_PROTOCOL).dump(roots)
    return out.getvalue()
