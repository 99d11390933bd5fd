"""Snapshots: exact continuation of every model, hostile bytes refused, exact values.

1. Every model of ``tests/test_protocol.py``'s CASES restored mid-stream
   continues bit-identically, and re-dumping gives the same bytes.
2. Snapshots naming unlisted classes, pickles or method-shadowing attributes
   raise InvalidSnapshot and run nothing.
3. Format, format version, kind and version mismatches and corrupt bytes.
4. Floats, numpy scalars and arrays, containers and keys keep type and bits.
5. A hypothesis round trip of nested plain structures.
"""

from __future__ import annotations

import builtins
import collections
import dataclasses
import enum
import io
import json
import math
import os
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from riskengine import snapshot
from riskengine.engine.snapshot_types import register_engine_types
from riskengine.errors import InvalidSnapshot
from riskengine.forecast import EWMAVol, OnlineDCC
from riskengine.regime import DriftAdaptedForecaster, DriftDetector
from riskengine.risk.orders import Decision, Order, ReasonCode, TradingState
from tests.test_protocol import CASES, STOCKS_FIT, _feed

# The models' classes are on the allow-list the engine registers.
register_engine_types()

KIND, VERSION = "model", 3
# Models the codec refuses on purpose, and the start of the message.
REFUSED = {"drift_adwin": "obj._detector: ADWIN cannot be snapshotted safely; use page_hinkley"}
# Restore after this many observations: past the first scheduled refits, before the others.
SPLIT = 130


def _dumps(obj: Any) -> bytes:
    return snapshot.dumps(obj, kind=KIND, version=VERSION)


def _loads(data: bytes) -> Any:
    return snapshot.loads(data, kind=KIND, version=VERSION)


def _round_trip(obj: Any) -> Any:
    return _loads(_dumps(obj))


