"""Bad input: a specific InvalidInput naming the field, and the engine exactly as before."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskengine.engine import Engine, EngineConfig
from riskengine.errors import (
    InvalidConfig,
    InvalidFill,
    InvalidInput,
    InvalidOrder,
    InvalidPrice,
    InvalidTimestamp,
    MissingAsset,
    UnknownAsset,
)
from riskengine.risk.orders import Fill, Order
from tests.engine.conftest import LIVE, WARM, ticks

STAMP, PRICES = ticks(0, 1)[0]


@pytest.mark.parametrize(
    ("timestamp", "prices", "error", "field"),
    [
        (STAMP, PRICES | {"SPX": math.inf}, InvalidPrice, "prices['SPX']"),
        (STAMP, {"SPX": math.nan, "NDX": None}, InvalidPrice, "prices"),
        (STAMP, PRICES | {"NDX": 0.0}, InvalidPrice, "prices['NDX']"),
        (STAMP, PRICES | {"NDX": -3.0}, InvalidPrice, "prices['NDX']"),
        (STAMP, PRICES | {"NDX": "3000"}, InvalidPrice, "prices['NDX']"),
        (STAMP, PRICES | {"DAX": 15000.0}, UnknownAsset, "prices['DAX']"),
        (STAMP, {"SPX": PRICES["SPX"]}, MissingAsset, "prices['NDX']"),
        (STAMP, [1.0, 2.0], InvalidPrice, "prices"),
        ("2001-01-01", PRICES, InvalidTimestamp, "timestamp"),
    ],
)
def test_bad_ticks(engine: Engine, timestamp: Any, prices: Any, error: type, field: str) -> None:
    before = engine.snapshot()
    with pytest.raises(error) as raised:
        engine.update(timestamp, prices)
    assert raised.value.field == field and str(raised.value).startswith(field)
    assert engine.snapshot() == before


def test_timestamps_that_repeat_or_go_backwards(engine: Engine) -> None:
    engine.update(STAMP, PRICES)
    before = engine.snapshot()
    for stamp in (STAMP, STAMP - pd.Timedelta(days=1)):
        with pytest.raises(InvalidTimestamp, match=r"^timestamp: .*(repeats|backwards)"):
            engine.update(stamp, PRICES)
        assert engine.snapshot() == before


@pytest.mark.parametrize(
    "stamp",
    [pd.NaT, np.datetime64("NaT"), 2**70, -1, dt.datetime(1969, 12, 31), dt.datetime(2263, 1, 1)],
    ids=["pandas-NaT", "numpy-NaT", "2**70", "-1", "1969", "2263"],
)
def test_times_outside_1970_to_2262_are_refused_even_on_a_fresh_engine(stamp: Any) -> None:
    # Issue 17, item 15: NaT passed as -9.2e18 ns, and 2**70 moved the clock so far
    # that every real time after it was "backwards".
    engine = Engine(EngineConfig(assets=["SPX", "NDX"]))
    before = engine.snapshot()
    with pytest.raises(InvalidTimestamp, match=r"^timestamp: (is NaT|.* is outside 1970-01-01)"):
        engine.update(stamp, PRICES)
    assert engine.snapshot() == before
    engine.update(STAMP, PRICES)  # a real time still goes
    with pytest.raises(InvalidTimestamp) as raised:
        engine.replay([STAMP + pd.Timedelta(days=1), stamp], [list(PRICES.values())] * 2)
    assert raised.value.field == "timestamps[1]"


def test_a_subnormal_price_is_refused_and_an_update_applies_completely_or_not_at_all(
    engine: Engine,
) -> None:
    # Issue 17, item 10: 1e-310 was accepted, the next update's log return was inf, and
    # the models raised after the clock and the marks had moved ("repeats" on retry).
    before = engine.snapshot()
    with pytest.raises(InvalidPrice, match=r"^prices\['SPX'\]: must be a normal float") as raised:
        engine.update(STAMP, PRICES | {"SPX": 1e-310})
    assert raised.value.field == "prices['SPX']"
    assert engine.snapshot() == before
    engine.update(STAMP, PRICES)  # the same time again: nothing had moved


def test_a_log_return_that_is_not_a_number_is_refused_before_anything_changes() -> None:
    # Both prices are usable, but 1e300 / 1e-300 overflows: no model could learn from it.
    engine = Engine(EngineConfig(assets=["SPX", "NDX"]))
    engine.update(STAMP, {"SPX": 1e-300, "NDX": 100.0})
    before = engine.snapshot()
    later = STAMP + pd.Timedelta(days=1)
    with pytest.raises(
        InvalidPrice, match=r"^prices\['SPX'\]: the log return from 1e-300 to 1e\+300"
    ):
        engine.update(later, {"SPX": 1e300, "NDX": 100.0})
    with pytest.raises(InvalidPrice, match=r"^prices\[1\]\['SPX'\]: the log return"):
        engine.replay([later, later + pd.Timedelta(days=1)], [[1e-300, 100.0], [1e300, 100.0]])
    assert engine.snapshot() == before
    engine.update(later, {"SPX": 1e-299, "NDX": 100.0})
    frame = pd.DataFrame(
        {"SPX": [1.0, 1e-300, 1e300], "NDX": [1.0, 1.0, 1.0]},
        index=pd.date_range("2001-01-01", periods=3),
    )
    with pytest.raises(InvalidPrice, match=r"^history\['SPX'\]: the log return .* on 2001-01-03"):
        Engine(EngineConfig(assets=["SPX", "NDX"])).warm_up(frame)


@pytest.mark.parametrize("cell", ["abc", "3000", True, b"1"])
def test_warm_up_refuses_a_text_cell_naming_it(cell: Any) -> None:
    # Issue 17, item 16: a text cell raised a bare ValueError from the float conversion.
    frame = LIVE.iloc[:300].copy().astype(object)
    frame.iloc[7, 1] = cell
    engine = Engine(EngineConfig(assets=["SPX", "NDX"]))
    before = engine.snapshot()
    with pytest.raises(InvalidPrice) as raised:
        engine.warm_up(frame)
    assert raised.value.field == "history['NDX']"
    assert f"got {type(cell).__name__} {cell!r} on {frame.index[7]} (row 7)" in str(raised.value)
    assert engine.snapshot() == before


def test_an_order_time_far_from_the_clock_is_refused_and_never_wedges_the_engine(
    engine: Engine,
) -> None:
    # Issue 17, item 5: an order stamped 2100-01-01 was approved, after which every
    # check raised "before the last approved order", whatever the engine did next.
    state = engine.update(STAMP, PRICES)
    price = PRICES["SPX"]
    before = engine.snapshot()
    for stamp in (np.datetime64("2100-01-01"), STAMP - pd.Timedelta(hours=1), pd.NaT):
        with pytest.raises(InvalidTimestamp) as raised:
            engine.check(Order("SPX", "buy", 1, price, timestamp=stamp))
        assert raised.value.field == "timestamp"
        assert engine.snapshot() == before
    soon = Order("SPX", "buy", 1, price, timestamp=state.timestamp + 60 * 10**9)
    assert engine.check(soon).approved  # at the edge of the tolerance
    assert engine.check(Order("SPX", "sell", 1, price)).approved  # at the clock: still decided
    engine.halt("desk")
    engine.resume()
    assert engine.check(Order("SPX", "buy", 1, price, timestamp=STAMP)).approved


def test_fills_outside_the_orders_limit_or_the_collar_are_refused(engine: Engine) -> None:
    engine.update(STAMP, PRICES)
    price = PRICES["SPX"]
    decision = engine.check(Order("SPX", "buy", 1, price))
    before = engine.snapshot()
    for fill in (
        Fill("SPX", "buy", 1, price * 100, decision.order_id),
        Fill("SPX", "buy", 1, price * 0.5, decision.order_id),
        Fill("SPX", "sell", 1, price * 1000),
    ):
        with pytest.raises(InvalidFill) as raised:
            engine.on_fill(fill)
        assert raised.value.field == "price"
        assert engine.snapshot() == before
    engine.on_fill(Fill("SPX", "buy", 1, price, decision.order_id))


@pytest.mark.parametrize(
    ("make", "error", "field"),
    [
        (lambda: Order("SPX", "buy", 0, 100.0), InvalidOrder, "quantity"),
        (lambda: Order("SPX", "buy", -5, 100.0), InvalidOrder, "quantity"),
        (lambda: Order("SPX", "buy", math.nan, 100.0), InvalidOrder, "quantity"),
        (lambda: Order("SPX", "buy", 5, math.nan), InvalidOrder, "price"),
        (lambda: Order("SPX", "buy", 5, 0.0), InvalidOrder, "price"),
        (lambda: Order("SPX", "short", 5, 100.0), InvalidOrder, "side"),
        (lambda: Fill("SPX", "buy", -1, 100.0), InvalidFill, "quantity"),
    ],
)
def test_bad_orders_cannot_even_be_built(make: Any, error: type, field: str) -> None:
    with pytest.raises(error) as raised:
        make()
    assert raised.value.field == field


def test_orders_and_fills_for_unknown_assets_or_ids(engine: Engine) -> None:
    engine.update(STAMP, PRICES)
    before = engine.snapshot()
    cases = [
        (lambda: engine.check(Order("DAX", "buy", 1, 100.0)), UnknownAsset, "asset"),
        (lambda: engine.on_fill(Fill("DAX", "buy", 1, 100.0)), UnknownAsset, "asset"),
        (lambda: engine.on_fill(Fill("SPX", "buy", 1, 100.0, "nope")), InvalidFill, "order_id"),
        (lambda: engine.cancel("nope"), InvalidOrder, "order_id"),
        (lambda: engine.check("buy SPX"), InvalidInput, "order"),
    ]
    for call, error, field in cases:
        with pytest.raises(error) as raised:
            call()
        assert raised.value.field == field
        assert engine.snapshot() == before


def test_replay_rejects_bad_histories_without_changing_anything(engine: Engine) -> None:
    frame = LIVE.iloc[:10]
    times, prices = frame.index.to_numpy(), frame.to_numpy()
    before = engine.snapshot()
    bad_price = prices.copy()
    bad_price[3, 1] = np.inf
    with pytest.raises(InvalidPrice, match=r"^prices\[3\]\['NDX'\]"):
        engine.replay(times, bad_price)
    with pytest.raises(InvalidTimestamp, match=r"^timestamps\[5\]"):
        engine.replay(np.concatenate([times[:5], times[4:9]]), prices)
    with pytest.raises(InvalidPrice, match=r"^prices: expected shape"):
        engine.replay(times, prices[:, :1])
    assert engine.snapshot() == before


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"assets": []}, "assets"),
        ({"assets": ["SPX", "SPX"]}, "assets"),
        ({"assets": ["SPX", "NDX"], "capital": 0}, "capital"),
        ({"assets": ["SPX", "NDX"], "limits": {}}, "config"),
        ({"assets": ["SPX", "NDX"], "hard": {"max_position_notional": -1.0}}, "hard"),
        ({"assets": ["SPX", "NDX"], "hard": {"max_positions": 1.0}}, "hard"),
        ({"assets": ["SPX", "NDX"], "dynamic": {"var_budget": 0.0}}, "dynamic.var_budget"),
        ({"assets": ["SPX", "NDX"], "models": {"vol": "EGARCH"}}, "models.vol"),
        ({"capital": 1.0}, "assets"),
    ],
)
def test_bad_configs_name_the_field(table: dict, field: str) -> None:
    with pytest.raises(InvalidConfig) as raised:
        EngineConfig.from_mapping(table)
    assert raised.value.field.startswith(field)


def test_config_loads_from_toml() -> None:
    config = EngineConfig.from_toml(
        'assets = ["SPX", "NDX"]\ncapital = 5e6\n[hard]\nmax_daily_loss = 1e5\n'
        "[dynamic]\nvar_budget = 1e5\n[models]\nn_regimes = 2\n"
    )
    assert config.capital == 5e6 and config.hard.max_daily_loss == 1e5
    assert config.models.n_regimes == 2 and config.dynamic.var_budget == 1e5
    assert EngineConfig.from_mapping(config.to_mapping()) == config
    with pytest.raises(InvalidConfig, match=r"^toml"):
        EngineConfig.from_toml('assets = ["SPX"\n')


# Random interleavings of good and bad ticks, orders stamped near and far from the
# engine's clock, fills at arbitrary prices, and halts.
ORDER_OFFSETS_S = [None, None, 0, 59, -59, 61, -61, 3e9]  # 3e9 s: past the year 2060
FILL_FACTORS = [1e-3, 0.9, 0.97, 1.0, 1.0, 1.0, 1.03, 1.1, 1e3]
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.sampled_from(["good", "nan", "zero", "missing", "stale"])),
        st.tuples(
            st.just("order"),
            st.sampled_from(["SPX", "NDX"]),
            st.sampled_from(["buy", "sell"]),
            st.floats(1, 5_000),
            st.sampled_from(ORDER_OFFSETS_S),
        ),
        st.tuples(st.just("fill"), st.floats(0.1, 1.0), st.sampled_from(FILL_FACTORS)),
        st.tuples(st.just("halt"), st.booleans()),
    ),
    min_size=5,
    max_size=40,
)


def _worst_case(engine: Engine) -> tuple[np.ndarray, np.ndarray]:
    """Long and short worst-case positions, every working order filled (units per asset)."""
    working = {"buy": np.zeros(2), "sell": np.zeros(2)}
    for name, side, remaining in engine._controls.working_orders.values():
        working[side][engine.assets.index(name)] += remaining
    positions = np.array(engine._controls.positions)
    return positions + working["buy"], positions - working["sell"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=ACTIONS)
def test_random_interleavings_never_breach_hard_limits(warm_blob: bytes, actions: list) -> None:
    engine = Engine.restore(warm_blob)
    hard = engine.config.hard
    live = ticks(0, 60)
    step = 0
    approved: list[tuple[Order, str]] = []
    for action in actions:
        kind = action[0]
        before = engine.snapshot()
        if kind == "tick":
            stamp, prices = live[step]
            bad = {
                "nan": prices | {"SPX": math.inf},
                "zero": prices | {"NDX": 0.0},
                "missing": {"SPX": prices["SPX"]},
            }
            if action[1] == "good":
                engine.update(stamp, prices)
                step += 1
            elif action[1] == "stale" and step > 0:
                with pytest.raises(InvalidTimestamp):
                    engine.update(live[step - 1][0], prices)
                assert engine.snapshot() == before
            elif action[1] in bad:
                with pytest.raises(InvalidInput):
                    engine.update(stamp, bad[action[1]])
                assert engine.snapshot() == before
        elif kind == "order" and engine.state is not None:
            _, asset, side, quantity, offset = action
            price = float(engine.state.prices[engine.assets.index(asset)])
            clock = engine.state.timestamp
            stamp = None if offset is None else clock + int(offset * 1e9)
            order = Order(asset, side, quantity, price, timestamp=stamp)
            if offset is not None and abs(offset) > hard.order_time_tolerance_seconds:
                with pytest.raises(InvalidTimestamp):
                    engine.check(order)
                assert engine.snapshot() == before
                continue
            prices_now = np.array(engine._controls.last_prices)
            longs, shorts = _worst_case(engine)
            net_before = (longs @ prices_now, -(shorts @ prices_now))
            decision = engine.check(order)
            if not decision.approved:
                assert engine.snapshot() == before  # a denial changes nothing
                continue
            approved.append((order, decision.order_id))
            longs, shorts = _worst_case(engine)
            worst = np.maximum(np.abs(longs), np.abs(shorts)) * prices_now
            reducing = (side == "sell") == (
                engine._controls.positions[engine.assets.index(asset)] > 0
            )
            assert quantity * price <= hard.max_order_notional * (1 + 1e-9)
            assert quantity <= hard.max_order_quantity
            if not reducing:
                assert np.all(worst <= hard.max_position_notional * (1 + 1e-9))
                assert worst.sum() <= hard.max_gross_notional * (1 + 1e-9)
            # The net in the order's direction, risk-reducing or not: within the limit,
            # or no further past it than before.
            net_cap = min(hard.max_net_notional, engine.state.limits.net)
            j = 0 if side == "buy" else 1
            net_after = (longs @ prices_now, -(shorts @ prices_now))[j]
            assert net_after <= max(net_cap, net_before[j]) * (1 + 1e-9) + 1e-6
        elif kind == "fill" and approved:
            _, fraction, factor = action
            order, order_id = approved[0]
            last = float(engine.state.prices[engine.assets.index(order.asset)])
            fill_price = order.price * factor
            collar = hard.price_collar
            if order.side == "buy":
                good = last * (1 - collar) <= fill_price <= order.price
            else:
                good = order.price <= fill_price <= last * (1 + collar)
            remaining = engine._controls.working_orders[order_id][2]
            quantity = remaining if fraction > 0.9 else remaining * fraction
            fill = Fill(order.asset, order.side, quantity, fill_price, order_id)
            if not good:
                with pytest.raises(InvalidFill) as raised:
                    engine.on_fill(fill)
                assert raised.value.field == "price"
                assert engine.snapshot() == before
                continue
            engine.on_fill(fill)
            if quantity == remaining:
                approved.pop(0)
        elif kind == "halt":
            engine.halt("test") if action[1] else engine.resume()


def test_a_day_without_a_price_carries_the_last_price_forward(engine: Engine) -> None:
    """An exchange holiday: NaN or None means no price today, and the return is 0 (issue 13)."""
    (stamp, prices), (later, then) = ticks(0, 2)
    last = engine.state.prices.copy()
    state = engine.update(stamp, prices | {"NDX": None})
    assert state.prices[1] == last[1] and state.prices[0] == prices["SPX"]
    assert state.models_ready
    state = engine.update(later, then | {"SPX": math.nan})
    assert state.prices[0] == prices["SPX"]


def test_replay_and_warm_up_carry_missing_days_the_same_way(warm_blob: bytes) -> None:
    frame = LIVE.iloc[:30].copy()
    frame.iloc[[3, 4], 1] = np.nan  # two holidays for NDX
    frame.iloc[10, 0] = np.nan
    looped, batch = Engine.restore(warm_blob), Engine.restore(warm_blob)
    for stamp, row in zip(frame.index, frame.to_dict("records"), strict=True):
        state = looped.update(stamp, row)
    history = batch.replay(frame.index.to_numpy(), frame.to_numpy())
    np.testing.assert_allclose(history.covariance[-1], state.covariance, rtol=1e-10)
    assert history.prices[4, 1] == history.prices[2, 1] == frame.iloc[2, 1]
    warm = WARM.copy()
    warm.iloc[100:103, 0] = np.nan
    Engine(EngineConfig(assets=["SPX", "NDX"])).warm_up(warm)  # no error
    warm.iloc[0, 0] = np.nan  # nothing earlier to carry
    with pytest.raises(InvalidPrice, match=r"^history\['SPX'\]: no price \(NaN\) and no earlier"):
        Engine(EngineConfig(assets=["SPX", "NDX"])).warm_up(warm)


def test_missing_prices_refuse_makes_a_nan_an_error() -> None:
    engine = Engine(EngineConfig(assets=["SPX", "NDX"], missing_prices="refuse"))
    engine.warm_up(WARM)
    stamp, prices = ticks(0, 1)[0]
    before = engine.snapshot()
    with pytest.raises(InvalidPrice, match=r"^prices\['SPX'\]"):
        engine.update(stamp, prices | {"SPX": math.nan})
    assert engine.snapshot() == before
    with pytest.raises(InvalidConfig, match=r"^missing_prices"):
        EngineConfig(assets=["SPX"], missing_prices="ignore")
