"""Encoding: an object graph to ``state.json`` nodes and ``.npy`` payloads.

:func:`encode` walks the graph once. Plain data becomes JSON, arrays become
``.npy`` members, instances of allow-listed classes (:mod:`.registry`) become
``obj`` / ``custom`` / ``enum`` / ``namedtuple`` nodes, and shared objects and
cycles become ``ref`` nodes. Anything else raises ``TypeError`` naming the
path to it.
"""

from __future__ import annotations

import collections
import enum
import functools
import io
import json
import math
import struct
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from riskengine.snapshot import registry as _registry
from riskengine.snapshot.nodes import FACTORIES, FACTORY_NAMES, SCALAR_KINDS, format_path
from riskengine.snapshot.registry import (
    MISSING,
    attribute_problem,
    is_namedtuple,
    qualified_name,
    refusal,
    slot_names,
)

__all__ = ["encode"]

_CANONICAL_NAN_BITS = 0x7FF8000000000000
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


class _DumpError(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[Any] = []


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
    name = qualified_name(cls)
    reason = refusal(cls)
    if reason is not None:
        return reason
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
                f"{qualified_name(type(value))} refers back to itself through its to_state"
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
        if factory is not None and factory not in FACTORY_NAMES:
            raise _DumpError(
                f"a defaultdict whose default_factory is {factory!r} cannot be snapshotted "
                f"(allowed: None, {', '.join(sorted(FACTORIES))})"
            )
        node = self._new(value, {"t": "defaultdict"})
        node["factory"] = None if factory is None else FACTORY_NAMES[factory]
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
        entry = _registry.REGISTRY.by_class.get(cls)
        if entry is None:
            raise _DumpError(_unsupported(value))
        name = qualified_name(cls)
        if entry.to_state is None and issubclass(cls, enum.Enum):
            return {"t": "enum", "cls": name, "v": value.name}
        if entry.to_state is None and is_namedtuple(cls):
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
                problem = attribute_problem(cls, key)
                if problem:
                    raise _DumpError(f"{name}: {problem}")
                encoded_attributes[key] = self._child(item, f".{key}")
            node["dict"] = encoded_attributes
        slots = {}
        for slot in slot_names(cls):
            item = getattr(value, slot, MISSING)
            if item is not MISSING:
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
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in SCALAR_KINDS:
        raise _DumpError(f"a numpy scalar of dtype {dtype} cannot be snapshotted")
    node: dict[str, Any] = {"t": "numpy", "dtype": dtype.str}
    if dtype.kind in "biu" or (dtype.kind == "f" and dtype.itemsize <= 8):
        python = value.item()
        if np.array(python, dtype=dtype).tobytes() == value.tobytes():  # exact, NaN bits too
            node["v"] = _float_node(python) if type(python) is float else python
            return node
    node["hex"] = value.tobytes().hex()
    return node


def encode(obj: Any) -> tuple[Any, list[bytes]]:
    """The root node of ``obj`` and the ``.npy`` payloads its ``ndarray`` nodes name, in order.

    Raises ``TypeError`` naming the path (``obj['models'].x``) to what cannot
    be snapshotted.

    >>> encode({"pnl": -0.0, "nan": float("nan")})
    ({'t': 'dict', 'v': [['pnl', -0.0], ['nan', {'t': 'float', 'v': 'nan'}]]}, [])
    """
    encoder = _Encoder()
    try:
        root = encoder.encode_root(obj)
    except _DumpError as error:
        raise TypeError(f"{format_path('obj', error.path)}: {error.problem}") from None
    return root, encoder.arrays