def _bits(value: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", value))[0]


# ---------------------------------------------------------------- 1. every model
@pytest.mark.parametrize("name", sorted(CASES))
def test_restored_model_continues_bit_identically(name: str) -> None:
    case = CASES[name]
    model = case.make()
    _feed(case, model, case.stream[:SPLIT])
    if name in REFUSED:
        with pytest.raises(TypeError, match=f"^{REFUSED[name]}"):
            _dumps(model)
        return
    data = _dumps(model)
    restored = _loads(data)
    assert restored is not model
    assert _dumps(restored) == data  # stable bytes
    expected = np.array(_feed(case, model, case.stream[SPLIT:]))
    got = np.array(_feed(case, restored, case.stream[SPLIT:]))
    assert got.tobytes() == expected.tobytes()  # every output, bit for bit (NaN included)
    assert _dumps(restored) == _dumps(model)  # and the whole state after the rest


def test_adwin_is_refused_wherever_it_sits() -> None:
    forecaster = DriftAdaptedForecaster(EWMAVol().fit(CASES["ewma"].fit_data), DriftDetector())
    with pytest.raises(TypeError, match=r"^obj\['spx'\]\.detector\._detector: ADWIN cannot be"):
        _dumps({"spx": forecaster})


def test_dcc_q_bar_stays_read_only() -> None:
    restored = _round_trip(OnlineDCC().fit(STOCKS_FIT))
    assert not restored.params.q_bar.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        restored.params.q_bar[0, 0] = 0.0


def test_an_engine_like_state_keeps_sharing_and_types() -> None:
    model = CASES["garch"].make()
    state = {
        "models": {"SPX": model, "SPX-again": model},
        "positions": {"SPX": 10.0, 7: -3},
        "gate": TradingState.HALTED,
        "last": Decision(False, ReasonCode.ORDER_RATE, "too many orders"),
        "pending": [Order("SPX", "buy", 5, 4500.0, order_id="a1", timestamp=1)],
        "throttle": collections.deque([1, 2, 3], maxlen=4),
    }
    restored = _round_trip(state)
    assert restored["models"]["SPX"] is restored["models"]["SPX-again"]
    assert restored["gate"] is TradingState.HALTED
    assert restored["last"] == state["last"] and restored["pending"] == state["pending"]
    assert restored["throttle"].maxlen == 4
    assert list(restored["positions"]) == ["SPX", 7]
    assert _dumps(restored) == _dumps(state)


# ------------------------------------------------------------- 2. hostile bytes
_PICKLE_CALLS: list[tuple] = []


def _called_by_pickle(*args: Any) -> None:
    _PICKLE_CALLS.append(args)


class _Payload:
    def __reduce__(self) -> tuple:
        return _called_by_pickle, ("pwned",)


def _archive(root: Any, *, manifest: dict | None = None, members: tuple = ()) -> bytes:
    head = {
        "format": "riskengine-snapshot",
        "format_version": 1,
        "kind": KIND,
        "version": VERSION,
        "riskengine_version": "0.1.0",
    }
    head.update(manifest or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", json.dumps(head))
        archive.writestr("state.json", json.dumps({"root": root}))
        for name, payload in members:
            archive.writestr(name, payload)
    return buffer.getvalue()


@pytest.fixture
def tripwire(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Record calls to os.system, subprocess.Popen, eval, exec and every import."""
    calls: list[tuple] = []

    def record(name: str) -> Any:
        def fake(*args: Any, **kwargs: Any) -> None:
            calls.append((name, args))

        return fake

    monkeypatch.setattr(os, "system", record("os.system"))
    monkeypatch.setattr(subprocess, "Popen", record("subprocess.Popen"))
    monkeypatch.setattr(builtins, "eval", record("eval"))
    monkeypatch.setattr(builtins, "exec", record("exec"))
    real_import = builtins.__import__

    def spy_import(name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(("import", name))
        return real_import(name, *args, **kwargs)

    register_engine_types()  # the allow-list's own imports happen before
    monkeypatch.setattr(builtins, "__import__", spy_import)
    return calls


def _named_in(calls: list[tuple], names: tuple[str, ...]) -> list[tuple]:
    return [c for c in calls if c[0] != "import" or c[1].split(".")[0] in names]


HOSTILE = {
    "os.system": {"t": "obj", "cls": "os.system", "dict": {}},
    "subprocess.Popen": {"t": "custom", "cls": "subprocess.Popen", "state": ["touch /tmp/x"]},
    "builtins.eval": {"t": "enum", "cls": "builtins.eval", "v": "__import__('os')"},
    "posix.system": {"t": "namedtuple", "cls": "posix.system", "v": ["touch /tmp/x"]},
    "riskengine.base.OnlineModel": {"t": "obj", "cls": "riskengine.base.OnlineModel"},
    "antigravity.geohash": {"t": "obj", "cls": "antigravity.geohash", "dict": {}},
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_unlisted_class_is_refused_and_nothing_runs(name: str, tripwire: list[tuple]) -> None:
    data = _archive({"t": "list", "v": [1, {"t": "dict", "v": [["x", HOSTILE[name]]]}]})
    with pytest.raises(InvalidSnapshot, match="not on the snapshot allow-list") as caught:
        _loads(data)
    assert repr(name) in caught.value.problem
    assert caught.value.field == "state[1]['x']"
    assert _named_in(tripwire, ("os", "posix", "subprocess", "antigravity", "riskengine")) == []
    assert "antigravity" not in sys.modules


def test_hostile_class_inside_a_registered_model(tripwire: list[tuple]) -> None:
    root = {
        "t": "obj",
        "cls": "riskengine.forecast.ewma.EWMAVol",
        "dict": {"lam": 0.94, "_variance": {"t": "obj", "cls": "os.system", "dict": {}}},
    }
    with pytest.raises(InvalidSnapshot, match=r"'os\.system' is not on the snapshot allow-list"):
        _loads(_archive(root))
    assert _named_in(tripwire, ("os", "posix")) == []


@pytest.mark.parametrize(
    ("node", "problem"),
    [
        ({"t": "defaultdict", "factory": "os.system", "v": []}, "factory 'os.system'"),
        ({"t": "numpy", "dtype": "|O", "hex": "00" * 8}, "not allowed"),
        ({"t": "pickle", "v": "gASV"}, "unknown node type 'pickle'"),
        ({"t": "ref", "id": 5}, "unknown object id 5"),
        (
            {"t": "list", "v": [{"t": "list", "id": 0, "v": []}, {"t": "list", "id": 0, "v": []}]},
            "defined twice",
        ),
        (
            {"t": "obj", "cls": "riskengine.forecast.ewma.EWMAVol", "dict": {"update": 1}},
            "would shadow EWMAVol.update",
        ),
        (
            {"t": "obj", "cls": "riskengine.forecast.ewma.EWMAVol", "dict": {"__class__": 1}},
            "special name",
        ),
        ({"t": "obj", "cls": "riskengine.risk.orders.Order", "slots": {"evil": 1}}, "no slot"),
        ({"t": "enum", "cls": "riskengine.forecast.ewma.EWMAVol", "v": "x"}, "not an enum"),
        ({"t": "float", "v": "1e999"}, "not a non-finite float"),
        ({"t": "deque", "maxlen": 1, "v": [1, 2]}, "more than its maxlen"),
        (
            {"t": "custom", "cls": "river.drift.page_hinkley.PageHinkley", "state": 1},
            "expected a dict of attributes",
        ),
        ([1, 2], "JSON array"),
    ],
)
def test_malformed_nodes_are_refused(node: Any, problem: str, tripwire: list[tuple]) -> None:
    with pytest.raises(InvalidSnapshot, match=problem):
        _loads(_archive(node))
    assert _named_in(tripwire, ("os", "posix")) == []


def test_pickle_inside_an_npy_member_is_not_unpickled() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload()], dtype=object), allow_pickle=True)
    node = {"t": "ndarray", "file": "arrays/0.npy", "dtype": "|O", "shape": [1], "writeable": True}
    with pytest.raises(InvalidSnapshot, match="allow_pickle"):
        _loads(_archive(node, members=(("arrays/0.npy", buffer.getvalue()),)))
    assert _PICKLE_CALLS == []


def test_a_pickle_instead_of_json_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", b"\x80\x04\x95" + b"pickle")
        archive.writestr("state.json", b"{}")
    with pytest.raises(InvalidSnapshot, match=r"^manifest\.json: not valid JSON"):
        _loads(buffer.getvalue())


@pytest.mark.parametrize(
    ("members", "problem"),
    [
        ((("evil.py", b"import os"),), "unexpected member 'evil.py'"),
        ((("arrays/0.npy", b""),), "not referenced"),
    ],
)
def test_unexpected_members_are_refused(members: tuple, problem: str) -> None:
    with pytest.raises(InvalidSnapshot, match=problem):
        _loads(_archive(1, members=members))


def test_nan_tokens_in_json_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "manifest.json", zipfile.ZipFile(io.BytesIO(_dumps(1))).read("manifest.json")
        )
        archive.writestr("state.json", '{"root": NaN}')
    with pytest.raises(InvalidSnapshot, match="non-standard JSON token NaN"):
        _loads(buffer.getvalue())


# ------------------------------------------------------ 3. versions and corruption
@pytest.mark.parametrize(
    ("manifest", "field", "message"),
    [
        ({"format": "pickle"}, "format", "expected 'riskengine-snapshot', got 'pickle'"),
        ({"format_version": 2}, "format_version", "expected 1 .* has 2"),
        ({"kind": "engine"}, "kind", "expected 'model', the snapshot holds 'engine'"),
        ({"version": 2}, "version", "expected 3, the snapshot has version 2"),
        ({"version": True}, "version", "expected 3, the snapshot has version True"),
    ],
)
def test_mismatched_manifest_is_refused(manifest: dict, field: str, message: str) -> None:
    with pytest.raises(InvalidSnapshot, match=message) as caught:
        _loads(_archive(1, manifest=manifest))
    assert caught.value.field == field


def test_loads_names_the_expected_and_found_kind_and_version() -> None:
    data = snapshot.dumps({"a": 1}, kind="engine", version=4)
    with pytest.raises(InvalidSnapshot, match=r"^version: expected 5, the snapshot has version 4"):
        snapshot.loads(data, kind="engine", version=5)
    with pytest.raises(InvalidSnapshot, match=r"^kind: expected 'model', the snapshot holds 'eng"):
        snapshot.loads(data, kind="model", version=4)
    assert snapshot.loads(bytearray(data), kind="engine", version=4) == {"a": 1}
    assert snapshot.loads(memoryview(data), kind="engine", version=4) == {"a": 1}


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


_GOOD = snapshot.dumps({"x": np.arange(50.0), "y": list(range(200))}, kind=KIND, version=VERSION)


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip", _GOOD[: len(_GOOD) // 2], _GOOD[:-10], _flip(_GOOD, 120)],
    ids=["empty", "text", "half", "no-tail", "flipped-byte"],
)
def test_corrupt_bytes_raise_invalid_snapshot(data: bytes) -> None:
    with pytest.raises(InvalidSnapshot) as caught:
        _loads(data)
    assert caught.value.field in ("snapshot", "manifest.json", "state.json")


# Zip bombs (issue 17, item 9), built small: the sizes a hostile directory claims are
# patched into it, and the one real bomb inflates 17 MB, not gigabytes.
def _claim_sizes(data: bytes, sizes: dict[str, int]) -> bytes:
    """``data`` with its central directory claiming ``sizes`` (uncompressed) for those members."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at != -1:
        name_length = int.from_bytes(out[at + 28 : at + 30], "little")
        name = bytes(out[at + 46 : at + 46 + name_length]).decode()
        if name in sizes:
            out[at + 24 : at + 28] = sizes[name].to_bytes(4, "little")
        at = out.find(b"PK\x01\x02", at + 46)
    return bytes(out)


def _refuse_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, fail the test if any member is read: refusals come from the directory."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a member was read")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)
    monkeypatch.setattr(zipfile.ZipFile, "read", refuse)


_ZEROS = b'{"root": {"t": "list", "v": [' + b"0," * (17 << 19) + b"0]}}"  # 17 MiB of JSON


def test_members_that_add_up_past_the_cap_are_refused_unread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Four members of 1,000 MiB each, every one under a per-member cap: 4 GB in all.
    members = tuple((f"arrays/{i}.npy", b"\x93NUMPY") for i in range(4))
    hostile = _claim_sizes(_archive(1, members=members), {name: 1_000 << 20 for name, _ in members})
    below_each = _claim_sizes(_archive(1, members=members), {name: 20 << 20 for name, _ in members})
    _refuse_reads(monkeypatch)
    with pytest.raises(InvalidSnapshot, match=r"^snapshot: member 'arrays/0\.npy' unpacks to "):
        _loads(hostile)
    with pytest.raises(InvalidSnapshot, match=r"members unpack to 83,886,[0-9]{3} bytes in all"):
        _loads(below_each)


def test_a_state_json_that_inflates_past_the_json_cap_is_refused_unread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "manifest.json", zipfile.ZipFile(io.BytesIO(_dumps(1))).read("manifest.json")
        )
        archive.writestr("state.json", _ZEROS)
    data = buffer.getvalue()
    assert len(data) < 100_000  # 0.1 MB of zip
    lying = _claim_sizes(data, {"state.json": 1_000})
    with monkeypatch.context() as patch:
        _refuse_reads(patch)
        with pytest.raises(InvalidSnapshot, match=r"'state\.json' unpacks to 17,825,8.. bytes"):
            _loads(data)
    # Lying about it in the directory inflates no more than the lie: a corrupt member.
    tracemalloc.start()
    try:
        with pytest.raises(InvalidSnapshot, match=r"member 'state\.json' is corrupt"):
            _loads(lying)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


