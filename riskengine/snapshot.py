r"""Snapshots of engine state: exact, versioned, and restored without running foreign code.

:func:`dumps` turns an object graph (models, positions, P&L, limits, the
throttle window) into bytes; :func:`loads` turns the bytes back into an equal
graph, so an engine restored from a snapshot continues bit-identically: after
N more updates its state equals that of an engine that never stopped.

**Format.** A zip archive (members in this order, fixed timestamps, so equal
states give equal bytes):

- ``manifest.json``: ``{"format": "riskengine-snapshot", "format_version": 1,
  "kind": ..., "version": ..., "riskengine_version": ..., "libraries": {...}}``.
  ``kind`` and ``version`` are the caller's: what the state is (``"engine"``)
  and the version of its layout. :func:`loads` refuses a snapshot whose
  ``format``, ``format_version``, ``kind`` or ``version`` differs from what it
  expects, naming both. ``libraries`` (numpy, river) is for diagnosis only.
- ``state.json``: ``{"root": node}``, plain JSON (no ``NaN``/``Infinity``
  tokens). A node is ``null``, ``true``/``false``, an integer, a string, a
  finite float (written as ``repr(float)``, which reads back exactly, ``-0.0``
  and subnormals included), or an object tagged by ``"t"``:

  ========================  ===================================================
  ``float``                 ``"v"``: ``"inf"``, ``"-inf"``, ``"nan"`` or
                            ``"nan:<16 hex digits>"`` (a NaN's exact bits)
  ``complex``, ``bytes``    ``"v"``: ``[re, im]``; ``"hex"``
  ``list``, ``tuple``       ``"v"``: the items
  ``dict``, ``odict``,      ``"v"``: ``[[key, value], ...]`` in order (keys
  ``counter``               keep their type); ``defaultdict`` adds
                            ``"factory"`` (``"float"``, ``"int"``, ...)
  ``deque``                 ``"v"`` and ``"maxlen"``
  ``set``, ``frozenset``    ``"v"``: the items, sorted by their JSON
  ``ndarray``               ``"file"`` (``arrays/<n>.npy``), ``"dtype"``,
                            ``"shape"``, ``"writeable"``
  ``numpy``                 a numpy scalar: ``"dtype"`` and ``"v"`` (its value)
                            or ``"hex"`` (its bytes)
  ``obj``                   an allow-listed instance: ``"cls"``, ``"dict"``
                            (its ``__dict__``) and/or ``"slots"``
  ``custom``                an allow-listed class with its own functions:
                            ``"cls"`` and ``"state"``
  ``enum``, ``namedtuple``  ``"cls"`` and ``"v"`` (member name; items)
  ``ref``                   ``"id"``: the same object as the node carrying
                            that ``"id"`` (shared references and cycles)
  ========================  ===================================================

- ``arrays/<n>.npy``: numpy arrays in the ``.npy`` format, read back with
  ``allow_pickle=False``: dtype (byte order included) and shape exact,
  read-only arrays read-only again.

**Safety.** Loading never imports a module a snapshot names, never
unpickles, never calls ``eval``, ``__reduce__`` or ``__setstate__``. A class
named in a snapshot is looked up in the allow-list (:func:`register`) and
nowhere else; an unlisted name (``os.system``, ``subprocess.Popen``, an
unregistered riskengine class) raises
:class:`~riskengine.errors.InvalidSnapshot` naming it, and nothing of it is
imported, called or instantiated. An allow-listed class is rebuilt as ``cls.__new__(cls)`` plus its
``__dict__``/``__slots__`` values (attribute names must be identifiers that
do not shadow a method or property), or by its registered ``from_state``.
That rules out running code, not nonsense numbers: a snapshot whose bytes
someone else could have changed should be authenticated (an HMAC over the
bytes) before it is loaded.

**Not snapshotted.** ``river.drift.ADWIN`` (:class:`~riskengine.regime.DriftDetector`'s
default ``method="adwin"``) keeps its window in a Rust object,
``AdaptiveWindowing``, whose public API exposes only the window's width,
total, variance and detection count, not the bucket histogram the next update
continues from; the only way back in is handing river's private binary blob
to native code. :func:`dumps` raises ``TypeError`` for it; use
``DriftDetector("page_hinkley")`` in an engine that must snapshot.
Functions, bound methods, modules, classes, object arrays and unregistered
types raise ``TypeError`` at dump time, naming the path to them.

**For integrators.** The allow-list holds every class the forecast and regime
models put in their state, the order types of :mod:`riskengine.risk.orders`,
and the river classes those models use (:func:`registered_classes`). Every
other class (the engine, its config and state dataclasses, limit-transform
NamedTuple states, reason-code enums) must be registered, in the process
that loads as well as the one that dumps; ``@register`` works as a class
decorator. Plain instances, frozen or slotted dataclasses, NamedTuples and
enums need no functions; a class that keeps bound methods or native objects
needs ``to_state``/``from_state``. Sets are restored with their elements but
not necessarily their iteration order (which differs between Python
processes anyway), and an array that was a view of another is restored as a
separate array.

Examples
--------
>>> from collections import deque
>>> state = {"positions": {"SPX": 10.0}, "window": deque([1, 2], maxlen=3), "pnl": -0.0}
>>> data = dumps(state, kind="example", version=1)
>>> data[:2]  # a zip archive
b'PK'
>>> loads(data, kind="example", version=1)
{'positions': {'SPX': 10.0}, 'window': deque([1, 2], maxlen=3), 'pnl': -0.0}
>>> loads(data, kind="example", version=2)
Traceback (most recent call last):
riskengine.errors.InvalidSnapshot: version: expected 2, the snapshot has version 1 ...
>>> dumps({"f": len}, kind="example", version=1)
Traceback (most recent call last):
TypeError: obj['f']: builtins.builtin_function_or_method cannot be snapshotted: ...
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import inspect
import io
import json
import math
import re
import struct
import sys
import threading
import types
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from riskengine import __version__
from riskengine.errors import InvalidSnapshot

__all__ = ["FORMAT", "FORMAT_VERSION", "dumps", "loads", "register", "registered_classes"]

FORMAT = "riskengine-snapshot"
FORMAT_VERSION = 1

_MANIFEST = "manifest.json"
_STATE = "state.json"
_ARRAY_NAME = re.compile(r"arrays/(0|[1-9][0-9]*)\.npy")
# Fixed member metadata: equal states give equal bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# A member that says it unpacks to more than this is refused unread (zip bombs).
_MAX_MEMBER_BYTES = 1 << 30
_CANONICAL_NAN_BITS = 0x7FF8000000000000
# The only callables a snapshot may name: a defaultdict's default_factory.
_FACTORIES: dict[str, type] = {
    "bool": bool,
    "dict": dict,
    "float": float,
    "int": int,
    "list": list,
    "set": set,
    "str": str,
    "tuple": tuple,
}
_FACTORY_NAMES = {factory: name for name, factory in _FACTORIES.items()}
# numpy scalar kinds: bool, ints, floats, complex, datetime, timedelta, bytes, str.
_SCALAR_KINDS = "biufcmMSU"
_MISSING = object()
# Types that must not be registered for the generic path: their state is not
# in __dict__/__slots__.
_CONTAINERS = (
    bool,
    bytes,
    bytearray,
    complex,
    dict,
    float,
    frozenset,
    int,
    list,
    set,
    str,
    tuple,
    collections.deque,
    np.ndarray,
    np.generic,
)
_CALLABLES = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.ModuleType,
    type,
    functools.partial,
)


# --------------------------------------------------------------------- registry
@dataclasses.dataclass(frozen=True)
class _Entry:
    cls: type
    to_state: Callable[[Any], Any] | None
    from_state: Callable[[Any], Any] | None


class _Registry:
    """The allow-list: class -> entry for dumping, qualified name -> entry for loading."""

    def __init__(self) -> None:
        self.by_class: dict[type, _Entry] = {}
        self.by_name: dict[str, _Entry] = {}
        self.defaults_loaded = False
        self.lock = threading.Lock()

    def add(self, entry: _Entry, *, replace: bool = True) -> None:
        name = _qualified_name(entry.cls)
        known = self.by_name.get(name)
        if known is not None and known.cls is not entry.cls and not _reachable(entry.cls):
            raise ValueError(
                f"cls: another class is registered as {name!r}; snapshots name classes "
                "by module and qualified name, which must be unique"
            )
        if known is not None and not replace:
            return
        self.by_class[entry.cls] = entry
        self.by_name[name] = entry

    def copy(self) -> _Registry:
        twin = _Registry()
        twin.by_class, twin.by_name = dict(self.by_class), dict(self.by_name)
        twin.defaults_loaded = self.defaults_loaded
        return twin


_REGISTRY = _Registry()


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _reachable(cls: type) -> bool:
    """True if ``cls`` is what its module now holds under its name (so it may replace
    an older class of that name, as after a module reload); no import is made."""
    target: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        target = inspect.getattr_static(target, part, None)
    return target is cls


def _is_namedtuple(cls: type) -> bool:
    return issubclass(cls, tuple) and isinstance(getattr(cls, "_fields", None), tuple)


@functools.cache
def _slot_names(cls: type) -> tuple[str, ...]:
    """Every slot an instance of ``cls`` can hold (private names mangled), in MRO order."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        slots = vars(klass).get("__slots__", ())
        for slot in (slots,) if isinstance(slots, str) else slots:
            if slot in ("__dict__", "__weakref__"):
                continue
            if slot.startswith("__") and not slot.endswith("__"):
                slot = f"_{klass.__name__.lstrip('_')}{slot}"
            if slot not in names:
                names.append(slot)
    return tuple(names)


