"""The engine's standard limit chain and its configuration.

:func:`limit_chain` builds ``vol_target -> var_budget -> regime_haircut ->
changepoint_tighten -> correlation_tighten -> clamp -> smooth -> hard_limits`` from a
:class:`DynamicLimitsConfig` and the hard notional limits (a
:class:`~riskengine.risk.limits.types.Limits`). Why this order: see
:mod:`riskengine.risk.limits`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from riskengine._config import config_from_mapping
from riskengine._validation import as_float, as_int
from riskengine.errors import InvalidConfig
from riskengine.risk.limits.chain import LimitChain, chain
from riskengine.risk.limits.smoothing import SMOOTHING_MODES, smooth
from riskengine.risk.limits.transforms import (
    changepoint_tighten,
    clamp,
    clamp_to_hard_limits,
    correlation_tighten,
    regime_haircut,
    var_budget,
    vol_target,
)
from riskengine.risk.limits.types import Limits
from riskengine.risk.limits.validation import config_value, hard_limits

__all__ = ["DynamicLimitsConfig", "limit_chain"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DynamicLimitsConfig:
    """Parameters of the engine's standard limit chain (:func:`limit_chain`).

    Floors and ceilings are **fractions of the hard limits**, one number each
    for every limit: the config then fits any book and asset count, and a
    ceiling fraction <= 1 keeps the dynamic limits inside the hard ones by
    construction.

    Attributes
    ----------
    risk_budget : float
        Per-asset one-period standard-deviation budget (currency), > 0
        (:func:`vol_target`). The default, 50,000, allows the default hard
        position limit (5M) at 1 % daily volatility.
    var_budget : float
        Portfolio one-period VaR budget (currency), > 0 (:func:`var_budget`);
        the default, 300,000, is 3 % of the default 10M capital.
    order_fraction : float
        Max order as a fraction of the position limit, in (0, 1].
    var_level : float
        Confidence level of ``LimitInputs.var_per_gross``, in (0.5, 1); the
        engine uses it (:func:`unit_gross_var`), the chain does not.
    stressed_floor : float
        Limit multiplier when the stressed regime is certain, in (0, 1].
    changepoint_factor : float
        Limit multiplier on a change point, in (0, 1].
    correlation_factor : float
        Limit multiplier on a correlation breakdown alarm, in (0, 1] (1: the
        alarm is reported but does not move the limits). 0.5, as for a change
        point: not tuned.
    recovery_steps : int
        Steps back to x1 after a change point or a correlation alarm, >= 1.
    halflife_steps : float
        Smoothing halflife in steps, >= 1.
    smoothing_mode : {"asymmetric", "symmetric"}
        See :func:`smooth`; asymmetric (tighten at once) by default.
    floor_fraction : float
        Floor of every limit as a fraction of its hard limit, in [0, ceiling_fraction].
    ceiling_fraction : float
        Ceiling of every limit as a fraction of its hard limit, in (0, 1].

    Examples
    --------
    >>> DynamicLimitsConfig.from_mapping({"risk_budget": 2e4, "var_budget": 5e4}).halflife_steps
    5.0
    >>> DynamicLimitsConfig.from_mapping({"risk_budget": 2e4, "var_budget": -1.0})
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: dynamic.var_budget: must be > 0, got -1.0
    """

    risk_budget: float = 50_000.0
    var_budget: float = 300_000.0
    order_fraction: float = 0.1
    var_level: float = 0.99
    stressed_floor: float = 0.5
    changepoint_factor: float = 0.5
    correlation_factor: float = 0.5
    recovery_steps: int = 20
    halflife_steps: float = 5.0
    smoothing_mode: str = "asymmetric"
    floor_fraction: float = 0.1
    ceiling_fraction: float = 1.0

    def __post_init__(self) -> None:
        positive = {"low": 0, "low_open": True}
        checks: dict[str, tuple[Callable[..., Any], dict[str, Any]]] = {
            "risk_budget": (as_float, positive),
            "var_budget": (as_float, positive),
            "order_fraction": (as_float, {**positive, "high": 1}),
            "var_level": (as_float, {"low": 0.5, "high": 1, "low_open": True, "high_open": True}),
            "stressed_floor": (as_float, {**positive, "high": 1}),
            "changepoint_factor": (as_float, {**positive, "high": 1}),
            "correlation_factor": (as_float, {**positive, "high": 1}),
            "recovery_steps": (as_int, {"low": 1}),
            "halflife_steps": (as_float, {"low": 1}),
            "ceiling_fraction": (as_float, {**positive, "high": 1}),
        }
        for field, (check, bounds) in checks.items():
            value = config_value(check, getattr(self, field), field, **bounds)
            object.__setattr__(self, field, value)
        floor = config_value(
            as_float, self.floor_fraction, "floor_fraction", low=0, high=self.ceiling_fraction
        )
        object.__setattr__(self, "floor_fraction", floor)
        if self.smoothing_mode not in SMOOTHING_MODES:
            raise InvalidConfig(
                "smoothing_mode", f"expected one of {SMOOTHING_MODES}, got {self.smoothing_mode!r}"
            )

    @classmethod
    def from_mapping(
        cls, table: Mapping[str, Any], *, field: str = "dynamic"
    ) -> DynamicLimitsConfig:
        """Parse a config table (e.g. TOML); unknown keys and bad values name ``field.key``."""
        return config_from_mapping(cls, table, field)


def limit_chain(config: DynamicLimitsConfig, hard: Limits) -> LimitChain:
    """The engine's standard chain.

    ``vol_target -> var_budget -> regime_haircut -> changepoint_tighten ->
    correlation_tighten -> clamp -> smooth -> hard_limits`` (why this order: see
    :mod:`riskengine.risk.limits`). The clamp's floor and ceiling are
    ``floor_fraction`` and ``ceiling_fraction`` times the hard limits.

    Parameters
    ----------
    config : DynamicLimitsConfig
    hard : Limits
        The hard notional limits, finite and > 0 (a scalar ``order`` applies to
        every asset); the engine's come from
        :meth:`HardLimits.notional_limits <riskengine.risk.pretrade.HardLimits.notional_limits>`.

    Examples
    --------
    >>> hard = Limits(np.array([1e6, 1e6]), 2e6, 1e6, 2e5)
    >>> rules = limit_chain(DynamicLimitsConfig(risk_budget=1e4, var_budget=1e5), hard)
    >>> rules.names  # doctest: +NORMALIZE_WHITESPACE
    ('vol_target', 'var_budget', 'regime_haircut', 'changepoint_tighten',
     'correlation_tighten', 'clamp', 'smooth', 'hard_limits')
    """
    if not isinstance(config, DynamicLimitsConfig):
        raise InvalidConfig("config", f"expected DynamicLimitsConfig, got {type(config).__name__}")
    hard = hard_limits(hard)
    for field, limit in zip(Limits._fields, hard, strict=True):
        if not np.all(np.isfinite(limit)):
            problem = "must be finite: the floor and ceiling are fractions of it"
            raise InvalidConfig(f"hard.{field}", f"{problem}, got {np.asarray(limit).tolist()}")
    return chain(
        vol_target(config.risk_budget, config.order_fraction),
        var_budget(config.var_budget),
        regime_haircut(config.stressed_floor),
        changepoint_tighten(config.changepoint_factor, config.recovery_steps),
        correlation_tighten(config.correlation_factor, config.recovery_steps),
        clamp(hard.scaled(config.floor_fraction), hard.scaled(config.ceiling_fraction)),
        smooth(config.halflife_steps, mode=config.smoothing_mode),  # type: ignore[arg-type]
        clamp_to_hard_limits(hard),
        name="dynamic_limits",
    )
