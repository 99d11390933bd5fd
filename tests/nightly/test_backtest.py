"""The nightly backtest: store-conformant tables, no look-ahead, identities, bad input, real data.

Synthetic prices (three assets, a calm and a stressed stretch) drive most
tests; one test replays the real 12-asset history (the two indices and
river's ten S&P 500 stocks, 2013-2018). Each history is replayed once per
module (module-scoped fixtures).
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from riskengine.engine import EngineConfig
from riskengine.errors import InvalidInput, InvalidPrice, MissingAsset, UnknownAsset
from riskengine.nightly import backtest as backtest_module
from riskengine.nightly.backtest import HistoryBacktest, backtest_history
from riskengine.nightly.baselines import (
    HISTORICAL_DAYS,
    ewma_covariance_forecasts,
    historical_var_es,
)
from riskengine.scoring import mahalanobis_ratio, mse, portfolio_qlike, qlike, var_exceptions
from riskengine.store import TABLES, open_store
from tests._store_rows import rows

ASSETS = ("AAA", "BBB", "CCC")
BOOK = {"AAA": 3_000_000.0, "BBB": -1_000_000.0}  # CCC absent: holds nothing; BBB short
WARMUP = 300
N_ROWS = 700
CUT = 620  # the look-ahead test changes the prices of rows CUT.. (the last 80 days)
LEVELS = (0.99, 0.975)


def synthetic_prices(seed: int = 7) -> pd.DataFrame:
    """Three correlated assets, t(6) shocks, volatility 0.8 % a day with a 2 % stretch."""
    rng = np.random.default_rng(seed)
    correlation = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.4], [0.3, 0.4, 1.0]])
    shocks = rng.standard_t(6, size=(N_ROWS - 1, 3)) * math.sqrt(4 / 6)
    shocks = shocks @ np.linalg.cholesky(correlation).T
    volatility = np.full(N_ROWS - 1, 0.008)
    volatility[150:230] = 0.02
    volatility[450:520] = 0.02
    returns = volatility[:, None] * shocks
    prices = 100.0 * np.exp(np.vstack([np.zeros(3), np.cumsum(returns, axis=0)]))
    index = pd.bdate_range("2010-01-04", periods=N_ROWS)
    return pd.DataFrame(prices, index=index, columns=list(ASSETS))


def engine_config(assets: tuple[str, ...] | list[str], refit_every: int) -> EngineConfig:
    return EngineConfig.from_mapping(
        {"assets": list(assets), "models": {"refit_every": refit_every}}
    )


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return synthetic_prices()


@pytest.fixture(scope="module")
def config() -> EngineConfig:
    return engine_config(ASSETS, refit_every=100)


@pytest.fixture(scope="module")
def result(prices: pd.DataFrame, config: EngineConfig) -> HistoryBacktest:
    return backtest_history(prices, config, book=BOOK, warmup=WARMUP, var_levels=LEVELS)


@pytest.fixture(scope="module")
def perturbed(prices: pd.DataFrame, config: EngineConfig) -> HistoryBacktest:
    """The same history with the last days' prices changed (a crash, then noise)."""
    changed = prices.copy()
    rng = np.random.default_rng(99)
    factor = np.exp(np.cumsum(rng.normal(-0.01, 0.03, size=(N_ROWS - CUT, 3)), axis=0))
    changed.iloc[CUT:] = changed.iloc[CUT:].to_numpy() * factor
    return backtest_history(changed, config, book=BOOK, warmup=WARMUP, var_levels=LEVELS)


@pytest.fixture(scope="module")
def stored(result: HistoryBacktest, tmp_path_factory: pytest.TempPathFactory):
    """The four tables written into a fresh store as run 'r1'."""
    store = open_store(tmp_path_factory.mktemp("store") / "risk.duckdb")
    config = {"assets": list(ASSETS)}
    with store.record_run("r1", config=config, seed=0, code_version="test") as run:
        counts = {
            "risk_metrics": run.write("risk_metrics", result.risk_metrics_table()),
            "limits": run.write("limits", result.limits_table()),
            "backtests": run.write("backtests", result.backtests_table()),
            "forecast_scores": run.write("forecast_scores", result.forecast_scores_table()),
        }
    yield store, counts
    store.close()


