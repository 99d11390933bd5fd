"""replay == update in a loop (1e-10); snapshot/restore continues bit-identically."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections.abc import Callable

import numpy as np
import pytest

from riskengine import snapshot
from riskengine.engine import Engine, EngineConfig, RiskState
from riskengine.engine.engine import SNAPSHOT_KIND, SNAPSHOT_VERSION
from riskengine.engine.snapshot_types import register_engine_types
from riskengine.errors import InvalidSnapshot
from riskengine.risk.orders import Fill, Order
from tests.engine.conftest import LIVE, WARM, ticks


def _assert_same(a: RiskState, b: RiskState, rtol: float = 1e-10) -> None:
    for x, y in (
        (a.covariance, b.covariance),
        (a.regime_proba, b.regime_proba),
        (a.limits.position, b.limits.position),
        (a.limits.order, b.limits.order),
        ([a.limits.gross, a.limits.net, a.equity], [b.limits.gross, b.limits.net, b.equity]),
        (
            [a.execution.risk_aversion, a.execution.participation_cap, a.execution.urgency],
            [b.execution.risk_aversion, b.execution.participation_cap, b.execution.urgency],
        ),
    ):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-300)
    assert (a.timestamp, a.trading_state, a.changepoint, a.execution.policy_id) == (
        b.timestamp,
        b.trading_state,
        b.changepoint,
        b.execution.policy_id,
    )
    assert a.var(0.99, [0.5, 0.5]) == pytest.approx(b.var(0.99, [0.5, 0.5]), rel=rtol)


def _replay_pair(blob: bytes, start: int, stop: int) -> tuple[Engine, list, Engine, object]:
    looped, batch = Engine.restore(blob), Engine.restore(blob)
    states = [looped.update(stamp, prices) for stamp, prices in ticks(start, stop)]
    frame = LIVE.iloc[start:stop]
    history = batch.replay(frame.index.to_numpy(), frame.to_numpy())
    return looped, states, batch, history


def test_replay_equals_updates_and_the_engines_continue_alike(warm_blob: bytes) -> None:
    looped, states, batch, history = _replay_pair(warm_blob, 0, 400)
    assert len(history) == 400
    for a, b in zip(states, history, strict=True):
        _assert_same(a, b)
    _assert_same(looped.state, batch.state)
    for stamp, prices in ticks(400, 420):
        _assert_same(looped.update(stamp, prices), batch.update(stamp, prices))


def test_replay_with_refits_positions_and_a_daily_loss_halt() -> None:
    config = EngineConfig.from_mapping(
        {"assets": ["SPX", "NDX"], "models": {"refit_every": 120}, "hard": {"max_daily_loss": 2e4}}
    )
    engine = Engine(config)
    engine.warm_up(WARM)
    price = float(WARM["NDX"].iloc[-1])
    engine.on_fill(Fill("NDX", "buy", 2e6 / price, price))
    _, states, _, history = _replay_pair(engine.snapshot(), 0, 300)
    for a, b in zip(states, history, strict=True):
        _assert_same(a, b)
    assert any(s.trading_state == "HALTED" for s in states), "the test should reach a halt"


def test_refit_answers_with_the_refitted_models_without_advancing_the_limits(
    warm_blob: bytes,
) -> None:
    engine = Engine.restore(warm_blob)
    for timestamp, prices in ticks(0, 60):
        engine.update(timestamp, prices)
    before = engine.state
    chain_before = engine.limit_chain_state
    engine.refit()
    after = engine.state
    assert after.innovations == engine.models.innovations
    np.testing.assert_array_equal(after.mean, engine.models.mean)
    assert after.timestamp == before.timestamp and after.equity == before.equity
    assert np.all(np.isfinite(after.limits.position)) and after.limits.gross > 0
    assert len(engine.limit_chain_state) == len(chain_before)
    timestamp, prices = ticks(60, 61)[0]
    assert engine.update(timestamp, prices).models_ready


def test_replay_from_an_engine_that_has_not_warmed_up() -> None:
    config = EngineConfig.from_mapping({"assets": ["SPX", "NDX"], "models": {"min_obs": 250}})
    blob = Engine(config).snapshot()
    _, states, _, history = _replay_pair(blob, 0, 300)
    assert not states[100].models_ready and states[-1].models_ready
    for a, b in zip(states, history, strict=True):
        if a.models_ready:
            _assert_same(a, b)
        else:
            assert not b.models_ready and a.trading_state == b.trading_state == "REDUCING"


def test_snapshot_restore_continues_bit_identically(warm_blob: bytes) -> None:
    engine = Engine.restore(warm_blob)
    for stamp, prices in ticks(0, 50):
        engine.update(stamp, prices)
    decision = engine.check(Order("SPX", "buy", 100, prices["SPX"]))
    engine.on_fill(Fill("SPX", "buy", 40, prices["SPX"], order_id=decision.order_id))
    twin = Engine.restore(engine.snapshot())
    assert twin.snapshot() == engine.snapshot()
    for stamp, prices in ticks(50, 120):
        a, b = engine.update(stamp, prices), twin.update(stamp, prices)
        _assert_same(a, b, rtol=0)
        np.testing.assert_array_equal(a.covariance, b.covariance)
    order = Order("SPX", "buy", 60, prices["SPX"])
    assert engine.check(order) == twin.check(order)
    assert engine.state.limit_derivation.summary() == twin.state.limit_derivation.summary()


def _rewrite_state(blob: bytes, old: bytes, new: bytes) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as source, zipfile.ZipFile(archive, "w") as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "state.json":
                data = data.replace(old, new)
            out.writestr(item, data)
    return archive.getvalue()


@pytest.mark.parametrize(
    ("now", "before"),
    [
        (b"riskengine.engine.model_stack.", b"riskengine.risk.model_stack."),
        (
            b"riskengine.engine.model_config.ModelConfig",
            b"riskengine.engine.model_stack.ModelConfig",
        ),
        (b"riskengine.engine.model_config.ModelConfig", b"riskengine.risk.model_stack.ModelConfig"),
        (b"riskengine.forecast.innovations.Innovations", b"riskengine.risk.var.Innovations"),
    ],
)
def test_snapshots_naming_classes_where_they_used_to_live_still_load(
    warm_blob: bytes, now: bytes, before: bytes
) -> None:
    """Classes that moved module keep their old names as aliases (engine/snapshot_types.py)."""
    legacy = _rewrite_state(warm_blob, now, before)
    assert legacy != warm_blob
    assert Engine.restore(legacy).snapshot() == warm_blob  # loads, and is saved under the new name


def test_snapshots_of_another_version_or_kind_or_garbage_are_refused(warm_blob: bytes) -> None:
    with pytest.raises(InvalidSnapshot, match="snapshot"):
        Engine.restore(b"not a zip")
    with pytest.raises(InvalidSnapshot, match=r"^data"):
        Engine.restore("text")  # type: ignore[arg-type]
    archive = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(warm_blob)) as source, zipfile.ZipFile(archive, "w") as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "manifest.json":
                data = data.replace(b'"version": 3', b'"version": 2')
            out.writestr(item, data)
    # Version 2 kept no return window or refit in flight: refused, naming both versions.
    with pytest.raises(InvalidSnapshot, match=r"^version: expected 3, the snapshot has version 2"):
        Engine.restore(archive.getvalue())


# Payloads that parse but do not fit their config (issue 17, item 11): each is refused
# naming the field, and restore builds nothing from it.
def _payload(blob: bytes) -> dict:
    register_engine_types()
    return snapshot.loads(blob, kind=SNAPSHOT_KIND, version=SNAPSHOT_VERSION)


def _blob(payload: dict) -> bytes:
    return snapshot.dumps(payload, kind=SNAPSHOT_KIND, version=SNAPSHOT_VERSION)


def _three_assets(payload: dict) -> None:
    payload["config"]["assets"] = ["SPX", "NDX", "RTY"]


def _another_engines_limits(payload: dict) -> None:
    payload["config"]["hard"]["max_net_notional"] = 1e6


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda payload: payload.__setitem__(key, value)


def _pop(key: str) -> Callable[[dict], None]:
    return lambda payload: payload.pop(key)


def _account(name: str, value: object) -> Callable[[dict], None]:
    return lambda payload: setattr(payload["controls"].account, name, value)


@pytest.mark.parametrize(
    ("splice", "field", "message"),
    [
        (_set("config", 5), "config", "expected a mapping, got int"),
        (_pop("pending"), "snapshot", r"missing key\(s\) \['pending'\]"),
        (_pop("config"), "snapshot", r"missing key\(s\) \['config'\]"),
        (_set("extra", 1), "snapshot", r"unknown key\(s\) \['extra'\]"),
        (_set("models", 5), "models", "expected a RiskModels, got int"),
        (_three_assets, "models.n_assets", "the models are for 2 assets, the config has 3"),
        (_another_engines_limits, "controls.limits", "the controls enforce HardLimits"),
        (
            lambda payload: payload["config"]["models"].__setitem__("n_regimes", 2),
            "models.config",
            "n_regimes=3",
        ),
        (
            lambda payload: payload["config"]["hard"].__setitem__("max_orders", 5),
            "config.hard",
            r"unknown key\(s\) \['max_orders'\]",
        ),
        (_set("prices", np.zeros(3)), "prices", r"shape \(2,\), got float64 \(3,\)"),
        (_set("pending", [np.zeros(3)]), "pending[0]", "shape"),
        (_set("last_ns", -5), "last_ns", "int nanoseconds"),
        (_set("chain_state", ()), "chain_state", "items"),
        (_set("since_fit_attempt", -1), "since_fit_attempt", ">= 0"),
        (_account("_position", [0.0]), "controls.account.position", "a list of 2 floats"),
        (
            _account("_working", {"O1": [0, "buy", 1.0]}),
            "controls.account.working['O1']",
            "limit price",
        ),
    ],
)
def test_a_payload_that_does_not_fit_its_config_is_refused_naming_the_field(
    warm_blob: bytes, splice: Callable[[dict], None], field: str, message: str
) -> None:
    payload = _payload(warm_blob)
    splice(payload)
    with pytest.raises(InvalidSnapshot, match=message) as raised:
        Engine.restore(_blob(payload))
    assert raised.value.field == field


def test_a_state_for_other_assets_is_refused(warm_blob: bytes) -> None:
    engine = Engine.restore(warm_blob)
    engine.update(*ticks(0, 1)[0])
    payload = _payload(engine.snapshot())
    payload["state"] = dataclasses.replace(payload["state"], covariance=np.eye(3))
    with pytest.raises(InvalidSnapshot, match=r"shape \(2, 2\)") as raised:
        Engine.restore(_blob(payload))
    assert raised.value.field == "state.covariance"


def test_a_restored_payload_that_fits_still_round_trips(warm_blob: bytes) -> None:
    assert Engine.restore(_blob(_payload(warm_blob))).snapshot() == warm_blob


def test_restore_caps_what_a_snapshot_may_unpack_to(warm_blob: bytes) -> None:
    with pytest.raises(InvalidSnapshot, match=r"\(max_json_bytes\)"):
        Engine.restore(warm_blob, max_json_bytes=10_000)
    with pytest.raises(InvalidSnapshot, match=r"\(max_total_bytes\)"):
        Engine.restore(warm_blob, max_total_bytes=50_000)