def test_the_caps_can_be_set_per_call() -> None:
    with pytest.raises(InvalidSnapshot, match=r"more than the 100 allowed \(max_total_bytes\)"):
        snapshot.loads(_GOOD, kind=KIND, version=VERSION, max_total_bytes=100)
    with pytest.raises(InvalidSnapshot, match=r"more than the 10 allowed \(max_json_bytes\)"):
        snapshot.loads(_GOOD, kind=KIND, version=VERSION, max_json_bytes=10)
    assert snapshot.loads(_GOOD, kind=KIND, version=VERSION, max_json_bytes=10_000)["y"][-1] == 199
    for bad in (0, 1.5, None):
        with pytest.raises(TypeError, match="max_total_bytes"):
            snapshot.loads(_GOOD, kind=KIND, version=VERSION, max_total_bytes=bad)


@pytest.mark.parametrize("data", ["text", None, 123, [1, 2]])
def test_non_bytes_input_names_the_argument(data: Any) -> None:
    with pytest.raises(InvalidSnapshot, match=f"^data: expected bytes, got {type(data).__name__}"):
        _loads(data)


@pytest.mark.parametrize(
    ("kind", "version", "error"),
    [("", 1, TypeError), (None, 1, TypeError), ("m", True, TypeError), ("m", -1, ValueError)],
)
def test_bad_kind_or_version_arguments(kind: Any, version: Any, error: type) -> None:
    with pytest.raises(error):
        snapshot.dumps(1, kind=kind, version=version)
    with pytest.raises(error):
        snapshot.loads(_GOOD, kind=kind, version=version)


