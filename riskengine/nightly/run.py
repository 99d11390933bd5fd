"""The nightly risk run: one call from price history to a stored, reported run.

:func:`run_nightly` does, in order:

1. load the book's price history (:mod:`.history`: the shipped data, or a
   user's CSV / Parquet / DuckDB table);
2. warm the engine up, replay the rest of the history out of sample (the
   models refit on past data only) and refit them on the latest history
   (:mod:`.backtest`);
3. backtest its VaR / ES (Kupiec, Christoffersen, traffic light,
   Acerbi-Szekely) against EWMA and historical simulation, and score its
   variance and covariance forecasts against EWMA;
4. simulate forward scenarios from today's regime and forecasts, and the
   stress scenarios, with the limits each path implies (:mod:`.scenarios`);
5. evaluate the execution policies in today's book regime (:mod:`.execution`);
6. write everything to the store as one atomic run.

Steps 4 and 5 run as shards on a backend (:mod:`.shards`): in this process or
on Ray, with the same results. The run is recorded with
:meth:`Store.record_run <riskengine.store.Store.record_run>`: the store is
opened (and the run id checked) before the work starts, so a busy or corrupt
store or a reused run id fails at once, not after the run; nothing is written
until every step has succeeded, and then everything is written in one
transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from riskengine.nightly.backtest import HistoryBacktest, backtest_history
from riskengine.nightly.config import NightlyConfig
from riskengine.nightly.execution import ExecutionRun, evaluate_today
from riskengine.nightly.history import PriceHistory, load_history
from riskengine.nightly.scenarios import (
    BookPosition,
    ScenarioSet,
    forward_spec,
    simulate_set,
    stress_horizon,
    stress_spec,
    stressed_from,
)
from riskengine.nightly.shards import Backend, LocalBackend
from riskengine.store import check_run_id, open_store

__all__ = [
    "NightlyResult",
    "Progress",
    "configured_backtest",
    "configured_history",
    "default_run_id",
    "run_nightly",
]


class Progress(Protocol):
    """Where a long run reports its stages (the CLI draws rich progress bars)."""

    def stage(self, name: str, total: int | None) -> Callable[[int], None]:
        """A new stage of ``total`` units (None: unknown); returns ``advance(units)``."""
        ...


class _Silent:
    def stage(self, name: str, total: int | None) -> Callable[[int], None]:
        return lambda units: None


def default_run_id(history: PriceHistory, seed: int) -> str:
    """``nightly-<last date>-s<seed>``: one run per data date and seed."""
    return f"nightly-{history.prices.index[-1]:%Y-%m-%d}-s{seed}"


@dataclasses.dataclass(frozen=True, eq=False)
class NightlyResult:
    """What a nightly run computed and stored."""

    run_id: str
    db: Path
    history: PriceHistory
    backtest: HistoryBacktest
    scenarios: tuple[ScenarioSet, ...]
    execution: ExecutionRun | None
    rows: dict[str, int]

    @property
    def as_of(self) -> str:
        return f"{self.history.prices.index[-1]:%Y-%m-%d}"

    def summary(self) -> list[dict[str, Any]]:
        """The rows a risk manager reads first: ``{"measure", "value"}`` pairs."""
        state = self.backtest.engine.state
        rows: list[tuple[str, Any]] = [
            ("as of", self.as_of),
            ("assets", f"{len(self.history.assets)}: {', '.join(self.history.assets)}"),
            ("trading state", str(state.trading_state.value)),
            ("book equity", f"{state.equity:,.0f}"),
            (
                "regime (filtered probabilities)",
                f"{state.regime} ({', '.join(f'{p:.2f}' for p in state.regime_proba)})",
            ),
            ("stressed probability", f"{state.stressed_proba:.3f}"),
            (
                "engine VaR 99 % / ES 97.5 % (1 day)",
                f"{state.var(0.99):.2%} / {state.es(0.975):.2%}",
            ),
            ("gross / net limit", f"{state.limits.gross:,.0f} / {state.limits.net:,.0f}"),
        ]
        for row in self.backtest.summary():
            if row["table"] == "backtests" and row["model"] == "engine" and row["days"]:
                rows.append(
                    (
                        f"backtest VaR {row['level']:.1%}",
                        f"{row['exceptions']} exceptions / {row['expected']} expected, "
                        f"Kupiec p {row['kupiec_p']:.3f}, CC p {row['cc_p']:.3f}, "
                        f"traffic light {row['traffic_light']}",
                    )
                )
        for scenario in self.scenarios:
            metrics = scenario.metrics()
            rows.append(
                (
                    f"{scenario.name} ({scenario.horizon} steps): VaR 99 % / ES 97.5 %",
                    f"{metrics[('var', 0.99)]:.2%} / {metrics[('es', 0.975)]:.2%} "
                    f"(worst {metrics[('worst_loss', None)]:.2%}; "
                    f"median gross limit at horizon "
                    f"{metrics[('gross_limit_median_end', None)]:,.0f})",
                )
            )
        if self.execution is not None:
            summary = self.execution.result.summary()
            cells = ", ".join(f"{name} {row['is_bps_mean']:.2f}" for name, row in summary.items())
            rows.append((f"execution IS, bps ({self.execution.regime} book)", cells))
        rows.append(("rows written", f"{sum(self.rows.values()):,}"))
        return [{"measure": measure, "value": value} for measure, value in rows]


def configured_history(config: NightlyConfig) -> PriceHistory:
    """The price history ``config.data`` names (the shipped data by default)."""
    data = config.data
    return load_history(
        data.source,
        table=data.table,
        assets=data.assets,
        date_column=data.date_column,
        start=data.start,
        end=data.end,
    )


def configured_backtest(config: NightlyConfig, history: PriceHistory) -> HistoryBacktest:
    """Steps 2-3 as ``config`` sets them: warm-up, out-of-sample replay, refit, backtests.

    The book is ``config.book.notional``, or the engine's capital split equally.
    """
    engine_config = config.engine_config(history.assets)
    book = config.book.notional
    if book is None:
        book = dict.fromkeys(history.assets, engine_config.capital / len(history.assets))
    return backtest_history(
        history.prices,
        engine_config,
        book=book,
        warmup=config.backtest.warmup,
        var_levels=config.backtest.var_levels,
        es_level=config.backtest.es_level,
        window=config.backtest.window,
        seed=config.seed,
    )


def run_nightly(
    config: NightlyConfig,
    *,
    db: str | Path = "risk.duckdb",
    run_id: str | None = None,
    replace: bool = False,
    backend: Backend | None = None,
    history: PriceHistory | None = None,
    progress: Progress | None = None,
    clock: Callable[[], Any] | None = None,
) -> NightlyResult:
    """Run the nightly job (module docstring) and store it as run ``run_id``.

    Parameters
    ----------
    config : NightlyConfig
    db : path
        The store (created if missing).
    run_id : str, optional
        Default :func:`default_run_id`. Checked first, before the history is
        loaded or the store created (a malformed id, ``""`` included, leaves no
        file behind); an existing id is refused unless ``replace``, which keeps
        the old run readable until the new one commits.
    backend : Backend, optional
        Where scenario and execution shards run (default: this process).
    history : PriceHistory, optional
        Use these prices instead of loading ``config.data``.
    progress : Progress, optional
        Stage reports (the CLI's progress bars).
    clock : callable, optional
        Timestamps for the run's ``started_at`` / ``finished_at``.
    """
    if not isinstance(config, NightlyConfig):
        raise TypeError(f"config: expected a NightlyConfig, got {type(config).__name__}")
    if run_id is not None:  # before anything is loaded, and before the store file is created
        check_run_id(run_id)
    backend = backend or LocalBackend()
    progress = progress or _Silent()
    history = history or configured_history(config)
    assets = history.assets
    config.engine_config(assets)  # a bad engine table fails before the store is touched
    config.scenarios.check_memory(len(assets))  # before the store or any array exists
    if run_id is None:  # "" is not "no id": check_run_id refused it above
        run_id = default_run_id(history, config.seed)
    stored = config.to_mapping() | {"assets": list(assets), "data": history.summary()}
    with (
        open_store(db) as store,
        store.record_run(
            run_id, config=stored, seed=config.seed, replace=replace, clock=clock
        ) as run,
    ):
        progress.stage("backtest: warm-up, replay, refit", None)
        backtest = configured_backtest(config, history)
        engine = backtest.engine
        book = BookPosition.from_engine(engine)
        section = config.scenarios
        long_run = np.array([g.long_run_variance for g in engine.models.garch_params])
        plans = [
            (
                "forward",
                forward_spec(engine, backtest.history),
                section.horizon,
                engine.models.stressed_regime,
                section.paths,
            ),
        ]
        for name in section.stress:
            spec = stress_spec(name, assets, long_run)
            plans.append(
                (
                    name,
                    spec,
                    stress_horizon(spec, section.horizon),
                    stressed_from(spec),
                    section.stress_paths,
                )
            )
        scenarios = []
        for name, spec, horizon, stressed, n_paths in plans:
            shards = -(-n_paths // section.shard_paths)
            advance = progress.stage(f"scenarios: {name}", shards)
            scenarios.append(
                simulate_set(
                    name,
                    spec,
                    book=book,
                    run_seed=config.seed,
                    n_paths=n_paths,
                    horizon=horizon,
                    shard_paths=section.shard_paths,
                    stressed_regime=stressed,
                    backend=backend,
                    progress=advance,
                )
            )
        execution = None
        if config.execution.episodes > 0:
            section_x = config.execution
            shards = -(-section_x.episodes // section_x.shard_episodes)
            advance = progress.stage("execution: policies in today's regime", shards)
            execution = evaluate_today(
                section_x.spec,
                stressed_proba=engine.state.stressed_proba,
                run_seed=config.seed,
                episodes=section_x.episodes,
                shard_episodes=section_x.shard_episodes,
                policy_id=section_x.policy_id,
                backend=backend,
                progress=advance,
            )

        tables: list[tuple[str, Any]] = backtest.tables()
        for scenario in scenarios:
            tables.append(("scenario_metrics", scenario.metrics_table()))
            tables.append(("scenario_results", scenario.results_table()))
            if section.store_paths:
                tables.append(("scenario_paths", scenario.scenarios.to_arrow(scenario.name)))
        if execution is not None:
            tables.append(("execution_results", execution.results_table()))
        advance = progress.stage("store: one transaction", len(tables))
        for table, data_table in tables:
            run.write(table, data_table)
            advance(1)
    return NightlyResult(
        run_id=run_id,
        db=Path(db),
        history=history,
        backtest=backtest,
        scenarios=tuple(scenarios),
        execution=execution,
        rows=dict(run.rows),
    )
