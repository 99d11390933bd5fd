"""Synthetic nightly runs for the report tests, written to a store as the nightly contract says.

The numbers are random but plausible and internally consistent: a two-regime market
drives the assets' returns and forecast volatilities, the book's VaR is the normal
quantile of its forecast volatility, the backtests count the exceptions the data
really has, and the scenario metrics are the quantiles of the scenario results.
They let the report be tested before the real nightly run exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from statistics import NormalDist

import numpy as np

from riskengine.store import Store

__all__ = ["write_failed_run", "write_sample_run", "write_simulate_run"]

VAR_LEVELS = (0.99, 0.975)
ES_LEVEL = 0.975
POLICIES = ("twap", "vwap", "almgren_chriss", "adaptive_ac", "rl")
EXECUTION_REGIMES = ("calm", "stressed", "switching")
#: spec -> (horizon in steps, mean return, scale, fraction of paths ending stressed).
SCENARIO_SPECS = {
    "forward": (10, 0.002, 0.03, 0.15),
    "crisis": (20, -0.06, 0.08, 0.85),
    "flash_crash": (1, -0.04, 0.03, 0.60),
}


def _clock() -> dt.datetime:
    # A fixed clock: the run's started/finished times, hence the report, are reproducible.
    return dt.datetime(2026, 1, 2, 22, 30, 0)


def _config(assets: Sequence[str], seed: int, **extra: object) -> dict:
    return {
        "assets": list(assets),
        "seed": seed,
        "data": {"source": "synthetic", "start": "2023-01-02"},
        "var_levels": list(VAR_LEVELS),
        **extra,
    }


def _business_days(n_days: int) -> np.ndarray:
    days = np.busday_offset("2023-01-02", np.arange(n_days), roll="forward")
    return days.astype("datetime64[ns]")


def _regimes(rng: np.random.Generator, n_days: int) -> np.ndarray:
    """A two-state Markov chain (0 calm, 1 stressed) with persistent regimes."""
    stay = np.array([0.985, 0.95])
    regime = np.zeros(n_days, dtype=np.int64)
    draws = rng.random(n_days)
    for t in range(1, n_days):
        previous = regime[t - 1]
        regime[t] = previous if draws[t] < stay[previous] else 1 - previous
    return regime


def _correlation(n_assets: int, rho: float) -> np.ndarray:
    return np.full((n_assets, n_assets), rho) + (1.0 - rho) * np.eye(n_assets)


def _long(as_of: np.ndarray, scope: str, metric: str, level: float | None, value) -> dict:
    value = np.broadcast_to(np.asarray(value, dtype=np.float64), as_of.shape)
    return {
        "as_of": as_of,
        "scope": np.full(as_of.shape, scope, dtype=object),
        "metric": np.full(as_of.shape, metric, dtype=object),
        "level": np.full(as_of.shape, np.nan if level is None else level),
        "value": value,
    }


def _concat(parts: Iterable[dict]) -> dict:
    parts = list(parts)
    columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    if "level" in columns:
        # NaN levels are the contract's NULL level (realised_return, equity, ...).
        level = columns["level"]
        columns["level"] = [None if np.isnan(x) else float(x) for x in level]
    return columns


def _market(rng: np.random.Generator, n_days: int, n_assets: int) -> dict:
    regime = _regimes(rng, n_days)
    base_vol = rng.uniform(0.008, 0.02, n_assets)
    vol = base_vol[None, :] * (1.0 + 1.2 * regime[:, None])  # true daily vol per day, asset
    chol = {r: np.linalg.cholesky(_correlation(n_assets, rho)) for r, rho in ((0, 0.4), (1, 0.8))}
    shocks = rng.standard_normal((n_days, n_assets))
    returns = np.empty((n_days, n_assets))
    for r in (0, 1):
        days = regime == r
        returns[days] = (shocks[days] @ chol[r].T) * vol[days]
    returns[0] = 0.0
    # The engine's forecast for t+1 made at t: the true vol of t+1, with estimation noise.
    forecast_vol = np.vstack([vol[1:], vol[-1:]]) * np.exp(0.15 * rng.standard_normal(vol.shape))
    # A smooth filtered probability that lags the true regime by a few days.
    proba = np.empty(n_days)
    level = 0.1
    for t in range(n_days):
        level = 0.7 * level + 0.3 * (0.92 if regime[t] else 0.05)
        proba[t] = level
    proba = np.clip(proba + 0.03 * rng.standard_normal(n_days), 0.0, 1.0)
    return {
        "regime": regime,
        "proba": proba,
        "returns": returns,
        "forecast_vol": forecast_vol,
        "prices": 100.0 * np.exp(np.cumsum(returns, axis=0)) * rng.uniform(0.5, 3.0, n_assets),
    }


def _risk_metrics(as_of: np.ndarray, assets: Sequence[str], market: dict, rng) -> tuple:
    n_days, n_assets = market["returns"].shape
    weights = np.full(n_assets, 1.0 / n_assets)
    # Portfolio forecast vol: the forecast vols with the current regime's correlation.
    rho = np.where(market["proba"] > 0.5, 0.8, 0.4)
    sigma = market["forecast_vol"] * weights
    total = sigma.sum(axis=1)
    portfolio_vol = np.sqrt(rho * total**2 + (1 - rho) * (sigma**2).sum(axis=1))
    book_return = market["returns"] @ weights
    equity = 1e6 * np.exp(np.cumsum(book_return))
    parts = []
    var = {}
    for level in VAR_LEVELS:
        z = NormalDist().inv_cdf(level)
        var[level] = z * portfolio_vol
        parts.append(_long(as_of, "portfolio", "var", level, var[level]))
        noise = rng.standard_normal((2, n_days))
        parts.append(
            _long(as_of, "portfolio", "var_ewma", level, var[level] * (1 + 0.1 * noise[0]))
        )
        parts.append(
            _long(as_of, "portfolio", "var_historical", level, var[level] * (1 + 0.2 * noise[1]))
        )
    z = NormalDist().inv_cdf(ES_LEVEL)
    es = portfolio_vol * NormalDist().pdf(z) / (1 - ES_LEVEL)
    parts.append(_long(as_of, "portfolio", "es", ES_LEVEL, es))
    # The book's return over the next day; the newest forecast has none yet.
    realised = book_return[1:]
    parts.append(_long(as_of[:-1], "portfolio", "realised_return", None, realised))
    parts.append(_long(as_of, "portfolio", "stressed_proba", None, market["proba"]))
    regime = (market["proba"] > 0.5).astype(np.float64)
    parts.append(_long(as_of, "portfolio", "regime", None, regime))
    parts.append(_long(as_of, "portfolio", "equity", None, equity))
    parts.append(_long(as_of, "portfolio", "average_correlation", None, rho))
    # An alarm on the first day of each stressed spell, when the correlation jumps.
    alarm = np.diff(rho, prepend=rho[0]) > 0
    parts.append(_long(as_of, "portfolio", "correlation_alarm", None, alarm.astype(np.float64)))
    for i, asset in enumerate(assets):
        parts.append(_long(as_of, asset, "price", None, market["prices"][:, i]))
        parts.append(_long(as_of, asset, "volatility", None, market["forecast_vol"][:, i]))
    # Pair correlations, once, at the last as_of (A before B in asset order).
    last = as_of[-1:]
    now_rho = 0.8 if market["proba"][-1] > 0.5 else 0.4
    for i, first in enumerate(assets):
        for j in range(i + 1, len(assets)):
            pair = f"{first}|{assets[j]}"
            jitter = 0.05 * rng.standard_normal(2)
            parts.append(
                _long(last, pair, "correlation", None, np.clip(now_rho + jitter[0], -1, 1))
            )
            parts.append(
                _long(last, pair, "correlation_calm", None, np.clip(0.4 + jitter[1], -1, 1))
            )
    exceptions = {level: -realised > var[level][:-1] for level in VAR_LEVELS}
    return _concat(parts), equity, portfolio_vol, exceptions


def _limits(as_of: np.ndarray, assets: Sequence[str], equity, portfolio_vol, proba) -> dict:
    # Vol targeting at 10 % a year, capped at 2x leverage, with a haircut when stressed.
    annual_vol = portfolio_vol * np.sqrt(252)
    gross = equity * np.minimum(2.0, 0.10 / annual_vol) * np.where(proba > 0.5, 0.6, 1.0)
    parts = [
        _long(as_of, "portfolio", "gross", None, gross),
        _long(as_of, "portfolio", "net", None, 0.6 * gross),
    ]
    for k, asset in enumerate(assets):
        position = gross / len(assets) * (1.2 + 0.1 * k)
        parts.append(_long(as_of, asset, "position", None, position))
        parts.append(_long(as_of, asset, "order", None, 0.1 * position))
    columns = _concat(parts)
    columns["limit_type"] = columns.pop("metric")
    del columns["level"]
    return columns


def _traffic_light(exceptions_250: int, level: float) -> str:
    # Basel zones for 250 days at 99 %, scaled to the expected count at other levels.
    scale = (1 - level) / 0.01
    if exceptions_250 <= 4 * scale:
        return "green"
    return "yellow" if exceptions_250 <= 9 * scale else "red"


def _backtests(exceptions: dict, rng: np.random.Generator) -> dict:
    rows = []
    n = int(exceptions[VAR_LEVELS[0]].size)
    for model, bias in (("engine", 0), ("ewma", 1), ("historical", 2)):
        for level in VAR_LEVELS:
            hits = exceptions[level]
            count = int(hits.sum()) + bias
            for test in ("kupiec", "christoffersen_independence", "christoffersen_cc"):
                p = float(rng.uniform(0.001, 0.9))
                rows.append((model, level, test, float(rng.chisquare(1)), p, n, count, _outcome(p)))
            last = int(hits[-250:].sum()) + bias
            light = _traffic_light(last, level)
            rows.append((model, level, "traffic_light", float(last), None, n, last, light))
    for model in ("engine", "ewma"):
        p = float(rng.uniform(0.01, 0.9))
        count = int(exceptions[ES_LEVEL].sum())
        rows.append(
            (model, ES_LEVEL, "acerbi_szekely", float(rng.normal(0, 0.3)), p, n, count, _outcome(p))
        )
    names = ("model", "level", "test", "statistic", "p_value", "n", "exceptions", "outcome")
    return {name: [row[k] for row in rows] for k, name in enumerate(names)}


def _outcome(p_value: float) -> str:
    return "pass" if p_value >= 0.05 else "reject"


def _forecast_scores(assets: Sequence[str], rng: np.random.Generator) -> dict:
    rows = []
    for asset in assets:
        base = float(rng.uniform(-9.0, -7.5))
        rows.append((f"variance:{asset}", "qlike", base, base + float(rng.uniform(0, 0.2))))
        mse = float(rng.uniform(1e-8, 5e-8))
        rows.append((f"variance:{asset}", "mse", mse, mse * float(rng.uniform(1.0, 1.4))))
    base = float(rng.uniform(-9.5, -8.5))
    rows.append(("variance:portfolio", "qlike", base, base + 0.1))
    rows.append(("covariance", "portfolio_qlike", base - 0.2, base - 0.1))
    rows.append(("covariance", "mahalanobis", 1.05, 1.21))
    return {
        "target": [row[0] for row in rows],
        "model": ["engine"] * len(rows),
        "baseline": ["ewma"] * len(rows),
        "score": [row[1] for row in rows],
        "value": [row[2] for row in rows],
        "baseline_value": [row[3] for row in rows],
    }


def _scenarios(equity: float, gross: float, rng: np.random.Generator, n_paths: int) -> tuple:
    results, metrics = [], []
    for spec, (horizon, mean, scale, stressed_share) in SCENARIO_SPECS.items():
        # Student-t returns: fat tails, as a regime-switching simulator would give.
        portfolio_return = mean + scale * rng.standard_t(4, n_paths) / np.sqrt(2.0)
        stressed = rng.random(n_paths) < stressed_share
        gross_min = gross * rng.uniform(0.3, 1.0, n_paths) * np.where(stressed, 0.7, 1.0)
        results.append(
            {
                "spec": [spec] * n_paths,
                "path": np.arange(n_paths, dtype=np.int32),
                "portfolio_return": portfolio_return,
                "pnl": equity * np.expm1(portfolio_return),
                "max_drawdown": np.maximum(-portfolio_return, 0) + rng.uniform(0, scale, n_paths),
                "end_regime": stressed.astype(np.int16),
                "stressed_steps": (stressed * rng.integers(1, horizon + 1, n_paths)).astype(
                    np.int32
                ),
                "gross_limit_end": gross_min * rng.uniform(1.0, 1.3, n_paths),
                "gross_limit_min": gross_min,
            }
        )
        loss = -portfolio_return
        rows = [("var", level, np.quantile(loss, level)) for level in VAR_LEVELS]
        for level in (0.975, 0.99):
            rows.append(("es", level, loss[loss >= np.quantile(loss, level)].mean()))
        rows += [
            ("mean_loss", None, loss.mean()),
            ("worst_loss", None, loss.max()),
            ("stressed_end", None, stressed.mean()),
            ("gross_limit_median_end", None, np.median(results[-1]["gross_limit_end"])),
            ("gross_limit_min_p05", None, np.quantile(gross_min, 0.05)),
        ]
        metrics += [(spec, horizon, *row) for row in rows]
    names = ("spec", "horizon", "metric", "level", "value")
    columns = {name: [row[k] for row in metrics] for k, name in enumerate(names)}
    columns["value"] = [float(x) for x in columns["value"]]
    result_columns = {name: np.concatenate([part[name] for part in results]) for name in results[0]}
    return result_columns, columns


def _scenario_paths(
    assets: Sequence[str], rng: np.random.Generator, *, specs: Sequence[str], n_paths: int, horizon
) -> dict:
    spec, path, step, asset = np.meshgrid(
        np.arange(len(specs)),
        np.arange(n_paths),
        np.arange(horizon),
        np.arange(len(assets)),
        indexing="ij",
    )
    n = spec.size
    regime = (rng.random(n) < 0.3).astype(np.int16)
    variance = (0.012 * (1 + regime)) ** 2
    return {
        "spec": np.asarray(specs, dtype=object)[spec.ravel()],
        "path": path.ravel().astype(np.int32),
        "step": step.ravel().astype(np.int32),
        "asset": np.asarray(assets, dtype=object)[asset.ravel()],
        "return": np.sqrt(variance) * rng.standard_normal(n),
        "variance": variance,
        "regime": regime,
    }


def _execution(rng: np.random.Generator, n_episodes: int) -> dict:
    mean_bps = {"twap": 9.0, "vwap": 8.0, "almgren_chriss": 7.0, "adaptive_ac": 6.0, "rl": 5.5}
    regime_bps = {"calm": 0.0, "stressed": 6.0, "switching": 3.0}
    columns: dict[str, list] = {name: [] for name in ("policy", "episode", "regime")}
    spread, impact, timing = [], [], []
    for policy in POLICIES:
        for regime in EXECUTION_REGIMES:
            scale = 2.0 + (2.0 if regime == "stressed" else 0.0)
            spread.append(np.full(n_episodes, 2.0) + rng.uniform(0, 0.5, n_episodes))
            impact.append(mean_bps[policy] + regime_bps[regime] - 2.0 + np.zeros(n_episodes))
            timing.append(scale * rng.standard_normal(n_episodes))
            columns["policy"] += [policy] * n_episodes
            columns["episode"] += list(range(n_episodes))
            columns["regime"] += [regime] * n_episodes
    spread_bps, impact_bps, timing_bps = (np.concatenate(x) for x in (spread, impact, timing))
    n = spread_bps.size
    return {
        "spec": ["execution"] * n,
        **columns,
        "is_bps": spread_bps + impact_bps + timing_bps,
        "spread_bps": spread_bps,
        "impact_bps": impact_bps,
        "timing_bps": timing_bps,
        "completed": rng.random(n) < 0.98,
    }


def write_sample_run(
    store: Store,
    run_id: str = "nightly-test",
    *,
    seed: int = 0,
    n_days: int = 300,
    assets: Sequence[str] = ("SPX", "NDX", "AAPL"),
    omit: Iterable[str] = (),
    replace: bool = False,
    n_paths: int = 2000,
) -> None:
    """Write a synthetic, contract-conformant nightly run: every table, or all but ``omit``.

    ``omit`` names tables to leave out (``"execution_results"`` gives a nightly run
    without execution results).
    """
    rng = np.random.default_rng(seed)
    assets = list(assets)
    omit = set(omit)
    as_of = _business_days(n_days)
    market = _market(rng, n_days, len(assets))
    risk, equity, portfolio_vol, exceptions = _risk_metrics(as_of, assets, market, rng)
    limits = _limits(as_of, assets, equity, portfolio_vol, market["proba"])
    last_gross = float(limits["value"][n_days - 1])  # the portfolio gross rows come first
    # Scenario gross limits are, like every scenario number, a share of book value.
    results, metrics = _scenarios(float(equity[-1]), last_gross / float(equity[-1]), rng, n_paths)
    tables = {
        "risk_metrics": risk,
        "limits": limits,
        "backtests": _backtests(exceptions, rng),
        "forecast_scores": _forecast_scores(assets, rng),
        "scenario_metrics": metrics,
        "scenario_results": results,
        "scenario_paths": _scenario_paths(
            assets, rng, specs=list(SCENARIO_SPECS), n_paths=8, horizon=10
        ),
        "execution_results": _execution(rng, n_episodes=40),
    }
    config = _config(assets, seed, n_days=n_days)
    with store.record_run(
        run_id, config=config, seed=seed, code_version="0.1.0+test", clock=_clock, replace=replace
    ) as run:
        for table, columns in tables.items():
            if table not in omit:
                run.write(table, columns)


def write_simulate_run(
    store: Store,
    run_id: str = "simulate-test",
    *,
    seed: int = 0,
    assets: Sequence[str] = ("SPX", "NDX", "AAPL"),
    n_paths: int = 20,
    horizon: int = 15,
) -> None:
    """Write a run like ``riskengine simulate`` makes: scenario_paths only."""
    rng = np.random.default_rng(seed)
    paths = _scenario_paths(list(assets), rng, specs=["crisis"], n_paths=n_paths, horizon=horizon)
    config = _config(assets, seed, spec="crisis")
    with store.record_run(
        run_id, config=config, seed=seed, code_version="0.1.0+test", clock=_clock
    ) as run:
        run.write("scenario_paths", paths)


def write_failed_run(store: Store, run_id: str = "nightly-failed") -> None:
    """Write a run that raised half-way: the store marks it ``failed``, keeping none of its rows."""
    rng = np.random.default_rng(0)
    try:
        with store.record_run(
            run_id, config=_config(["SPX"], 0), seed=0, code_version="t", clock=_clock
        ) as run:
            hits = rng.random(250) < 0.02  # some rows first: a failure while writing
            run.write("backtests", _backtests(dict.fromkeys(VAR_LEVELS, hits), rng))
            raise RuntimeError("the nightly run died")
    except RuntimeError:
        pass
