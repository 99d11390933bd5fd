"""A warmed-up engine on the S&P 500 and NASDAQ, built once and restored per test."""

from __future__ import annotations

import pandas as pd
import pytest
from arch.data import nasdaq, sp500

from riskengine.engine import Engine, EngineConfig

CLOSES = pd.concat(
    {"SPX": sp500.load()["Adj Close"], "NDX": nasdaq.load()["Adj Close"]}, axis=1
).dropna()
WARM, LIVE = CLOSES.iloc[:800], CLOSES.iloc[800:]


def ticks(start: int, stop: int) -> list[tuple[pd.Timestamp, dict[str, float]]]:
    """``(timestamp, prices)`` of LIVE rows start..stop-1."""
    frame = LIVE.iloc[start:stop]
    return list(zip(frame.index, frame.to_dict("records"), strict=True))


@pytest.fixture(scope="session")
def warm_blob() -> bytes:
    engine = Engine(EngineConfig(assets=["SPX", "NDX"]))
    engine.warm_up(WARM)
    return engine.snapshot()


@pytest.fixture
def engine(warm_blob: bytes) -> Engine:
    return Engine.restore(warm_blob)