def _has_dict(cls: type) -> bool:
    return any("__dict__" in vars(klass) for klass in cls.__mro__ if klass is not object)


def register(
    cls: type,
    to_state: Callable[[Any], Any] | None = None,
    from_state: Callable[[Any], Any] | None = None,
) -> type:
    """Allow instances of ``cls`` in snapshots; returns ``cls`` (so it works as a decorator).

    Without functions, an instance is saved as its ``__dict__`` and
    ``__slots__`` values and rebuilt as ``cls.__new__(cls)`` plus those values
    (``__init__`` does not run); an enum member by its name; a NamedTuple by its
    items. With ``to_state(obj)`` (any snapshot-able value: plain data,
    arrays, other allow-listed objects) and ``from_state(state) -> obj``, those
    functions do it instead: use them for a class that keeps bound methods,
    native (C or Rust) objects or caches it can rebuild. ``from_state``
    receives decoded, allow-listed values only, but should check what it is
    given: raising any exception turns into
    :class:`~riskengine.errors.InvalidSnapshot`.

    A class is named in a snapshot by ``module.qualname``: register it in the
    process that loads as well as the one that dumps.

    >>> @register
    ... class Throttle:
    ...     def __init__(self, limit):
    ...         self.limit = limit
    ...         self._sent = []
    >>> loads(dumps(Throttle(5), kind="throttle", version=1), kind="throttle", version=1).limit
    5
    """
    if not isinstance(cls, type):
        raise TypeError(f"cls: expected a class, got {type(cls).__name__}")
    if (to_state is None) != (from_state is None):
        raise TypeError("to_state, from_state: give both or neither")
    for name, function in (("to_state", to_state), ("from_state", from_state)):
        if function is not None and not callable(function):
            raise TypeError(f"{name}: expected a callable, got {type(function).__name__}")
    if to_state is None and not (issubclass(cls, enum.Enum) or _is_namedtuple(cls)):
        if issubclass(cls, _CONTAINERS):
            raise TypeError(
                f"cls: {_qualified_name(cls)} subclasses a built-in container or scalar whose "
                "contents are not in __dict__; give to_state and from_state"
            )
        if not _has_dict(cls) and not _slot_names(cls):
            raise TypeError(
                f"cls: {_qualified_name(cls)} keeps its state outside __dict__ and __slots__ "
                "(a native object?); give to_state and from_state"
            )
    _REGISTRY.add(_Entry(cls, to_state, from_state))
    return cls


