r"""Forward and stress scenarios for today's book: scenario VaR / ES, stress losses, limits.

**Forward scenarios** start from today. :func:`forward_spec` builds a market
model for the book's own assets out of the engine's fitted models:

- the regime chain is the engine's HMM (transition matrix fitted by hmmlearn),
  started from today's *filtered* regime probabilities;
- regime :math:`k` scales every asset's GARCH long-run variance
  :math:`\bar h_i` by :math:`c_k = v_k^2 / \sum_j \pi_j v_j^2`, where
  :math:`v_k` is the HMM state's return size and :math:`\pi` the chain's
  stationary law, so the regimes average to the fitted long run;
- GARCH dynamics per asset are the engine's (GJR's leverage term folded in as
  :math:`\alpha + \gamma / 2`); every regime starts at today's forecast
  variance scaled by its regime factor, :math:`h_{k,i,0} = \hat h_i c_k / \sum_j p_j c_j`,
  so the first step's expected variance is exactly the engine's forecast;
- each regime's correlation is the regime-probability-weighted correlation of
  the history's returns standardised by the engine's own one-step forecasts;
- innovations are Student-t with the engine's tail (its fitted :math:`\nu`),
  the drift is zero (the usual choice for a short-horizon VaR).

**Stress scenarios** are catalogue specs (``crisis``, ``flash_crash``) moved
onto the book by :func:`stress_spec`: each regime keeps its average volatility
level, correlation, drift, jumps and tails, spread over the book's assets in
proportion to their own long-run volatilities, and every path starts in the
spec's most volatile regime (the stress happens). Intraday specs run for one
trading day, daily specs for the forward horizon.

**Limits each scenario implies**: the engine's own limit chain, from its
state today, fed the scenario's *true* per-step variance, correlation and
regime (an oracle: what the limits would do if the models were exactly
right). Each path reports its gross limit at the horizon and its minimum.

Work is split into shards of a fixed number of paths (:mod:`.shards`); path
``i`` of a set draws from ``fold_in(key(stream_seed(seed, set)), i)``, so the
results do not depend on where the shards run.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import pyarrow as pa

from riskengine.engine import Engine, EngineConfig, RiskHistory
from riskengine.engine.engine import engine_limit_chain
from riskengine.nightly.shards import Backend, shard_ranges, stream_seed
from riskengine.risk.limits import LimitInputs, Limits, unit_gross_var
from riskengine.sim.market import (
    MarketParams,
    MarketScenarios,
    market_params,
    path_keys,
    simulate_keys,
)
from riskengine.sim.market_spec import MarketSpec, stationary_distribution
from riskengine.sim.specs import load_spec

__all__ = [
    "BookPosition",
    "ScenarioSet",
    "ScenarioTask",
    "forward_spec",
    "run_scenario_shard",
    "simulate_set",
    "stress_spec",
]

REGIME_NAMES = {2: ("calm", "stressed"), 3: ("calm", "turbulent", "crisis")}
TRADING_DAYS = 252
#: Scenario VaR and ES levels written to the store.
VAR_LEVELS = (0.99, 0.975)
ES_LEVELS = (0.975, 0.99)


@dataclasses.dataclass(frozen=True, eq=False)
class BookPosition:
    """The book today, as scenario shards need it (small and picklable).

    ``notional`` is the signed value held per asset and ``equity`` the book's
    value (cash included); ``engine`` is the engine's config table and
    ``chain_state`` its limit chain's state, from which the scenario limits start.
    """

    assets: tuple[str, ...]
    notional: np.ndarray
    equity: float
    engine: Mapping[str, Any]
    chain_state: tuple
    tail_scale: float
    var_level: float = 0.99

    @classmethod
    def from_engine(cls, engine: Engine) -> BookPosition:
        state = engine.state
        if state is None:
            raise ValueError("engine: has no state yet (warm it up first)")
        config = engine.config
        z = statistics.NormalDist().inv_cdf(config.dynamic.var_level)
        tail = -state.innovations.quantile(1.0 - config.dynamic.var_level) / z
        return cls(
            assets=engine.assets,
            notional=np.asarray(state.positions * state.prices, dtype=np.float64),
            equity=float(state.equity),
            engine=config.to_mapping(),
            chain_state=engine.limit_chain_state,
            tail_scale=float(tail),
            var_level=config.dynamic.var_level,
        )


# ---------------------------------------------------------------------- calibration
def _regime_correlations(history: RiskHistory, min_weight: float = 30.0) -> np.ndarray:
    """Per regime, the probability-weighted correlation of forecast-standardised returns."""
    returns = np.diff(np.log(history.prices), axis=0)  # return t+1 ...
    forecast = np.diagonal(history.covariance, axis1=1, axis2=2)[:-1]  # ... made at t
    proba = history.regime_proba[1:]  # the regime the return t+1 came from (filtered)
    usable = np.all(np.isfinite(forecast), axis=1) & np.all(np.isfinite(proba), axis=1)
    z = returns[usable] / np.sqrt(forecast[usable])
    proba = proba[usable]
    n_assets = returns.shape[1]
    pooled = np.corrcoef(z, rowvar=False) if z.shape[0] > 2 else np.eye(n_assets)
    out = []
    for k in range(proba.shape[1]):
        weight = proba[:, k]
        if weight.sum() < min_weight:  # too few days in this regime: the pooled estimate
            out.append(pooled)
            continue
        second = np.einsum("t,ti,tj->ij", weight, z, z) / weight.sum()
        scale = 1.0 / np.sqrt(np.diag(second))
        out.append(second * np.outer(scale, scale))
    correlation = np.stack(out)
    # A little shrinkage towards the identity keeps every matrix safely positive definite.
    smallest = np.linalg.eigvalsh(correlation)[:, 0]
    shrink = np.where(smallest < 1e-3, 0.05, 0.0)[:, None, None]
    correlation = (1.0 - shrink) * correlation + shrink * np.eye(n_assets)
    correlation[:, np.arange(n_assets), np.arange(n_assets)] = 1.0
    return correlation


def forward_spec(engine: Engine, history: RiskHistory) -> MarketSpec:
    """The market model of the book's assets calibrated to the engine today (module docstring).

    ``history`` is the engine's replay (for the regime correlations); the
    engine must be fitted and have a state.
    """
    state = engine.state
    if state is None or not engine.models.fitted:
        raise ValueError("engine: not fitted (warm it up before building scenarios)")
    models = engine.models
    hmm = models.hmm_params
    transition = np.asarray(hmm.transmat, dtype=np.float64)
    transition = transition / transition.sum(axis=1, keepdims=True)
    stationary = stationary_distribution(transition)
    size = np.asarray(hmm.volatility, dtype=np.float64) ** 2
    factor = size / float(stationary @ size)  # (K,), stationary mean 1
    garch = models.garch_params
    long_run = np.array([g.long_run_variance for g in garch])
    alpha = np.array([g.alpha + 0.5 * g.gamma for g in garch])
    beta = np.array([g.beta for g in garch])
    # The simulator needs a stationary GARCH in every regime.
    persistence = alpha + beta
    squeeze = np.where(persistence > 0.995, 0.995 / persistence, 1.0)
    alpha, beta = alpha * squeeze, beta * squeeze
    proba = np.asarray(state.regime_proba, dtype=np.float64)
    if not np.all(np.isfinite(proba)) or proba.sum() <= 0:
        proba = stationary
    proba = proba / proba.sum()
    today = np.diag(state.covariance)
    k, n = factor.size, len(engine.assets)
    omega = factor[:, None] * long_run[None, :] * (1.0 - alpha - beta)[None, :]
    scale = np.broadcast_to(today / long_run / float(proba @ factor), (k, n))
    nu = state.innovations.nu if math.isfinite(state.innovations.nu) else 1e6
    return MarketSpec(
        assets=engine.assets,
        regime_names=REGIME_NAMES.get(k, tuple(f"regime_{j}" for j in range(k))),
        periods_per_year=TRADING_DAYS,
        transition=transition,
        initial_proba=proba,
        mu=np.zeros((k, n)),
        omega=omega,
        alpha=np.broadcast_to(alpha, (k, n)).copy(),
        beta=np.broadcast_to(beta, (k, n)).copy(),
        nu=np.full(k, max(float(nu), 2.5)),
        correlation=_regime_correlations(history),
        jump_prob=np.zeros(k),
        jump_mean=np.zeros((k, n)),
        jump_std=np.zeros((k, n)),
        initial_variance_scale=scale.copy(),
    )


def stress_spec(name: str, assets: Sequence[str], long_run_variance: np.ndarray) -> MarketSpec:
    """Catalogue stress scenario ``name`` moved onto ``assets`` (module docstring).

    ``long_run_variance`` (N,) per-period variances of the book's assets (the
    engine's GARCH long run) set each asset's share of the stress volatility.
    """
    scenario = load_spec(name)
    if scenario.market is None:
        raise ValueError(f"scenarios.stress: {name!r} has no [market] section")
    source = scenario.market
    n = len(assets)
    ppy = source.periods_per_year
    annual = np.sqrt(source.unconditional_variance * ppy)  # (K, Ns)
    relative = np.sqrt(long_run_variance) / np.sqrt(long_run_variance).mean()
    vol = annual.mean(axis=1)[:, None] * relative[None, :]  # (K, N) annualised
    alpha = np.repeat(source.alpha.mean(axis=1, keepdims=True), n, axis=1)
    beta = np.repeat(source.beta.mean(axis=1, keepdims=True), n, axis=1)
    ns = source.n_assets
    off = (source.correlation.sum(axis=(1, 2)) - ns) / max(ns * (ns - 1), 1)
    correlation = off[:, None, None] * np.ones((n, n)) + (1.0 - off)[:, None, None] * np.eye(n)

    def spread(x: np.ndarray) -> np.ndarray:
        return np.repeat(x.mean(axis=1, keepdims=True), n, axis=1)

    worst = int(np.argmax(annual.mean(axis=1)))
    return MarketSpec(
        assets=tuple(assets),
        regime_names=source.regime_names,
        periods_per_year=ppy,
        transition=source.transition,
        initial_proba=np.eye(source.n_regimes)[worst],
        mu=spread(source.mu),
        omega=vol**2 / ppy * (1.0 - alpha - beta),
        alpha=alpha,
        beta=beta,
        nu=source.nu,
        correlation=correlation,
        jump_prob=source.jump_prob,
        jump_mean=spread(source.jump_mean),
        jump_std=spread(source.jump_std),
    )


def stress_horizon(spec: MarketSpec, horizon_days: int) -> int:
    """Steps of a stress run: one trading day for intraday specs, else ``horizon_days``."""
    if spec.periods_per_year > TRADING_DAYS:
        return max(1, round(spec.periods_per_year / TRADING_DAYS))
    return horizon_days


def stressed_from(spec: MarketSpec) -> int:
    """First regime counted as stressed: 0 for a one-regime stress spec, else 1 (calm is 0)."""
    return 0 if spec.n_regimes == 1 else 1


# ---------------------------------------------------------------------- shards
@dataclasses.dataclass(frozen=True, eq=False)
class ScenarioTask:
    """One shard: paths ``start .. stop - 1`` of set ``name`` (padded to ``shard_paths``)."""

    name: str
    params: MarketParams  # numpy arrays
    correlation: np.ndarray  # (K, N, N) of the spec
    stressed_from: int
    stream: int
    start: int
    stop: int
    shard_paths: int
    horizon: int
    book: BookPosition


@dataclasses.dataclass(frozen=True, eq=False)
class ShardResult:
    """What a shard sends back: its paths and one summary row per path."""

    returns: np.ndarray  # (P, H, N) float32
    variance: np.ndarray  # (P, H, N) float32
    regime: np.ndarray  # (P, H) int32
    per_path: dict[str, np.ndarray]


@functools.cache
def _chain(engine_json: str) -> Any:
    return engine_limit_chain(EngineConfig.from_mapping(json.loads(engine_json)))


def _book_paths(returns: np.ndarray, book: BookPosition) -> dict[str, np.ndarray]:
    """Book value along every path: P&L, return and maximum drawdown (fractions of equity)."""
    growth = np.exp(np.cumsum(returns.astype(np.float64), axis=1))  # (P, H, N)
    pnl = (growth - 1.0) @ book.notional  # (P, H)
    equity = book.equity + pnl
    peak = np.maximum(np.maximum.accumulate(equity, axis=1), book.equity)
    drawdown = np.max((peak - equity) / peak, axis=1)
    return {
        "pnl": pnl[:, -1],
        "portfolio_return": pnl[:, -1] / book.equity,
        "max_drawdown": drawdown,
    }


def _scenario_limits(
    variance: np.ndarray, regime: np.ndarray, task: ScenarioTask
) -> dict[str, np.ndarray]:
    """The engine's limit chain along each path, fed the path's true risk (an oracle)."""
    book = task.book
    chain = _chain(json.dumps(book.engine, sort_keys=True))
    volatility = np.sqrt(variance.astype(np.float64))  # (P, H, N)
    covariance = volatility[..., :, None] * task.correlation[regime] * volatility[..., None, :]
    # The engine's limit input: VaR per unit of gross in the book's direction, fitted tail.
    var_per_gross = unit_gross_var(covariance, book.notional, book.var_level) * book.tail_scale
    stressed = (regime >= task.stressed_from).astype(np.float64)
    changepoint = np.zeros(regime.shape, dtype=bool)
    changepoint[:, 1:] = regime[:, 1:] > regime[:, :-1]
    n_paths, horizon, n_assets = variance.shape
    unbounded = Limits.unbounded(n_assets, horizon)
    gross_end = np.empty(n_paths)
    gross_min = np.empty(n_paths)
    for p in range(n_paths):
        inputs = LimitInputs(volatility[p], var_per_gross[p], stressed[p], changepoint[p])
        limits, _ = chain.update_batch(inputs, unbounded, book.chain_state)
        gross_end[p] = limits.gross[-1]
        gross_min[p] = limits.gross.min()
    return {"gross_limit_end": gross_end, "gross_limit_min": gross_min}


def run_scenario_shard(task: ScenarioTask) -> ShardResult:
    """Simulate one shard and summarise its paths (runs in a worker: module-level, pure)."""
    keys = path_keys(task.stream, task.start, task.shard_paths)
    params = MarketParams(*(jax.numpy.asarray(x) for x in task.params))
    out = jax.device_get(simulate_keys(keys, params, task.horizon))
    n = task.stop - task.start
    returns = np.asarray(out.returns)[:n]
    variance = np.asarray(out.variance)[:n]
    regime = np.asarray(out.regime)[:n]
    per_path = _book_paths(returns, task.book)
    per_path["end_regime"] = regime[:, -1].astype(np.int16)
    per_path["stressed_steps"] = (regime >= task.stressed_from).sum(axis=1).astype(np.int32)
    per_path |= _scenario_limits(variance, regime, task)
    return ShardResult(returns, variance, regime, per_path)


# ---------------------------------------------------------------------- a whole set
def _tail_mean(losses: np.ndarray, level: float) -> float:
    """Mean of the worst ``1 - level`` fraction of losses (at least one)."""
    worst = max(1, math.ceil(losses.size * (1.0 - level) - 1e-9))
    return float(np.sort(losses)[-worst:].mean())


@dataclasses.dataclass(frozen=True, eq=False)
class ScenarioSet:
    """A simulated set: the paths, one summary row per path, and the set's risk metrics."""

    name: str
    spec: MarketSpec
    horizon: int
    scenarios: MarketScenarios
    per_path: dict[str, np.ndarray]
    stressed_from: int

    @property
    def losses(self) -> np.ndarray:
        """Loss over the horizon as a fraction of equity (positive = loss), per path."""
        return -self.per_path["portfolio_return"]

    def metrics(self) -> dict[tuple[str, float | None], float]:
        """``(metric, level) -> value``: VaR / ES, mean and worst loss, regime and limit stats."""
        losses = self.losses
        out: dict[tuple[str, float | None], float] = {}
        for level in VAR_LEVELS:
            out[("var", level)] = float(np.quantile(losses, level))
        for level in ES_LEVELS:
            out[("es", level)] = _tail_mean(losses, level)
        out[("mean_loss", None)] = float(losses.mean())
        out[("worst_loss", None)] = float(losses.max())
        out[("max_drawdown_p99", None)] = float(np.quantile(self.per_path["max_drawdown"], 0.99))
        stressed_end = self.per_path["end_regime"] >= self.stressed_from
        out[("stressed_end", None)] = float(stressed_end.mean())
        out[("gross_limit_median_end", None)] = float(np.median(self.per_path["gross_limit_end"]))
        out[("gross_limit_min_p05", None)] = float(
            np.quantile(self.per_path["gross_limit_min"], 0.05)
        )
        return out

    def metrics_table(self) -> dict[str, Any]:
        rows = self.metrics()
        return {
            "spec": [self.name] * len(rows),
            "horizon": np.full(len(rows), self.horizon, dtype=np.int32),
            "metric": [metric for metric, _ in rows],
            # A metric without a level stores NULL, as in risk_metrics.
            "level": pa.array([lv for _, lv in rows], type=pa.float64()),
            "value": np.array(list(rows.values())),
        }

    def results_table(self) -> dict[str, Any]:
        n = self.per_path["pnl"].size
        return {"spec": [self.name] * n, "path": np.arange(n, dtype=np.int32)} | {
            key: self.per_path[key]
            for key in (
                "portfolio_return",
                "pnl",
                "max_drawdown",
                "end_regime",
                "stressed_steps",
                "gross_limit_end",
                "gross_limit_min",
            )
        }


