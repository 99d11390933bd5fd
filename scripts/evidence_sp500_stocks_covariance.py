"""Ten S&P 500 stocks, 2013-2018: covariance forecasts of OnlineDCC vs river's EwaCovariance.

- **Data**: ``river.datasets.SP500Stocks``, daily returns of AAPL, AMZN, IBM,
  INTC, JNJ, JPM, KO, MSFT, WMT and XOM (percent in river, decimals here).
- **Protocol**: the first ``FIT_DAYS`` days (2013-2014) fit the models; every
  later day gets a one-step-ahead covariance forecast made the evening before.
  river's estimator learns from the first day, so it is warm too.
- **Models**:
  - ``river_ewa_0.06``: river's ``EwaCovariance(fading_factor=0.06)``, the
    issue's reference (RiskMetrics' lambda 0.94).
  - ``ewma_lw_0.94``: :class:`~riskengine.forecast.EWMACovariance` with a
    constant-correlation shrinkage of 0.1 (river's estimator underneath).
  - ``dcc_garch`` and ``dcc_gjr``: :class:`~riskengine.forecast.OnlineDCC`
    with GARCH(1,1)-t or GJR-GARCH(1,1)-t volatilities, refitted (warm-started,
    state kept) every 21 days. ``dcc_gjr`` is the engine's equity model: the
    leverage effect of equity volatility is well documented (Glosten,
    Jagannathan and Runkle 1993), so it is the principled choice for stocks.
- **Scores**: QLIKE of the equal-weight portfolio variance (the issue's
  target: ``dcc_gjr`` no worse than ``river_ewa_0.06``), the mean QLIKE over
  200 random long-only portfolios (Dirichlet weights, seed 0), and the
  Mahalanobis calibration ratio (1 when calibrated).

Run: ``python scripts/evidence_sp500_stocks_covariance.py [--json]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from river import covariance as river_covariance
from river import datasets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.forecast import EWMACovariance, OnlineDCC
from riskengine.scoring import mahalanobis_ratio, portfolio_qlike
from scripts._evidence import evidence_main

FIT_DAYS = 500
REFIT_EVERY = 21
ENGINE_MODEL = "dcc_gjr"


def stock_returns() -> tuple[np.ndarray, list[str]]:
    """Daily decimal returns (T, 10) and the tickers, in river's column order."""
    rows = [x for x, _ in datasets.SP500Stocks()]
    tickers = list(rows[0])
    return np.array([[row[t] for t in tickers] for row in rows]) / 100.0, tickers


def river_forecasts(returns: np.ndarray, start: int, fading_factor: float) -> np.ndarray:
    """river's EwaCovariance, read the evening before each day from ``start`` on."""
    estimator = river_covariance.EwaCovariance(fading_factor=fading_factor)
    n_assets = returns.shape[1]
    out = np.empty((returns.shape[0] - start, n_assets, n_assets))
    for t, row in enumerate(returns):
        if t >= start:
            for (i, j), value in estimator.matrix.items():
                out[t - start, i, j] = out[t - start, j, i] = value
        estimator.update(dict(enumerate(row.tolist())))
    return out


def ewma_forecasts(returns: np.ndarray, start: int) -> np.ndarray:
    model = EWMACovariance(lam=0.94, shrinkage=0.1).fit(returns[:start])
    out = np.empty((returns.shape[0] - start, returns.shape[1], returns.shape[1]))
    for t, row in enumerate(returns[start:]):
        out[t] = model.covariance()
        model.update(row)
    return out


def run() -> dict:
    returns, tickers = stock_returns()
    history, test = returns[:FIT_DAYS], returns[FIT_DAYS:]
    n_assets = returns.shape[1]

    forecasts = {"river_ewa_0.06": river_forecasts(returns, FIT_DAYS, 0.06)}
    forecasts["ewma_lw_0.94"] = ewma_forecasts(returns, FIT_DAYS)
    seconds, params, refit_failures = {}, {}, {}
    for name, vol in (("dcc_garch", "GARCH"), ("dcc_gjr", "GJR")):
        t0 = time.perf_counter()
        model = OnlineDCC(vol=vol, refit_every=REFIT_EVERY, history=5000).fit(history)
        forecasts[name] = model.replay(test)
        seconds[name] = time.perf_counter() - t0
        params[name] = {
            "a": model.params.a,
            "b": model.params.b,
            "q_bar_shrinkage": model.params.shrinkage,
        }
        reports = [model.last_refit, *(g.last_refit for g in model.garch)]
        refit_failures[name] = sum(not report.converged for report in reports)

    equal = np.full(n_assets, 1.0 / n_assets)
    random_weights = np.random.default_rng(0).dirichlet(np.ones(n_assets), size=200)
    scores = {}
    for name, forecast in forecasts.items():
        scores[name] = {
            "equal_weight_qlike": portfolio_qlike(forecast, test, equal),
            "random_portfolios_mean_qlike": float(
                np.mean([portfolio_qlike(forecast, test, w) for w in random_weights])
            ),
            "mahalanobis_ratio": mahalanobis_ratio(forecast, test),
        }
    reference = scores["river_ewa_0.06"]["equal_weight_qlike"]
    return {
        "tickers": tickers,
        "fit_days": FIT_DAYS,
        "n_forecasts": int(test.shape[0]),
        "engine_model": ENGINE_MODEL,
        "scores": scores,
        "equal_weight_qlike_ratio_vs_river": {
            name: score["equal_weight_qlike"] / reference for name, score in scores.items()
        },
        "dcc_params": params,
        "refit_failures_at_end": refit_failures,
        "seconds": seconds,
    }


def render(report: dict) -> None:
    print(f"Ten S&P 500 stocks, {report['n_forecasts']} one-step covariance forecasts")
    print(f"  {'model':<16}{'EW QLIKE':>10}{'vs river':>10}{'random QLIKE':>14}{'Mahalanobis':>13}")
    for name, score in report["scores"].items():
        ratio = report["equal_weight_qlike_ratio_vs_river"][name]
        print(
            f"  {name:<16}{score['equal_weight_qlike']:>10.4f}{ratio:>10.4f}"
            f"{score['random_portfolios_mean_qlike']:>14.4f}{score['mahalanobis_ratio']:>13.3f}"
        )


def main() -> None:
    evidence_main(__doc__, run, render)


if __name__ == "__main__":
    main()
