"""Learned (river, HAR features, QLIKE loss) vs GARCH vs EWMA: one-step variance, 2004-2018.

Both indices that ship with arch: the S&P 500 and the NASDAQ Composite.
Every forecaster starts on 1999-2003 and forecasts each day of 2004-2018 the
evening before:

- ``online_garch``: :class:`~riskengine.forecast.OnlineGARCH`, GARCH(1,1)-t
  refitted every 21 days (the variance evidence's model);
- ``learned_har``: :class:`~riskengine.forecast.LearnedVolForecaster`, river's
  linear regression on HAR features with the leverage term, learning on every
  day;
- ``ewma_0.94``: RiskMetrics.

The learning rate is chosen on the NASDAQ (from ``LEARNING_RATES``) and then
used unchanged on the S&P 500, so the S&P comparison is out of sample for
that choice. Scored by QLIKE against squared returns.

Run: ``python scripts/evidence_learned_vol.py [--json]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from arch.data import nasdaq, sp500

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.forecast import EWMAVol, LearnedVolForecaster, OnlineGARCH
from riskengine.scoring import qlike
from scripts._evidence import evidence_main

LEARNING_RATES = (0.0003, 0.001, 0.003)
TEST_START = np.datetime64("2004-01-01")


def index_returns(loader: object) -> tuple[np.ndarray, int]:
    """Daily log returns 1999-2018 of an arch dataset and the index of the first 2004 day."""
    prices = loader.load()["Adj Close"]
    returns = np.log(prices).diff().dropna()
    return returns.to_numpy(), int(np.searchsorted(returns.index, TEST_START))


def learned_forecasts(returns: np.ndarray, start: int, learning_rate: float) -> np.ndarray:
    model = LearnedVolForecaster(learning_rate=learning_rate).fit(returns[:start])
    out = np.empty(returns.size - start)
    for t, value in enumerate(returns[start:].tolist()):
        out[t] = model.variance()
        model.update(value)
    return out


def score_index(returns: np.ndarray, start: int, learning_rate: float) -> dict:
    history, test = returns[:start], returns[start:]
    realised = test**2
    t0 = time.perf_counter()
    learned = learned_forecasts(returns, start, learning_rate)
    learned_us = (time.perf_counter() - t0) / test.size * 1e6
    garch = OnlineGARCH(refit_every=21, history=10_000).fit(history).replay(test)
    ewma = EWMAVol().fit(history).replay(test)
    scores = {
        "online_garch": qlike(garch, realised),
        "learned_har": qlike(learned, realised),
        "ewma_0.94": qlike(ewma, realised),
    }
    return {
        "n_forecasts": int(test.size),
        "qlike": scores,
        "qlike_ratio_learned_vs_garch": scores["learned_har"] / scores["online_garch"],
        "qlike_ratio_learned_vs_ewma": scores["learned_har"] / scores["ewma_0.94"],
        "learned_us_per_update": learned_us,
    }


def run() -> dict:
    nasdaq_returns, nasdaq_start = index_returns(nasdaq)
    selection = {}
    for rate in LEARNING_RATES:
        forecasts = learned_forecasts(nasdaq_returns, nasdaq_start, rate)
        selection[str(rate)] = qlike(forecasts, nasdaq_returns[nasdaq_start:] ** 2)
    chosen = float(min(selection, key=selection.__getitem__))
    sp500_returns, sp500_start = index_returns(sp500)
    return {
        "period": "2004-01-02..2018-12-31",
        "learning_rate_selection_nasdaq_qlike": selection,
        "learning_rate": chosen,
        "nasdaq": score_index(nasdaq_returns, nasdaq_start, chosen),
        "sp500": score_index(sp500_returns, sp500_start, chosen),
    }


def render(report: dict) -> None:
    print(
        f"One-step variance forecasts, {report['period']}, learning rate {report['learning_rate']}"
    )
    for index in ("sp500", "nasdaq"):
        result = report[index]
        scores = "   ".join(f"{k} {v:.5f}" for k, v in result["qlike"].items())
        print(f"  {index:<7} QLIKE: {scores}")
        print(
            f"          learned / GARCH {result['qlike_ratio_learned_vs_garch']:.4f}, "
            f"learned / EWMA {result['qlike_ratio_learned_vs_ewma']:.4f}"
        )


def main() -> None:
    evidence_main(__doc__, run, render)


if __name__ == "__main__":
    main()
