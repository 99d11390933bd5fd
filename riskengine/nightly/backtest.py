r"""The nightly run's steps 2-3: replay the book out of sample, backtest it, refit for today.

:func:`backtest_history` takes a daily price history and an
:class:`~riskengine.engine.EngineConfig`, and

1. warms the engine up on the first ``warmup`` returns (rows ``0..warmup``:
   arch fits the GARCHs, hmmlearn the HMM);
2. buys the book at the warm-up's last close (``book`` maps asset -> notional);
3. replays every later close (``engine.replay``): each state forecasts the
   *next* day from data up to its own close, and the models refit only on
   the past (``config.models.refit_every``);
4. refits the models on the latest history (``engine.refit()``), so the
   engine it returns is today's, ready for the scenario step.

It then scores what the engine said against what happened, beside two
baselines on the same book and days, and returns a frozen
:class:`HistoryBacktest` whose ``*_table()`` methods give the store's
``risk_metrics``, ``limits``, ``backtests`` and ``forecast_scores`` rows.

Timing (``as_of`` is the close at which a forecast is made; ``t`` indexes the
replayed days; ``r_{t+1}`` is each asset's log return over the next day)::

    prices rows   0 ........ warmup | warmup+1 (t=0) ... n-1 (t=T-1)
                  warm-up, buy book | replay: state t forecasts r_{t+1}

- **Book weights and realised return.** :math:`w_{i,t} = q_i P_{i,t} / E_t`
  (positions :math:`q`, equity :math:`E` = cash plus positions, as
  :meth:`RiskState.weights <riskengine.engine.RiskState.weights>`), and the
  realised return :math:`R_{t+1} = \sum_i w_{i,t} r_{i,t+1}`: the quantity the
  engine's VaR is a quantile of (:mod:`riskengine.risk.var`). The last day
  has none (NaN), so every backtest uses days ``0..T-2``.
- **Engine VaR / ES** are the states' own (``history[t].var(level)``),
  computed for all days at once by
  :func:`~riskengine.risk.var.portfolio_var_es_path`.
- **Baselines** 'ewma' (RiskMetrics) and 'historical' (historical
  simulation over :data:`~riskengine.nightly.baselines.HISTORICAL_DAYS`): see
  :mod:`riskengine.nightly.baselines`.
- **Backtests** (:mod:`riskengine.scoring`): Kupiec, Christoffersen
  independence and conditional coverage and the Basel traffic light for every
  model and VaR level; Acerbi-Szekely :math:`Z_2` at ``es_level`` for the
  engine and 'ewma'. Its Monte Carlo null is exact for each: histories drawn
  from the very forecast distributions that gave the VaR and ES (for the
  engine :math:`w^\top\mu + \sigma_p z`, ``z`` from the innovation law in
  force that day, :meth:`Innovations.ppf <riskengine.forecast.Innovations.ppf>`;
  for 'ewma' the normal).
- **Forecast scores**: engine vs 'ewma' (:mod:`riskengine.nightly.forecast_scores`).

Nothing here looks ahead: a day's forecasts use closes up to that day only
(the tests perturb later prices and compare).

Examples
--------
>>> import pandas as pd
>>> from arch.data import nasdaq, sp500
>>> from riskengine.engine import EngineConfig
>>> closes = pd.concat(
...     {"SPX": sp500.load()["Adj Close"], "NDX": nasdaq.load()["Adj Close"]}, axis=1
... ).dropna().loc["2014":"2016"]
>>> result = backtest_history(
...     closes, EngineConfig(assets=["SPX", "NDX"]), book={"SPX": 2e6, "NDX": 2e6}, warmup=250
... )
>>> len(result.dates), result.weights.shape, result.backtests_table().num_rows
(505, (505, 2), 26)
>>> row = result.summary()[0]
>>> row["model"], row["level"], row["expected"]
('engine', 0.99, 5.04)
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from riskengine._validation import check_price_matrix
from riskengine.engine import Engine, EngineConfig, RiskHistory, RiskState
from riskengine.engine.model_stack import average_correlation
from riskengine.errors import (
    InvalidInput,
    InvalidPrice,
    InvalidTimestamp,
    MissingAsset,
    UnknownAsset,
)
from riskengine.nightly.baselines import (
    HISTORICAL_DAYS,
    ewma_covariance_forecasts,
    historical_var_es,
)
from riskengine.nightly.forecast_scores import ForecastScore, forecast_scores
from riskengine.nightly.long_rows import LongRows
from riskengine.risk.orders import Fill
from riskengine.risk.var import portfolio_moments, portfolio_var_es_path
from riskengine.scoring import (
    BacktestResult,
    VaRBacktest,
    acerbi_szekely_z2_test,
    sample_student_t_returns,
    student_t_var_es,
    var_backtest,
)

__all__ = ["MODELS", "SIGNIFICANCE", "Z2_SIMULATIONS", "HistoryBacktest", "backtest_history"]

#: Level of the statistical tests: p below it is a 'reject'.
SIGNIFICANCE = 0.05
#: Histories simulated for each Acerbi-Szekely null (p-values floor at 1 / 1001).
Z2_SIMULATIONS = 1000

#: The VaR forecasters backtested: the engine and the two baselines.
MODELS = ("engine", "ewma", "historical")
_TESTS = ("kupiec", "christoffersen_independence", "christoffersen_cc")


def _with_state_as_last(history: RiskHistory, state: RiskState) -> RiskHistory:
    """``history`` with its last step's forecasts, limits and state taken from ``state``."""

    def last(array: np.ndarray, value: Any) -> np.ndarray:
        out = np.array(array, copy=True)
        out[-1] = value
        return out

    risk_aversion, participation, urgency, policy = history.execution
    params = state.execution
    return dataclasses.replace(
        history,
        covariance=last(history.covariance, state.covariance),
        mean=last(history.mean, state.mean),
        regime_proba=last(history.regime_proba, state.regime_proba),
        stressed_regime=last(history.stressed_regime, state.stressed_regime),
        changepoint=last(history.changepoint, state.changepoint),
        correlation_alarm=last(history.correlation_alarm, state.correlation_alarm),
        innovations=(*history.innovations[:-1], state.innovations),
        position_limits=last(history.position_limits, state.limits.position),
        gross_limits=last(history.gross_limits, state.limits.gross),
        net_limits=last(history.net_limits, state.limits.net),
        order_limits=last(history.order_limits, state.limits.order),
        execution=(
            last(risk_aversion, params.risk_aversion),
            last(participation, params.participation_cap),
            last(urgency, params.urgency),
            (*policy[:-1], params.policy_id),
        ),
        trading_state=(*history.trading_state[:-1], state.trading_state),
        equity=last(history.equity, state.equity),
        models_ready=last(history.models_ready, state.models_ready),
    )


