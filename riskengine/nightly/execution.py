"""Execution policies on the order book in today's regime, sharded like the scenarios.

The engine's stressed-regime probability picks the book regime every episode
starts in (stressed when it is at least one half); the Almgren-Chriss
baselines are calibrated to that book (``standard_policies`` measures its
impact), and TWAP, VWAP, AC, adaptive AC and the trained policy trade the
same episodes (common random numbers). Episode seeds come from the run seed
(:func:`~riskengine.nightly.shards.stream_seed`); every shard has the same
number of episodes (the last is padded and trimmed), so results do not depend
on where shards run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from riskengine.execution import env as execution_env
from riskengine.execution.evaluate import REGIMES, EvaluationResult, run_episodes
from riskengine.execution.policy import ExecutionPolicy
from riskengine.execution.workflow import standard_policies
from riskengine.nightly.shards import Backend, shard_ranges, stream_seed

__all__ = ["ExecutionRun", "ExecutionTask", "book_regime", "evaluate_today", "run_execution_shard"]

BOOK_REGIMES = ("calm", "stressed")


def book_regime(stressed_proba: float) -> int:
    """The book regime for today: 1 (stressed) unless the stressed probability is below 0.5.

    An unusable probability (NaN) counts as stressed, as it does for the limits.
    """
    return int(not stressed_proba < 0.5)


def params_in_regime(params: execution_env.EnvParams, regime: int) -> execution_env.EnvParams:
    """The execution environment with every episode starting in book regime ``regime``."""
    n = params.initial_regime_proba.shape[0]
    if not 0 <= regime < n:
        raise ValueError(f"regime: expected 0..{n - 1}, got {regime}")
    onehot = np.eye(n)[regime]
    cdf = np.cumsum(onehot)
    book = dataclasses.replace(params.book, initial_regime_cdf=jnp.asarray(cdf, jnp.float32))
    return dataclasses.replace(
        params, book=book, initial_regime_proba=jnp.asarray(onehot, jnp.float32)
    )


@dataclasses.dataclass(frozen=True, eq=False)
class ExecutionTask:
    """One shard of episodes for every policy (``seeds`` padded to the shard size)."""

    policies: dict[str, ExecutionPolicy]
    params: execution_env.EnvParams
    seeds: np.ndarray  # (shard,) uint32, padded
    n: int


def run_execution_shard(task: ExecutionTask) -> dict[str, dict[str, np.ndarray]]:
    """Every policy on the shard's episodes (runs in a worker: module-level, pure).

    Policies compare by value (the trained one by its weights), so every shard a
    worker receives reuses the program compiled for the first.
    """
    out = run_episodes(task.policies, task.params, task.seeds)
    return {name: {k: v[: task.n] for k, v in data.items()} for name, data in out.items()}


@dataclasses.dataclass(frozen=True, eq=False)
class ExecutionRun:
    """The evaluation in today's regime, and which regime and spec it used."""

    spec: str
    regime: str
    result: EvaluationResult

    def results_table(self) -> dict[str, Any]:
        """Rows of the store's ``execution_results``: one per policy and episode."""
        names = self.result.policies
        seeds = self.result.seeds.astype(np.int64)
        columns: dict[str, list[np.ndarray]] = {
            key: [] for key in ("is_bps", "spread_bps", "impact_bps", "timing_bps", "completed")
        }
        regime_names = np.array(REGIMES)
        policy, episode, regime = [], [], []
        for name in names:
            data = self.result.episodes[name]
            policy += [name] * seeds.size
            episode.append(seeds)
            regime.append(regime_names[data["regime"]])
            for key in columns:
                columns[key].append(np.asarray(data[key]))
        return {
            "spec": [self.spec] * len(policy),
            "policy": policy,
            "episode": np.concatenate(episode),
            "regime": np.concatenate(regime).tolist(),
        } | {key: np.concatenate(parts) for key, parts in columns.items()}


def evaluate_today(
    spec: str,
    *,
    stressed_proba: float,
    run_seed: int,
    episodes: int,
    shard_episodes: int,
    policy_id: str | None,
    backend: Backend,
    progress: Callable[[int], None] | None = None,
) -> ExecutionRun:
    """Evaluate the standard policies on ``episodes`` episodes in today's book regime."""
    regime = book_regime(stressed_proba)
    params = params_in_regime(execution_env.make_params(spec), regime)
    policies = standard_policies(params, policy_id=policy_id)
    first = stream_seed(run_seed, "execution")
    tasks = []
    for start, stop in shard_ranges(episodes, shard_episodes):
        seeds = (first + np.arange(start, start + shard_episodes, dtype=np.uint64)) % 2**32
        tasks.append(ExecutionTask(policies, params, seeds.astype(np.uint32), stop - start))
    shards = backend.map(run_execution_shard, tasks, progress)
    episodes_by_policy = {
        name: {k: np.concatenate([s[name][k] for s in shards]) for k in shards[0][name]}
        for name in policies
    }
    seeds = np.concatenate([t.seeds[: t.n] for t in tasks])
    baselines = tuple(n for n in policies if n != "rl")
    result = EvaluationResult(episodes_by_policy, seeds, baselines)
    return ExecutionRun(spec, BOOK_REGIMES[regime], result)