def registered_classes() -> tuple[str, ...]:
    """The allow-list: the qualified name of every class a snapshot may contain, sorted.

    >>> "riskengine.forecast.garch.OnlineGARCH" in registered_classes()
    True
    >>> "river.drift.adwin.ADWIN" in registered_classes()
    False
    """
    _ensure_defaults()
    return tuple(sorted(_REGISTRY.by_name))


# Classes refused at dump time, with the reason (checked only if not registered).
_REFUSED: dict[str, str] = {}
_ADWIN_REASON = (
    "ADWIN cannot be snapshotted safely; use page_hinkley (DriftDetector('page_hinkley')). "
    "Its window lives in river's Rust AdaptiveWindowing, whose public API exposes only "
    "width, total, variance and n_detections, not the bucket histogram the next update "
    "continues from; restoring it would mean feeding river's private binary state to "
    "native code"
)


def _page_hinkley_functions(cls: type) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """river's PageHinkley: its attributes less ``_test_drift``, the bound method ``mode`` picks."""
    tests = {"up": "_test_increase", "down": "_test_decrease", "both": "_test_both"}

    def to_state(detector: Any) -> dict[str, Any]:
        state = dict(vars(detector))
        test = state.pop("_test_drift", None)
        expected = tests.get(detector.mode)
        if (
            expected is None
            or getattr(test, "__self__", None) is not detector
            or getattr(test, "__func__", None) is not getattr(cls, expected)
        ):
            raise TypeError(f"_test_drift is not the test its mode {detector.mode!r} selects")
        return state

    def from_state(state: Any) -> Any:
        if not isinstance(state, dict):
            raise TypeError(f"expected a dict of attributes, got {type(state).__name__}")
        expected = tests.get(state.get("mode"))
        if expected is None:
            raise ValueError(f"mode: expected one of {sorted(tests)}, got {state.get('mode')!r}")
        for name in state:
            problem = _attribute_problem(cls, name)
            if problem:
                raise ValueError(problem)
        detector = cls.__new__(cls)
        detector.__dict__.update(state)
        detector._test_drift = getattr(detector, expected)
        return detector

    return to_state, from_state


def _vector_dict_functions(
    cls: type, initializer: type
) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """river's Rust VectorDict: its constructor arguments, keys in their order."""

    def to_state(vector: Any) -> dict[str, Any]:
        constructor, arguments = vector.__reduce__()[:2]  # dump side only: reads the data
        if constructor is not cls or len(arguments) != 4:
            raise TypeError("VectorDict.__reduce__ changed shape; update riskengine.snapshot")
        data, default_factory, mask, _copy = arguments
        return {"data": dict(data), "default_factory": default_factory, "mask": mask}

    def from_state(state: Any) -> Any:
        if not isinstance(state, dict) or set(state) != {"data", "default_factory", "mask"}:
            raise TypeError("expected {'data', 'default_factory', 'mask'}")
        data, default_factory, mask = state["data"], state["default_factory"], state["mask"]
        if not isinstance(data, dict) or not all(type(v) in (int, float) for v in data.values()):
            raise TypeError("data: expected a dict of numbers")
        if default_factory is not None and not isinstance(default_factory, initializer):
            raise TypeError("default_factory: expected None or a river initializer")
        if mask is not None and not isinstance(mask, (set, frozenset)):
            raise TypeError("mask: expected None or a set")
        return cls(data, default_factory, mask, True)

    return to_state, from_state


def _ensure_defaults() -> None:
    """Register the default allow-list once (lazily, so riskengine modules may import us)."""
    if _REGISTRY.defaults_loaded:
        return
    with _REGISTRY.lock:
        if _REGISTRY.defaults_loaded:
            return
        from river import compose, covariance, drift, linear_model, optim, preprocessing, stats
        from river.optim.base import Initializer
        from river.utils import VectorDict

        from riskengine.engine import config as engine_config
        from riskengine.engine import state as engine_state
        from riskengine.forecast import dcc, ewma, ewma_covariance, garch, learned, shrinkage
        from riskengine.regime import adaptation, bocpd, detector, hmm
        from riskengine.regime import drift as regime_drift
        from riskengine.risk import execution_params, limits, model_stack, orders, pretrade, var

        generic = (
            # riskengine: every class found in the models' state, and the order types.
            garch.OnlineGARCH,
            garch.GARCHParams,
            garch.RefitReport,
            dcc.OnlineDCC,
            dcc.DCCParams,
            ewma.EWMAVol,
            ewma_covariance.EWMACovariance,
            learned.LearnedVolForecaster,
            learned.QLIKELoss,
            shrinkage.ShrunkEstimate,
            hmm.OnlineRegimeHMM,
            hmm.HMMParams,
            bocpd.BOCPD,
            regime_drift.DriftDetector,
            detector.RegimeSwitchDetector,
            adaptation.DriftAdaptedForecaster,
            orders.Order,
            orders.Fill,
            orders.Decision,
            orders.ReasonCode,
            orders.TradingState,
            # The engine's own state: controls, model stack, limit-chain states, answers.
            pretrade.PreTradeControls,
            pretrade.HardLimits,
            pretrade.DynamicCaps,
            model_stack.RiskModels,
            model_stack.ModelConfig,
            var.Innovations,
            limits.Limits,
            limits.LimitInputs,
            limits.EmptyState,
            limits.ChangepointState,
            limits.SmoothState,
            limits.DynamicLimitsConfig,
            execution_params.ExecutionParams,
            execution_params.ExecutionConfig,
            engine_config.EngineConfig,
            engine_state.EngineLimits,
            engine_state.RiskState,
            # river: what EWMACovariance, LearnedVolForecaster and Page-Hinkley hold.
            compose.Pipeline,
            covariance.ShrunkCovariance,
            linear_model.LinearRegression,
            optim.SGD,
            optim.schedulers.Constant,
            optim.initializers.Zeros,
            preprocessing.StandardScaler,
            stats.Mean,
        )
        for cls in generic:
            _REGISTRY.add(_Entry(cls, None, None), replace=False)
        custom = (
            (drift.PageHinkley, *_page_hinkley_functions(drift.PageHinkley)),
            (VectorDict, *_vector_dict_functions(VectorDict, Initializer)),
        )
        for cls, to_state, from_state in custom:
            _REGISTRY.add(_Entry(cls, to_state, from_state), replace=False)
        _REFUSED[_qualified_name(drift.ADWIN)] = _ADWIN_REASON
        _REFUSED[_qualified_name(type(drift.ADWIN()._helper))] = _ADWIN_REASON
        _REGISTRY.defaults_loaded = True