# ------------------------------------------------------------- 4. exact values
def test_floats_round_trip_bit_for_bit() -> None:
    negative_nan = struct.unpack("<d", struct.pack("<Q", 0xFFF8000000000000))[0]
    payload_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000123))[0]
    values = [
        math.nan,
        negative_nan,
        payload_nan,
        math.inf,
        -math.inf,
        -0.0,
        0.0,
        5e-324,
        2.2250738585072014e-308 / 3,
        1e308,
        -1.7976931348623157e308,
        0.1,
        1 / 3,
    ]
    restored = _round_trip(values)
    assert [type(v) for v in restored] == [float] * len(values)
    assert [_bits(v) for v in restored] == [_bits(v) for v in values]


def test_state_json_has_no_non_standard_tokens() -> None:
    data = _dumps([math.nan, math.inf, -math.inf, np.float64(math.nan), complex(math.inf, 1)])
    text = zipfile.ZipFile(io.BytesIO(data)).read("state.json").decode()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda token: pytest.fail(token))


@pytest.mark.parametrize(
    "value",
    [
        np.float64(0.1),
        np.float64(math.nan),
        np.float32(0.1),
        np.float16(-0.0),
        np.longdouble(1) / 3,
        np.int64(-(2**63)),
        np.uint64(2**64 - 1),
        np.int8(-7),
        np.uint8(255),
        np.bool_(True),
        np.complex128(1 + 2j),
        np.datetime64("2020-01-02T03:04:05.000000001"),
        np.timedelta64(5, "ms"),
        np.str_("ünïcode"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_numpy_scalars_keep_type_and_bits(value: np.generic) -> None:
    restored = _round_trip(value)
    assert type(restored) is type(value) and restored.dtype == value.dtype
    assert restored.tobytes() == value.tobytes()


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int64).reshape(3, 4),
        np.arange(6, dtype=">f8").reshape(2, 3),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.arange(10.0)[::3],
        np.array(3.5),
        np.empty((0, 3)),
        np.array([True, False]),
        np.array(["2020-01-01", "NaT"], dtype="datetime64[ns]"),
        np.array([(1, 2.0)], dtype=[("n", "<i4"), ("x", "<f8")]),
    ],
    ids=["int64", "big-endian", "fortran", "strided", "0-d", "empty", "bool", "dt64", "record"],
)
def test_arrays_keep_dtype_shape_and_values(array: np.ndarray) -> None:
    restored = _round_trip(array)
    assert type(restored) is np.ndarray
    assert restored.dtype == array.dtype and restored.shape == array.shape
    assert restored.tobytes() == array.tobytes()
    assert restored.flags.writeable


