"""Decoding: ``state.json`` nodes back to an object graph, running no foreign code.

A class named in a node is looked up in the allow-list (:mod:`.registry`) and
nowhere else: nothing is imported, and a listed class is rebuilt as
``cls.__new__(cls)`` plus its checked attributes, or by its registered
``from_state``. Malformed nodes raise :class:`DecodeError` with the path to
them; the archive layer turns that into
:class:`~riskengine.errors.InvalidSnapshot`.
"""

from __future__ import annotations

import collections
import enum
import io
import re
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from riskengine.errors import InvalidSnapshot
from riskengine.snapshot import registry as _registry
from riskengine.snapshot.nodes import ARRAY_NAME, FACTORIES, SCALAR_KINDS
from riskengine.snapshot.registry import (
    MISSING,
    Entry,
    attribute_problem,
    has_dict,
    is_namedtuple,
    qualified_name,
    slot_names,
)

__all__ = ["DecodeError", "decode"]


class DecodeError(Exception):
    """A malformed node: ``problem`` and the ``path`` to it (innermost segment first)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[Any] = []


def _field(node: dict[str, Any], name: str, kinds: type | tuple[type, ...]) -> Any:
    value = node.get(name, MISSING)
    if value is MISSING:
        raise DecodeError(f"{node.get('t')!r} node has no {name!r}")
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
        raise DecodeError(f"{node.get('t')!r} node: {name!r} is a {type(value).__name__}")
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
    raise DecodeError(f"{text!r} is not a non-finite float")


def _scalar_dtype(text: Any) -> np.dtype:
    if type(text) is not str:
        raise DecodeError(f"dtype {text!r} is not a string")
    try:
        dtype = np.dtype(text)
    except TypeError:
        raise DecodeError(f"{text!r} is not a numpy dtype") from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in SCALAR_KINDS:
        raise DecodeError(f"dtype {text!r} is not allowed in a snapshot")
    return dtype


class _Decoder:
    def __init__(self, read_member: Callable[[str], bytes]) -> None:
        self._read_member = read_member
        self._memo: dict[int, Any] = {}
        self.files: set[str] = set()

    def child(self, node: Any, segment: Any) -> Any:
        try:
            return self.decode(node)
        except DecodeError as error:
            error.path.append(segment)
            raise
        except RecursionError:
            error = DecodeError("nested too deeply")
        except InvalidSnapshot:
            raise
        except Exception as exception:  # a from_state or constructor refusing its input
            error = DecodeError(f"{type(exception).__name__}: {exception}")
        error.path.append(segment)
        raise error

    def decode(self, node: Any) -> Any:
        cls = type(node)
        if node is None or cls is bool or cls is int or cls is str or cls is float:
            return node
        if cls is not dict:
            raise DecodeError(f"expected a node, got a JSON {'array' if cls is list else cls}")
        tag = node.get("t")
        method = _DECODERS.get(tag) if type(tag) is str else None
        if method is None:
            raise DecodeError(f"unknown node type {tag!r}")
        return method(self, node)

    def _remember(self, node: dict[str, Any], value: Any) -> Any:
        if "id" in node:
            key = _field(node, "id", int)
            if key in self._memo:
                raise DecodeError(f"object id {key} is defined twice")
            self._memo[key] = value
        return value

    def _items(self, node: dict[str, Any]) -> Any:
        return (self.child(item, f"[{i}]") for i, item in enumerate(_field(node, "v", list)))

    def _fill_pairs(self, target: dict, node: dict[str, Any]) -> dict:
        for i, pair in enumerate(_field(node, "v", list)):
            if type(pair) is not list or len(pair) != 2:
                raise DecodeError(f"item {i} is not a [key, value] pair")
            key = self.child(pair[0], f"<key {i}>")
            target[key] = self.child(pair[1], ("key", key))
        return target

    def _ref(self, node: dict[str, Any]) -> Any:
        key = _field(node, "id", int)
        if key not in self._memo:
            raise DecodeError(f"reference to unknown object id {key}")
        return self._memo[key]

    def _float(self, node: dict[str, Any]) -> float:
        return _decode_float(node)

    def _complex(self, node: dict[str, Any]) -> complex:
        parts = [self.child(part, f"[{i}]") for i, part in enumerate(_field(node, "v", list))]
        if len(parts) != 2 or any(type(part) is not float for part in parts):
            raise DecodeError("a complex needs two floats")
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
        name = node.get("factory", MISSING)
        if name is not None and name not in FACTORIES:
            raise DecodeError(f"defaultdict factory {name!r} is not allowed")
        result = collections.defaultdict(None if name is None else FACTORIES[name])
        return self._fill_pairs(self._remember(node, result), node)

    def _deque(self, node: dict[str, Any]) -> collections.deque:
        maxlen = node.get("maxlen", MISSING)
        if maxlen is not None and (type(maxlen) is not int or maxlen < 0):
            raise DecodeError(f"deque maxlen {maxlen!r} is not None or an int >= 0")
        if maxlen is not None and len(_field(node, "v", list)) > maxlen:
            raise DecodeError(f"deque holds more than its maxlen {maxlen}")
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
                raise DecodeError(f"a {dtype} scalar cannot hold {value!r}")
            return np.array(value, dtype=dtype)[()]
        raw = bytes.fromhex(_field(node, "hex", str))
        if len(raw) != dtype.itemsize:
            raise DecodeError(f"a {dtype} scalar needs {dtype.itemsize} bytes, got {len(raw)}")
        return np.frombuffer(raw, dtype=dtype)[0]

    def _array(self, node: dict[str, Any]) -> np.ndarray:
        name = _field(node, "file", str)
        if not ARRAY_NAME.fullmatch(name):
            raise DecodeError(f"array member name {name!r} is not arrays/<n>.npy")
        writeable = _field(node, "writeable", bool)
        raw = self._read_member(name)
        self.files.add(name)
        try:
            array = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
        except ValueError as error:
            raise DecodeError(f"{name}: {error}") from None
        if array.dtype.str != node.get("dtype") or list(array.shape) != node.get("shape"):
            raise DecodeError(
                f"{name} holds {array.dtype.str} {array.shape}, the state says "
                f"{node.get('dtype')} {node.get('shape')}"
            )
        if not writeable:
            array.setflags(write=False)
        elif not array.flags.writeable:
            array = array.copy()
        return self._remember(node, array)

    def _entry(self, node: dict[str, Any]) -> Entry:
        name = _field(node, "cls", str)
        entry = _registry.REGISTRY.by_name.get(name)
        if entry is None:
            raise DecodeError(
                f"class {name!r} is not on the snapshot allow-list (riskengine.snapshot.register)"
            )
        return entry

    def _enum(self, node: dict[str, Any]) -> enum.Enum:
        entry = self._entry(node)
        if entry.from_state is not None or not issubclass(entry.cls, enum.Enum):
            raise DecodeError(f"{qualified_name(entry.cls)} is not an enum")
        member = entry.cls.__members__.get(_field(node, "v", str))
        if member is None:
            raise DecodeError(f"{qualified_name(entry.cls)} has no member {node['v']!r}")
        return member

    def _namedtuple(self, node: dict[str, Any]) -> tuple:
        entry = self._entry(node)
        cls = entry.cls
        if entry.from_state is not None or not is_namedtuple(cls):
            raise DecodeError(f"{qualified_name(cls)} is not a NamedTuple")
        items = _field(node, "v", list)
        if len(items) != len(cls._fields):
            raise DecodeError(f"{qualified_name(cls)} has {len(cls._fields)} fields")
        return tuple.__new__(
            cls, [self.child(item, f".{cls._fields[i]}") for i, item in enumerate(items)]
        )

    def _custom(self, node: dict[str, Any]) -> Any:
        entry = self._entry(node)
        if entry.from_state is None:
            raise DecodeError(f"{qualified_name(entry.cls)} has no from_state")
        value = entry.from_state(self.child(node.get("state"), ""))
        if type(value) is not entry.cls:
            raise DecodeError(f"from_state of {qualified_name(entry.cls)} built a {type(value)}")
        return self._remember(node, value)

    def _object(self, node: dict[str, Any]) -> Any:
        entry = self._entry(node)
        cls = entry.cls
        name = qualified_name(cls)
        if entry.from_state is not None or issubclass(cls, enum.Enum) or is_namedtuple(cls):
            raise DecodeError(f"{name} is not restored from an 'obj' node")
        attributes = node.get("dict", {})
        slots = node.get("slots", {})
        if type(attributes) is not dict or type(slots) is not dict:
            raise DecodeError(f"{name}: 'dict' and 'slots' must be JSON objects")
        for key in attributes:
            problem = attribute_problem(cls, key)
            if problem:
                raise DecodeError(f"{name}: {problem}")
        allowed_slots = slot_names(cls)
        for key in slots:
            if key not in allowed_slots:
                raise DecodeError(f"{name} has no slot {key!r}")
        if attributes and not has_dict(cls):
            raise DecodeError(f"{name} instances have no __dict__")
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


def decode(root: Any, read_member: Callable[[str], bytes]) -> tuple[Any, set[str]]:
    """The object graph of ``root`` and the array members it read (``read_member(name)``).

    >>> decode({"t": "tuple", "v": [1, {"t": "float", "v": "-inf"}]}, lambda name: b"")
    ((1, -inf), set())
    >>> decode({"t": "obj", "cls": "os.system"}, lambda name: b"")
    Traceback (most recent call last):
    riskengine.snapshot.decode.DecodeError: class 'os.system' is not on the snapshot allow-list ...
    """
    decoder = _Decoder(read_member)
    return decoder.child(root, ""), decoder.files