def _attribute_problem(cls: type, name: Any) -> str | None:
    """Why ``name`` may not be an instance attribute of ``cls`` in a snapshot, or None."""
    if type(name) is not str or not name.isidentifier():
        return f"attribute name {name!r} is not an identifier"
    if name.startswith("__") and name.endswith("__"):
        return f"attribute {name!r} is a special name"
    static = inspect.getattr_static(cls, name, _MISSING)
    if (
        static is not _MISSING
        and hasattr(type(static), "__get__")
        and not isinstance(static, functools.cached_property)
    ):
        return f"attribute {name!r} would shadow {cls.__qualname__}.{name}"
    return None


# --------------------------------------------------------------------- encoding
class _DumpError(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[Any] = []


def _format_path(root: str, segments: list[Any]) -> str:
    parts = [root]
    for segment in reversed(segments):
        if isinstance(segment, tuple):  # ("key", k): a dict value under key k
            text = repr(segment[1])
            parts.append(f"[{text if len(text) <= 40 else text[:37] + '...'}]")
        else:
            parts.append(segment)
    return "".join(parts)


def _nonfinite(value: float) -> dict[str, Any]:
    if value != value:
        bits = struct.unpack("<Q", struct.pack("<d", value))[0]
        text = "nan" if bits == _CANONICAL_NAN_BITS else f"nan:{bits:016x}"
    else:
        text = "inf" if value > 0 else "-inf"
    return {"t": "float", "v": text}


def _float_node(value: float) -> Any:
    return value if math.isfinite(value) else _nonfinite(value)


def _unsupported(value: Any) -> str:
    cls = type(value)
    name = _qualified_name(cls)
    if name in _REFUSED:
        return _REFUSED[name]
    if isinstance(value, _CALLABLES):
        return (
            f"{name} cannot be snapshotted: functions, methods, modules and classes are not "
            "state; register a to_state/from_state for the class that holds it"
        )
    return (
        f"{name} is not on the snapshot allow-list; "
        f"register it with riskengine.snapshot.register({cls.__qualname__})"
    )


class _Encoder:
    def __init__(self) -> None:
        self._memo: dict[int, dict[str, Any]] = {}
        self._alive: list[Any] = []  # keeps memoised objects alive, so ids stay unique
        self._referenced: set[int] = set()
        self._building: set[int] = set()  # custom objects whose state is being encoded
        self.arrays: list[bytes] = []

    def encode_root(self, value: Any) -> Any:
        node = self.encode(value)
        for memoised in self._memo.values():  # ids only where a "ref" points at them
            if memoised["id"] not in self._referenced:
                del memoised["id"]
        return node

    def encode(self, value: Any) -> Any:
        cls = type(value)
        if value is None or cls is bool or cls is int or cls is str:
            return value
        if cls is float:
            return _float_node(value)
        method = _ENCODERS.get(cls)
        if method is not None:
            return method(self, value)
        if isinstance(value, np.generic):
            return _numpy_scalar(value)
        return self._registered(value)

    def _child(self, value: Any, segment: Any) -> Any:
        try:
            return self.encode(value)
        except _DumpError as error:
            error.path.append(segment)
            raise

    def _shared(self, value: Any) -> dict[str, Any] | None:
        if id(value) in self._building:
            raise _DumpError(
                f"{_qualified_name(type(value))} refers back to itself through its to_state"
            )
        node = self._memo.get(id(value))
        if node is None:
            return None
        self._referenced.add(node["id"])
        return {"t": "ref", "id": node["id"]}

    def _new(self, value: Any, node: dict[str, Any]) -> dict[str, Any]:
        node["id"] = len(self._memo)
        self._memo[id(value)] = node
        self._alive.append(value)
        return node

    def _items(self, values: Any) -> list[Any]:
        return [self._child(item, f"[{i}]") for i, item in enumerate(values)]

    def _pairs(self, mapping: Any) -> list[list[Any]]:
        return [
            [self._child(key, f"<key {i}>"), self._child(item, ("key", key))]
            for i, (key, item) in enumerate(mapping.items())
        ]

    def _list(self, value: list) -> Any:
        if (ref := self._shared(value)) is not None:
            return ref
        node = self._new(value, {"t": "list"})
        node["v"] = self._items(value)
        return node

    def _tuple(self, value: tuple) -> Any:
        return {"t": "tuple", "v": self._items(value)}

    def _dict(self, value: dict) -> Any:
        if (ref := self._shared(value)) is not None:
            return ref
        tag = {dict: "dict", collections.OrderedDict: "odict", collections.Counter: "counter"}
        node = self._new(value, {"t": tag[type(value)]})
        node["v"] = self._pairs(value)
        return node

    def _defaultdict(self, value: collections.defaultdict) -> Any:
        if (ref := self._shared(value)) is not None:
            return ref
        factory = value.default_factory
        if factory is not None and factory not in _FACTORY_NAMES:
            raise _DumpError(
                f"a defaultdict whose default_factory is {factory!r} cannot be snapshotted "
                f"(allowed: None, {', '.join(sorted(_FACTORIES))})"
            )
        node = self._new(value, {"t": "defaultdict"})
        node["factory"] = None if factory is None else _FACTORY_NAMES[factory]
        node["v"] = self._pairs(value)
        return node

    def _deque(self, value: collections.deque) -> Any:
        if (ref := self._shared(value)) is not None:
            return ref
        node = self._new(value, {"t": "deque"})
        node["maxlen"] = value.maxlen
        node["v"] = self._items(value)
        return node

    def _set(self, value: set | frozenset) -> Any:
        mutable = type(value) is set
        if mutable and (ref := self._shared(value)) is not None:
            return ref
        node = {"t": "set" if mutable else "frozenset"}
        if mutable:
            self._new(value, node)
        items = [self._child(item, "<set item>") for item in value]
        node["v"] = sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
        return node

    def _complex(self, value: complex) -> Any:
        return {"t": "complex", "v": [_float_node(value.real), _float_node(value.imag)]}

    def _bytes(self, value: bytes) -> Any:
        return {"t": "bytes", "hex": value.hex()}

    def _array(self, value: np.ndarray) -> Any:
        if (ref := self._shared(value)) is not None:
            return ref
        if value.dtype.hasobject:
            raise _DumpError(
                f"an array of dtype {value.dtype} holds Python objects, which cannot be "
                "snapshotted (np.load(allow_pickle=False) refuses them)"
            )
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        name = f"arrays/{len(self.arrays)}.npy"
        self.arrays.append(buffer.getvalue())
        node = self._new(value, {"t": "ndarray"})
        node.update(
            file=name,
            dtype=value.dtype.str,
            shape=list(value.shape),
            writeable=bool(value.flags.writeable),
        )
        return node

    def _registered(self, value: Any) -> Any:
        cls = type(value)
        entry = _REGISTRY.by_class.get(cls)
        if entry is None:
            raise _DumpError(_unsupported(value))
        name = _qualified_name(cls)
        if entry.to_state is None and issubclass(cls, enum.Enum):
            return {"t": "enum", "cls": name, "v": value.name}
        if entry.to_state is None and _is_namedtuple(cls):
            fields = cls._fields
            return {
                "t": "namedtuple",
                "cls": name,
                "v": [self._child(item, f".{fields[i]}") for i, item in enumerate(value)],
            }
        if (ref := self._shared(value)) is not None:
            return ref
        if entry.to_state is not None:
            self._building.add(id(value))
            try:
                state = entry.to_state(value)
            except Exception as error:
                raise _DumpError(f"{name}: {error}") from None
            encoded = self._child(state, "")
            self._building.discard(id(value))
            self._alive.append(state)
            node = self._new(value, {"t": "custom", "cls": name})
            node["state"] = encoded
            return node
        node = self._new(value, {"t": "obj", "cls": name})
        attributes = getattr(value, "__dict__", None)
        if attributes is not None:
            encoded_attributes = {}
            for key, item in attributes.items():
                problem = _attribute_problem(cls, key)
                if problem:
                    raise _DumpError(f"{name}: {problem}")
                encoded_attributes[key] = self._child(item, f".{key}")
            node["dict"] = encoded_attributes
        slots = {}
        for slot in _slot_names(cls):
            item = getattr(value, slot, _MISSING)
            if item is not _MISSING:
                slots[slot] = self._child(item, f".{slot}")
        if slots:
            node["slots"] = slots
        return node


_ENCODERS: dict[type, Callable[[_Encoder, Any], Any]] = {
    list: _Encoder._list,
    tuple: _Encoder._tuple,
    dict: _Encoder._dict,
    collections.OrderedDict: _Encoder._dict,
    collections.Counter: _Encoder._dict,
    collections.defaultdict: _Encoder._defaultdict,
    collections.deque: _Encoder._deque,
    set: _Encoder._set,
    frozenset: _Encoder._set,
    complex: _Encoder._complex,
    bytes: _Encoder._bytes,
    np.ndarray: _Encoder._array,
}


def _numpy_scalar(value: np.generic) -> dict[str, Any]:
    dtype = value.dtype
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in _SCALAR_KINDS:
        raise _DumpError(f"a numpy scalar of dtype {dtype} cannot be snapshotted")
    node: dict[str, Any] = {"t": "numpy", "dtype": dtype.str}
    if dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8):
        python = value.item()
        if np.array(python, dtype=dtype).tobytes() == value.tobytes():  # exact, NaN bits too
            node["v"] = _float_node(python) if type(python) is float else python
            return node
    node["hex"] = value.tobytes().hex()
    return node


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, payload)
    return buffer.getvalue()