def test_read_only_arrays_stay_read_only_and_sharing_is_kept() -> None:
    frozen = np.arange(4.0)
    frozen.setflags(write=False)
    free = np.ones(3)
    restored = _round_trip({"frozen": frozen, "free": free, "again": free})
    assert not restored["frozen"].flags.writeable
    assert restored["free"].flags.writeable
    assert restored["again"] is restored["free"]


def test_containers_keep_their_types() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    shared = [1.5]
    value = {
        "tuple": (1, (2.0, "x"), ()),
        "list": [shared, shared],
        "int_keys": {1: "a", 2: "b", -3: "c"},
        "mixed_keys": {1: 1, "1": 2, 1.5: 3, (1, "a"): 4, None: 5, False: 6, frozenset({2}): 7},
        "deque": collections.deque([1.0, 2.0], maxlen=3),
        "unbounded": collections.deque([1]),
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "counter": collections.Counter({"x": 3}),
        "default": collections.defaultdict(float, {"m": 1.0}),
        "sets": [{3, 1, 2}, frozenset({"b", "a"}), set()],
        "bytes": b"\x00\xff",
        "complex": complex(-0.0, math.inf),
        "big": 2**100,
        "text": "snow \u2603 \udcff",
        "cycle": cycle,
    }
    restored = _round_trip(value)
    for key, original in value.items():
        if key != "cycle":
            assert _same(restored[key], original), key
    assert list(restored["int_keys"]) == [1, 2, -3]
    assert [type(k) for k in restored["mixed_keys"]] == [type(k) for k in value["mixed_keys"]]
    assert restored["deque"].maxlen == 3 and restored["unbounded"].maxlen is None
    assert restored["default"].default_factory is float
    assert restored["list"][0] is restored["list"][1]
    assert restored["cycle"][0] is restored["cycle"]
    assert _dumps(restored) == _dumps(value)


