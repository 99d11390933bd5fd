"""The snapshot archive: a zip of ``manifest.json``, ``state.json`` and ``arrays/<n>.npy``.

:func:`dumps` encodes the state (:mod:`.encode`) and writes the members in a
fixed order with fixed timestamps, so equal states give equal bytes;
:func:`loads` checks the archive (members, sizes, compression, the manifest's
format, kind and version) before it decodes anything (:mod:`.decode`).
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from typing import Any

import numpy as np

from riskengine._version import __version__
from riskengine.errors import InvalidSnapshot
from riskengine.snapshot.decode import DecodeError, decode
from riskengine.snapshot.encode import encode
from riskengine.snapshot.nodes import ARRAY_NAME, format_path

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_JSON_BYTES", "MAX_TOTAL_BYTES", "dumps", "loads"]

FORMAT = "riskengine-snapshot"
FORMAT_VERSION = 1

_MANIFEST = "manifest.json"
_STATE = "state.json"
# Fixed member metadata: equal states give equal bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: Default cap on what all members together unpack to, checked from the zip
#: directory before anything is read (:func:`loads`' ``max_total_bytes``).
MAX_TOTAL_BYTES = 64 << 20
#: Default cap on what ``state.json`` unpacks to (:func:`loads`' ``max_json_bytes``):
#: parsed JSON takes several times its size in memory.
MAX_JSON_BYTES = 16 << 20
_MAX_MANIFEST_BYTES = 64 << 10
# Members are inflated this much at a time, and never past the size the directory
# declares: a member that lies about its size cannot take more memory than it declared.
_READ_CHUNK = 1 << 20


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
    >>> from collections import deque
    >>> state = {"positions": {"SPX": 10.0}, "window": deque([1, 2], maxlen=3)}
    >>> data = dumps(state, kind="example", version=1)
    >>> loads(data, kind="example", version=1) == state
    True
    >>> dumps(state, kind="example", version=1) == data  # equal states, equal bytes
    True
    """
    _check_label(kind, version)
    root, arrays = encode(obj)
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
    members += [(f"arrays/{i}.npy", payload) for i, payload in enumerate(arrays)]
    return _zip(members)


def _reject_constant(token: str) -> None:
    raise ValueError(f"non-standard JSON token {token}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key in a JSON object")
    return result


def _check_sizes(archive: zipfile.ZipFile, max_total_bytes: int, max_json_bytes: int) -> None:
    """Refuse, from the zip directory alone, members that would unpack to too much."""
    total = 0
    for info in archive.infolist():
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InvalidSnapshot(
                "snapshot", f"member {info.filename!r}: compression {info.compress_type}"
            )
        cap, knob = {
            _MANIFEST: (_MAX_MANIFEST_BYTES, "a manifest"),
            _STATE: (max_json_bytes, "max_json_bytes"),
        }.get(info.filename, (max_total_bytes, "max_total_bytes"))
        if info.file_size > cap:
            raise InvalidSnapshot(
                "snapshot",
                f"member {info.filename!r} unpacks to {info.file_size:,} bytes, more than the "
                f"{cap:,} allowed ({knob})",
            )
        total += info.file_size
    if total > max_total_bytes:
        raise InvalidSnapshot(
            "snapshot",
            f"the members unpack to {total:,} bytes in all, more than the {max_total_bytes:,} "
            "allowed (max_total_bytes)",
        )


def _read_member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise InvalidSnapshot("snapshot", f"member {name!r} is missing") from None
    parts = []
    try:
        # zipfile stops at the declared size (and then finds the CRC wrong); reading in
        # chunks keeps each inflate step that small too, where one read() would inflate
        # a whole lying member at once before cutting it.
        with archive.open(info) as stream:
            while chunk := stream.read(_READ_CHUNK):
                parts.append(chunk)
    except Exception as error:  # bad CRC, truncated deflate stream, encryption, ...
        raise InvalidSnapshot("snapshot", f"member {name!r} is corrupt: {error}") from None
    return b"".join(parts)


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


def loads(
    data: bytes,
    *,
    kind: str,
    version: int,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_json_bytes: int = MAX_JSON_BYTES,
) -> Any:
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
    max_total_bytes, max_json_bytes : int
        Caps on what the members unpack to, in all (64 MiB by default) and for
        ``state.json`` (16 MiB), and the manifest may not exceed 64 KiB. They
        are checked from the zip directory before any member is read, and no
        member is inflated past the size the directory declares for it, so a
        zip bomb costs neither memory nor time.

    Raises
    ------
    InvalidSnapshot
        Naming ``data`` for input that is not bytes; ``snapshot`` for bytes
        that are not a snapshot (not a zip, truncated, corrupt, unexpected
        members, members that unpack past the caps); ``format``,
        ``format_version``, ``kind`` or ``version`` for a mismatch, with what
        was expected and found; and the path in the state
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
    for name, cap in (("max_total_bytes", max_total_bytes), ("max_json_bytes", max_json_bytes)):
        if type(cap) is not int or cap < 1:
            raise TypeError(f"{name}: expected an int >= 1, got {cap!r}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidSnapshot("data", f"expected bytes, got {type(data).__name__}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise InvalidSnapshot("snapshot", f"not a zip archive ({error})") from None
    with archive:
        names = archive.namelist()
        if len(set(names)) != len(names):
            raise InvalidSnapshot("snapshot", "duplicate member names")
        for name in names:
            if name not in (_MANIFEST, _STATE) and not ARRAY_NAME.fullmatch(name):
                raise InvalidSnapshot("snapshot", f"unexpected member {name!r}")
        _check_sizes(archive, max_total_bytes, max_json_bytes)
        _check_manifest(_read_json(archive, _MANIFEST), kind, version)
        state = _read_json(archive, _STATE)
        if type(state) is not dict or set(state) != {"root"}:
            raise InvalidSnapshot(_STATE, "expected {'root': node}")
        try:
            result, used = decode(state["root"], lambda name: _read_member(archive, name))
        except DecodeError as error:
            raise InvalidSnapshot(format_path("state", error.path), error.problem) from None
        unused = sorted(set(names) - {_MANIFEST, _STATE} - used)
        if unused:
            raise InvalidSnapshot("snapshot", f"members not referenced by the state: {unused}")
    return result