def _check_label(kind: Any, version: Any) -> None:
    if type(kind) is not str or not kind:
        raise TypeError(f"kind: expected a non-empty string, got {kind!r}")
    if type(version) is not int:
        raise TypeError(f"version: expected an int, got {type(version).__name__}")
    if version < 0:
        raise ValueError(f"version: must be >= 0, got {version}")


def _libraries() -> dict[str, str]:
    river = sys.modules.get("river")
    return {"numpy": np.__version__, "river": getattr(river, "__version__", "not loaded")}


def dumps(obj: Any, *, kind: str, version: int) -> bytes:
    """Serialise ``obj`` (an engine's whole state, or one model) to snapshot bytes.

    Parameters
    ----------
    obj : object
        Plain data (None, bool, int, float, complex, str, bytes, list, tuple,
        dict, OrderedDict, Counter, defaultdict with a built-in factory, deque,
        set, frozenset), numpy arrays and scalars, and instances of allow-listed
        classes (:func:`registered_classes`), nested and shared freely
        (shared references and cycles are kept).
    kind : str
        What the state is (``"engine"``, ``"garch"``): :func:`loads` must be
        asked for the same kind.
    version : int
        The version of that state's layout: :func:`loads` must be asked for
        the same one. Bump it when the state's classes change incompatibly.

    Returns
    -------
    bytes
        A zip archive (module docstring); equal states give equal bytes.

    Raises
    ------
    TypeError
        If the graph holds something that cannot be restored exactly and
        safely (an unregistered class, a function or bound method, an object
        array, river's ADWIN), naming the path to it; or for a bad ``kind``
        or ``version``.

    Examples
    --------
    >>> from riskengine.forecast import EWMAVol
    >>> model = EWMAVol(lam=0.9, warmup=2)
    >>> for r in (0.01, -0.02, 0.015):
    ...     model.update(r)
    >>> twin = loads(dumps(model, kind="ewma", version=1), kind="ewma", version=1)
    >>> model.update(0.03); twin.update(0.03)
    >>> twin.variance() == model.variance()
    True
    """
    _check_label(kind, version)
    _ensure_defaults()
    encoder = _Encoder()
    try:
        root = encoder.encode_root(obj)
    except _DumpError as error:
        raise TypeError(f"{_format_path('obj', error.path)}: {error.problem}") from None
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "version": version,
        "riskengine_version": __version__,
        "libraries": _libraries(),
    }
    members = [
        (_MANIFEST, json.dumps(manifest, indent=1).encode("ascii")),
        (_STATE, json.dumps({"root": root}, allow_nan=False, separators=(",", ":")).encode()),
    ]
    members += [(f"arrays/{i}.npy", payload) for i, payload in enumerate(encoder.arrays)]
    return _zip(members)


