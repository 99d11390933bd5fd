"""Crisis evidence, 2008-2022: the engine's covariance, correlation and VaR out of sample.

- **Evidence rule**: every modelling choice (GJR-GARCH skew-t, DCC, the
  correlation blend 0.5 with half-life 10, refits every 21 updates and on
  change-point alarms) was made on data up to 2007-12-31. The engine is warmed
  up on prices ending 2007-12-31 only and then replays 2008-01-02..2022-12-28
  (``Engine.replay``, equal to ``update`` in a loop to 1e-10, refits fitted
  inline at the steps a live run would adopt them). Nothing in this script
  was tuned on the test period; it only reports.
- **Data A**: ``skfolio.datasets.load_sp500_dataset()``, daily prices of 20
  S&P 500 stocks, 1990-01-02..2022-12-28. Returns are daily log returns.
- **Warm-up**: the last ``WARM_UP_RETURNS`` (2520) returns up to 2007-12-31;
  if ``warm_up`` fails (a GARCH fit on the boundary or not converging raises
  RuntimeError) the failure is recorded and the window start moves one month
  (21 trading days) later, until it succeeds. The JSON reports every attempt
  and the window used (``warm_up_window``, ``warm_up_attempts``).
- **Forecasts**: the state after the update at day t forecasts day t+1's
  return (the state after ``warm_up`` forecasts 2008-01-02). The replay runs
  in yearly chunks only to read the refit log (which keeps 64 outcomes).
- **Scores** (test days only): QLIKE of the equal-weight portfolio variance
  and its mean over 200 random long-only portfolios
  (``np.random.default_rng(0).dirichlet(np.ones(20), 200)``), the
  Mahalanobis calibration ratio; the average pairwise correlation forecast
  made 10 trading days after 2008-09-15 (2020-02-24) against the realised
  one over 2008-09-15..2008-12-31 (2020-02-24..2020-04-30).
- **References**: skfolio's ``EWCovariance(half_life=23)`` and
  ``RegimeAdjustedEWCovariance(half_life=23)`` (other parameters at their
  defaults), fed the same warm-up log returns and then ``partial_fit`` one day
  at a time after each day's forecast is read (O(T); a batch ``fit`` on the
  data up to a few days is compared with the streamed estimate); and the same
  engine with ``models.correlation_blend = 0`` (plain DCC, the previous
  correlation model).
- **VaR**: the engine's own VaR (``portfolio_var_es_path``: the forecast
  covariance and mean in the book's direction, the fitted innovation law of the
  equal-weight portfolio) at 99 % and 97.5 % for the equal-weight book and the
  200 random books; Kupiec POF and Christoffersen independence (and
  conditional coverage, reported beside) at p > 0.05.
- **Correlation alarm** (``RiskState.correlation_alarm``; its threshold was
  chosen on 1995-2007): the trading days from 2008-09-15 and 2020-02-24 to the
  first alarm at most 5 days before and 60 after (``alarm_lag_*_days``), and
  alarms per year over 2017-19 (out of sample) and 2004-06 (a separate run
  warmed up on data ending 2003-12-31; in the alarm's tuning window, so in
  sample); ``alarms_per_year_calm`` is the larger.
- **Data B**: ``arch.data.sp500`` and ``arch.data.nasdaq`` (Adj Close,
  inner-joined), default engine on SPX and NDX, warmed up on 1999-2003 and
  replayed over 2004-01-02..2018-12-31; VaR backtests for SPX alone, NDX alone
  and 50/50. This window overlaps the data on which older choices (GJR-skew-t)
  were made, so it is not out of sample for them.

``--quick`` (a test of the script, not evidence): four stocks, two short
periods (2008-01..2009-06 warmed up on data ending 2007-12-31, 2020-01..2020-06
warmed up on data ending 2019-12-31), 1008-return warm-ups, Data B replayed over
2004 only; same JSON keys.

Run: ``python scripts/evidence_crisis.py [--json] [--quick] [--no-plain-dcc]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine import Engine, EngineConfig
from riskengine.engine.model_stack import ModelConfig
from riskengine.forecast import OnlineGARCH
from riskengine.risk.var import portfolio_var_es_path
from riskengine.scoring import mahalanobis_ratio, portfolio_qlike, var_backtest
from scripts._evidence import evidence_main

WARM_UP_RETURNS = 2520
QUICK_WARM_UP_RETURNS = 1008
WARM_UP_STEP = 21  # a failed warm-up window starts one month later
TEST_END = "2022-12-28"
QUICK_ASSETS = ["AAPL", "JPM", "KO", "XOM"]
N_RANDOM = 200
SKFOLIO_HALF_LIFE = 23.0
LEVELS = (0.99, 0.975)
SIGNIFICANCE = 0.05
EVENT_OFFSET = 10  # trading days after the event's start at which the forecast is read
EVENTS = {
    "2008": ("2008-09-15", "2008-12-31"),
    "2020": ("2020-02-24", "2020-04-30"),
}
SPX_NDX_WARM_END = "2003-12-31"
SPX_NDX_TEST = ("2004-01-01", "2018-12-31")
SPX_NDX_QUICK_TEST = ("2004-01-01", "2004-12-31")
SPX_NDX_BOOKS = {"spx": (1.0, 0.0), "ndx": (0.0, 1.0), "5050": (0.5, 0.5)}
# The correlation alarm: an alarm up to 5 trading days before an event's start counts, and one
# more than 60 after it is not that event's; the calm years of the target.
ALARM_EARLY, ALARM_WINDOW = 5, 60
CALM_EARLY, CALM_LATE = ("2004-01-01", "2006-12-31"), ("2017-01-01", "2019-12-31")
CALM_EARLY_RUN = ("2003-12-31", "2006-12-31")  # (warm-up end, replay end)
NOT_BUILT = (
    "overlay_maxdd_ratio_vs_static",
    "overlay_sharpe_engine",
    "overlay_sharpe_static",
    "overlay_es99_engine",
    "overlay_es99_ewma_target",
)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _day(ts: Any) -> str:
    return str(pd.Timestamp(ts).date())


def _level_key(level: float) -> str:
    return {0.99: "var99", 0.975: "var975"}[level]


# ---------------------------------------------------------------------- the engine
def failing_assets(config: EngineConfig, window: pd.DataFrame) -> list[str]:
    """The assets whose own GARCH fit fails on ``window`` (the engine's error names none)."""
    returns = np.log(window.to_numpy()[1:] / window.to_numpy()[:-1])
    models = config.models
    failing = []
    for asset, column in zip(window.columns, returns.T, strict=True):
        garch = OnlineGARCH(
            vol=models.vol, dist=models.dist, history=models.history, min_obs=models.min_obs
        )
        try:
            garch.fit(column)
        except (RuntimeError, ValueError):
            failing.append(asset)
    return failing


def warm_up_engine(
    config: EngineConfig, prices: pd.DataFrame, warm_end: str, max_returns: int
) -> tuple[Engine, pd.DataFrame, list[dict]]:
    """An engine warmed up on the longest window ending ``warm_end`` that fits.

    Tries ``max_returns`` returns, then windows starting ``WARM_UP_STEP`` days
    later, down to ``models.min_obs``; every failure is recorded.
    """
    history = prices.loc[:warm_end]
    attempts: list[dict] = []
    n = min(max_returns, history.shape[0] - 1)
    while n >= config.models.min_obs:
        window = history.iloc[-(n + 1) :]
        engine = Engine(config)
        try:
            engine.warm_up(window)
        except (RuntimeError, ValueError) as error:
            failing = failing_assets(config, window)
            attempts.append(
                {
                    "first": _day(window.index[0]),
                    "last": _day(window.index[-1]),
                    "returns": n,
                    "error": f"{type(error).__name__}: {error}",
                    "assets_whose_garch_fit_fails": failing,
                }
            )
            _log(f"  warm-up from {_day(window.index[0])} ({n} returns) failed {failing}: {error}")
            n -= WARM_UP_STEP
            continue
        attempts.append(
            {
                "first": _day(window.index[0]),
                "last": _day(window.index[-1]),
                "returns": n,
                "error": None,
            }
        )
        return engine, window, attempts
    raise RuntimeError(f"no warm-up window ending {warm_end} fits: {attempts}")


def run_engine(
    config: EngineConfig, prices: pd.DataFrame, warm_end: str, test_end: str, max_returns: int
) -> dict:
    """Warm up on prices to ``warm_end``, replay to ``test_end``; forecasts aligned to returns.

    ``covariance[k]``, ``mean[k]`` and ``innovations[k]`` forecast
    ``returns[k]`` (the log return into ``dates[k]``); ``state_dates[k]`` is
    the close at which that forecast was made.
    """
    t0 = time.perf_counter()
    engine, window, attempts = warm_up_engine(config, prices, warm_end, max_returns)
    warm_seconds = time.perf_counter() - t0
    first = engine.state
    test = prices.loc[pd.Timestamp(warm_end) + pd.Timedelta(days=1) : test_end]
    covariance = [first.covariance[None]]
    mean = [first.mean[None]]
    innovations: list = [first.innovations]
    changepoint = [np.array([first.changepoint])]
    correlation_alarm = [np.array([first.correlation_alarm])]
    refits: dict[int, Any] = {}
    years = test.index.year
    for year in np.unique(years):
        chunk = test[years == year]
        history = engine.replay(chunk.index.to_numpy(), chunk.to_numpy())
        covariance.append(history.covariance)
        mean.append(history.mean)
        innovations.extend(history.innovations)
        changepoint.append(history.changepoint)
        correlation_alarm.append(history.correlation_alarm)
        for outcome in engine.models.refit_log:
            refits[outcome.launched_at] = outcome
        _log(f"  replayed {year}: {time.perf_counter() - t0:.0f} s")
    covariance = np.concatenate(covariance)[:-1]
    all_prices = pd.concat([window.iloc[-1:], test])
    returns = np.log(all_prices.to_numpy()[1:] / all_prices.to_numpy()[:-1])
    kept = [name for outcome in refits.values() for name in outcome.kept]
    return {
        "dates": test.index,
        "state_dates": all_prices.index[:-1],
        "returns": returns,
        "covariance": covariance,
        "mean": np.concatenate(mean)[:-1],
        "innovations": tuple(innovations[:-1]),
        "changepoint": np.concatenate(changepoint)[:-1],
        # Aligned with state_dates: an alarm raised by the update at that close.
        "correlation_alarm": np.concatenate(correlation_alarm)[:-1],
        "warm_returns": np.log(window.to_numpy()[1:] / window.to_numpy()[:-1]),
        "attempts": attempts,
        "window": (_day(window.index[0]), _day(window.index[-1])),
        "refits": len(refits),
        "refit_triggers": {
            trigger: sum(o.trigger == trigger for o in refits.values())
            for trigger in ("schedule", "changepoint", "explicit")
        },
        "refits_with_kept_models": sum(bool(o.kept) for o in refits.values()),
        "kept_model_count": len(kept),
        "kept_by_model": {
            name: sum(k.split(":")[0] == name for k in kept)
            for name in sorted({k.split(":")[0] for k in kept})
        },
        "warm_seconds": warm_seconds,
        "seconds": time.perf_counter() - t0,
    }


def run_segments(
    config: EngineConfig, prices: pd.DataFrame, segments: list[tuple[str, str]], max_returns: int
) -> dict:
    """:func:`run_engine` over each (warm_end, test_end) segment, concatenated."""
    parts = [run_engine(config, prices, w, e, max_returns) for w, e in segments]
    out = {
        "dates": parts[0]["dates"].append([p["dates"] for p in parts[1:]]),
        "state_dates": parts[0]["state_dates"].append([p["state_dates"] for p in parts[1:]]),
        "innovations": sum((p["innovations"] for p in parts), ()),
        "parts": parts,
    }
    for key in ("returns", "covariance", "mean", "changepoint", "correlation_alarm"):
        out[key] = np.concatenate([p[key] for p in parts])
    return out


# ---------------------------------------------------------------------- scores
def average_correlation(covariance: np.ndarray) -> float:
    scale = 1.0 / np.sqrt(np.diag(covariance))
    correlation = covariance * np.outer(scale, scale)
    n = correlation.shape[0]
    return float((correlation.sum() - np.trace(correlation)) / (n * (n - 1)))


def realised_correlation(log_returns: pd.DataFrame, start: str, end: str) -> float:
    correlation = np.corrcoef(log_returns.loc[start:end].to_numpy(), rowvar=False)
    n = correlation.shape[0]
    return float((correlation.sum() - np.trace(correlation)) / (n * (n - 1)))


def correlation_events(run: dict, prices: pd.DataFrame, notes: list[str]) -> dict:
    """Forecast vs realised average pairwise correlation for each crisis event."""
    log_returns = np.log(prices).diff().iloc[1:]
    out: dict[str, Any] = {}
    for name, (start, end) in EVENTS.items():
        index = prices.index
        made_at = index[index.get_indexer([pd.Timestamp(start)])[0] + EVENT_OFFSET]
        where = np.flatnonzero(run["state_dates"] == made_at)
        realised = realised_correlation(log_returns, start, end)
        if where.size == 0:
            notes.append(f"corr {name}: no forecast made at {_day(made_at)} in this run")
            forecast = None
        else:
            forecast = average_correlation(run["covariance"][where[0]])
        out[name] = {
            "forecast": forecast,
            "realised": realised,
            "error": None if forecast is None else abs(forecast - realised),
            "made_at": _day(made_at),
        }
    return out


def covariance_scores(forecasts: np.ndarray, returns: np.ndarray, random: np.ndarray) -> dict:
    n = returns.shape[1]
    return {
        "qlike_equal_weight": portfolio_qlike(forecasts, returns, np.full(n, 1.0 / n)),
        "qlike_random_mean": float(
            np.mean([portfolio_qlike(forecasts, returns, w) for w in random])
        ),
        "mahalanobis": mahalanobis_ratio(forecasts, returns),
    }


def book_backtest(run: dict, weights: np.ndarray, level: float) -> Any:
    t = run["returns"].shape[0]
    w = np.broadcast_to(weights, (t, weights.size))
    var, _ = portfolio_var_es_path(w, run["covariance"], run["mean"], run["innovations"], level)
    return var_backtest(run["returns"] @ weights, var, 1.0 - level)


def _passes(backtest: Any) -> bool:
    return backtest.kupiec.p_value > SIGNIFICANCE and backtest.independence.p_value > SIGNIFICANCE


def var_scores(run: dict, random: np.ndarray) -> dict:
    n = run["returns"].shape[1]
    out: dict[str, Any] = {}
    passes_all = np.ones(len(random), dtype=bool)
    passes_all_cc = np.ones(len(random), dtype=bool)
    for level in LEVELS:
        key = _level_key(level)
        backtest = book_backtest(run, np.full(n, 1.0 / n), level)
        out[f"{key}_kupiec_p"] = backtest.kupiec.p_value
        out[f"{key}_christoffersen_p"] = backtest.independence.p_value
        out[f"{key}_christoffersen_cc_p"] = backtest.conditional_coverage.p_value
        out[f"{key}_exceptions"] = backtest.exceptions
        out[f"{key}_expected_exceptions"] = backtest.expected
        out[f"{key}_exception_rate"] = backtest.exceptions / backtest.n
        books = [book_backtest(run, w, level) for w in random]
        passes = np.array([_passes(b) for b in books])
        passes_cc = np.array([b.passed(SIGNIFICANCE) for b in books])
        out[f"random_books_pass_share_{key}"] = float(passes.mean())
        out[f"random_books_pass_share_{key}_with_cc"] = float(passes_cc.mean())
        out[f"random_books_exception_rate_mean_{key}"] = float(
            np.mean([b.exceptions / b.n for b in books])
        )
        passes_all &= passes
        passes_all_cc &= passes_cc
    out["random_books_pass_share"] = float(passes_all.mean())
    out["random_books_pass_share_with_cc"] = float(passes_all_cc.mean())
    return out


# ---------------------------------------------------------------------- skfolio
def skfolio_forecasts(estimator_class: type, run: dict) -> tuple[np.ndarray, float]:
    """One-step forecasts of a skfolio estimator streamed with ``partial_fit``, per segment.

    Also the largest relative difference, over a few checked days, between the
    streamed forecast and a batch ``fit`` on the same data.
    """
    out, check = [], 0.0
    for part in run["parts"]:
        warm, test = part["warm_returns"], part["returns"]
        model = estimator_class(half_life=SKFOLIO_HALF_LIFE)
        model.partial_fit(warm)
        forecasts = np.empty((test.shape[0], test.shape[1], test.shape[1]))
        checks = {0, test.shape[0] // 2, test.shape[0] - 1}
        for k, row in enumerate(test):
            forecasts[k] = model.covariance_
            if k in checks:
                batch = estimator_class(half_life=SKFOLIO_HALF_LIFE)
                batch.fit(np.vstack([warm, test[:k]]))
                diff = np.abs(batch.covariance_ - forecasts[k]).max()
                check = max(check, float(diff / np.abs(forecasts[k]).max()))
            model.partial_fit(row[None])
        out.append(forecasts)
    return np.concatenate(out), check


# ---------------------------------------------------------------------- data
def sp500_prices(quick: bool) -> pd.DataFrame:
    from skfolio.datasets import load_sp500_dataset

    prices = load_sp500_dataset()
    return prices[QUICK_ASSETS] if quick else prices


def spx_ndx_prices() -> pd.DataFrame:
    from arch.data import nasdaq, sp500

    return pd.concat(
        {"SPX": sp500.load()["Adj Close"], "NDX": nasdaq.load()["Adj Close"]}, axis=1
    ).dropna()


# ---------------------------------------------------------------------- alarms
def alarm_lags(run: dict, prices: pd.DataFrame) -> dict[str, int | None]:
    """Trading days from each event's start to the first correlation alarm near it.

    The first alarm from five trading days before the start on counts
    (negative: it came first); None when none comes within 60 trading days.
    """
    index = prices.index
    alarm_days = run["state_dates"][run["correlation_alarm"]]
    positions = index.get_indexer(alarm_days)
    out: dict[str, int | None] = {}
    for name, (start, _) in EVENTS.items():
        event = int(index.get_indexer([pd.Timestamp(start)])[0])
        near = positions[(positions >= event - ALARM_EARLY) & (positions <= event + ALARM_WINDOW)]
        out[name] = int(near.min() - event) if near.size else None
    return out


def alarms_per_year(run: dict, start: str, end: str) -> float | None:
    dates = run["state_dates"]
    inside = (dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))
    if not inside.any():
        return None
    years = (pd.Timestamp(end) - pd.Timestamp(start)).days / 365.25
    return float(run["correlation_alarm"][inside].sum() / years)


def alarm_scores(run: dict, prices: pd.DataFrame, quick: bool, notes: list[str]) -> dict:
    """The correlation alarm's lags at 2008 and 2020 and its rate in calm years."""
    lags = alarm_lags(run, prices)
    report: dict[str, Any] = {f"alarm_lag_{name}_days": lag for name, lag in lags.items()}
    report["correlation_alarms"] = int(run["correlation_alarm"].sum())
    report["correlation_alarm_days"] = [
        _day(d) for d in run["state_dates"][run["correlation_alarm"]]
    ]
    report["alarms_per_year_2017_2019"] = alarms_per_year(run, *CALM_LATE)
    if quick:
        report["alarms_per_year_2004_2006"] = None
        notes.append("quick mode: no 2004-06 run for the calm alarm rate")
    else:
        _log("engine over 2004-06 (the calm years before the test period)")
        calm = run_segments(
            EngineConfig(assets=list(prices.columns)), prices, [CALM_EARLY_RUN], WARM_UP_RETURNS
        )
        report["alarms_per_year_2004_2006"] = alarms_per_year(calm, *CALM_EARLY)
        notes.append(
            "alarms_per_year_2004_2006 is in the window the alarm's threshold was chosen on "
            "(1995-2007): in sample; alarms_per_year_2017_2019 is out of sample"
        )
    rates = [
        r
        for r in (report["alarms_per_year_2004_2006"], report["alarms_per_year_2017_2019"])
        if r is not None
    ]
    report["alarms_per_year_calm"] = max(rates) if rates else None
    return report


# ---------------------------------------------------------------------- the run
def run(quick: bool = False, plain_dcc: bool = True) -> dict:
    t_start = time.perf_counter()
    notes: list[str] = []
    seconds: dict[str, float] = {}
    prices = sp500_prices(quick)
    assets = list(prices.columns)
    n = len(assets)
    if quick:
        segments = [("2007-12-31", "2009-06-30"), ("2019-12-31", "2020-06-30")]
        max_returns = QUICK_WARM_UP_RETURNS
        notes.append(
            "QUICK MODE: a test of the script, not evidence (4 stocks, two short periods, the "
            "2020 one warmed up on data ending 2019-12-31, Data B over 2004 only)"
        )
    else:
        segments = [("2007-12-31", TEST_END)]
        max_returns = WARM_UP_RETURNS
    random = np.random.default_rng(0).dirichlet(np.ones(n), N_RANDOM)

    _log("engine (default config: correlation_blend 0.5)")
    config = EngineConfig(assets=assets)
    engine_run = run_segments(config, prices, segments, max_returns)
    seconds["engine"] = sum(p["seconds"] for p in engine_run["parts"])
    returns, forecasts = engine_run["returns"], engine_run["covariance"]
    import riskengine

    report: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "riskengine_imported_from": str(Path(riskengine.__file__).parent),
        "assets": assets,
        "test_periods": [[_day(p["dates"][0]), _day(p["dates"][-1])] for p in engine_run["parts"]],
        "n_test_days": int(returns.shape[0]),
        "warm_up_window": list(engine_run["parts"][0]["window"]),
        "warm_up_windows": [list(p["window"]) for p in engine_run["parts"]],
        "engine_config": {
            "correlation_blend": config.models.correlation_blend,
            "correlation_halflife": config.models.correlation_halflife,
            "refit_every": config.models.refit_every,
            "refit_on_changepoint": config.models.refit_on_changepoint,
            "history": config.models.history,
            "vol": config.models.vol,
            "dist": config.models.dist,
        },
    }
    events = correlation_events(engine_run, prices, notes)
    for name, event in events.items():
        report[f"corr_forecast_{name}"] = event["forecast"]
        report[f"corr_realised_{name}"] = event["realised"]
        report[f"corr_error_{name}"] = event["error"]
        report[f"corr_forecast_made_at_{name}"] = event["made_at"]
    report.update(covariance_scores(forecasts, returns, random))
    report.update(var_scores(engine_run, random))
    report["changepoint_alarms"] = int(engine_run["changepoint"].sum())
    report.update(alarm_scores(engine_run, prices, quick, notes))
    report["refits"] = sum(p["refits"] for p in engine_run["parts"])
    report["refit_triggers"] = {
        t: sum(p["refit_triggers"][t] for p in engine_run["parts"])
        for t in ("schedule", "changepoint", "explicit")
    }
    report["refits_with_kept_models"] = sum(
        p["refits_with_kept_models"] for p in engine_run["parts"]
    )
    report["refit_kept_model_count"] = sum(p["kept_model_count"] for p in engine_run["parts"])
    kept_by_model: dict[str, int] = {}
    for part in engine_run["parts"]:
        for name, count in part["kept_by_model"].items():
            label = assets[int(name[6:-1])] if name.startswith("garch[") else name
            kept_by_model[label] = kept_by_model.get(label, 0) + count
    report["refit_kept_by_model"] = kept_by_model
    attempts: dict[str, Any] = {"engine": [p["attempts"] for p in engine_run["parts"]]}

    _log("skfolio references")
    from skfolio import moments

    for key, name in (("ew", "EWCovariance"), ("regime_adjusted", "RegimeAdjustedEWCovariance")):
        t0 = time.perf_counter()
        cls = getattr(moments, name, None)
        if cls is None:
            notes.append(f"skfolio.moments.{name} is not in the installed skfolio")
            report[f"qlike_skfolio_{key}"] = report[f"qlike_skfolio_{key}_random_mean"] = None
            report[f"mahalanobis_skfolio_{key}"] = None
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk_forecasts, check = skfolio_forecasts(cls, engine_run)
        scores = covariance_scores(sk_forecasts, returns, random)
        report[f"qlike_skfolio_{key}"] = scores["qlike_equal_weight"]
        report[f"qlike_skfolio_{key}_random_mean"] = scores["qlike_random_mean"]
        report[f"mahalanobis_skfolio_{key}"] = scores["mahalanobis"]
        report[f"skfolio_{key}_stream_vs_batch_max_rel_diff"] = check
        made = {
            name_: np.flatnonzero(engine_run["state_dates"] == pd.Timestamp(e["made_at"]))
            for name_, e in events.items()
        }
        for name_, where in made.items():
            report[f"corr_forecast_{name_}_skfolio_{key}"] = (
                average_correlation(sk_forecasts[where[0]]) if where.size else None
            )
        seconds[f"skfolio_{key}"] = time.perf_counter() - t0
    report["skfolio_version"] = __import__("skfolio").__version__

    plain_keys = (
        "qlike_equal_weight_plain_dcc",
        "qlike_random_mean_plain_dcc",
        "mahalanobis_plain_dcc",
        "corr_forecast_2008_plain_dcc",
        "corr_error_2008_plain_dcc",
        "corr_forecast_2020_plain_dcc",
        "corr_error_2020_plain_dcc",
    )
    if plain_dcc:
        _log("engine with correlation_blend 0 (plain DCC)")
        plain_config = EngineConfig(assets=assets, models=ModelConfig(correlation_blend=0.0))
        plain = run_segments(plain_config, prices, segments, max_returns)
        seconds["engine_plain_dcc"] = sum(p["seconds"] for p in plain["parts"])
        attempts["engine_plain_dcc"] = [p["attempts"] for p in plain["parts"]]
        scores = covariance_scores(plain["covariance"], plain["returns"], random)
        report["qlike_equal_weight_plain_dcc"] = scores["qlike_equal_weight"]
        report["qlike_random_mean_plain_dcc"] = scores["qlike_random_mean"]
        report["mahalanobis_plain_dcc"] = scores["mahalanobis"]
        for name, event in correlation_events(plain, prices, notes).items():
            report[f"corr_forecast_{name}_plain_dcc"] = event["forecast"]
            report[f"corr_error_{name}_plain_dcc"] = event["error"]
        if not np.array_equal(plain["returns"], returns):
            notes.append("plain DCC used another warm-up window: its test days differ")
        report["warm_up_window_plain_dcc"] = list(plain["parts"][0]["window"])
        for level in LEVELS:
            backtest = book_backtest(plain, np.full(n, 1.0 / n), level)
            key = _level_key(level)
            report[f"{key}_kupiec_p_plain_dcc"] = backtest.kupiec.p_value
            report[f"{key}_christoffersen_p_plain_dcc"] = backtest.independence.p_value
    else:
        report.update(dict.fromkeys(plain_keys))
        notes.append("plain-DCC reference not run (--no-plain-dcc)")

    _log("Data B: SPX and NDX")
    closes = spx_ndx_prices()
    test_period = SPX_NDX_QUICK_TEST if quick else SPX_NDX_TEST
    spx_ndx = run_segments(
        EngineConfig(assets=["SPX", "NDX"]),
        closes.loc[: test_period[1]],
        [(SPX_NDX_WARM_END, test_period[1])],
        closes.shape[0],
    )
    seconds["engine_spx_ndx"] = sum(p["seconds"] for p in spx_ndx["parts"])
    attempts["spx_ndx"] = [p["attempts"] for p in spx_ndx["parts"]]
    report["spx_ndx_warm_up_window"] = list(spx_ndx["parts"][0]["window"])
    report["spx_ndx_test_period"] = [_day(spx_ndx["dates"][0]), _day(spx_ndx["dates"][-1])]
    for book, weights in SPX_NDX_BOOKS.items():
        for level in LEVELS:
            backtest = book_backtest(spx_ndx, np.array(weights), level)
            prefix = f"spx_ndx_{book}_{_level_key(level)}"
            report[f"{prefix}_kupiec_p"] = backtest.kupiec.p_value
            report[f"{prefix}_christoffersen_p"] = backtest.independence.p_value
            report[f"{prefix}_christoffersen_cc_p"] = backtest.conditional_coverage.p_value
            report[f"{prefix}_exception_rate"] = backtest.exceptions / backtest.n
    notes.append(
        "Data B (SPX/NDX, warm-up 1999-2003, test 2004-2018) overlaps the data on which older "
        "choices were made (GJR-GARCH with skewed-t innovations was adopted on S&P 500 "
        "2004-2018 VaR backtests, scripts/evidence_sp500_var.py): not out of sample for them"
    )

    report.update(dict.fromkeys(NOT_BUILT))
    notes.append(
        "overlay_*: null, not built yet (the limit overlay comparison is a follow-up); "
        "changepoint_alarms counts the engine's change-point alarms over the test days; "
        "alarm_lag_*: trading days from the event's start to the first correlation alarm at "
        "most 5 days before and 60 after it"
    )
    notes.append(
        "*_christoffersen_p is Christoffersen's independence test; *_christoffersen_cc_p "
        "(conditional coverage) is reported beside it. random_books_pass_share: Kupiec and "
        "independence p > 0.05 at both levels; *_with_cc also requires conditional coverage"
    )
    notes.append(
        "skfolio estimators get the engine's warm-up log returns with partial_fit, then one "
        "partial_fit per test day after the forecast is read (half_life=23, other parameters "
        "default: min_observations, nearest=True, RegimeAdjusted's PORTFOLIO/FIRST_MOMENT STVU "
        "with clip (0.7, 1.6)); *_stream_vs_batch_max_rel_diff compares with a batch fit on the "
        "same data on three days"
    )
    notes.append(
        "QLIKE leaves out days whose portfolio return is exactly zero "
        "(riskengine.scoring.qlike); the covariance scores use the test days only"
    )
    failed = [a for runs in attempts.values() for seg in runs for a in seg if a["error"]]
    if failed:
        notes.append(
            f"{len(failed)} warm-up window(s) failed and were moved later (see warm_up_attempts)"
        )
    report["warm_up_attempts"] = attempts
    report["seconds_by_part"] = seconds
    report["notes"] = notes
    report["seconds"] = time.perf_counter() - t_start
    return report


def render(report: dict) -> None:
    print(f"Crisis evidence ({report['mode']}), test periods {report['test_periods']}")
    print(f"warm-up window {report['warm_up_window']}, {report['n_test_days']} test days")
    for key, value in report.items():
        if isinstance(value, float) or value is None:
            print(f"  {key:<48} {'null' if value is None else f'{value:.6g}'}")
    print("notes:")
    for note in report["notes"]:
        print(f"  - {note}")
    print(f"{report['seconds']:.0f} s")


def main() -> None:
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--quick", action="store_true", help="4 stocks, short periods")
        parser.add_argument(
            "--no-plain-dcc", action="store_true", help="skip the correlation_blend=0 reference"
        )

    evidence_main(
        __doc__,
        run,
        render,
        add_arguments=add_arguments,
        run_kwargs=lambda args: {"quick": args.quick, "plain_dcc": not args.no_plain_dcc},
    )


if __name__ == "__main__":
    main()