def simulate_set(
    name: str,
    spec: MarketSpec,
    *,
    book: BookPosition,
    run_seed: int,
    n_paths: int,
    horizon: int,
    shard_paths: int,
    stressed_regime: int,
    backend: Backend,
    progress: Callable[[int], None] | None = None,
) -> ScenarioSet:
    """Simulate ``n_paths`` paths of ``spec`` for the book, shard by shard on ``backend``."""
    if spec.assets != book.assets:
        raise ValueError(f"spec: assets {list(spec.assets)} are not the book's {list(book.assets)}")
    params = MarketParams(*(np.asarray(x) for x in market_params(spec)))
    stream = stream_seed(run_seed, name)
    tasks = [
        ScenarioTask(
            name=name,
            params=params,
            correlation=np.asarray(spec.correlation, dtype=np.float64),
            stressed_from=stressed_regime,
            stream=stream,
            start=start,
            stop=stop,
            shard_paths=shard_paths,
            horizon=horizon,
            book=book,
        )
        for start, stop in shard_ranges(n_paths, shard_paths)
    ]
    shards = backend.map(run_scenario_shard, tasks, progress)
    scenarios = MarketScenarios(
        returns=np.concatenate([s.returns for s in shards]),
        variance=np.concatenate([s.variance for s in shards]),
        regime=np.concatenate([s.regime for s in shards]),
        assets=spec.assets,
        regime_names=spec.regime_names,
        periods_per_year=spec.periods_per_year,
        seed=stream,
    )
    per_path = {
        key: np.concatenate([s.per_path[key] for s in shards]) for key in shards[0].per_path
    }
    return ScenarioSet(name, spec, horizon, scenarios, per_path, stressed_regime)
