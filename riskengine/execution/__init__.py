"""Optimal execution: the order-book environment, baseline schedules, PPO and evaluation.

- :mod:`~riskengine.execution.env`: gymnax-style ``reset`` / ``step`` of one
  parent order worked in the JAX limit order book (``reset_env`` / ``step_env``
  are the traceable cores); :mod:`~riskengine.execution.env_params` builds its
  parameters from a scenario.
- :mod:`~riskengine.execution.actions`: the discrete action set of the learners.
- :mod:`~riskengine.execution.baselines`: TWAP, VWAP, Almgren-Chriss and
  adaptive Almgren-Chriss; :mod:`~riskengine.execution.impact` estimates their
  impact parameters from the book (an
  :class:`~riskengine.execution.impact_estimate.ImpactEstimate`) and measures its
  impact curve.
- :mod:`~riskengine.execution.ppo`: PPO in JAX (purejaxrl style).
- :mod:`~riskengine.execution.evaluate`: paired comparison on held-out episodes.
- :mod:`~riskengine.execution.policy_store`: trained policies as arrays + JSON;
  :func:`policy_for` serves the policy the engine's execution parameters name.
- :mod:`~riskengine.execution.workflow`: train / evaluate / reproduce jobs.
- :mod:`~riskengine.execution.gym_adapter`: a ``gymnasium.Env`` (imported on
  demand: it needs gymnasium).
"""

from riskengine.execution.actions import ACTION_NAMES, N_ACTIONS, discrete_action
from riskengine.execution.baselines import (
    TWAP,
    VWAP,
    AdaptiveAlmgrenChriss,
    AlmgrenChriss,
    default_baselines,
)
from riskengine.execution.env import (
    HOLD,
    LIMIT_INSIDE,
    LIMIT_TOUCH,
    MARKET,
    EnvParams,
    EnvState,
    ExecutionAction,
    make_params,
)
from riskengine.execution.evaluate import EvaluationResult, evaluate
from riskengine.execution.impact import ImpactCurve, ImpactEstimate, estimate_impact, impact_curve
from riskengine.execution.policy import ExecutionPolicy
from riskengine.execution.policy_store import (
    DEFAULT_POLICY_ID,
    load_policy,
    policy_for,
    resolve_policy,
    save_policy,
)
from riskengine.execution.ppo import PPOConfig, PPOPolicy, train
from riskengine.sim.execution_spec import ExecutionSpec

__all__ = [
    "ACTION_NAMES",
    "DEFAULT_POLICY_ID",
    "HOLD",
    "LIMIT_INSIDE",
    "LIMIT_TOUCH",
    "MARKET",
    "N_ACTIONS",
    "TWAP",
    "VWAP",
    "AdaptiveAlmgrenChriss",
    "AlmgrenChriss",
    "EnvParams",
    "EnvState",
    "EvaluationResult",
    "ExecutionAction",
    "ExecutionPolicy",
    "ExecutionSpec",
    "ImpactCurve",
    "ImpactEstimate",
    "PPOConfig",
    "PPOPolicy",
    "default_baselines",
    "discrete_action",
    "estimate_impact",
    "evaluate",
    "impact_curve",
    "load_policy",
    "make_params",
    "policy_for",
    "resolve_policy",
    "save_policy",
    "train",
]