# --------------------------------------------------------------------- decoding
class _LoadError(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[Any] = []


def _reject_constant(token: str) -> None:
    raise ValueError(f"non-standard JSON token {token}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return result


def _field(node: dict[str, Any], name: str, kinds: type | tuple[type, ...]) -> Any:
    value = node.get(name, _MISSING)
    if value is _MISSING:
        raise _LoadError(f"{node.get('t')!r} node has no {name!r}")
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
        raise _LoadError(f"{node.get('t')!r} node: {name!r} is a {type(value).__name__}")
    return value


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _decode_float(node: dict[str, Any]) -> float:
    text = _field(node, "v", str)
    if text in ("inf", "-inf"):
        return float(text)
    if text == "nan":
        return float("nan")
    if text.startswith("nan:") and re.fullmatch(r"[0-9a-f]{16}", text[4:]):
        value = struct.unpack("<d", struct.pack("<Q", int(text[4:], 16)))[0]
        if value != value:
            return value
    raise _LoadError(f"{text!r} is not a non-finite float")


def _scalar_dtype(text: Any) -> np.dtype:
    if type(text) is not str:
        raise _LoadError(f"dtype {text!r} is not a string")
    try:
        dtype = np.dtype(text)
    except TypeError:
        raise _LoadError(f"{text!r} is not a numpy dtype") from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in _SCALAR_KINDS:
        raise _LoadError(f"dtype {text!r} is not allowed in a snapshot")
    return dtype


class _Decoder:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive
        self._memo: dict[int, Any] = {}
        self.files: set[str] = set()

    def child(self, node: Any, segment: Any) -> Any:
        try:
            return self.decode(node)
        except _LoadError as error:
            error.path.append(segment)
            raise
        except RecursionError:
            error = _LoadError("nested too deeply")
        except InvalidSnapshot:
            raise
        except Exception as exception:  # a from_state or constructor refusing its input
            error = _LoadError(f"{type(exception).__name__}: {exception}")
        error.path.append(segment)
        raise error

    def decode(self, node: Any) -> Any:
        cls = type(node)
        if node is None or cls is bool or cls is int or cls is str or cls is float:
            return node
        if cls is not dict:
            raise _LoadError(f"expected a node, got a JSON {'array' if cls is list else cls}")
        tag = node.get("t")
        method = _DECODERS.get(tag) if type(tag) is str else None
        if method is None:
            raise _LoadError(f"unknown node type {tag!r}")
        return method(self, node)

    def _remember(self, node: dict[str, Any], value: Any) -> Any:
        if "id" in node:
            key = _field(node, "id", int)
            if key in self._memo:
                raise _LoadError(f"object id {key} is defined twice")
            self._memo[key] = value
        return value

    def _items(self, node: dict[str, Any]) -> Any:
        return (self.child(item, f"[{i}]") for i, item in enumerate(_field(node, "v", list)))

    def _fill_pairs(self, target: dict, node: dict[str, Any]) -> dict:
        for i, pair in enumerate(_field(node, "v", list)):
            if type(pair) is not list or len(pair) != 2:
                raise _LoadError(f"item {i} is not a [key, value] pair")
            key = self.child(pair[0], f"<key {i}>")
            target[key] = self.child(pair[1], ("key", key))
        return target

    def _ref(self, node: dict[str, Any]) -> Any:
        key = _field(node, "id", int)
        if key not in self._memo:
            raise _LoadError(f"reference to unknown object id {key}")
        return self._memo[key]

    def _float(self, node: dict[str, Any]) -> float:
        return _decode_float(node)

    def _complex(self, node: dict[str, Any]) -> complex:
        parts = [self.child(part, f"[{i}]") for i, part in enumerate(_field(node, "v", list))]
        if len(parts) != 2 or any(type(part) is not float for part in parts):
            raise _LoadError("a complex needs two floats")
        return complex(*parts)

    def _bytes(self, node: dict[str, Any]) -> bytes:
        return bytes.fromhex(_field(node, "hex", str))

    def _list(self, node: dict[str, Any]) -> list:
        result = self._remember(node, [])
        result.extend(self._items(node))
        return result

    def _tuple(self, node: dict[str, Any]) -> tuple:
        return tuple(self._items(node))

    def _dict(self, node: dict[str, Any]) -> dict:
        kinds = {"dict": dict, "odict": collections.OrderedDict, "counter": collections.Counter}
        return self._fill_pairs(self._remember(node, kinds[node["t"]]()), node)

    def _defaultdict(self, node: dict[str, Any]) -> collections.defaultdict:
        name = node.get("factory", _MISSING)
        if name is not None and name not in _FACTORIES:
            raise _LoadError(f"defaultdict factory {name!r} is not allowed")
        result = collections.defaultdict(None if name is None else _FACTORIES[name])
        return self._fill_pairs(self._remember(node, result), node)

    def _deque(self, node: dict[str, Any]) -> collections.deque:
        maxlen = node.get("maxlen", _MISSING)
        if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
            raise _LoadError(f"deque maxlen {maxlen!r} is not None or an int >= 0")
        if maxlen is not None and len(_field(node, "v", list)) > maxlen:
            raise _LoadError(f"deque holds more than its maxlen {maxlen}")
        result = self._remember(node, collections.deque(maxlen=maxlen))
        result.extend(self._items(node))
        return result

    def _set(self, node: dict[str, Any]) -> set | frozenset:
        if node["t"] == "frozenset":
            return frozenset(self._items(node))
        result = self._remember(node, set())
        result.update(self._items(node))
        return result

    def _numpy(self, node: dict[str, Any]) -> np.generic:
        dtype = _scalar_dtype(node.get("dtype"))
        if "v" in node:
            value = self.child(node["v"], ".v")
            expected = {"b": bool, "i": int, "u": int, "f": float}.get(dtype.kind)
            if type(value) is not expected:
                raise _LoadError(f"a {dtype} scalar cannot hold {value!r}")
            return np.array(value, dtype=dtype)[()]
        raw = bytes.fromhex(_field(node, "hex", str))
        if len(raw) != dtype.itemsize:
            raise _LoadError(f"a {dtype} scalar needs {dtype.itemsize} bytes, got {len(raw)}")
        return np.frombuffer(raw, dtype=dtype)[0]

    def _array(self, node: dict[str, Any]) -> np.ndarray:
        name = _field(node, "file", str)
        if not _ARRAY_NAME.fullmatch(name):
            raise _LoadError(f"array member name {name!r} is not arrays/<n>.npy")
        writeable = _field(node, "writeable", bool)
        raw = _read_member(self._archive, name)
        self.files.add(name)
        try:
            array = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
        except ValueError as error:
            raise _LoadError(f"{name}: {error}") from None
        if array.dtype.str != node.get("dtype") or list(array.shape) != node.get("shape"):
            raise _LoadError(
                f"{name} holds {array.dtype.str} {array.shape}, the state says "
                f"{node.get('dtype')} {node.get('shape')}"
            )
        if not writeable:
            array.setflags(write=False)
        elif not array.flags.writeable:
            array = array.copy()
        return self._remember(node, array)

    def _entry(self, node: dict[str, Any]) -> _Entry:
        name = _field(node, "cls", str)
        entry = _REGISTRY.by_name.get(name)
        if entry is None:
            raise _LoadError(
                f"class {name!r} is not on the snapshot allow-list (riskengine.snapshot.register)"
            )
        return entry

    def _enum(self, node: dict[str, Any]) -> enum.Enum:
        entry = self._entry(node)
        if entry.from_state is not None or not issubclass(entry.cls, enum.Enum):
            raise _LoadError(f"{_qualified_name(entry.cls)} is not an enum")
        member = entry.cls.__members__.get(_field(node, "v", str))
        if member is None:
            raise _LoadError(f"{_qualified_name(entry.cls)} has no member {node['v']!r}")
        return member

    def _namedtuple(self, node: dict[str, Any]) -> tuple:
        entry = self._entry(node)
        cls = entry.cls
        if entry.from_state is not None or not _is_namedtuple(cls):
            raise _LoadError(f"{_qualified_name(cls)} is not a NamedTuple")
        items = _field(node, "v", list)
        if len(items) != len(cls._fields):
            raise _LoadError(f"{_qualified_name(cls)} has {len(cls._fields)} fields")
        return tuple.__new__(
            cls, [self.child(item, f".{cls._fields[i]}") for i, item in enumerate(items)]
        )

    def _custom(self, node: dict[str, Any]) -> Any:
        entry = self._entry(node)
        if entry.from_state is None:
            raise _LoadError(f"{_qualified_name(entry.cls)} has no from_state")
        value = entry.from_state(self.child(node.get("state"), ""))
        if type(value) is not entry.cls:
            raise _LoadError(f"from_state of {_qualified_name(entry.cls)} built a {type(value)}")
        return self._remember(node, value)

    def _object(self, node: dict[str, Any]) -> Any:
        entry = self._entry(node)
        cls = entry.cls
        name = _qualified_name(cls)
        if entry.from_state is not None or issubclass(cls, enum.Enum) or _is_namedtuple(cls):
            raise _LoadError(f"{name} is not restored from an 'obj' node")
        attributes = node.get("dict", {})
        slots = node.get("slots", {})
        if type(attributes) is not dict or type(slots) is not dict:
            raise _LoadError(f"{name}: 'dict' and 'slots' must be JSON objects")
        for key in attributes:
            problem = _attribute_problem(cls, key)
            if problem:
                raise _LoadError(f"{name}: {problem}")
        allowed_slots = _slot_names(cls)
        for key in slots:
            if key not in allowed_slots:
                raise _LoadError(f"{name} has no slot {key!r}")
        if attributes and not _has_dict(cls):
            raise _LoadError(f"{name} instances have no __dict__")
        value = self._remember(node, cls.__new__(cls))
        for key, item in attributes.items():
            value.__dict__[key] = self.child(item, f".{key}")
        for key, item in slots.items():
            object.__setattr__(value, key, self.child(item, f".{key}"))
        return value


_DECODERS: dict[str, Callable[[_Decoder, dict[str, Any]], Any]] = {
    "ref": _Decoder._ref,
    "float": _Decoder._float,
    "complex": _Decoder._complex,
    "bytes": _Decoder._bytes,
    "list": _Decoder._list,
    "tuple": _Decoder._tuple,
    "dict": _Decoder._dict,
    "odict": _Decoder._dict,
    "counter": _Decoder._dict,
    "defaultdict": _Decoder._defaultdict,
    "deque": _Decoder._deque,
    "set": _Decoder._set,
    "frozenset": _Decoder._set,
    "numpy": _Decoder._numpy,
    "ndarray": _Decoder._array,
    "enum": _Decoder._enum,
    "namedtuple": _Decoder._namedtuple,
    "custom": _Decoder._custom,
    "obj": _Decoder._object,
}


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise InvalidSnapshot("snapshot", f"member {name!r} is missing") from None
    if info.file_size > _MAX_MEMBER_BYTES:
        raise InvalidSnapshot("snapshot", f"member {name!r} unpacks to {info.file_size} bytes")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise InvalidSnapshot("snapshot", f"member {name!r}: compression {info.compress_type}")
    try:
        return archive.read(info)
    except Exception as error:  # bad CRC, truncated deflate stream, encryption, ...
        raise InvalidSnapshot("snapshot", f"member {name!r} is corrupt: {error}") from None


def _read_json(archive: zipfile.ZipFile, name: str) -> Any:
    raw = _read_member(archive, name)
    try:
        return json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_unique_keys
        )
    except (ValueError, RecursionError) as error:
        raise InvalidSnapshot(name, f"not valid JSON: {error}") from None


def _check_manifest(manifest: Any, kind: str, version: int) -> None:
    if type(manifest) is not dict:
        raise InvalidSnapshot(_MANIFEST, "expected a JSON object")
    written_by = f"written by riskengine {manifest.get('riskengine_version', '?')!s}"
    found = manifest.get("format")
    if found != FORMAT:
        raise InvalidSnapshot("format", f"expected {FORMAT!r}, got {found!r}")
    found = manifest.get("format_version")
    if type(found) is not int or found != FORMAT_VERSION:
        raise InvalidSnapshot(
            "format_version",
            f"expected {FORMAT_VERSION} (riskengine {__version__}), the snapshot has "
            f"{found!r} ({written_by})",
        )
    found = manifest.get("kind")
    if found != kind:
        raise InvalidSnapshot(
            "kind", f"expected {kind!r}, the snapshot holds {found!r} ({written_by})"
        )
    found = manifest.get("version")
    if type(found) is not int or found != version:
        raise InvalidSnapshot(
            "version",
            f"expected {version}, the snapshot has version {found!r} of {kind!r} ({written_by})",
        )


def loads(data: bytes, *, kind: str, version: int) -> Any:
    """Rebuild the object graph of snapshot bytes made by :func:`dumps`.

    Nothing outside the allow-list is imported, called or instantiated (see
    the module docstring); the result continues bit-identically from where
    the original was dumped.

    Parameters
    ----------
    data : bytes
        The snapshot (``bytes``, ``bytearray`` or ``memoryview``).
    kind, version : str, int
        What the caller expects; a snapshot of another kind or version is refused.

    Raises
    ------
    InvalidSnapshot
        Naming ``data`` for input that is not bytes; ``snapshot`` for bytes
        that are not a snapshot (not a zip, truncated, corrupt, unexpected
        members); ``format``, ``format_version``, ``kind`` or ``version`` for a
        mismatch, with what was expected and found; and the path in the state
        (``state.<attribute>[<key>]...``) for a class not on the allow-list
        or a malformed node.

    Examples
    --------
    >>> loads(b"not a snapshot", kind="engine", version=1)
    Traceback (most recent call last):
    riskengine.errors.InvalidSnapshot: snapshot: not a zip archive ...
    >>> loads("text", kind="engine", version=1)
    Traceback (most recent call last):
    riskengine.errors.InvalidSnapshot: data: expected bytes, got str
    """
    _check_label(kind, version)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidSnapshot("data", f"expected bytes, got {type(data).__name__}")
    _ensure_defaults()
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise InvalidSnapshot("snapshot", f"not a zip archive ({error})") from None
    with archive:
        names = archive.namelist()
        if len(set(names)) != len(names):
            raise InvalidSnapshot("snapshot", "duplicate member names")
        for name in names:
            if name not in (_MANIFEST, _STATE) and not _ARRAY_NAME.fullmatch(name):
                raise InvalidSnapshot("snapshot", f"unexpected member {name!r}")
        _check_manifest(_read_json(archive, _MANIFEST), kind, version)
        state = _read_json(archive, _STATE)
        if type(state) is not dict or set(state) != {"root"}:
            raise InvalidSnapshot(_STATE, "expected {'root': node}")
        decoder = _Decoder(archive)
        try:
            result = decoder.child(state["root"], "")
        except _LoadError as error:
            raise InvalidSnapshot(_format_path("state", error.path), error.problem) from None
        unused = sorted(set(names) - {_MANIFEST, _STATE} - decoder.files)
        if unused:
            raise InvalidSnapshot("snapshot", f"members not referenced by the state: {unused}")
    return result
