r"""Snapshots of state: exact, versioned, and restored without running foreign code.

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

**Size.** :func:`loads` refuses, from the zip directory and before it reads
anything, members that unpack to more than ``max_total_bytes`` in all (64
MiB by default) or a ``state.json`` of more than ``max_json_bytes`` (16 MiB),
and it never inflates a member past the size the directory declares: a zip
bomb (members under any per-member cap that add up to gigabytes, or a small
``state.json`` that inflates to a huge list) costs neither memory nor time.

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

**Not snapshotted.** Classes the owner of a state refuses (:func:`refuse`)
raise ``TypeError`` at dump time with the owner's reason: the engine refuses
``river.drift.ADWIN`` (:class:`~riskengine.regime.DriftDetector`'s default
``method="adwin"``), whose window lives in a Rust object whose public API
does not expose the state the next update continues from. Functions, bound
methods, modules, classes, object arrays and unregistered types raise
``TypeError`` at dump time, naming the path to them.

**The allow-list** is empty until the code that owns a state registers what
that state may contain: this package is generic and imports nothing of
riskengine but :mod:`riskengine.errors` and the version. The engine's
classes, its models' and the river classes they hold are registered by
:func:`riskengine.engine.snapshot_types.register_engine_types` (the engine
calls it before every dump and load). Any other class must be registered, in
the process that loads as well as the one that dumps; ``@register`` works as
a class decorator, and ``aliases`` keep snapshots of a class that moved
module loadable. Plain instances, frozen or slotted dataclasses, NamedTuples
and enums need no functions; a class that keeps bound methods or native
objects needs ``to_state``/``from_state``. Sets are restored with their
elements but not necessarily their iteration order (which differs between
Python processes anyway), and an array that was a view of another is
restored as a separate array.

**Layout.** :mod:`.registry` (the allow-list), :mod:`.encode` and
:mod:`.decode` (the ``state.json`` nodes), :mod:`.archive` (the zip, the
manifest, :func:`dumps` and :func:`loads`).

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

from riskengine.snapshot.archive import (
    FORMAT,
    FORMAT_VERSION,
    MAX_JSON_BYTES,
    MAX_TOTAL_BYTES,
    dumps,
    loads,
)
from riskengine.snapshot.registry import refuse, register, registered_classes

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_JSON_BYTES",
    "MAX_TOTAL_BYTES",
    "dumps",
    "loads",
    "refuse",
    "register",
    "registered_classes",
]
