"""The execution jobs end to end: train, evaluate, store, reproduce.

The CLI (``riskengine train-execution`` / ``evaluate-execution``) and
``scripts/train_execution.py`` call these; nothing here prints (progress goes
through a callback).

* :func:`standard_policies` is the comparison set: the four baselines with
  Almgren-Chriss parameters estimated from the book, and the trained policy.
* :func:`train_policy` trains PPO on a scenario, evaluates it against the
  baselines on held-out episodes and stores the artifact with its model card.
* :func:`reproduce_policy` retrains from a stored card alone and reports
  whether the weights come out bit for bit the same.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax

from riskengine._version import __version__
from riskengine.execution import env as execution_env
from riskengine.execution.baselines import default_baselines
from riskengine.execution.evaluate import EvaluationResult, evaluate
from riskengine.execution.impact import estimate_impact
from riskengine.execution.policy import ExecutionPolicy
from riskengine.execution.policy_store import (
    DEFAULT_POLICY_ID,
    available_policies,
    check_policy_id,
    load_card,
    load_policy,
    save_policy,
    weights_digest,
)
from riskengine.execution.ppo import PPOConfig, TrainResult, train

__all__ = [
    "EVALUATION_FIRST_SEED",
    "IMPACT_SEED",
    "check_training_target",
    "reproduce_policy",
    "scenario_tables",
    "standard_policies",
    "train_policy",
]

#: First held-out evaluation episode used by the training job's model card.
EVALUATION_FIRST_SEED = 1_000_000
#: Seed of the probes that estimate the Almgren-Chriss parameters.
IMPACT_SEED = 7


def scenario_tables(spec: Any) -> dict[str, Any]:
    """The ``name``, ``[book]`` and ``[execution]`` tables of a scenario, JSON-ready."""
    from riskengine.sim.specs import load_spec

    scenario = load_spec(spec) if isinstance(spec, str) else spec
    if scenario.book is None or scenario.execution is None:
        raise ValueError(
            f"spec: scenario {scenario.name!r} needs both a [book] and an [execution] section"
        )
    book = {
        f.name: (v.tolist() if isinstance(v := getattr(scenario.book, f.name), np.ndarray) else v)
        for f in dataclasses.fields(scenario.book)
    }
    book["regimes"] = list(book["regimes"])
    return {"name": scenario.name, "book": book, "execution": scenario.execution.to_table()}


def _scenario_from_tables(tables: dict[str, Any]):
    from riskengine.sim.specs import ScenarioSpec

    return ScenarioSpec.from_dict(
        {"name": tables["name"], "book": tables["book"], "execution": tables["execution"]},
        source="<model card>",
    )


def standard_policies(
    spec: Any,
    *,
    policy_id: str | None = DEFAULT_POLICY_ID,
    root: Any = None,
    impact_episodes: int = 512,
) -> dict[str, ExecutionPolicy]:
    """``twap``, ``vwap``, ``almgren_chriss``, ``adaptive_ac`` and (with ``policy_id``) ``rl``."""
    # The stored policy first: a wrong id fails before the impact probes run.
    trained = None if policy_id is None else load_policy(policy_id, root=root)
    params = spec if isinstance(spec, execution_env.EnvParams) else execution_env.make_params(spec)
    estimate = estimate_impact(params, seed=IMPACT_SEED, n_episodes=impact_episodes)
    policies: dict[str, ExecutionPolicy] = dict(default_baselines(params, estimate))
    if trained is not None:
        policies["rl"] = trained
    return policies


def check_training_target(
    spec: Any, policy_id: str, *, root: Any = None, overwrite: bool = False
) -> dict[str, Any]:
    """Refuse a bad id, an existing artifact or a scenario without an execution section.

    Called before training starts (not after hours of it); returns the scenario tables.
    """
    check_policy_id(policy_id)
    if not overwrite and policy_id in available_policies(root):
        raise FileExistsError(f"policy_id: artifact {policy_id!r} already exists (use overwrite)")
    return scenario_tables(spec)


def train_policy(
    spec: Any,
    *,
    seed: int,
    config: PPOConfig,
    policy_id: str,
    eval_episodes: int = 2000,
    eval_first_seed: int = EVALUATION_FIRST_SEED,
    root: Any = None,
    overwrite: bool = False,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> tuple[TrainResult, EvaluationResult, Path]:
    """Train, evaluate on held-out episodes against the baselines, and store the artifact."""
    tables = check_training_target(spec, policy_id, root=root, overwrite=overwrite)
    scenario = _scenario_from_tables(tables)
    params = execution_env.make_params(scenario)
    start = time.perf_counter()
    result = train(config, params, seed, progress=progress)
    seconds = time.perf_counter() - start
    estimate = estimate_impact(params, seed=IMPACT_SEED, n_episodes=512)
    policies: dict[str, ExecutionPolicy] = dict(default_baselines(params, estimate))
    policies["rl"] = result.policy
    seeds = range(eval_first_seed, eval_first_seed + eval_episodes)
    evaluation = evaluate(policies, params, seeds)
    card = {
        "description": (
            "PPO execution policy for the scenario below; compares against TWAP, VWAP, "
            "Almgren-Chriss and adaptive Almgren-Chriss on held-out episodes."
        ),
        "scenario": tables,
        "seed": seed,
        "ppo": config.to_mapping(),
        "env_steps": result.env_steps,
        "training_seconds": round(seconds, 1),
        "final_training_metrics": {k: float(v[-1]) for k, v in result.metrics.items()},
        "software": {
            "riskengine": __version__,
            "jax": jax.__version__,
            "numpy": np.__version__,
            "optax": optax.__version__,
        },
        "impact_estimate": estimate.summary(),
        "evaluation": {
            "episodes": eval_episodes,
            "first_seed": eval_first_seed,
            "results": evaluation.summary(),
        },
    }
    path = save_policy(result.policy, policy_id, card, root=root, overwrite=overwrite)
    return result, evaluation, path


def reproduce_policy(
    policy_id: str,
    *,
    root: Any = None,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Retrain from the card of ``policy_id`` alone; compare the weights' SHA-256."""
    card = load_card(policy_id, root=root)
    scenario = _scenario_from_tables(card["scenario"])
    params = execution_env.make_params(scenario)
    config = PPOConfig.from_mapping(card["ppo"])
    result = train(config, params, int(card["seed"]), progress=progress)
    digest = weights_digest(result.policy)
    return {
        "policy_id": policy_id,
        "stored_sha256": card["weights_sha256"],
        "retrained_sha256": digest,
        "identical": digest == card["weights_sha256"],
        "software_then": card.get("software"),
        "software_now": {"jax": jax.__version__, "numpy": np.__version__},
    }
