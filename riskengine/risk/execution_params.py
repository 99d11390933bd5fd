r"""Execution parameters that adapt to volatility and regime, as a pure function.

The engine hands the execution policy (RL, Almgren-Chriss, TWAP, VWAP) three
knobs and the name of the policy to use:

- ``urgency`` in [0, 1]: how fast to complete (0 = the schedule's own pace);
- ``risk_aversion``: the Almgren-Chriss :math:`\lambda`, trading impact cost
  against the variance of the unexecuted position: higher means front-loaded;
- ``participation_cap``: the largest fraction of market volume to take per
  interval, the liquidity guard (stressed markets are thinner, so it falls).

With :math:`r` the volatility ratio (forecast / reference volatility, e.g. the
long-run level) and :math:`p` the stressed-regime probability,

.. math::

    v &= \frac{r^k}{r^k + m^k} \quad\text{(volatility pressure: 1/2 at } r = m\text{)}, \\
    u &= 1 - (1 - v)(1 - \beta p) \quad\text{(urgency)}, \\
    \lambda &= \lambda_0 \bigl(1 + (\mu - 1)\, u\bigr), \qquad
    \text{cap} = c_0 - (c_0 - c_{\min})\, u,

so urgency and risk aversion rise, and the participation cap falls, smoothly
and monotonically in both :math:`r` and :math:`p`, within
:math:`[\lambda_0, \mu \lambda_0]` and :math:`[c_{\min}, c_0]`. The policy is
picked by the (discrete) most likely regime. The function takes the ratio, not
a volatility, so one config fits every asset and sampling frequency; the
engine owns the reference level.

Unusable inputs are treated as the worst case: a NaN or negative ratio gives
:math:`v = 1`, a NaN probability counts as 1.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from riskengine._config import config_from_mapping
from riskengine._validation import as_float
from riskengine.errors import InvalidConfig, InvalidInput

__all__ = [
    "ExecutionConfig",
    "ExecutionParams",
    "ExecutionParamsBatch",
    "execution_params",
    "execution_params_batch",
    "urgency_array",
]


@dataclasses.dataclass(frozen=True, slots=True)
class ExecutionParams:
    """What the execution policy gets for one step.

    Attributes
    ----------
    risk_aversion : float
        Almgren-Chriss :math:`\\lambda` (the policy's units, as ``base_risk_aversion``).
    participation_cap : float
        Maximum fraction of market volume per interval, in (0, 1].
    urgency : float
        In [0, 1]: 0 calm, 1 complete as fast as the cap allows.
    policy_id : str
        The execution policy to use in the current regime.
    """

    risk_aversion: float
    participation_cap: float
    urgency: float
    policy_id: str


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class ExecutionParamsBatch:
    """:class:`ExecutionParams` over T steps: arrays (T,); ``batch[t]`` is step ``t``.

    Examples
    --------
    >>> batch = execution_params_batch(ExecutionConfig(), [1.0, 3.0], [0.0, 0.9], [0, 1])
    >>> len(batch), batch[1].policy_id
    (2, 'stressed')
    """

    risk_aversion: np.ndarray
    participation_cap: np.ndarray
    urgency: np.ndarray
    policy_id: np.ndarray

    def __len__(self) -> int:
        return self.urgency.shape[0]

    def __getitem__(self, step: int) -> ExecutionParams:
        return ExecutionParams(
            float(self.risk_aversion[step]),
            float(self.participation_cap[step]),
            float(self.urgency[step]),
            str(self.policy_id[step]),
        )


def _config_float(value: Any, field: str, **bounds: Any) -> float:
    try:
        return as_float(value, field=field, **bounds)
    except (TypeError, ValueError) as error:
        raise InvalidConfig(field, str(error).removeprefix(f"{field}: ")) from None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecutionConfig:
    """How execution parameters respond to volatility and regime (see the module docstring).

    Attributes
    ----------
    base_risk_aversion : float
        :math:`\\lambda_0` > 0, the calm-market risk aversion, in the policy's units.
    max_risk_aversion_multiplier : float
        :math:`\\mu` >= 1: risk aversion at full urgency is :math:`\\mu \\lambda_0`.
    base_participation_cap : float
        :math:`c_0` in (0, 1], the calm-market participation cap.
    min_participation_cap : float
        :math:`c_{\\min}` in (0, :math:`c_0`], the cap at full urgency.
    volatility_midpoint : float
        :math:`m` > 0, the volatility ratio at which the volatility pressure is 1/2.
    volatility_steepness : float
        :math:`k` > 0; larger switches faster around :math:`m`.
    stressed_boost : float
        :math:`\\beta` in [0, 1], the urgency a certain stressed regime adds on its own.
    policy_ids : tuple of str
        The execution policy per regime index (calm first, by the regime
        model's convention).

    Examples
    --------
    >>> ExecutionConfig.from_mapping({"policy_ids": ["twap", "ppo-stressed"]}).policy_ids
    ('twap', 'ppo-stressed')
    >>> ExecutionConfig.from_mapping({"participation": 0.1})
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: execution: unknown key(s) ['participation']; allowed: [...]
    >>> ExecutionConfig(min_participation_cap=0.2)
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: min_participation_cap: must be <= 0.1, got 0.2
    """

    base_risk_aversion: float = 1e-6
    max_risk_aversion_multiplier: float = 10.0
    base_participation_cap: float = 0.1
    min_participation_cap: float = 0.02
    volatility_midpoint: float = 2.0
    volatility_steepness: float = 4.0
    stressed_boost: float = 0.8
    policy_ids: tuple[str, ...] = ("calm", "stressed")

    def __post_init__(self) -> None:
        positive = {"low": 0, "low_open": True}
        bounds: dict[str, dict[str, Any]] = {
            "base_risk_aversion": positive,
            "max_risk_aversion_multiplier": {"low": 1},
            "base_participation_cap": {**positive, "high": 1},
            "volatility_midpoint": positive,
            "volatility_steepness": positive,
            "stressed_boost": {"low": 0, "high": 1},
        }
        for field, bound in bounds.items():
            object.__setattr__(self, field, _config_float(getattr(self, field), field, **bound))
        cap = _config_float(
            self.min_participation_cap,
            "min_participation_cap",
            **positive,
            high=self.base_participation_cap,
        )
        object.__setattr__(self, "min_participation_cap", cap)
        ids = self.policy_ids
        if isinstance(ids, str) or not isinstance(ids, tuple | list) or not ids:
            raise InvalidConfig("policy_ids", f"expected a non-empty list of names, got {ids!r}")
        for regime, policy in enumerate(ids):
            if not isinstance(policy, str) or not policy:
                raise InvalidConfig(
                    f"policy_ids[{regime}]", f"expected a non-empty string, got {policy!r}"
                )
        object.__setattr__(self, "policy_ids", tuple(ids))

    @property
    def max_risk_aversion(self) -> float:
        """Risk aversion at full urgency, :math:`\\mu \\lambda_0`."""
        return self.base_risk_aversion * self.max_risk_aversion_multiplier

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, field: str = "execution") -> ExecutionConfig:
        """Parse a config table (e.g. TOML); unknown keys and bad values name ``field.key``."""
        return config_from_mapping(cls, table, field)


def _volatility_pressure(config: ExecutionConfig, ratio: float) -> float:
    if not ratio >= 0.0:  # NaN or negative: the forecast is unusable, assume the worst
        return 1.0
    if ratio == 0.0:
        return 0.0
    # r^k / (r^k + m^k) as the logistic of k log(r / m), in the form that neither
    # overflows nor cancels (1 + tanh(x) would lose every digit for a tiny ratio).
    x = config.volatility_steepness * (math.log(ratio) - math.log(config.volatility_midpoint))
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _regime_policy(config: ExecutionConfig, regime: Any) -> str:
    if isinstance(regime, bool | np.bool_) or not isinstance(regime, int | np.integer):
        raise InvalidInput("regime", f"expected an integer, got {type(regime).__name__}")
    if not 0 <= regime < len(config.policy_ids):
        raise InvalidInput(
            "regime", f"must be in [0, {len(config.policy_ids) - 1}] (policy_ids), got {regime}"
        )
    return config.policy_ids[regime]


def execution_params(
    config: ExecutionConfig, volatility_ratio: float, stressed_proba: float, regime: int
) -> ExecutionParams:
    """Execution parameters for one step (see the module docstring for the equations).

    Parameters
    ----------
    config : ExecutionConfig
    volatility_ratio : float
        Forecast volatility over its reference level (1 = normal).
    stressed_proba : float
        Filtered probability of the stressed regime (clipped to [0, 1]; NaN counts as 1).
    regime : int
        The most likely regime: picks ``config.policy_ids[regime]``.

    Examples
    --------
    >>> config = ExecutionConfig(base_risk_aversion=1.0)
    >>> calm = execution_params(config, volatility_ratio=1.0, stressed_proba=0.0, regime=0)
    >>> stressed = execution_params(config, volatility_ratio=3.0, stressed_proba=0.9, regime=1)
    >>> round(calm.urgency, 3), round(calm.participation_cap, 4), calm.policy_id
    (0.059, 0.0953, 'calm')
    >>> round(stressed.urgency, 3), round(stressed.risk_aversion, 2), stressed.policy_id
    (0.954, 9.58, 'stressed')
    >>> execution_params(config, 1.0, 0.0, regime=2)
    Traceback (most recent call last):
    riskengine.errors.InvalidInput: regime: must be in [0, 1] (policy_ids), got 2
    """
    policy = _regime_policy(config, regime)
    volatility = _volatility_pressure(config, float(volatility_ratio))
    proba = float(stressed_proba)
    proba = 1.0 if proba != proba else min(max(proba, 0.0), 1.0)
    # = 1 - (1 - v)(1 - beta p), written without the cancellation when both are small.
    urgency = volatility + (1.0 - volatility) * (config.stressed_boost * proba)
    risk_aversion, top = config.base_risk_aversion, config.max_risk_aversion
    cap, bottom = config.base_participation_cap, config.min_participation_cap
    # Convex combinations, clipped: the bounds hold exactly, not to within rounding.
    return ExecutionParams(
        min(max(risk_aversion * (1.0 - urgency) + top * urgency, risk_aversion), top),
        min(max(cap * (1.0 - urgency) + bottom * urgency, bottom), cap),
        urgency,
        policy,
    )


def urgency_array(
    config: ExecutionConfig, volatility_ratio: Any, stressed_proba: Any, xp: Any = np
):
    """The urgency of :func:`execution_params` element-wise, for any array namespace ``xp``.

    ``xp`` is ``numpy`` or ``jax.numpy``: the execution environment computes
    the engine's urgency inside jitted code with the same equations.  No
    validation (callers check shapes); NaN and negative ratios count as the
    worst case, as in the scalar path.

    >>> urgency_array(ExecutionConfig(), np.array([1.0, 2.0]), np.array([0.0, 0.0])).round(3)
    array([0.059, 0.5  ])
    """
    ratio, proba = volatility_ratio, stressed_proba
    usable = ratio > 0.0
    x = config.volatility_steepness * (
        xp.log(xp.where(usable, ratio, 1.0)) - math.log(config.volatility_midpoint)
    )
    e = xp.exp(-xp.abs(x))  # the scalar path's two branches, at once
    volatility = xp.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))
    volatility = xp.where(usable, volatility, xp.where(ratio == 0.0, 0.0, 1.0))  # NaN, < 0: 1
    proba = xp.where(xp.isnan(proba), 1.0, xp.clip(proba, 0.0, 1.0))
    # = 1 - (1 - v)(1 - beta p), written without the cancellation when both are small.
    return volatility + (1.0 - volatility) * (config.stressed_boost * proba)


def execution_params_batch(
    config: ExecutionConfig, volatility_ratio: Any, stressed_proba: Any, regime: Any
) -> ExecutionParamsBatch:
    """:func:`execution_params` over T steps (arrays (T,)); equal to it in a loop to 1e-10.

    >>> batch = execution_params_batch(ExecutionConfig(), [1.0, np.nan], [0.0, 0.0], [0, 0])
    >>> batch.urgency.round(3).tolist()
    [0.059, 1.0]
    """
    ratio = np.asarray(volatility_ratio, dtype=np.float64)
    proba = np.asarray(stressed_proba, dtype=np.float64)
    regime = np.asarray(regime)
    if ratio.ndim != 1:
        raise InvalidInput("volatility_ratio", f"expected shape (T,), got {ratio.shape}")
    for field, array in (("stressed_proba", proba), ("regime", regime)):
        if array.shape != ratio.shape:
            raise InvalidInput(field, f"expected shape {ratio.shape}, got {array.shape}")
    if regime.size and (regime.dtype.kind not in "iu"):
        raise InvalidInput("regime", f"expected integers, got dtype {regime.dtype}")
    n_policies = len(config.policy_ids)
    if regime.size and (regime.min() < 0 or regime.max() >= n_policies):
        bad = regime[(regime < 0) | (regime >= n_policies)][0]
        raise InvalidInput("regime", f"must be in [0, {n_policies - 1}] (policy_ids), got {bad}")
    urgency = urgency_array(config, ratio, proba)
    risk_aversion, top = config.base_risk_aversion, config.max_risk_aversion
    cap, bottom = config.base_participation_cap, config.min_participation_cap
    return ExecutionParamsBatch(
        np.clip(risk_aversion * (1.0 - urgency) + top * urgency, risk_aversion, top),
        np.clip(cap * (1.0 - urgency) + bottom * urgency, bottom, cap),
        urgency,
        np.asarray(config.policy_ids)[regime.astype(np.intp)],
    )
