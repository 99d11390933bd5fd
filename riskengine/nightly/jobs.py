"""The command line's other recorded jobs: ``simulate``, ``evaluate-execution``, ``backtest``.

Each function runs one job and, given a store path ``db``, records its tables
there as one run through :meth:`Store.record_run
<riskengine.store.Store.record_run>`, exactly as :func:`~riskengine.nightly.run.run_nightly`
records the nightly run: the run id is checked before the work (``simulate``
checks it once its cheap simulation is done, as it always has), every row is
committed at once, and a failure while writing leaves no row and marks the run
``failed``. Without ``db`` nothing is stored. The functions return the
library's result objects; rendering them is the caller's job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable
from typing import Any

from riskengine.execution.evaluate import EvaluationResult, evaluate
from riskengine.execution.workflow import standard_policies
from riskengine.nightly.backtest import HistoryBacktest
from riskengine.nightly.config import NightlyConfig
from riskengine.nightly.execution import ExecutionRun
from riskengine.nightly.history import PriceHistory
from riskengine.nightly.run import Progress, configured_backtest, configured_history
from riskengine.sim import MarketScenarios, load_spec, simulate_market
from riskengine.store import open_store

__all__ = [
    "BacktestJob",
    "ExecutionEvaluationJob",
    "SimulationJob",
    "backtest_job",
    "evaluate_execution_job",
    "simulate_job",
]

Clock = Callable[[], dt.datetime]


@dataclasses.dataclass(frozen=True, eq=False)
class SimulationJob:
    """Simulated market paths, and the run that stored them (``run_id`` None if not stored)."""

    spec: str
    scenarios: MarketScenarios
    run_id: str | None
    rows: int


@dataclasses.dataclass(frozen=True, eq=False)
class ExecutionEvaluationJob:
    """Every policy on the same held-out episodes, and the run that stored them."""

    spec: str
    result: EvaluationResult
    run_id: str | None


@dataclasses.dataclass(frozen=True, eq=False)
class BacktestJob:
    """The out-of-sample backtest of a history, and the run that stored it."""

    history: PriceHistory
    result: HistoryBacktest
    run_id: str | None


def simulate_job(
    spec: str,
    *,
    seed: int,
    n_paths: int,
    n_steps: int,
    db: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    replace: bool = False,
    clock: Clock | None = None,
) -> SimulationJob:
    """Simulate ``spec``'s market; with ``db``, store the paths as run ``run_id``.

    The default run id is ``simulate-<spec name>-<seed>``; the stored
    configuration names the command, spec, paths and steps.
    """
    scenario = load_spec(spec)
    scenarios = simulate_market(scenario, seed=seed, n_paths=n_paths, n_steps=n_steps)
    if db is None:
        return SimulationJob(scenario.name, scenarios, None, 0)
    identifier = run_id or f"simulate-{scenario.name}-{seed}"
    stored = {"command": "simulate", "spec": scenario.name, "paths": n_paths, "steps": n_steps}
    with (
        open_store(db) as store,
        store.record_run(identifier, config=stored, seed=seed, replace=replace, clock=clock) as run,
    ):
        rows = run.write("scenario_paths", scenarios.to_arrow(scenario.name))
    return SimulationJob(scenario.name, scenarios, identifier, rows)


def evaluate_execution_job(
    spec: str,
    *,
    episodes: int,
    first_seed: int,
    policy_id: str,
    db: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    replace: bool = False,
    clock: Clock | None = None,
) -> ExecutionEvaluationJob:
    """TWAP, VWAP, AC, adaptive AC and policy ``policy_id`` on episodes ``first_seed, ...``.

    With ``db``, the episodes are stored (``execution_results``) as run
    ``run_id`` (default ``evaluate-execution-<spec name>-<first seed>``).
    """
    identifier = run_id or f"evaluate-execution-{load_spec(spec).name}-{first_seed}"
    seeds = range(first_seed, first_seed + episodes)
    if db is None:
        result = evaluate(standard_policies(spec, policy_id=policy_id), spec, seeds)
        return ExecutionEvaluationJob(spec, result, None)
    stored = {
        "command": "evaluate-execution",
        "spec": spec,
        "episodes": episodes,
        "first_seed": first_seed,
        "policy_id": policy_id,
    }
    with (
        open_store(db) as store,
        store.record_run(
            identifier, config=stored, seed=first_seed, replace=replace, clock=clock
        ) as run,
    ):
        result = evaluate(standard_policies(spec, policy_id=policy_id), spec, seeds)
        run.write("execution_results", ExecutionRun(spec, "all", result).results_table())
    return ExecutionEvaluationJob(spec, result, identifier)


def backtest_job(
    config: NightlyConfig,
    *,
    db: str | os.PathLike[str] | None = None,
    run_id: str | None = None,
    replace: bool = False,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> BacktestJob:
    """Steps 1-3 of the nightly run (history, replay, backtests); with ``db``, store their tables.

    The default run id is ``backtest-<last date>-s<seed>``; a bad engine table
    fails before the store is opened. ``progress`` hears of the one long stage.
    """
    history = configured_history(config)
    config.engine_config(history.assets)  # a bad engine table fails before any work
    stage = "warm-up, out-of-sample replay, refit, backtests"
    if db is None:
        if progress is not None:
            progress.stage(stage, None)
        return BacktestJob(history, configured_backtest(config, history), None)
    identifier = run_id or f"backtest-{history.prices.index[-1]:%Y-%m-%d}-s{config.seed}"
    stored: dict[str, Any] = config.to_mapping() | {
        "command": "backtest",
        "assets": list(history.assets),
        "data": history.summary(),
    }
    with (
        open_store(db) as store,
        store.record_run(
            identifier, config=stored, seed=config.seed, replace=replace, clock=clock
        ) as run,
    ):
        if progress is not None:
            progress.stage(stage, None)
        result = configured_backtest(config, history)
        for name, rows in result.tables():
            run.write(name, rows)
    return BacktestJob(history, result, identifier)
