"""S&P 500 one-step variance forecasts, 2004-2018: OnlineGARCH vs arch refits vs EWMA.

- **OnlineGARCH**: fitted by arch on 1999-2003, then updated one day at a
  time in O(1), refitted (warm-started, filtered state kept) every 21 days on
  the expanding history.
- **arch reference**: arch's GARCH(1,1)-t refitted from scratch every 21 days
  on the expanding window (``fit(last_obs=...)``); each block's forecasts are
  arch's own one-step forecasts with that block's parameters.
- **EWMA**: RiskMetrics, lambda 0.94.

Scored by QLIKE and MSE against squared returns. The issue's targets:
OnlineGARCH QLIKE <= 1.01 x arch's, and < EWMA's. Every refit of the online
models is counted, and every one that failed to converge.

The same comparison is made for the VaR engine's model (see
``evidence_sp500_var.py``): ``OnlineGARCH(vol="GJR", dist="skewt")`` against
arch's GJR-GARCH(1,1) with skewed-t innovations, refitted the same way.

Run: ``python scripts/evidence_sp500_variance.py [--json]``.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from arch import arch_model
from arch.data import sp500

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.forecast import EWMAVol, OnlineGARCH
from riskengine.scoring import mse, qlike
from scripts._evidence import evidence_main

REFIT_EVERY = 21


def sp500_returns() -> tuple[np.ndarray, int]:
    """Daily log returns 1999-2018 and the index of the first 2004 return."""
    prices = sp500.load()["Adj Close"]
    returns = np.log(prices).diff().dropna()
    return returns.to_numpy(), int(np.searchsorted(returns.index, np.datetime64("2004-01-01")))


def arch_refit_blocks(
    returns: np.ndarray, start: int, every: int, o: int = 0, dist: str = "t"
) -> Iterator[tuple[int, int, Any, np.ndarray]]:
    """arch GARCH(1,1) (``o=0``) or GJR (``o=1``), refitted every ``every`` days, expanding.

    Yields ``(block, end, result, variance)``: the fit on days before ``block`` and
    its one-step variance forecasts (decimal units) for days ``block..end-1``.
    """
    model = arch_model(returns * 100, mean="Zero", vol="GARCH", p=1, o=o, q=1, dist=dist)
    for block in range(start, returns.size, every):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = model.fit(disp="off", last_obs=block, show_warning=False)
        end = min(block + every, returns.size)
        # Row t of forecast(start=t-1) is the forecast of day t made at t-1.
        fc = result.forecast(start=block - 1, horizon=1, reindex=False)
        yield block, end, result, fc.variance.to_numpy()[: end - block, 0] / 1e4


def arch_refit_forecasts(
    returns: np.ndarray, start: int, every: int, o: int = 0, dist: str = "t"
) -> np.ndarray:
    """The one-step variance forecasts of :func:`arch_refit_blocks`, days ``start`` on."""
    out = np.empty(returns.size - start)
    for block, end, _, variance in arch_refit_blocks(returns, start, every, o, dist):
        out[block - start : end - start] = variance
    return out


def replay_counting_refits(model: OnlineGARCH, returns: np.ndarray) -> tuple[np.ndarray, int, int]:
    """``model.replay(returns)`` for a model fresh from ``fit``, with its refits counted.

    ``replay`` refits inside, and ``last_refit`` then reports only the last
    refit. Fed one refit period (``refit_every`` returns) per call, ``replay``
    gives the same forecasts (it breaks its filter at each refit anyway) and
    each refit's report can be read. Returns ``(forecasts, refits, failures)``.
    """
    forecasts, refits, failures = [], 0, 0
    every = model.refit_every
    for block in range(0, returns.size, every):
        report = model.last_refit
        forecasts.append(model.replay(returns[block : block + every]))
        if model.last_refit is not report:
            refits += 1
            failures += not model.last_refit.converged
    return np.concatenate(forecasts), refits, failures


def run() -> dict:
    returns, start = sp500_returns()
    history, test = returns[:start], returns[start:]
    realised = test**2

    t0 = time.perf_counter()
    online = OnlineGARCH(refit_every=REFIT_EVERY, history=10_000).fit(history)
    online_forecast, online_refits, online_failures = replay_counting_refits(online, test)
    online_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    arch_forecast = arch_refit_forecasts(returns, start, REFIT_EVERY)
    arch_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    online_skewt = OnlineGARCH(
        vol="GJR", dist="skewt", refit_every=REFIT_EVERY, history=10_000
    ).fit(history)
    online_skewt_forecast, skewt_refits, skewt_failures = replay_counting_refits(
        online_skewt, test
    )
    online_skewt_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    arch_skewt_forecast = arch_refit_forecasts(returns, start, REFIT_EVERY, o=1, dist="skewt")
    arch_skewt_seconds = time.perf_counter() - t0

    ewma_forecast = EWMAVol().fit(history).replay(test)

    scores = {
        name: {"qlike": qlike(f, realised), "mse": mse(f, realised)}
        for name, f in (
            ("online_garch", online_forecast),
            ("arch_refit_21", arch_forecast),
            ("online_gjr_skewt", online_skewt_forecast),
            ("arch_gjr_skewt_refit_21", arch_skewt_forecast),
            ("ewma_0.94", ewma_forecast),
        )
    }
    return {
        "period": "2004-01-02..2018-12-31",
        "n_forecasts": int(test.size),
        "zero_return_days_left_out": int(np.sum(realised == 0)),
        "scores": scores,
        "qlike_ratio_online_vs_arch": scores["online_garch"]["qlike"]
        / scores["arch_refit_21"]["qlike"],
        "qlike_ratio_online_vs_ewma": scores["online_garch"]["qlike"]
        / scores["ewma_0.94"]["qlike"],
        "qlike_ratio_online_gjr_skewt_vs_arch": scores["online_gjr_skewt"]["qlike"]
        / scores["arch_gjr_skewt_refit_21"]["qlike"],
        "qlike_ratio_online_gjr_skewt_vs_ewma": scores["online_gjr_skewt"]["qlike"]
        / scores["ewma_0.94"]["qlike"],
        "seconds": {
            "online_garch": online_seconds,
            "arch_refit_21": arch_seconds,
            "online_gjr_skewt": online_skewt_seconds,
            "arch_gjr_skewt_refit_21": arch_skewt_seconds,
        },
        "online_refits": online_refits,
        "online_refit_failures": online_failures,
        "online_gjr_skewt_refits": skewt_refits,
        "online_gjr_skewt_refit_failures": skewt_failures,
    }


def render(report: dict) -> None:
    print(f"S&P 500 one-step variance forecasts, {report['period']} ({report['n_forecasts']} days)")
    for name, score in report["scores"].items():
        print(f"  {name:<24} QLIKE {score['qlike']:.5f}   MSE {score['mse']:.3e}")
    print(f"  QLIKE ratio online / arch refit: {report['qlike_ratio_online_vs_arch']:.4f}")
    print(f"  QLIKE ratio online / EWMA:       {report['qlike_ratio_online_vs_ewma']:.4f}")
    print(
        "  QLIKE ratio online GJR-skew-t / arch GJR-skew-t refit: "
        f"{report['qlike_ratio_online_gjr_skewt_vs_arch']:.4f}"
    )
    print(
        "  QLIKE ratio online GJR-skew-t / EWMA:                  "
        f"{report['qlike_ratio_online_gjr_skewt_vs_ewma']:.4f}"
    )
    print(
        f"  refits (failed): online GARCH-t {report['online_refits']} "
        f"({report['online_refit_failures']}), online GJR-skew-t "
        f"{report['online_gjr_skewt_refits']} ({report['online_gjr_skewt_refit_failures']})"
    )


def main() -> None:
    evidence_main(__doc__, run, render)


if __name__ == "__main__":
    main()