# ---------------------------------------------------------------------- the engine's null
def _engine_null(
    history: RiskHistory,
    weights: np.ndarray,
    days: int,
    n_sims: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Book returns simulated from the engine's own forecast laws, (n_sims, days)."""
    mean, sigma = portfolio_moments(weights[:days], history.covariance[:days], history.mean[:days])
    laws = history.innovations[:days]
    uniforms = rng.random((n_sims, days))
    z = np.empty_like(uniforms)
    # One law per refit: a handful of groups, each one vectorised ppf call.
    for law in dict.fromkeys(laws):
        columns = np.fromiter((item == law for item in laws), dtype=bool, count=days)
        z[:, columns] = law.ppf(uniforms[:, columns].ravel()).reshape(n_sims, -1)
    return mean + sigma * z


# ---------------------------------------------------------------------- validation
def _level(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(field, f"expected a number, got {type(value).__name__}")
    level = float(value)
    if not (math.isfinite(level) and 0.5 < level < 1.0):
        raise InvalidInput(field, f"must be in (0.5, 1), got {level}")
    return level


def _integer(value: Any, field: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInput(field, f"expected an integer, got {type(value).__name__}")
    if int(value) < low:
        raise InvalidInput(field, f"must be >= {low}, got {int(value)}")
    return int(value)


def _check_prices(prices: Any, assets: tuple[str, ...]) -> tuple[pd.DatetimeIndex, np.ndarray]:
    if not isinstance(prices, pd.DataFrame):
        raise InvalidInput("prices", f"expected a pandas DataFrame, got {type(prices).__name__}")
    if prices.columns.has_duplicates:
        raise InvalidInput("prices.columns", f"duplicate names in {list(prices.columns)}")
    for name in prices.columns:
        if name not in assets:
            raise UnknownAsset(f"prices[{name!r}]", f"not one of config.assets {list(assets)}")
    for asset in assets:
        if asset not in prices.columns:
            raise MissingAsset(f"prices[{asset!r}]", "missing column (one per config asset)")
    index = prices.index
    if not isinstance(index, pd.DatetimeIndex):
        raise InvalidInput("prices.index", f"expected a DatetimeIndex, got {type(index).__name__}")
    if index.tz is not None:  # the store's timestamps are tz-naive; the engine's clock is UTC
        index = index.tz_convert("UTC").tz_localize(None)
    if index.hasnans:
        raise InvalidTimestamp("prices.index", "contains NaT")
    steps = np.diff(index.asi8)
    if np.any(steps <= 0):
        row = int(np.argmax(steps <= 0)) + 1
        raise InvalidTimestamp(
            f"prices.index[{row}]", f"{index[row]} is not after the previous date {index[row - 1]}"
        )
    try:
        matrix = prices[list(assets)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidPrice("prices", "expected numbers") from None
    check_price_matrix(matrix, assets, field="prices", dates=index)
    return index, matrix


def _check_book(book: Any, assets: tuple[str, ...]) -> np.ndarray:
    if not isinstance(book, Mapping):
        raise InvalidInput(
            "book", f"expected a mapping asset -> notional, got {type(book).__name__}"
        )
    notional = np.zeros(len(assets))
    for asset, value in book.items():
        if asset not in assets:
            raise UnknownAsset(f"book[{asset!r}]", f"not one of config.assets {list(assets)}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidInput(f"book[{asset!r}]", f"expected a number, got {type(value).__name__}")
        if not math.isfinite(float(value)):
            raise InvalidInput(f"book[{asset!r}]", f"must be finite, got {float(value)}")
        notional[assets.index(asset)] = float(value)
    if not np.any(notional != 0):
        raise InvalidInput("book", "needs at least one non-zero notional")
    return notional


# ---------------------------------------------------------------------- the result
def _outcome(result: BacktestResult) -> str:
    return "reject" if result.p_value < SIGNIFICANCE else "pass"


@dataclasses.dataclass(frozen=True, eq=False)
class HistoryBacktest:
    """What :func:`backtest_history` found; the ``*_table()`` methods give the store's rows.

    Per-day arrays run over the replayed days ``dates`` (``T`` of them), in
    config asset order. VaR and ES are positive loss fractions of equity; the
    forecast on day ``t`` covers day ``t + 1``, whose book return is
    ``realised[t]`` (NaN on the last day). Backtests use days ``0..T-2``.

    Attributes
    ----------
    engine : Engine
        Today's engine: after the replay and the nightly ``refit()``, which
        recomputes its ``state`` with the refitted models.
    history : RiskHistory
        The replay's states, the last one replaced by ``engine.state`` (today's
        forecasts come from the refitted models; the last day is never tested).
    dates : pandas.DatetimeIndex
        The replayed days (``as_of``).
    weights : numpy.ndarray, (T, N)
        The book's value weights at each ``as_of``.
    var : dict of float to numpy.ndarray
        Engine VaR per level in ``var_levels``, (T,).
    es : numpy.ndarray
        Engine ES at ``es_level``, (T,).
    realised : numpy.ndarray
        Next-day book log return, (T,), NaN on the last day.
    var_ewma, var_historical : dict of float to numpy.ndarray
        Baseline VaR per level, (T,).
    es_ewma, es_historical : numpy.ndarray
        Baseline ES at ``es_level``, (T,).
    covariance_ewma : numpy.ndarray, (T, N, N)
        The 'ewma' baseline's covariance forecasts.
    backtests : dict of (str, float) to VaRBacktest
        Per ``(model, level)``, model in :data:`MODELS`.
    es_backtests : dict of str to BacktestResult
        Acerbi-Szekely :math:`Z_2` at ``es_level`` for 'engine' and 'ewma'.
    forecast_scores : tuple of ForecastScore
    correlation : numpy.ndarray, (N, N)
        The engine's correlation forecast now.
    correlation_calm : numpy.ndarray or None, (N, N)
        Mean of the engine's correlation forecasts over the replayed days whose
        most likely regime is 0 (None if there was none).
    calm_days : int
        How many days that mean covers.
    """

    engine: Engine = dataclasses.field(repr=False)
    history: RiskHistory = dataclasses.field(repr=False)
    dates: pd.DatetimeIndex = dataclasses.field(repr=False)
    weights: np.ndarray = dataclasses.field(repr=False)
    var: dict[float, np.ndarray] = dataclasses.field(repr=False)
    es: np.ndarray = dataclasses.field(repr=False)
    realised: np.ndarray = dataclasses.field(repr=False)
    var_ewma: dict[float, np.ndarray] = dataclasses.field(repr=False)
    es_ewma: np.ndarray = dataclasses.field(repr=False)
    var_historical: dict[float, np.ndarray] = dataclasses.field(repr=False)
    es_historical: np.ndarray = dataclasses.field(repr=False)
    covariance_ewma: np.ndarray = dataclasses.field(repr=False)
    backtests: dict[tuple[str, float], VaRBacktest] = dataclasses.field(repr=False)
    es_backtests: dict[str, BacktestResult] = dataclasses.field(repr=False)
    forecast_scores: tuple[ForecastScore, ...] = dataclasses.field(repr=False)
    correlation: np.ndarray = dataclasses.field(repr=False)
    correlation_calm: np.ndarray | None = dataclasses.field(repr=False)
    calm_days: int
    var_levels: tuple[float, ...]
    es_level: float
    window: int

    @property
    def assets(self) -> tuple[str, ...]:
        return self.history.assets

    def _as_of(self) -> np.ndarray:
        return self.dates.to_numpy(dtype="datetime64[ns]")

    # ------------------------------------------------------------------ tables
    def risk_metrics_table(self) -> pa.Table:
        """``risk_metrics`` rows (as_of, scope, metric, level, value), one block per metric.

        Per day: the portfolio's 'var', 'es', 'var_ewma', 'var_historical' (with
        their level), 'realised_return' (not on the last day), 'stressed_proba',
        'regime', 'equity', 'average_correlation' (of the forecast) and
        'correlation_alarm' (1 on the day a breakdown was detected, else 0);
        each asset's 'price' and 'volatility'. At the last
        day: 'correlation' and 'correlation_calm' per pair ``A|B`` (the calm
        rows are left out when no day was calm). Level is NULL where it has none.
        """
        assets, history = self.assets, self.history
        first, second = np.triu_indices(len(assets), k=1)  # every pair A before B
        pairs = [f"{assets[i]}|{assets[j]}" for i, j in zip(first, second, strict=True)]
        metrics = [
            "var",
            "es",
            "var_ewma",
            "var_historical",
            "realised_return",
            "stressed_proba",
            "regime",
            "equity",
            "average_correlation",
            "correlation_alarm",
            "price",
            "volatility",
            "correlation",
            "correlation_calm",
        ]
        rows = LongRows(["portfolio", *assets, *pairs], metrics)
        as_of = self._as_of()
        for level in self.var_levels:
            rows.add(as_of, "portfolio", "var", self.var[level], level)
        rows.add(as_of, "portfolio", "es", self.es, self.es_level)
        for level in self.var_levels:
            rows.add(as_of, "portfolio", "var_ewma", self.var_ewma[level], level)
        for level in self.var_levels:
            rows.add(as_of, "portfolio", "var_historical", self.var_historical[level], level)
        rows.add(as_of[:-1], "portfolio", "realised_return", self.realised[:-1])
        rows.add(as_of, "portfolio", "stressed_proba", _stressed_proba(history))
        rows.add(as_of, "portfolio", "regime", np.argmax(history.regime_proba, axis=1))
        rows.add(as_of, "portfolio", "equity", history.equity)
        rows.add(as_of, "portfolio", "average_correlation", average_correlation(history.covariance))
        rows.add(as_of, "portfolio", "correlation_alarm", history.correlation_alarm.astype(float))
        rows.add(as_of, assets, "price", history.prices)
        volatility = np.sqrt(np.diagonal(history.covariance, axis1=1, axis2=2))
        rows.add(as_of, assets, "volatility", volatility)
        now = as_of[-1:]
        rows.add(now, pairs, "correlation", self.correlation[first, second][None])
        if self.correlation_calm is not None:
            rows.add(now, pairs, "correlation_calm", self.correlation_calm[first, second][None])
        return rows.table("metric", with_level=True)

    def limits_table(self) -> pa.Table:
        """``limits`` rows (as_of, scope, limit_type, value): the engine's limits each day."""
        history, assets = self.history, self.assets
        rows = LongRows(["portfolio", *assets], ["position", "order", "gross", "net"])
        as_of = self._as_of()
        rows.add(as_of, assets, "position", history.position_limits)
        rows.add(as_of, assets, "order", history.order_limits)
        rows.add(as_of, "portfolio", "gross", history.gross_limits)
        rows.add(as_of, "portfolio", "net", history.net_limits)
        return rows.table("limit_type", with_level=False)

    def backtests_table(self) -> pa.Table:
        """``backtests`` rows: every VaR test per model and level, then the ES tests."""
        rows: list[tuple] = []
        for (model, level), report in self.backtests.items():
            tests = (report.kupiec, report.independence, report.conditional_coverage)
            for name, result in zip(_TESTS, tests, strict=True):
                rows.append(
                    (
                        model,
                        level,
                        name,
                        result.statistic,
                        result.p_value,
                        result.n,
                        result.exceptions,
                        _outcome(result),
                    )
                )
            light = report.traffic_light
            rows.append(
                (
                    model,
                    level,
                    "traffic_light",
                    float(light.exceptions),
                    None,
                    light.window,
                    light.exceptions,
                    light.zone,
                )
            )
        for model, result in self.es_backtests.items():
            rows.append(
                (
                    model,
                    self.es_level,
                    "acerbi_szekely",
                    result.statistic,
                    result.p_value,
                    result.n,
                    result.exceptions,
                    _outcome(result),
                )
            )
        names = ("model", "level", "test", "statistic", "p_value", "n", "exceptions", "outcome")
        types = (pa.string(), pa.float64(), pa.string(), pa.float64(), pa.float64())
        types += (pa.int64(), pa.int64(), pa.string())
        columns = zip(*rows, strict=True)
        return pa.table(
            {
                name: pa.array(list(column), kind)
                for name, kind, column in zip(names, types, columns, strict=True)
            }
        )

    def forecast_scores_table(self) -> pa.Table:
        """``forecast_scores`` rows: the engine against the 'ewma' baseline."""
        columns = zip(*self.forecast_scores, strict=True)
        names = ForecastScore._fields
        kinds = (pa.string(),) * 4 + (pa.float64(),) * 2
        return pa.table(
            {
                name: pa.array(list(column), kind)
                for name, kind, column in zip(names, kinds, columns, strict=True)
            }
        )

    def tables(self) -> list[tuple[str, pa.Table]]:
        """``(store table, rows)`` for everything the backtest writes, in writing order."""
        return [
            ("risk_metrics", self.risk_metrics_table()),
            ("limits", self.limits_table()),
            ("backtests", self.backtests_table()),
            ("forecast_scores", self.forecast_scores_table()),
        ]

    def summary(self) -> list[dict]:
        """Rows for a readable table: backtests first, then the forecast scores.

        Every row has ``"table"``: ``"backtests"`` rows (``model``, ``level``,
        ``days``, ``exceptions``, ``expected``, ``kupiec_p``, ``independence_p``,
        ``cc_p``, ``traffic_light``, ``traffic_light_exceptions``, ``z2``,
        ``z2_p``; the Z2 pair only on the ``es_level`` rows of 'engine' and
        'ewma', else None) or ``"forecast_scores"`` rows (``target``, ``score``,
        ``engine``, ``ewma``, ``ratio``).
        """
        rows: list[dict[str, Any]] = []
        levels = list(self.var_levels)
        if self.es_level not in levels:
            levels.append(self.es_level)  # a row for the Z2 alone
        for model in MODELS:
            for level in levels:
                report = self.backtests.get((model, level))
                z2 = self.es_backtests.get(model) if level == self.es_level else None
                if report is None and z2 is None:
                    continue
                row: dict[str, Any] = {"table": "backtests", "model": model, "level": level}
                light = None if report is None else report.traffic_light
                row |= {
                    "days": None if report is None else report.n,
                    "exceptions": None if report is None else report.exceptions,
                    "expected": None if report is None else round(report.expected, 2),
                    "kupiec_p": None if report is None else report.kupiec.p_value,
                    "independence_p": None if report is None else report.independence.p_value,
                    "cc_p": None if report is None else report.conditional_coverage.p_value,
                    "traffic_light": None if light is None else light.zone,
                    "traffic_light_exceptions": None if light is None else light.exceptions,
                    "z2": None if z2 is None else z2.statistic,
                    "z2_p": None if z2 is None else z2.p_value,
                }
                rows.append(row)
        for score in self.forecast_scores:
            rows.append(
                {
                    "table": "forecast_scores",
                    "target": score.target,
                    "score": score.score,
                    "engine": score.value,
                    "ewma": score.baseline_value,
                    "ratio": score.ratio,
                }
            )
        return rows


def _stressed_proba(history: RiskHistory) -> np.ndarray:
    regimes = np.arange(history.regime_proba.shape[1])
    stressed = regimes[None, :] >= history.stressed_regime[:, None]
    return np.sum(np.where(stressed, history.regime_proba, 0.0), axis=1)


def _correlations(covariance: np.ndarray) -> np.ndarray:
    scale = 1.0 / np.sqrt(np.diagonal(covariance, axis1=-2, axis2=-1))
    correlation = covariance * scale[..., :, None] * scale[..., None, :]
    n = covariance.shape[-1]
    correlation[..., np.arange(n), np.arange(n)] = 1.0
    return correlation


# ---------------------------------------------------------------------- the run
def backtest_history(
    prices: pd.DataFrame,
    config: EngineConfig,
    *,
    book: Mapping[str, float],
    warmup: int = 500,
    var_levels: Sequence[float] = (0.99, 0.975),
    es_level: float = 0.975,
    window: int = 250,
    seed: int = 0,
    z2_simulations: int = Z2_SIMULATIONS,
) -> HistoryBacktest:
    """Warm up, buy the book, replay out of sample, backtest, and refit for today.

    Parameters
    ----------
    prices : pandas.DataFrame
        Daily closes, strictly increasing ``DatetimeIndex`` (tz-aware is
        converted to naive UTC), one column per ``config.assets`` entry (any
        order), finite and > 0.
    config : EngineConfig
        The engine's configuration (``models.refit_every`` schedules the
        out-of-sample refits).
    book : mapping of str to float
        Notional (currency) of each asset bought at the warm-up's last close;
        absent assets hold nothing, a negative notional is sold short.
    warmup : int
        Returns the engine warms up on (rows ``0..warmup``); at least
        ``max(config.models.min_obs, HISTORICAL_DAYS)``, and leaving at least
        ``window + 2`` replayed days.
    var_levels : sequence of float
        VaR confidence levels, in (0.5, 1).
    es_level : float
        ES confidence level (the Acerbi-Szekely test's).
    window : int
        Days of the Basel traffic light (the most recent ones).
    seed : int
        Seeds the Acerbi-Szekely null simulations.
    z2_simulations : int
        Histories simulated for each Acerbi-Szekely null.

    Returns
    -------
    HistoryBacktest

    Raises
    ------
    InvalidInput
        (or a subclass: ``UnknownAsset``, ``MissingAsset``, ``InvalidPrice``,
        ``InvalidTimestamp``) naming the bad field, before any work.
    RuntimeError
        A model fit failed during the warm-up.
    """
    if not isinstance(config, EngineConfig):
        raise InvalidInput("config", f"expected an EngineConfig, got {type(config).__name__}")
    assets = config.assets
    index, matrix = _check_prices(prices, assets)
    notional = _check_book(book, assets)
    if isinstance(var_levels, str) or not isinstance(var_levels, Sequence | np.ndarray):
        raise InvalidInput("var_levels", f"expected a sequence of levels, got {var_levels!r}")
    if len(var_levels) == 0:
        raise InvalidInput("var_levels", f"expected a non-empty sequence, got {var_levels!r}")
    levels = tuple(_level(value, f"var_levels[{i}]") for i, value in enumerate(var_levels))
    if len(set(levels)) != len(levels):
        raise InvalidInput("var_levels", f"duplicate levels in {list(levels)}")
    es_level = _level(es_level, "es_level")
    window = _integer(window, "window", 1)
    seed = _integer(seed, "seed", 0)
    z2_simulations = _integer(z2_simulations, "z2_simulations", 1)
    warmup = _integer(warmup, "warmup", max(config.models.min_obs, HISTORICAL_DAYS))
    n_rows = matrix.shape[0]
    if n_rows - warmup - 1 < window + 2:
        raise InvalidInput(
            "warmup",
            f"{warmup} leaves {n_rows - warmup - 1} replayed days of {n_rows} rows; "
            f"need at least window + 2 = {window + 2}",
        )

    # 1-2. Warm up on rows 0..warmup and buy the book at that close.
    engine = Engine(config)
    engine.warm_up(pd.DataFrame(matrix[: warmup + 1], index=index[: warmup + 1], columns=assets))
    close = matrix[warmup]
    for i in np.flatnonzero(notional):
        side = "buy" if notional[i] > 0 else "sell"
        engine.on_fill(Fill(assets[i], side, abs(notional[i]) / close[i], float(close[i])))
    # 3. Replay the rest out of sample; 4. the nightly refit on the latest history.
    dates = index[warmup + 1 :]
    history = engine.replay(dates.to_numpy(dtype="datetime64[ns]"), matrix[warmup + 1 :])
    engine.refit()
    # Today's row is what the refitted engine answers, so the store, the summary and the
    # scenarios all read one VaR for today; earlier rows stay as forecast out of sample.
    history = _with_state_as_last(history, engine.state)

    steps = len(dates)
    equity = history.equity
    solvent = equity > 0
    weights = np.where(
        solvent[:, None],
        history.positions[None, :] * history.prices / np.where(solvent, equity, 1.0)[:, None],
        0.0,
    )
    log_returns = np.log(matrix[1:] / matrix[:-1])  # log_returns[k]: row k -> k + 1
    first = warmup + 1  # day t's forecast targets log_returns[first + t]
    next_returns = log_returns[first:]  # (T - 1, N)
    realised = np.append(np.sum(weights[:-1] * next_returns, axis=1), np.nan)
    tested = steps - 1

    tails = {level: 1.0 - level for level in {*levels, es_level}}
    engine_var, engine_es = {}, {}
    for level in tails:
        engine_var[level], engine_es[level] = portfolio_var_es_path(
            weights, history.covariance, history.mean, history.innovations, level
        )
    ewma_covariance = ewma_covariance_forecasts(log_returns, seed_rows=warmup)[first:]
    ewma_variance = np.einsum("ti,tij,tj->t", weights, ewma_covariance, weights)
    ewma_var, ewma_es, hist_var, hist_es = {}, {}, {}, {}
    for level, tail in tails.items():
        ewma_var[level], ewma_es[level] = student_t_var_es(ewma_variance, np.inf, tail)
        hist_var[level], hist_es[level] = historical_var_es(
            log_returns, weights, first=first, tail=tail
        )

    returns = realised[:tested]
    forecasts = {"engine": engine_var, "ewma": ewma_var, "historical": hist_var}
    backtests = {
        (model, level): var_backtest(
            returns, forecasts[model][level][:tested], tail=tails[level], window=window
        )
        for model in MODELS
        for level in levels
    }
    engine_rng, ewma_rng = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(2)
    )
    es_tail = tails[es_level]
    nulls = {
        "engine": lambda: _engine_null(history, weights, tested, z2_simulations, engine_rng),
        "ewma": lambda: sample_student_t_returns(
            ewma_variance[:tested], np.inf, z2_simulations, ewma_rng
        ),
    }
    es_backtests = {}
    es_of = {"engine": engine_es, "ewma": ewma_es}
    for model, null in nulls.items():
        es = es_of[model][es_level][:tested]
        if np.all(es > 0):  # an empty (or bust) book has no tail to test
            es_backtests[model] = acerbi_szekely_z2_test(
                returns, forecasts[model][es_level][:tested], es, es_tail, null()
            )

    scores = forecast_scores(
        assets, history.covariance[:tested], ewma_covariance[:tested], next_returns
    )
    correlation = _correlations(history.covariance)
    calm = np.argmax(history.regime_proba, axis=1) == 0
    return HistoryBacktest(
        engine=engine,
        history=history,
        dates=dates,
        weights=weights,
        var={level: engine_var[level] for level in levels},
        es=engine_es[es_level],
        realised=realised,
        var_ewma={level: ewma_var[level] for level in levels},
        es_ewma=ewma_es[es_level],
        var_historical={level: hist_var[level] for level in levels},
        es_historical=hist_es[es_level],
        covariance_ewma=ewma_covariance,
        backtests=backtests,
        es_backtests=es_backtests,
        forecast_scores=scores,
        correlation=engine.state.correlation,
        correlation_calm=correlation[calm].mean(axis=0) if calm.any() else None,
        calm_days=int(calm.sum()),
        var_levels=levels,
        es_level=es_level,
        window=window,
    )