class LimitState(NamedTuple):
    scale: float
    history: tuple


class Side(enum.StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    gross: float
    assets: tuple[str, ...] = ()


class Clocked:
    """Keeps a bound method chosen at construction: needs its own functions."""

    def __init__(self, fast: bool) -> None:
        self.fast = fast
        self.count = 0
        self._tick = self._tick_fast if fast else self._tick_slow

    def _tick_fast(self) -> None:
        self.count += 2

    def _tick_slow(self) -> None:
        self.count += 1


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A private copy of the allow-list, so these registrations do not leak."""
    monkeypatch.setattr(snapshot.registry, "REGISTRY", snapshot.registry.REGISTRY.copy())


def test_registered_plain_types_round_trip(registry: None) -> None:
    for cls in (LimitState, Side, Limits):
        assert snapshot.register(cls) is cls
    value = [LimitState(0.5, (1.0, 2.0)), Side.SELL, Limits(1e6, ("SPX",))]
    restored = _round_trip(value)
    assert restored == value
    assert type(restored[0]) is LimitState and restored[1] is Side.SELL
    assert type(restored[2]) is Limits


def test_unregistered_class_fails_at_dump_naming_the_path() -> None:
    with pytest.raises(TypeError, match=r"^obj\['limits'\]\[0\]: .*Limits is not on the"):
        _dumps({"limits": [Limits(1.0)]})


def test_bound_methods_need_their_own_functions(registry: None) -> None:
    snapshot.register(Clocked)
    with pytest.raises(TypeError, match=r"^obj\._tick: builtins.method cannot be snapshotted"):
        _dumps(Clocked(fast=True))

    def to_state(clocked: Clocked) -> dict:
        return {"fast": clocked.fast, "count": clocked.count}

    def from_state(state: dict) -> Clocked:
        clocked = Clocked(bool(state["fast"]))
        clocked.count = int(state["count"])
        return clocked

    snapshot.register(Clocked, to_state, from_state)
    restored = _round_trip(Clocked(fast=True))
    restored._tick()
    assert restored.count == 2


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ((len,), TypeError, "expected a class"),
        ((Clocked, lambda c: c), TypeError, "give both or neither"),
        ((collections.UserList,), None, None),
        ((dict,), TypeError, "subclasses a built-in container"),
        ((type("Native", (int,), {}),), TypeError, "built-in container"),
    ],
)
def test_register_checks_its_arguments(
    arguments: tuple, error: type | None, message: str | None, registry: None
) -> None:
    if error is None:
        snapshot.register(*arguments)
        return
    with pytest.raises(error, match=message):
        snapshot.register(*arguments)


def test_register_refuses_native_state_and_name_clashes(registry: None) -> None:
    from river.utils import VectorDict

    with pytest.raises(TypeError, match="outside __dict__ and __slots__"):
        snapshot.register(VectorDict)
    snapshot.register(Limits)
    clash = type("Limits", (), {"__module__": __name__})
    with pytest.raises(ValueError, match="another class is registered"):
        snapshot.register(clash)


def test_a_reloaded_class_replaces_its_older_self(
    registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot.register(Limits)
    reloaded = dataclasses.dataclass(frozen=True)(
        type("Limits", (), {"__module__": __name__, "__annotations__": {"gross": float}})
    )
    monkeypatch.setattr(sys.modules[__name__], "Limits", reloaded)
    snapshot.register(reloaded)
    assert type(_round_trip(reloaded(2.0))) is reloaded


def test_object_arrays_and_functions_fail_at_dump() -> None:
    with pytest.raises(TypeError, match=r"^obj\[0\]: an array of dtype object"):
        _dumps([np.array([1, "a"], dtype=object)])
    with pytest.raises(TypeError, match=r"^obj\['f'\]: builtins.function cannot be snapshotted"):
        _dumps({"f": lambda: None})


def test_allow_list_has_the_models_and_not_adwin() -> None:
    names = snapshot.registered_classes()
    for name in (
        "riskengine.forecast.garch.OnlineGARCH",
        "riskengine.forecast.dcc.DCCParams",
        "riskengine.regime.hmm.HMMParams",
        "riskengine.risk.orders.TradingState",
        "river.drift.page_hinkley.PageHinkley",
        "river._river_rust.vectordict.VectorDict",
    ):
        assert name in names
    assert not any("ADWIN" in name or "AdaptiveWindowing" in name for name in names)


# ------------------------------------------------------ 5. hypothesis round trip
def _same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down, floats compared by bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return _bits(a) == _bits(b)
    if isinstance(a, complex):
        return _same(a.real, b.real) and _same(a.imag, b.imag)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, (list, tuple, collections.deque)):
        if isinstance(a, collections.deque) and a.maxlen != b.maxlen:
            return False
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        if isinstance(a, collections.defaultdict) and a.default_factory is not b.default_factory:
            return False
        if len(a) != len(b) or list(map(type, a)) != list(map(type, b)):
            return False
        pairs = zip(a.items(), b.items(), strict=True)
        return all(k1 == k2 and _same(v1, v2) for (k1, v1), (k2, v2) in pairs)
    return a == b


_KEYS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.text(max_size=8),
    st.tuples(st.integers(-5, 5), st.text(max_size=3)),
)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.complex_numbers(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.binary(max_size=12),
    hnp.arrays(
        st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.bool_]),
        hnp.array_shapes(min_dims=0, max_dims=2, max_side=3),
    ),
    hnp.from_dtype(np.dtype(np.float64)),
    hnp.from_dtype(np.dtype(np.int32)),
)
_TREES = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(_KEYS, children, max_size=4),
        st.lists(children, max_size=4).map(lambda items: collections.deque(items, maxlen=5)),
        st.dictionaries(st.text(max_size=4), children, max_size=3).map(collections.OrderedDict),
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(_TREES)
def test_nested_plain_structures_round_trip(value: Any) -> None:
    data = _dumps(value)
    restored = _loads(data)
    assert _same(restored, value)
    assert _dumps(restored) == data