# ---------------------------------------------------------------------- shapes and identities
def test_shapes_and_dates(result: HistoryBacktest, prices: pd.DataFrame) -> None:
    steps = N_ROWS - WARMUP - 1
    assert result.dates.equals(prices.index[WARMUP + 1 :])
    assert result.weights.shape == (steps, 3)
    assert set(result.var) == set(LEVELS) and result.es.shape == (steps,)
    assert np.isnan(result.realised[-1]) and np.all(np.isfinite(result.realised[:-1]))
    assert result.engine.state.timestamp == prices.index[-1].value
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.window = 1  # type: ignore[misc]


def test_realised_return_identity(result: HistoryBacktest, prices: pd.DataFrame) -> None:
    """w_t = q P_t / equity_t with q bought at the warm-up close; R = sum_i w_i log(P'/P)."""
    matrix = prices.to_numpy()
    close = matrix[WARMUP]
    notional = np.array([BOOK.get(asset, 0.0) for asset in ASSETS])
    units = notional / close
    cash = result.engine.config.capital - notional.sum()
    replayed = matrix[WARMUP + 1 :]
    equity = cash + replayed @ units
    weights = units * replayed / equity[:, None]
    np.testing.assert_allclose(result.weights, weights, rtol=1e-12)
    expected = np.sum(weights[:-1] * np.log(replayed[1:] / replayed[:-1]), axis=1)
    np.testing.assert_allclose(result.realised[:-1], expected, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(result.history.equity, equity, rtol=1e-12)
    for t in (0, 57, len(result.dates) - 1):  # the engine's own weights, state by state
        np.testing.assert_allclose(result.history[t].weights(), result.weights[t], rtol=1e-12)


def test_engine_var_es_are_the_states(result: HistoryBacktest) -> None:
    history = result.history
    var = {level: [history[t].var(level) for t in range(len(history))] for level in LEVELS}
    es = [history[t].es(result.es_level) for t in range(len(history))]
    for level in LEVELS:
        np.testing.assert_allclose(result.var[level], var[level], rtol=1e-12)
    np.testing.assert_allclose(result.es, es, rtol=1e-12)
    assert np.all(result.es > result.var[0.975]) and np.all(result.var[0.99] > 0)


def test_baseline_forecasts(result: HistoryBacktest, prices: pd.DataFrame) -> None:
    """'ewma' is the RiskMetrics recursion; 'historical' the empirical quantile of today's book."""
    returns = np.log(prices.to_numpy()[1:] / prices.to_numpy()[:-1])
    covariance = np.mean(returns[:WARMUP, :, None] * returns[:WARMUP, None, :], axis=0)
    for k in range(WARMUP + 1):  # the forecast for returns[WARMUP + 1] uses returns[:WARMUP+1]
        covariance = 0.94 * covariance + 0.06 * np.outer(returns[k], returns[k])
    np.testing.assert_allclose(result.covariance_ewma[0], covariance, rtol=1e-10)
    w = result.weights[0]
    sigma = math.sqrt(w @ covariance @ w)
    assert result.var_ewma[0.99][0] == pytest.approx(-stats.norm.ppf(0.01) * sigma, rel=1e-10)
    scenarios = returns[WARMUP + 1 - HISTORICAL_DAYS : WARMUP + 1] @ w
    assert result.var_historical[0.99][0] == pytest.approx(-np.quantile(scenarios, 0.01))
    worst = np.sort(scenarios)[: math.ceil(0.025 * HISTORICAL_DAYS)]
    assert result.es_historical[0] == pytest.approx(-worst.mean())


def test_forecast_scores_recomputed(result: HistoryBacktest, prices: pd.DataFrame) -> None:
    returns = np.log(prices.to_numpy()[1:] / prices.to_numpy()[:-1])[WARMUP + 1 :]
    engine = result.history.covariance[:-1]
    ewma = result.covariance_ewma[:-1]
    scores = {(s.target, s.score): s for s in result.forecast_scores}
    assert len(scores) == len(result.forecast_scores) == 2 * 3 + 3
    b = scores[("variance:BBB", "qlike")]
    assert b.value == pytest.approx(qlike(engine[:, 1, 1], returns[:, 1] ** 2))
    assert b.baseline_value == pytest.approx(qlike(ewma[:, 1, 1], returns[:, 1] ** 2))
    assert scores[("variance:CCC", "mse")].value == pytest.approx(
        mse(engine[:, 2, 2], returns[:, 2] ** 2)
    )
    equal = np.full(3, 1 / 3)
    assert scores[("covariance", "portfolio_qlike")].baseline_value == pytest.approx(
        portfolio_qlike(ewma, returns, equal)
    )
    assert scores[("covariance", "mahalanobis")].value == pytest.approx(
        mahalanobis_ratio(engine, returns)
    )
    assert scores[("covariance", "mahalanobis")].ratio is None
    assert b.ratio == pytest.approx(b.value / b.baseline_value)


def test_correlations(result: HistoryBacktest) -> None:
    np.testing.assert_array_equal(result.correlation, result.engine.state.correlation)
    covariance = result.history.covariance
    calm = np.argmax(result.history.regime_proba, axis=1) == 0
    assert 0 < result.calm_days == calm.sum() < len(calm)
    scale = 1 / np.sqrt(np.diagonal(covariance, axis1=1, axis2=2))
    correlation = covariance * scale[:, :, None] * scale[:, None, :]
    np.testing.assert_allclose(result.correlation_calm, correlation[calm].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(np.diag(result.correlation_calm), 1.0)


# ---------------------------------------------------------------------- no look-ahead
def test_baselines_do_not_look_ahead() -> None:
    rng = np.random.default_rng(3)
    returns = 0.01 * rng.standard_normal((400, 3))
    weights = rng.uniform(-1, 1, size=(101, 3))
    k = 330  # change every return from index k on
    changed = returns.copy()
    changed[k:] = 0.05 * rng.standard_normal((400 - k, 3))
    before = ewma_covariance_forecasts(returns, seed_rows=250)
    after = ewma_covariance_forecasts(changed, seed_rows=250)
    np.testing.assert_array_equal(before[: k + 1], after[: k + 1])  # out[k] uses returns[:k]
    assert not np.allclose(before[k + 1], after[k + 1])
    first = 300  # forecasts t = 0..100 target returns[300..400]
    var, es = historical_var_es(returns, weights, first=first, tail=0.01)
    var2, es2 = historical_var_es(changed, weights, first=first, tail=0.01)
    untouched = k - first + 1  # forecasts targeting returns[..k] use returns[..k-1]
    np.testing.assert_array_equal(var[:untouched], var2[:untouched])
    np.testing.assert_array_equal(es[:untouched], es2[:untouched])
    assert not np.allclose(var[untouched:], var2[untouched:])


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas().astype({"scope": str})


def _before(frame: pd.DataFrame, kind: str, last_same: pd.Timestamp) -> pd.DataFrame:
    """Rows whose numbers were known at ``last_same``'s close or earlier.

    The realised return on ``last_same`` is the return into the first changed close.
    """
    earlier = frame.as_of < last_same
    that_day = (frame.as_of == last_same) & (frame[kind] != "realised_return")
    return frame[earlier | that_day].reset_index(drop=True)


def test_replay_does_not_look_ahead(result: HistoryBacktest, perturbed: HistoryBacktest) -> None:
    """Changing the closes of rows CUT.. leaves every forecast made before them unchanged."""
    last_same = result.dates[CUT - WARMUP - 2]  # as_of of row CUT - 1: its forecasts are the same
    for method in ("risk_metrics_table", "limits_table"):
        kind = "metric" if method == "risk_metrics_table" else "limit_type"
        ours = _frame(getattr(result, method)()).astype({kind: str})
        theirs = _frame(getattr(perturbed, method)()).astype({kind: str})
        pd.testing.assert_frame_equal(
            _before(ours, kind, last_same), _before(theirs, kind, last_same), check_exact=True
        )
        later = ours.as_of > last_same
        assert (
            not ours[later]
            .reset_index(drop=True)
            .equals(theirs[theirs.as_of > last_same].reset_index(drop=True))
        )
    for level in LEVELS:
        same = CUT - WARMUP - 1
        np.testing.assert_array_equal(result.var[level][:same], perturbed.var[level][:same])
        np.testing.assert_array_equal(
            result.var_ewma[level][:same], perturbed.var_ewma[level][:same]
        )
        np.testing.assert_array_equal(
            result.var_historical[level][:same], perturbed.var_historical[level][:same]
        )


# ---------------------------------------------------------------------- tables and the store
def test_tables_conform_to_the_store(result: HistoryBacktest, stored) -> None:
    store, counts = stored
    tables = {
        "risk_metrics": result.risk_metrics_table(),
        "limits": result.limits_table(),
        "backtests": result.backtests_table(),
        "forecast_scores": result.forecast_scores_table(),
    }
    for name, table in tables.items():
        assert table.column_names == [column for column, _ in TABLES[name]]
        assert counts[name] == table.num_rows
        assert store.row_counts("r1")[name] == table.num_rows
    steps, n = len(result.dates), 3
    # var, var_ewma, var_historical; es; proba, regime, equity; average_correlation, its alarm
    per_day = 3 * len(LEVELS) + 1 + 3 + 2
    expected = steps * (per_day + 2 * n) + (steps - 1) + 2 * 3  # + realised, + 3 pairs x 2
    assert tables["risk_metrics"].num_rows == expected
    assert tables["limits"].num_rows == steps * (2 * n + 2)
    duplicates = rows(
        store,
        "SELECT count(*) FROM (SELECT as_of, scope, metric, level FROM risk_metrics "
        "GROUP BY ALL HAVING count(*) > 1)",
    )[0][0]
    assert duplicates == 0
    metrics = dict(
        rows(
            store,
            "SELECT metric, count(*) FILTER (WHERE level IS NULL) FROM risk_metrics GROUP BY 1",
        )
    )
    assert metrics["realised_return"] == steps - 1 and metrics["regime"] == steps
    assert metrics["average_correlation"] == metrics["correlation_alarm"] == steps
    assert metrics["var"] == metrics["es"] == 0  # VaR and ES rows carry their level
    pairs = rows(
        store,
        "SELECT scope, metric, value, as_of FROM risk_metrics WHERE scope LIKE '%|%' ORDER BY 1, 2",
    )
    assert [(s, m) for s, m, _, _ in pairs] == [
        (pair, metric)
        for pair in ("AAA|BBB", "AAA|CCC", "BBB|CCC")
        for metric in ("correlation", "correlation_calm")
    ]
    assert {as_of for *_, as_of in pairs} == {result.dates[-1].to_pydatetime()}
    assert pairs[0][2] == pytest.approx(result.correlation[0, 1])


def test_backtests_table(result: HistoryBacktest) -> None:
    table = result.backtests_table().to_pandas()
    tested = len(result.dates) - 1
    var_rows = table[table.test != "acerbi_szekely"]
    assert set(var_rows.model) == {"engine", "ewma", "historical"}
    assert set(var_rows.level) == set(LEVELS)
    assert len(var_rows) == 3 * len(LEVELS) * 4
    light = table[table.test == "traffic_light"]
    assert light.p_value.isna().all() and set(light.outcome) <= {"green", "yellow", "red"}
    assert (light.n == result.window).all() and (light.statistic == light.exceptions).all()
    statistical = table[table.test != "traffic_light"]
    assert set(statistical.outcome) <= {"pass", "reject"}
    assert ((statistical.p_value < 0.05) == (statistical.outcome == "reject")).all()
    assert (statistical.n == tested).all()
    es = table[table.test == "acerbi_szekely"]
    assert sorted(es.model) == ["engine", "ewma"] and (es.level == result.es_level).all()
    assert (es.p_value >= 1 / 1001).all()
    summary = result.summary()
    backtests = [row for row in summary if row["table"] == "backtests"]
    assert [(row["model"], row["level"]) for row in backtests] == [
        (model, level) for model in ("engine", "ewma", "historical") for level in LEVELS
    ]
    engine_975 = backtests[1]
    assert engine_975["z2"] == pytest.approx(float(es[es.model == "engine"].statistic.iloc[0]))
    assert backtests[0]["z2"] is None and backtests[-1]["z2"] is None
    assert sum(row["table"] == "forecast_scores" for row in summary) == 9


def test_exceptions_match_the_var_history_view(result: HistoryBacktest, stored) -> None:
    """The store's var_history view (as_of VaR vs next-day return) counts what the tests count."""
    store, _ = stored
    counted = dict(
        rows(
            store,
            "SELECT level, count(*) FILTER (WHERE exception) FROM var_history "
            "WHERE run_id = 'r1' AND realised_return IS NOT NULL GROUP BY level",
        )
    )
    kupiec = dict(
        rows(
            store,
            "SELECT level, exceptions FROM var_exceptions WHERE run_id = 'r1' AND model = 'engine'",
        )
    )
    for level in LEVELS:
        hits = var_exceptions(result.realised[:-1], result.var[level][:-1])
        assert counted[level] == kupiec[level] == hits.sum()
        assert result.backtests[("engine", level)].exceptions == hits.sum()


# ---------------------------------------------------------------------- bad input
def _bad_price(prices: pd.DataFrame) -> pd.DataFrame:
    bad = prices.copy()
    bad.iloc[10, 1] = np.nan
    return bad


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"book": {"AAA": 1e6, "ZZZ": 1e6}}, UnknownAsset, "book['ZZZ']"),
        ({"book": {"AAA": math.inf}}, InvalidInput, "book['AAA']"),
        ({"book": {"AAA": 0.0}}, InvalidInput, "book"),
        ({"warmup": N_ROWS - 200}, InvalidInput, "warmup"),
        ({"warmup": 100}, InvalidInput, "warmup"),
        ({"warmup": 300.0}, InvalidInput, "warmup"),
        ({"prices": "not a frame"}, InvalidInput, "prices"),
        ({"prices": lambda p: p.to_numpy()}, InvalidInput, "prices"),
        ({"prices": lambda p: p.rename(columns={"CCC": "ZZZ"})}, UnknownAsset, "prices['ZZZ']"),
        ({"prices": lambda p: p.drop(columns="CCC")}, MissingAsset, "prices['CCC']"),
        ({"prices": _bad_price}, InvalidPrice, "prices['BBB']"),
        ({"prices": lambda p: p.reset_index(drop=True)}, InvalidInput, "prices.index"),
        ({"prices": lambda p: p.iloc[::-1]}, InvalidInput, "prices.index[1]"),
        ({"config": {"assets": list(ASSETS)}}, InvalidInput, "config"),
        ({"var_levels": (0.99, 1.5)}, InvalidInput, "var_levels[1]"),
        ({"es_level": 0.2}, InvalidInput, "es_level"),
        ({"window": 0}, InvalidInput, "window"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(
    prices: pd.DataFrame, config: EngineConfig, monkeypatch, change, error, field
) -> None:
    def no_engine(*args, **kwargs):
        raise AssertionError("the engine was built before the input was validated")

    monkeypatch.setattr(backtest_module, "Engine", no_engine)
    kwargs = {"prices": prices.copy(), "config": config, "book": dict(BOOK), "warmup": WARMUP}
    for key, value in change.items():
        kwargs[key] = value(kwargs[key]) if callable(value) else value
    before = copy.deepcopy(kwargs)
    with pytest.raises(error) as caught:
        backtest_history(**kwargs)
    assert caught.value.field == field, str(caught.value)
    for key, value in before.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(kwargs[key], value)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(kwargs[key], value)
        else:
            assert kwargs[key] == value


# ---------------------------------------------------------------------- real data
def real_prices() -> pd.DataFrame:
    """SPX and NDX closes joined with river's ten stocks as prices, 2013-02-08..2018-02-06.

    river's SP500Stocks has no dates: sample 0 is the return of 2013-02-11 (its
    equal-weight mean correlates 0.92 with the S&P 500's return that day, and
    near 0 one day either side), so the stocks' prices start at 100 on the
    previous close, 2013-02-08, the indices' first row here.
    """
    from arch.data import nasdaq, sp500
    from river import datasets

    rows = [x for x, _ in datasets.SP500Stocks()]
    tickers = list(rows[0])
    log_returns = np.log1p(np.array([[row[t] for t in tickers] for row in rows]) / 100.0)
    indices = pd.concat(
        {"SPX": sp500.load()["Adj Close"], "NDX": nasdaq.load()["Adj Close"]}, axis=1
    ).dropna()
    indices = indices.loc["2013-02-08":].iloc[: len(rows) + 1]
    levels = np.vstack([np.zeros(len(tickers)), np.cumsum(log_returns, axis=0)])
    stocks = pd.DataFrame(100.0 * np.exp(levels), index=indices.index, columns=tickers)
    return pd.concat([indices, stocks], axis=1)


def test_real_data_backtest_is_sane(tmp_path) -> None:
    """12 assets, warm-up 500 days, 756 days out of sample: the engine's VaR holds up.

    Bands are the central 99.8 % of Binomial(days, tail) exception counts: a
    well-calibrated VaR falls outside with probability 0.002. Nothing here is
    tuned to this sample.
    """
    closes = real_prices()
    assert closes.shape == (1258, 12) and closes.index[-1] == pd.Timestamp("2018-02-06")
    book = {asset: 500_000.0 for asset in closes.columns}
    result = backtest_history(closes, engine_config(closes.columns, 252), book=book, warmup=500)
    days = len(result.dates) - 1
    assert days == 756
    for level in LEVELS:
        report = result.backtests[("engine", level)]
        low, high = stats.binom.ppf([0.001, 0.999], days, 1 - level)
        assert low <= report.exceptions <= high, report.summary()
        assert report.traffic_light.zone != "red"
        assert 0 < np.median(result.var[level]) < 0.05
    assert result.es_backtests["engine"].p_value > 0.01
    scores = {(s.target, s.score): s for s in result.forecast_scores}
    assert scores[("variance:portfolio", "qlike")].ratio < 1.0  # the engine beats RiskMetrics
    assert 0.8 < scores[("covariance", "mahalanobis")].value < 1.25
    store = open_store(tmp_path / "risk.duckdb")
    with store.record_run(
        "real", config={"assets": list(closes.columns)}, seed=0, code_version="t"
    ) as run:
        run.write("risk_metrics", result.risk_metrics_table())
        run.write("limits", result.limits_table())
        run.write("backtests", result.backtests_table())
        run.write("forecast_scores", result.forecast_scores_table())
    pairs = rows(store, "SELECT count(*) FROM risk_metrics WHERE metric = 'correlation'")[0][0]
    store.close()
    assert pairs == 12 * 11 // 2
