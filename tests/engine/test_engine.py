"""The engine end to end: state, fail-closed start, controls through the engine, halts."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from riskengine import engine as engine_package
from riskengine.engine import Engine, EngineConfig
from riskengine.risk.orders import Fill, Order, ReasonCode, TradingState
from tests.engine.conftest import LIVE, WARM, ticks


def test_state_after_an_update(engine: Engine) -> None:
    ((stamp, prices),) = ticks(0, 1)
    state = engine.update(stamp, prices)
    assert set(state.variance) == {"SPX", "NDX"}
    assert all(0 < v < 0.01 for v in state.variance.values())
    assert state.covariance.shape == (2, 2) and np.allclose(state.covariance, state.covariance.T)
    np.testing.assert_array_equal(np.diag(state.correlation), 1.0)
    assert state.regime_proba.sum() == pytest.approx(1.0) and state.regime in (0, 1, 2)
    assert state.trading_state is TradingState.ACTIVE and state.models_ready
    weights = {"SPX": 0.6, "NDX": 0.4}
    var, es = state.var(0.99, weights), state.es(0.975, weights)
    assert 0.005 < var < 0.15 and es > state.var(0.975, weights)
    # Weights as an array in config order give the same number.
    assert state.var(0.99, np.array([0.6, 0.4])) == pytest.approx(var, rel=1e-12)
    assert state.var(0.99) == 0.0  # a flat book has no VaR
    hard = engine.config.hard
    assert np.all(state.limits.position <= hard.max_position_notional)
    assert state.limits.gross <= hard.max_gross_notional
    assert 0 <= state.execution.urgency <= 1 and state.execution.policy_id
    assert "vol_target" in state.limit_derivation.summary(engine.assets)


def test_default_var_weights_are_the_positions(engine: Engine) -> None:
    ((stamp, prices),) = ticks(0, 1)
    engine.update(stamp, prices)
    engine.on_fill(Fill("SPX", "buy", 1000, prices["SPX"]))
    state = engine.state
    value = 1000 * prices["SPX"]
    expected = state.var(0.99, {"SPX": value / state.equity})
    assert state.var(0.99) == pytest.approx(expected, rel=1e-12)


def test_an_engine_without_history_starts_reducing_and_fits_itself() -> None:
    config = EngineConfig.from_mapping({"assets": ["SPX", "NDX"], "models": {"min_obs": 250}})
    engine = Engine(config)
    for stamp, prices in ticks(0, 5):
        state = engine.update(stamp, prices)
    assert state.trading_state is TradingState.REDUCING and not state.models_ready
    assert np.isnan(state.covariance).all()
    # Fail closed: opening risk is denied, the dynamic limits sit at their floors.
    denied = engine.check(Order("SPX", "buy", 1, prices["SPX"]))
    assert denied.reason is ReasonCode.REDUCING_ONLY
    engine.on_fill(Fill("SPX", "buy", 10, prices["SPX"]))
    assert engine.check(Order("SPX", "sell", 5, prices["SPX"])).approved  # reduces risk
    for stamp, prices in ticks(5, 252):
        state = engine.update(stamp, prices)
    assert state.trading_state is TradingState.ACTIVE and state.models_ready


def test_hard_limits_hold_whatever_the_dynamic_ones_say(engine: Engine) -> None:
    ((stamp, prices),) = ticks(0, 1)
    state = engine.update(stamp, prices)
    price = prices["SPX"]
    limit = min(engine.config.hard.max_order_notional, state.limits.order[0])
    too_big = Order("SPX", "buy", (limit * 1.01) / price, price)
    decision = engine.check(too_big)
    assert not decision.approved and decision.reason is ReasonCode.ORDER_NOTIONAL
    assert engine.check(Order("SPX", "buy", (limit * 0.99) / price, price)).approved
    # The price collar is 5 % by default.
    assert engine.check(Order("SPX", "buy", 1, price * 1.06)).reason is ReasonCode.PRICE_COLLAR


def test_selling_one_leg_may_not_take_the_net_past_its_limit() -> None:
    # Issue 17, item 3: with max_net_notional = 1M, long SPX 1M and short NDX 2M, selling
    # the SPX was approved as "risk-reducing" and the net ended at -2M.
    config = EngineConfig.from_mapping(
        {"assets": ["SPX", "NDX"], "hard": {"max_net_notional": 1e6}}
    )
    engine = Engine(config)
    engine.warm_up(WARM.iloc[-300:])
    ((stamp, prices),) = ticks(0, 1)
    assert engine.update(stamp, prices).trading_state is TradingState.ACTIVE

    def trade(asset: str, side: str, notional: float) -> ReasonCode | None:
        order = Order(asset, side, notional / prices[asset], prices[asset])
        decision = engine.check(order)
        if decision.approved:
            engine.on_fill(Fill(asset, side, order.quantity, order.price, decision.order_id))
        return decision.reason

    # In pieces under the dynamic order limits: long SPX 1M, short NDX 1.9M, net -0.9M.
    assert [trade("SPX", "buy", 200_000) for _ in range(5)] == [None] * 5
    assert [trade("NDX", "sell", 190_000) for _ in range(10)] == [None] * 10
    before = engine.snapshot()
    assert trade("SPX", "sell", 200_000) is ReasonCode.NET_EXPOSURE  # net -1.1M
    assert engine.snapshot() == before
    engine.halt("desk")  # the kill switch does not open the net limit either
    assert trade("SPX", "sell", 200_000) is ReasonCode.NET_EXPOSURE
    assert trade("NDX", "buy", 190_000) is None  # toward the limit: risk-reducing
    assert np.dot(engine.state.positions, engine.state.prices) == pytest.approx(-710_000.0)


def test_kill_switch_and_resume(engine: Engine) -> None:
    ((stamp, prices),) = ticks(0, 1)
    engine.update(stamp, prices)
    engine.on_fill(Fill("NDX", "buy", 100, prices["NDX"]))
    engine.halt("risk manager")
    assert engine.state.trading_state is TradingState.HALTED
    assert engine.check(Order("NDX", "buy", 1, prices["NDX"])).reason is ReasonCode.HALTED
    assert engine.check(Order("NDX", "sell", 50, prices["NDX"])).approved
    engine.resume()
    assert engine.state.trading_state is TradingState.ACTIVE
    assert engine.check(Order("NDX", "buy", 1, prices["NDX"])).approved


def test_daily_loss_halts_until_resume() -> None:
    config = EngineConfig.from_mapping({"assets": ["SPX", "NDX"], "hard": {"max_daily_loss": 1e4}})
    engine = Engine(config)
    engine.warm_up(WARM)
    # Long 1M of SPX into the 1987-style days of the sample: find a day losing > 1 %.
    price = float(WARM["SPX"].iloc[-1])
    engine.on_fill(Fill("SPX", "buy", 1e6 / price, price))
    halted_at = None
    for k, (stamp, prices) in enumerate(ticks(0, 400)):
        if engine.update(stamp, prices).trading_state is TradingState.HALTED:
            halted_at = k
            break
    assert halted_at is not None
    assert engine.state.equity < engine.config.capital
    # Still halted on the following days until a human resumes.
    for stamp, prices in ticks(halted_at + 1, halted_at + 3):
        assert engine.update(stamp, prices).trading_state is TradingState.HALTED


def test_limits_tighten_when_volatility_rises(engine: Engine) -> None:
    states = [engine.update(stamp, prices) for stamp, prices in ticks(0, 600)]
    vols = np.array([np.sqrt(s.covariance[0, 0]) for s in states])
    limits = np.array([s.limits.position[0] for s in states])
    calm, wild = vols < np.quantile(vols, 0.2), vols > np.quantile(vols, 0.8)
    assert np.median(limits[wild]) < np.median(limits[calm])


def test_the_engine_never_reads_the_wall_clock() -> None:
    # The clock is injected: no module of the engine, risk or model packages may
    # call time.time, datetime.now and the like.
    forbidden = {"time", "perf_counter", "monotonic", "now", "utcnow", "today"}
    roots = [
        Path(engine_package.__file__).parent,
        Path(engine_package.__file__).parents[1] / "risk",
    ]
    for root in roots:
        for path in root.glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in forbidden:
                    assert not (
                        isinstance(node.value, ast.Name)
                        and node.value.id in {"time", "datetime", "date", "dt"}
                    ), f"{path.name}: {ast.unparse(node)}"


def test_live_rows_follow_the_warm_up() -> None:
    assert LIVE.index[0] > WARM.index[-1]


def test_a_failing_automatic_fit_is_retried_every_few_ticks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from riskengine.engine.model_stack import RiskModels

    attempts = []

    def failing_fit(self: RiskModels, returns: np.ndarray) -> None:
        attempts.append(len(returns))
        raise RuntimeError("returns: arch did not converge")

    monkeypatch.setattr(RiskModels, "fit", failing_fit)
    config = EngineConfig.from_mapping({"assets": ["SPX", "NDX"], "models": {"min_obs": 250}})
    engine = Engine(config)
    for stamp, prices in ticks(0, 300):
        state = engine.update(stamp, prices)
    # First try at the 251st tick (250 returns), then every 21 ticks: never on every tick.
    assert len(attempts) == 3 and set(attempts) == {250}
    assert state.trading_state is TradingState.REDUCING
    assert engine.fit_error == "returns: arch did not converge"
