"""The snapshot allow-list: which classes a snapshot may name, and how each is rebuilt.

A class is named in a snapshot by ``module.qualname``. :func:`register` puts
it on the list (optionally under older names too, so snapshots written before
the class moved still load); :func:`refuse` names a class that must never be
snapshotted and says why. Nothing here imports a module a name points at: the
list holds the class objects themselves, put there by code that already
imported them.

This module holds the mechanism only; what is on the list is decided by the
code that owns the state (for the engine,
:func:`riskengine.engine.snapshot_types.register_engine_types`).
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import inspect
import sys
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = [
    "Entry",
    "Registry",
    "attribute_problem",
    "has_dict",
    "is_namedtuple",
    "is_registered",
    "qualified_name",
    "refusal",
    "refuse",
    "register",
    "registered_classes",
    "slot_names",
]

MISSING = object()

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


@dataclasses.dataclass(frozen=True)
class Entry:
    """One allow-listed class: rebuilt generically, or by its ``to_state``/``from_state``."""

    cls: type
    to_state: Callable[[Any], Any] | None
    from_state: Callable[[Any], Any] | None


class Registry:
    """The allow-list: class -> entry for dumping, qualified name -> entry for loading."""

    def __init__(self) -> None:
        self.by_class: dict[type, Entry] = {}
        self.by_name: dict[str, Entry] = {}
        self.refused: dict[str, str] = {}

    def add(self, entry: Entry, aliases: Iterable[str] = ()) -> None:
        name = qualified_name(entry.cls)
        known = self.by_name.get(name)
        if known is not None and known.cls is not entry.cls and not _reachable(entry.cls):
            raise ValueError(
                f"cls: another class is registered as {name!r}; snapshots name classes "
                "by module and qualified name, which must be unique"
            )
        for alias in aliases:
            other = self.by_name.get(alias)
            if other is not None and other.cls is not entry.cls:
                raise ValueError(f"aliases: {alias!r} already names {qualified_name(other.cls)}")
        self.by_class[entry.cls] = entry
        self.by_name[name] = entry
        for alias in aliases:
            self.by_name[alias] = entry

    def copy(self) -> Registry:
        twin = Registry()
        twin.by_class, twin.by_name = dict(self.by_class), dict(self.by_name)
        twin.refused = dict(self.refused)
        return twin


#: The process-wide allow-list the codec reads (tests swap in a copy).
REGISTRY = Registry()


def qualified_name(cls: type) -> str:
    """``module.qualname``: how a snapshot names ``cls``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def _reachable(cls: type) -> bool:
    """True if ``cls`` is what its module now holds under its name (so it may replace
    an older class of that name, as after a module reload); no import is made."""
    target: Any = sys.modules.get(cls.__module__)
    for part in cls.__qualname__.split("."):
        target = inspect.getattr_static(target, part, None)
    return target is cls


def is_namedtuple(cls: type) -> bool:
    return issubclass(cls, tuple) and isinstance(getattr(cls, "_fields", None), tuple)


@functools.cache
def slot_names(cls: type) -> tuple[str, ...]:
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


def has_dict(cls: type) -> bool:
    return any("__dict__" in vars(klass) for klass in cls.__mro__ if klass is not object)


def register(
    cls: type,
    to_state: Callable[[Any], Any] | None = None,
    from_state: Callable[[Any], Any] | None = None,
    *,
    aliases: Iterable[str] = (),
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
    process that loads as well as the one that dumps. ``aliases`` are older
    qualified names of the same class (it moved module): snapshots naming them
    load as ``cls``; new snapshots name ``cls`` where it is now.

    >>> from riskengine.snapshot import dumps, loads
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
    aliases = (aliases,) if isinstance(aliases, str) else tuple(aliases)
    if not all(isinstance(alias, str) and alias for alias in aliases):
        raise TypeError(f"aliases: expected qualified class names, got {aliases!r}")
    if to_state is None and not (issubclass(cls, enum.Enum) or is_namedtuple(cls)):
        if issubclass(cls, _CONTAINERS):
            raise TypeError(
                f"cls: {qualified_name(cls)} subclasses a built-in container or scalar whose "
                "contents are not in __dict__; give to_state and from_state"
            )
        if not has_dict(cls) and not slot_names(cls):
            raise TypeError(
                f"cls: {qualified_name(cls)} keeps its state outside __dict__ and __slots__ "
                "(a native object?); give to_state and from_state"
            )
    REGISTRY.add(Entry(cls, to_state, from_state), aliases)
    return cls


def is_registered(cls: type) -> bool:
    """True if instances of ``cls`` may be snapshotted (it is on the allow-list)."""
    return cls in REGISTRY.by_class


def refuse(cls: type, reason: str) -> None:
    """Refuse ``cls`` at dump time with ``reason`` (unless it is registered).

    For a class that looks snapshot-able but cannot be restored exactly and
    safely (river's ADWIN keeps its window in native code): the error then
    says why and what to use instead, not just that the class is unlisted.
    """
    if not isinstance(cls, type):
        raise TypeError(f"cls: expected a class, got {type(cls).__name__}")
    REGISTRY.refused[qualified_name(cls)] = str(reason)


def refusal(cls: type) -> str | None:
    """The reason ``cls`` was refused (:func:`refuse`), or None."""
    return REGISTRY.refused.get(qualified_name(cls))


def registered_classes() -> tuple[str, ...]:
    """The allow-list: the qualified name of every class a snapshot may contain, sorted.

    Older names (``aliases``) that still load are not listed.

    >>> from riskengine.snapshot import register
    >>> class Position:
    ...     def __init__(self, quantity):
    ...         self.quantity = quantity
    >>> _ = register(Position)
    >>> f"{__name__}.Position" in registered_classes()
    True
    """
    return tuple(sorted({qualified_name(cls) for cls in REGISTRY.by_class}))


def attribute_problem(cls: type, name: Any) -> str | None:
    """Why ``name`` may not be an instance attribute of ``cls`` in a snapshot, or None."""
    if type(name) is not str or not name.isidentifier():
        return f"attribute name {name!r} is not an identifier"
    if name.startswith("__") and name.endswith("__"):
        return f"attribute {name!r} is a special name"
    static = inspect.getattr_static(cls, name, MISSING)
    if (
        static is not MISSING
        and hasattr(type(static), "__get__")
        and not isinstance(static, functools.cached_property)
    ):
        return f"attribute {name!r} would shadow {cls.__qualname__}.{name}"
    return None
