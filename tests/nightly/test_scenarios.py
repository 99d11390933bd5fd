"""Forward and stress scenarios: calibration identities, determinism, book P&L and limits.

One engine per module, from the shipped history of three assets (SPX, NDX,
AAPL): warmed up, replayed and refitted by ``backtest_history``, as the nightly
run does. Every simulation uses one shape (``SHARD`` paths of ``HORIZON``
steps) except the shard-size check, because each new shape compiles for
several seconds.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from riskengine.engine import Engine, EngineConfig
from riskengine.engine.engine import engine_limit_chain
from riskengine.nightly.backtest import HistoryBacktest, backtest_history
from riskengine.nightly.config import NightlyConfig
from riskengine.nightly.history import load_history
from riskengine.nightly.scenarios import (
    ES_LEVELS,
    VAR_LEVELS,
    BookPosition,
    ScenarioSet,
    forward_spec,
    simulate_set,
    stress_horizon,
    stress_spec,
    stressed_from,
)
from riskengine.nightly.shards import LocalBackend, stream_seed
from riskengine.risk.limits import LimitInputs, Limits, unit_gross_var
from riskengine.sim.market import market_params, path_keys, simulate_keys
from riskengine.sim.market_spec import MarketSpec, stationary_distribution
from riskengine.sim.specs import load_spec
from riskengine.store import TABLES, open_store
from tests._store_rows import rows as stored_rows

ASSETS = ("SPX", "NDX", "AAPL")
SEED = 5
N_PATHS = 96  # three shards of 32, or a full shard of 64 and a padded one
SHARD = 32
HORIZON = 10
#: Metrics the store contract lists for scenario_metrics.
CONTRACT_METRICS = {
    ("var", 0.99),
    ("var", 0.975),
    ("es", 0.975),
    ("es", 0.99),
    ("mean_loss", None),
    ("worst_loss", None),
    ("stressed_end", None),
    ("gross_limit_median_end", None),
    ("gross_limit_min_p05", None),
}


@pytest.fixture(scope="module")
def backtest() -> HistoryBacktest:
    history = load_history(assets=list(ASSETS))
    assets = history.assets
    return backtest_history(
        history.prices,
        NightlyConfig().engine_config(assets),
        book=dict.fromkeys(assets, 1e6),
        warmup=500,
    )


@pytest.fixture(scope="module")
def engine(backtest: HistoryBacktest) -> Engine:
    return backtest.engine


@pytest.fixture(scope="module")
def spec(backtest: HistoryBacktest) -> MarketSpec:
    return forward_spec(backtest.engine, backtest.history)


@pytest.fixture(scope="module")
def book(engine: Engine) -> BookPosition:
    return BookPosition.from_engine(engine)


def _simulate(
    spec: MarketSpec, book: BookPosition, stressed: int, *, seed: int = SEED, shard: int = SHARD
) -> ScenarioSet:
    return simulate_set(
        "forward",
        spec,
        book=book,
        run_seed=seed,
        n_paths=N_PATHS,
        horizon=HORIZON,
        shard_paths=shard,
        stressed_regime=stressed,
        backend=LocalBackend(),
    )


@pytest.fixture(scope="module")
def forward(spec: MarketSpec, book: BookPosition, engine: Engine) -> ScenarioSet:
    return _simulate(spec, book, engine.models.stressed_regime)


def _same_set(a: ScenarioSet, b: ScenarioSet) -> None:
    """Every array the driver would store, bit for bit."""
    np.testing.assert_array_equal(a.scenarios.returns, b.scenarios.returns)
    np.testing.assert_array_equal(a.scenarios.variance, b.scenarios.variance)
    np.testing.assert_array_equal(a.scenarios.regime, b.scenarios.regime)
    assert a.per_path.keys() == b.per_path.keys()
    for key in a.per_path:
        np.testing.assert_array_equal(a.per_path[key], b.per_path[key], err_msg=key)
    assert a.metrics() == b.metrics()


# ---------------------------------------------------------------------- forward_spec


def test_forward_spec_uses_the_engines_assets_and_regime_chain(
    engine: Engine, spec: MarketSpec
) -> None:
    assert spec.assets == engine.assets == ASSETS
    transmat = np.asarray(engine.models.hmm_params.transmat, dtype=np.float64)
    np.testing.assert_allclose(
        spec.transition, transmat / transmat.sum(axis=1, keepdims=True), rtol=1e-15
    )
    np.testing.assert_allclose(spec.transition.sum(axis=1), 1.0, rtol=1e-15)
    proba = np.asarray(engine.state.regime_proba, dtype=np.float64)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(spec.initial_proba, proba / proba.sum(), rtol=1e-15)
    assert spec.n_regimes == engine.config.models.n_regimes == len(spec.regime_names)
    assert spec.periods_per_year == 252


def test_forward_regime_correlations_are_valid(spec: MarketSpec) -> None:
    n = len(ASSETS)
    assert spec.correlation.shape == (spec.n_regimes, n, n)
    for correlation in spec.correlation:
        np.testing.assert_allclose(correlation, correlation.T, rtol=0, atol=1e-14)
        np.testing.assert_array_equal(np.diag(correlation), 1.0)
        assert np.linalg.eigvalsh(correlation).min() > 0
        assert np.all(np.abs(correlation) <= 1.0)


def test_forward_garch_is_stationary_and_the_engines(engine: Engine, spec: MarketSpec) -> None:
    persistence = spec.alpha + spec.beta
    assert np.all(persistence < 1.0)
    assert np.all(spec.omega > 0)
    garch = engine.models.garch_params
    alpha = np.array([g.alpha + 0.5 * g.gamma for g in garch])
    beta = np.array([g.beta for g in garch])
    # No asset needed squeezing here, so the dynamics are the engine's exactly.
    assert np.all(alpha + beta <= 0.995)
    np.testing.assert_allclose(spec.alpha, np.broadcast_to(alpha, spec.alpha.shape), rtol=1e-15)
    np.testing.assert_allclose(spec.beta, np.broadcast_to(beta, spec.beta.shape), rtol=1e-15)
    assert np.all(spec.nu > 2)
    np.testing.assert_array_equal(spec.mu, 0.0)
    np.testing.assert_array_equal(spec.jump_prob, 0.0)


def test_expected_first_step_variance_is_the_engines_forecast(
    engine: Engine, spec: MarketSpec
) -> None:
    start = spec.omega / (1.0 - spec.alpha - spec.beta) * spec.initial_variance_scale  # (K, N)
    expected = spec.initial_proba @ start
    np.testing.assert_allclose(expected, np.diag(engine.state.covariance), rtol=1e-10)


def test_stationary_mixture_is_the_garch_long_run(engine: Engine, spec: MarketSpec) -> None:
    pi = stationary_distribution(spec.transition)
    np.testing.assert_allclose(pi @ spec.transition, pi, atol=1e-12)
    long_run = np.array([g.long_run_variance for g in engine.models.garch_params])
    np.testing.assert_allclose(pi @ spec.unconditional_variance, long_run, rtol=1e-10)


def test_regimes_are_ordered_like_the_hmm_volatilities(engine: Engine, spec: MarketSpec) -> None:
    size = np.asarray(engine.models.hmm_params.volatility)
    per_regime = spec.unconditional_variance / spec.unconditional_variance.mean(axis=0)
    # Every asset gets the same regime factor, proportional to the HMM state's size squared.
    np.testing.assert_allclose(per_regime, np.broadcast_to(per_regime[:, :1], per_regime.shape))
    np.testing.assert_allclose(per_regime[:, 0] / per_regime[0, 0], size**2 / size[0] ** 2)


def test_a_fresh_engine_is_refused() -> None:
    fresh = Engine(EngineConfig(assets=ASSETS))
    with pytest.raises(ValueError, match=r"^engine: "):
        BookPosition.from_engine(fresh)


def test_book_position_is_the_engines_book(engine: Engine, book: BookPosition) -> None:
    state = engine.state
    assert book.assets == ASSETS
    np.testing.assert_array_equal(book.notional, state.positions * state.prices)
    assert book.equity == state.equity
    assert book.chain_state is engine.limit_chain_state
    assert EngineConfig.from_mapping(dict(book.engine)) == engine.config
    level = engine.config.dynamic.var_level
    z = statistics.NormalDist().inv_cdf(level)
    assert book.tail_scale == pytest.approx(-state.innovations.quantile(1 - level) / z, rel=1e-12)
    assert book.tail_scale > 1.0  # a Student-t tail is fatter than the normal at 99 %


# ---------------------------------------------------------------------- stress_spec

#: Book long-run variances with volatility ratios 1 : 2 : 1.5.
LONG_RUN = np.array([1e-4, 4e-4, 2.25e-4])


@pytest.mark.parametrize("name", ["crisis", "flash_crash"])
def test_stress_spec_moves_the_catalogue_onto_the_book(name: str) -> None:
    source = load_spec(name).market
    spec = stress_spec(name, ASSETS, LONG_RUN)
    assert spec.assets == ASSETS
    assert spec.regime_names == source.regime_names
    assert spec.periods_per_year == source.periods_per_year
    np.testing.assert_array_equal(spec.transition, source.transition)
    np.testing.assert_array_equal(spec.nu, source.nu)
    ppy = source.periods_per_year
    source_vol = np.sqrt(source.unconditional_variance * ppy).mean(axis=1)  # (K,)
    vol = np.sqrt(spec.unconditional_variance * ppy)  # (K, N) annualised
    np.testing.assert_allclose(vol.mean(axis=1), source_vol, rtol=1e-12)
    ratios = vol / vol[:, :1]
    expected = np.sqrt(LONG_RUN / LONG_RUN[0])
    np.testing.assert_allclose(ratios, np.broadcast_to(expected, ratios.shape), rtol=1e-12)
    worst = int(np.argmax(source_vol))
    np.testing.assert_array_equal(spec.initial_proba, np.eye(spec.n_regimes)[worst])
    assert worst == int(np.argmax(vol.mean(axis=1)))
    assert np.all(spec.alpha + spec.beta < 1.0)
    for correlation in spec.correlation:
        np.testing.assert_allclose(correlation, correlation.T, atol=0)
        np.testing.assert_array_equal(np.diag(correlation), 1.0)
        assert np.linalg.eigvalsh(correlation).min() > 0


def test_stress_horizon_is_one_day_of_bars_or_the_forward_days() -> None:
    crisis = stress_spec("crisis", ASSETS, LONG_RUN)
    flash = stress_spec("flash_crash", ASSETS, LONG_RUN)
    assert flash.periods_per_year == 252 * 78
    assert stress_horizon(flash, 10) == 78
    assert stress_horizon(flash, 3) == 78
    assert stress_horizon(crisis, 10) == 10
    assert stress_horizon(crisis, 7) == 7
    assert stressed_from(crisis) == 0  # one regime: every step is stressed
    assert stressed_from(flash) == 1


def test_an_unknown_stress_name_is_an_error() -> None:
    with pytest.raises((ValueError, FileNotFoundError), match="nope"):
        stress_spec("nope", ASSETS, LONG_RUN)


def test_a_spec_of_other_assets_is_refused(book: BookPosition) -> None:
    spec = stress_spec("crisis", ("A", "B", "C"), LONG_RUN)
    with pytest.raises(ValueError, match=r"^spec: "):
        simulate_set(
            "crisis",
            spec,
            book=book,
            run_seed=SEED,
            n_paths=4,
            horizon=2,
            shard_paths=4,
            stressed_regime=0,
            backend=LocalBackend(),
        )


# ---------------------------------------------------------------------- determinism


def test_simulate_set_shapes(forward: ScenarioSet, engine: Engine) -> None:
    scenarios = forward.scenarios
    assert scenarios.returns.shape == (N_PATHS, HORIZON, len(ASSETS))
    assert scenarios.variance.shape == (N_PATHS, HORIZON, len(ASSETS))
    assert scenarios.regime.shape == (N_PATHS, HORIZON)
    assert scenarios.seed == stream_seed(SEED, "forward")
    assert forward.horizon == HORIZON
    assert forward.stressed_from == engine.models.stressed_regime
    assert all(v.shape == (N_PATHS,) for v in forward.per_path.values())
    assert np.all(np.isfinite(scenarios.returns))


def test_simulate_set_repeats_bit_for_bit(
    forward: ScenarioSet, spec: MarketSpec, book: BookPosition, engine: Engine
) -> None:
    _same_set(forward, _simulate(spec, book, engine.models.stressed_regime))


def test_another_run_seed_draws_other_paths(
    forward: ScenarioSet, spec: MarketSpec, book: BookPosition, engine: Engine
) -> None:
    other = _simulate(spec, book, engine.models.stressed_regime, seed=SEED + 1)
    assert not np.any(other.scenarios.returns == forward.scenarios.returns)
    assert not np.array_equal(other.per_path["pnl"], forward.per_path["pnl"])


def test_results_do_not_depend_on_the_shard_size(
    forward: ScenarioSet, spec: MarketSpec, book: BookPosition, engine: Engine
) -> None:
    # 3 shards of 32 vs a shard of 64 and a padded, trimmed one: bit-identical.
    _same_set(forward, _simulate(spec, book, engine.models.stressed_regime, shard=64))


def test_path_i_depends_only_on_seed_set_and_index(spec: MarketSpec, forward: ScenarioSet) -> None:
    # Keys of paths 5..36, straddling the 32-path shard boundary: one compiled shape reused.
    first = 5
    keys = path_keys(stream_seed(SEED, "forward"), first, SHARD)
    out = simulate_keys(keys, market_params(spec), HORIZON)
    window = slice(first, first + SHARD)
    np.testing.assert_array_equal(np.asarray(out.returns), forward.scenarios.returns[window])
    np.testing.assert_array_equal(np.asarray(out.variance), forward.scenarios.variance[window])
    np.testing.assert_array_equal(np.asarray(out.regime), forward.scenarios.regime[window])


@pytest.mark.slow  # a one-path batch is another compiled shape (~10 s)
@pytest.mark.parametrize("index", [0, 37, N_PATHS - 1])
def test_one_path_alone_is_the_same_path_to_float32_rounding(
    spec: MarketSpec, forward: ScenarioSet, index: int
) -> None:
    # Batches of 1 to 5 paths of this 3-regime spec round a few returns differently from
    # batches of 6 or more (XLA lowers the small correlation GEMM another way): the
    # same path to ~1e-6 relative, not bit for bit. The regime chain is exact.
    keys = path_keys(stream_seed(SEED, "forward"), index, 1)
    out = simulate_keys(keys, market_params(spec), HORIZON)
    np.testing.assert_array_equal(np.asarray(out.regime)[0], forward.scenarios.regime[index])
    for name in ("returns", "variance"):
        np.testing.assert_allclose(
            np.asarray(getattr(out, name))[0],
            getattr(forward.scenarios, name)[index],
            rtol=1e-6,
            atol=1e-8,
            err_msg=name,
        )


def test_first_step_variance_is_the_regimes_start(spec: MarketSpec, forward: ScenarioSet) -> None:
    start = spec.omega / (1.0 - spec.alpha - spec.beta) * spec.initial_variance_scale  # (K, N)
    first = forward.scenarios.regime[:, 0]
    np.testing.assert_allclose(forward.scenarios.variance[:, 0, :], start[first], rtol=1e-5)


# ---------------------------------------------------------------------- book P&L


def _equity_paths(forward: ScenarioSet, book: BookPosition) -> np.ndarray:
    """Book equity after every step, (P, H), from the returns directly."""
    growth = np.exp(np.cumsum(forward.scenarios.returns.astype(np.float64), axis=1))
    return book.equity + np.einsum("phi,i->ph", growth - 1.0, book.notional)


def test_pnl_is_the_book_revalued_at_the_horizon(forward: ScenarioSet, book: BookPosition) -> None:
    total = forward.scenarios.returns.astype(np.float64).sum(axis=1)  # (P, N)
    pnl = np.array(
        [
            sum(book.notional[i] * math.expm1(total[p, i]) for i in range(len(ASSETS)))
            for p in range(N_PATHS)
        ]
    )
    np.testing.assert_allclose(forward.per_path["pnl"], pnl, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(
        forward.per_path["portfolio_return"], forward.per_path["pnl"] / book.equity, rtol=1e-15
    )
    np.testing.assert_allclose(forward.losses, -forward.per_path["portfolio_return"], rtol=0)


def test_max_drawdown_is_the_worst_fall_from_a_peak(
    forward: ScenarioSet, book: BookPosition
) -> None:
    equity = _equity_paths(forward, book)
    assert np.all(equity > 0)
    expected = np.empty(N_PATHS)
    for p in range(N_PATHS):
        peak, worst = book.equity, 0.0
        for value in equity[p]:
            peak = max(peak, value)
            worst = max(worst, (peak - value) / peak)
        expected[p] = worst
    drawdown = forward.per_path["max_drawdown"]
    np.testing.assert_allclose(drawdown, expected, rtol=1e-9, atol=1e-15)
    assert np.all((drawdown >= 0) & (drawdown <= 1))
    # The peak is at least the starting equity, so the drawdown is at least the worst
    # loss from the start at any step, and in particular the loss at the horizon.
    worst_loss = np.maximum(0.0, (book.equity - equity.min(axis=1)) / book.equity)
    assert np.all(drawdown >= worst_loss - 1e-12)
    assert np.all(drawdown >= np.maximum(0.0, -forward.per_path["portfolio_return"]) - 1e-12)
    # ... and at most the fall from the highest equity to the lowest.
    top = np.maximum(equity.max(axis=1), book.equity)
    assert np.all(drawdown <= (top - equity.min(axis=1)) / top + 1e-12)


def test_regime_summaries_match_the_regime_paths(forward: ScenarioSet, engine: Engine) -> None:
    regime = forward.scenarios.regime
    stressed = engine.models.stressed_regime
    np.testing.assert_array_equal(forward.per_path["end_regime"], regime[:, -1])
    np.testing.assert_array_equal(forward.per_path["stressed_steps"], (regime >= stressed).sum(1))
    assert forward.per_path["end_regime"].dtype == np.int16
    assert forward.metrics()[("stressed_end", None)] == np.mean(regime[:, -1] >= stressed)


# ---------------------------------------------------------------------- scenario limits


def test_scenario_limits_are_the_engines_chain_stepped_with_the_true_risk(
    forward: ScenarioSet, spec: MarketSpec, book: BookPosition, engine: Engine
) -> None:
    config = engine.config
    chain = engine_limit_chain(config)
    level = config.dynamic.var_level
    stressed = engine.models.stressed_regime
    regime = forward.scenarios.regime
    variance = forward.scenarios.variance.astype(np.float64)
    n = len(ASSETS)
    end, low = np.empty(N_PATHS), np.empty(N_PATHS)
    changepoints = stressed_steps = 0
    for p in range(N_PATHS):
        state, gross = book.chain_state, []
        for t in range(HORIZON):
            k = regime[p, t]
            volatility = np.sqrt(variance[p, t])
            covariance = spec.correlation[k] * np.outer(volatility, volatility)
            changepoint = bool(t > 0 and k > regime[p, t - 1])
            inputs = LimitInputs(
                volatility=volatility,
                var_per_gross=unit_gross_var(covariance, book.notional, level) * book.tail_scale,
                stressed_proba=float(k >= stressed),
                changepoint=changepoint,
            )
            limits, state = chain.update(inputs, Limits.unbounded(n), state)
            gross.append(limits.gross)
            changepoints += changepoint
            stressed_steps += k >= stressed
        end[p], low[p] = gross[-1], min(gross)
    # The check covers stressed steps and regime changes on these paths.
    assert changepoints > 0 and stressed_steps > 0
    np.testing.assert_allclose(forward.per_path["gross_limit_end"], end, rtol=1e-9)
    np.testing.assert_allclose(forward.per_path["gross_limit_min"], low, rtol=1e-9)


def test_scenario_limits_stay_between_the_floor_and_the_hard_limit(
    forward: ScenarioSet, engine: Engine
) -> None:
    hard = engine.config.hard.max_gross_notional
    floor = engine.config.dynamic.floor_fraction * hard
    for key in ("gross_limit_end", "gross_limit_min"):
        values = forward.per_path[key]
        assert np.all(values <= hard * (1 + 1e-12)), key
        assert np.all(values >= floor * (1 - 1e-12)), key
    assert np.all(forward.per_path["gross_limit_min"] <= forward.per_path["gross_limit_end"])


# ---------------------------------------------------------------------- metrics


def _check_metric_order(metrics: dict) -> None:
    assert metrics[("var", 0.99)] >= metrics[("var", 0.975)]
    assert metrics[("es", 0.99)] >= metrics[("es", 0.975)]
    for level in set(VAR_LEVELS) & set(ES_LEVELS):
        assert metrics[("es", level)] >= metrics[("var", level)] - 1e-15
    assert metrics[("worst_loss", None)] >= metrics[("es", 0.99)]
    assert metrics[("worst_loss", None)] >= metrics[("var", 0.99)]
    assert metrics[("worst_loss", None)] >= metrics[("mean_loss", None)]


def test_metrics_are_the_loss_distributions(forward: ScenarioSet) -> None:
    metrics = forward.metrics()
    assert set(metrics) >= CONTRACT_METRICS
    losses = -forward.per_path["portfolio_return"]
    for level in VAR_LEVELS:
        assert metrics[("var", level)] == pytest.approx(np.quantile(losses, level), rel=1e-12)
    for level in ES_LEVELS:
        worst = max(1, math.ceil(N_PATHS * (1 - level) - 1e-9))
        assert metrics[("es", level)] == pytest.approx(np.sort(losses)[-worst:].mean(), rel=1e-12)
    assert metrics[("worst_loss", None)] == losses.max()
    assert metrics[("mean_loss", None)] == pytest.approx(losses.mean(), rel=1e-12)
    assert metrics[("gross_limit_median_end", None)] == np.median(
        forward.per_path["gross_limit_end"]
    )
    _check_metric_order(metrics)


@pytest.mark.parametrize("n_paths", [1, 2, 7, 39, 40, 41, 96, 101, 399, 400, 1_000])
def test_metric_order_holds_for_any_loss_sample(forward: ScenarioSet, n_paths: int) -> None:
    rng = np.random.default_rng(n_paths)
    for draw in range(20):
        returns = rng.standard_t(3, size=n_paths) * 0.02
        if draw % 2:  # ties
            returns = np.round(returns, 2)
        per_path = {
            "portfolio_return": returns,
            "max_drawdown": np.abs(returns),
            "end_regime": np.zeros(n_paths, dtype=np.int16),
            "gross_limit_end": np.full(n_paths, 1e6),
            "gross_limit_min": np.full(n_paths, 1e6),
        }
        synthetic = ScenarioSet(
            "synthetic", forward.spec, HORIZON, forward.scenarios, per_path, stressed_from=1
        )
        _check_metric_order(synthetic.metrics())


def test_tables_write_to_the_store(forward: ScenarioSet, tmp_path) -> None:
    metrics = forward.metrics()
    with open_store(tmp_path / "scenarios.duckdb") as store:
        with store.record_run(
            "scenarios-test", config={"seed": SEED}, seed=SEED, code_version="t"
        ) as run:
            assert run.write("scenario_metrics", forward.metrics_table()) == len(metrics)
            assert run.write("scenario_results", forward.results_table()) == N_PATHS
            paths = forward.scenarios.to_arrow("forward")
            assert run.write("scenario_paths", paths) == N_PATHS * HORIZON * len(ASSETS)
        rows = stored_rows(
            store, "SELECT metric, level, value, horizon, spec FROM scenario_metrics"
        )
        results = stored_rows(
            store, "SELECT path, pnl, gross_limit_end FROM scenario_results ORDER BY path"
        )
    assert len(rows) == len(metrics)
    # A metric without a level comes back as NULL (tested below).
    stored = {(m, None if lv is None or math.isnan(lv) else lv): v for m, lv, v, _, _ in rows}
    assert stored == pytest.approx(metrics)
    assert {(h, s) for *_, h, s in rows} == {(HORIZON, "forward")}
    assert [r[0] for r in results] == list(range(N_PATHS))
    np.testing.assert_array_equal([r[1] for r in results], forward.per_path["pnl"])
    expected_columns = [name for name, _ in TABLES["scenario_results"] if name != "run_id"]
    assert list(forward.results_table()) == expected_columns
    expected_columns = [name for name, _ in TABLES["scenario_metrics"] if name != "run_id"]
    assert list(forward.metrics_table()) == expected_columns


def test_metrics_without_a_level_are_stored_as_null(forward: ScenarioSet, tmp_path) -> None:
    with open_store(tmp_path / "null.duckdb") as store:
        with store.record_run("null-level", config={}, seed=SEED, code_version="t") as run:
            run.write("scenario_metrics", forward.metrics_table())
        ((nulls,),) = stored_rows(
            store, "SELECT count(*) FROM scenario_metrics WHERE level IS NULL"
        )
    assert nulls == sum(level is None for _, level in forward.metrics())
