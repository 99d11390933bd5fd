"""Replay the S&P 500 and NASDAQ, 1999-2018, through the engine: how the limits moved.

The engine warms up on 1999 (the models need a year of returns), takes a book
long 4M of each index at the first 2000 close, and replays every later close,
refitting every model once a year (``models.refit_every = 252``), as a nightly
job would on its schedule.
It prints, per period, the median forecast volatility, the stressed-regime
probability, the 99 % VaR of the book (a fraction of equity), and the dynamic limits (per-asset
position, gross), so a risk manager can see the engine tighten through the
dot-com bust (2000-2002), 2008 and the 2011 euro crisis, and loosen again in
calm years.

Run: ``python scripts/replay_sp500_nasdaq.py [--json]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from arch.data import nasdaq, sp500

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.engine import Engine, EngineConfig
from riskengine.risk.orders import Fill
from scripts._evidence import evidence_main

PERIODS = {
    "2000-2002 dot-com bust": ("2000-01-01", "2002-12-31"),
    "2003-2006 calm": ("2003-01-01", "2006-12-31"),
    "2008 crisis": ("2008-01-01", "2008-12-31"),
    "2011 euro crisis": ("2011-01-01", "2011-12-31"),
    "2017 calm": ("2017-01-01", "2017-12-31"),
}
BOOK = {"SPX": 4_000_000.0, "NDX": 4_000_000.0}


def closes() -> pd.DataFrame:
    """Daily closes of both indices on the days both traded, 1999-2018."""
    frame = pd.concat(
        {"SPX": sp500.load()["Adj Close"], "NDX": nasdaq.load()["Adj Close"]}, axis=1
    ).dropna()
    return frame[frame.index >= "1999-01-01"]


def run() -> dict:
    prices = closes()
    warm = prices[prices.index < "2000-01-01"]
    rest = prices[prices.index >= "2000-01-01"]
    # A loss limit a 10M book can live with through 2008, so the replay shows limits, not a halt.
    engine = Engine(
        EngineConfig.from_mapping(
            {
                "assets": ["SPX", "NDX"],
                "hard": {"max_daily_loss": 1e6},
                "models": {"refit_every": 252},
            }
        )
    )
    engine.warm_up(warm)
    for asset, notional in BOOK.items():
        price = float(warm[asset].iloc[-1])
        engine.on_fill(Fill(asset, "buy", notional / price, price))

    t0 = time.perf_counter()
    history = engine.replay(rest.index.to_numpy(), rest.to_numpy())
    seconds = time.perf_counter() - t0

    dates = rest.index
    volatility = np.sqrt(np.diagonal(history.covariance, axis1=1, axis2=2))
    stressed = np.array([history[t].stressed_proba for t in range(len(history))])
    book_var = np.array([history[t].var(0.99) for t in range(len(history))])
    table = {}
    for name, (start, end) in PERIODS.items():
        rows = (dates >= start) & (dates <= end)
        table[name] = {
            "days": int(rows.sum()),
            "vol_spx": float(np.median(volatility[rows, 0])),
            "vol_ndx": float(np.median(volatility[rows, 1])),
            "stressed_proba": float(np.median(stressed[rows])),
            "var99_of_equity": float(np.median(book_var[rows])),
            "position_limit_spx": float(np.median(history.position_limits[rows, 0])),
            "position_limit_ndx": float(np.median(history.position_limits[rows, 1])),
            "gross_limit": float(np.median(history.gross_limits[rows])),
            "min_gross_limit": float(np.min(history.gross_limits[rows])),
            "change_points": int(history.changepoint[rows].sum()),
            "reducing_or_halted_days": int(
                sum(history.trading_state[t] != "ACTIVE" for t in np.flatnonzero(rows))
            ),
        }
    tightest = int(np.argmin(history.gross_limits))
    return {
        "days": len(history),
        "replay_seconds": seconds,
        "book": BOOK,
        "periods": table,
        "tightest_gross_limit": {
            "date": str(dates[tightest].date()),
            "gross_limit": float(history.gross_limits[tightest]),
            "explanation": engine_explanation(engine, rest, tightest),
        },
    }


def engine_explanation(engine: Engine, rest: pd.DataFrame, step: int) -> str:
    """The derivation of the limits on ``step``, by replaying a fresh engine up to it."""
    prices = closes()
    again = Engine(engine.config)
    again.warm_up(prices[prices.index < "2000-01-01"])
    for asset, notional in BOOK.items():
        price = float(prices[prices.index < "2000-01-01"][asset].iloc[-1])
        again.on_fill(Fill(asset, "buy", notional / price, price))
    again.replay(rest.index[: step + 1].to_numpy(), rest.to_numpy()[: step + 1])
    return again.state.limit_derivation.summary(again.assets)


def render(report: dict) -> None:
    print(f"S&P 500 + NASDAQ, {report['days']} days replayed in {report['replay_seconds']:.2f} s")
    print(f"book: long {report['book']}")
    header = (
        f"{'period':<24}{'vol SPX':>9}{'vol NDX':>9}{'P(str)':>8}{'VaR99 %':>9}"
        f"{'pos SPX':>11}{'pos NDX':>11}{'gross':>12}{'min gross':>12}{'CPs':>5}"
    )
    print(header)
    for name, row in report["periods"].items():
        print(
            f"{name:<24}{row['vol_spx']:>9.2%}{row['vol_ndx']:>9.2%}{row['stressed_proba']:>8.2f}"
            f"{row['var99_of_equity']:>9.2%}{row['position_limit_spx']:>11,.0f}"
            f"{row['position_limit_ndx']:>11,.0f}{row['gross_limit']:>12,.0f}"
            f"{row['min_gross_limit']:>12,.0f}{row['change_points']:>5}"
        )
    tightest = report["tightest_gross_limit"]
    print(f"\nTightest gross limit {tightest['gross_limit']:,.0f} on {tightest['date']}:")
    print(tightest["explanation"])


def main() -> None:
    evidence_main(__doc__, run, render)


if __name__ == "__main__":
    main()
