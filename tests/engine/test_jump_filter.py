"""The jump filter (issue 17, item 18): a price far from the last one is bad data, refused.

A 1e6x price and back left the engine in regime 0 with the limits unmoved: the
models saw a move no market makes. The decision (docs/engine.md): a log return
beyond ``max_abs_log_return`` (default log 10) is refused as ``InvalidPrice``
quoting the tick, the engine unchanged, on every path prices enter by.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskengine.engine import Engine, EngineConfig
from riskengine.errors import InvalidConfig, InvalidPrice
from tests.engine.conftest import WARM, ticks


def test_a_millionfold_price_is_refused_quoting_the_tick(engine: Engine) -> None:
    (stamp, prices), (next_stamp, next_prices) = ticks(0, 2)
    engine.update(stamp, prices)
    before = engine.snapshot()
    bad = prices | {"SPX": prices["SPX"] * 1e6}
    with pytest.raises(InvalidPrice) as raised:
        engine.update(next_stamp, bad)
    error = raised.value
    assert error.field == "prices['SPX']"
    assert "jump filter" in str(error) and repr(bad["SPX"]) in str(error)
    assert str(np.datetime64(next_stamp, "ns")) in str(error)  # the tick, for review
    assert engine.snapshot() == before
    # The next good price is taken as usual: nothing was wedged.
    engine.update(next_stamp, next_prices)


def test_the_jump_and_back_is_as_if_the_bad_tick_never_came(
    engine: Engine, warm_blob: bytes
) -> None:
    # The 1e6x jump and back: the bad tick has no effect at all, so the
    # engine ends bit for bit where one that never saw it ends.
    clean = Engine.restore(warm_blob)
    for i, (stamp, prices) in enumerate(ticks(0, 5)):
        if i == 2:
            with pytest.raises(InvalidPrice):
                engine.update(stamp, prices | {"NDX": prices["NDX"] * 1e6})
            continue
        engine.update(stamp, prices)
        clean.update(stamp, prices)
    assert engine.snapshot() == clean.snapshot()


def test_a_move_inside_the_filter_is_a_market_move(engine: Engine) -> None:
    (stamp, prices), (next_stamp, next_prices) = ticks(0, 2)
    engine.update(stamp, prices)
    crash = next_prices | {"SPX": prices["SPX"] * 0.7}  # -30 % in a day: 1987 was -23 %
    engine.update(next_stamp, crash)


def test_none_turns_the_filter_off(warm_blob: bytes) -> None:
    engine = Engine.restore(warm_blob)
    (stamp, prices), (next_stamp, next_prices) = ticks(0, 2)
    off = Engine(EngineConfig(assets=["SPX", "NDX"], max_abs_log_return=None))
    off.warm_up(WARM)
    off.update(stamp, prices)
    off.update(next_stamp, next_prices | {"SPX": prices["SPX"] * 100})
    engine.update(stamp, prices)
    with pytest.raises(InvalidPrice):
        engine.update(next_stamp, next_prices | {"SPX": prices["SPX"] * 100})


def test_warm_up_and_replay_name_the_jumping_cell(warm_blob: bytes) -> None:
    history = WARM.copy()
    history.iloc[300, 1] *= 50.0
    fresh = Engine(EngineConfig(assets=["SPX", "NDX"]))
    with pytest.raises(InvalidPrice, match=r"^history\['NDX'\]: .* \(row 300\).*jump filter"):
        fresh.warm_up(history)
    engine = Engine.restore(warm_blob)
    rows = ticks(0, 4)
    timestamps = np.array([np.datetime64(stamp, "ns") for stamp, _ in rows])
    prices = np.array([[p["SPX"], p["NDX"]] for _, p in rows])
    prices[2, 0] /= 20.0
    before = engine.snapshot()
    with pytest.raises(InvalidPrice, match=r"^prices\[2\]\['SPX'\]: .*jump filter"):
        engine.replay(timestamps, prices)
    assert engine.snapshot() == before


@pytest.mark.parametrize("value", [0.0, -1.0, math.inf, math.nan, "big", True])
def test_bad_filter_values_are_named(value: object) -> None:
    with pytest.raises(InvalidConfig, match=r"^max_abs_log_return: "):
        EngineConfig.from_mapping({"assets": ["SPX", "NDX"], "max_abs_log_return": value})


def test_the_filter_round_trips_through_the_mapping() -> None:
    config = EngineConfig.from_mapping({"assets": ["A", "B"], "max_abs_log_return": 0.5})
    assert config.max_abs_log_return == 0.5
    assert EngineConfig.from_mapping(config.to_mapping()) == config
    assert EngineConfig(assets=["A", "B"]).max_abs_log_return == pytest.approx(math.log(10))
