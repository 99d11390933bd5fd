r"""The limit rules: small transforms, each an ``init`` / ``update`` pair (optax-style).

=============================  ==============================================================
:func:`vol_target`             :math:`P_i = B / \sigma_i`, order :math:`= f P_i` (builds limits)
:func:`var_budget`             :math:`G = N = V / v`, ``v`` the VaR per unit of gross (builds)
:func:`regime_haircut`         every limit :math:`\times\,(1 - (1 - h)\, p_{\text{stressed}})`
:func:`changepoint_tighten`    :math:`\times\,c` on a change point, back to 1 linearly in R steps
:func:`clamp`                  :math:`\min(\max(x, \text{floor}), \text{ceiling})`
:func:`clamp_to_hard_limits`   :math:`\min(x, \text{hard})`
=============================  ==============================================================

The smoother, whose batch path is most of the arithmetic, has its own module
(:mod:`~riskengine.risk.limits.smoothing`). :func:`unit_gross_var` computes the
input :func:`var_budget` reads; the engine calls its kernel,
:func:`unit_gross_var_at`, on every update.
"""

from __future__ import annotations

import functools
import math
import statistics
from typing import Any

import numpy as np

from riskengine._validation import as_array, as_float, as_int
from riskengine.errors import InvalidConfig
from riskengine.risk.limits.types import (
    ChangepointState,
    EmptyState,
    LimitInputs,
    Limits,
    LimitTransform,
    format_notional,
)
from riskengine.risk.limits.validation import config_value, hard_limits, stage_name

__all__ = [
    "changepoint_tighten",
    "clamp",
    "clamp_to_hard_limits",
    "correlation_tighten",
    "regime_haircut",
    "unit_gross_var",
    "unit_gross_var_at",
    "var_budget",
    "vol_target",
]

_min_reduce = np.minimum.reduce  # bound once: the per-step check costs less
_EMPTY = EmptyState()


def _empty_init(n_assets: int) -> EmptyState:
    return _EMPTY


# ------------------------------------------------------------------ vol_target


def _vol_target_position(budget: np.ndarray, volatility: np.ndarray) -> np.ndarray:
    # NaN, inf and non-positive volatilities divide into 0: no new risk on an unusable forecast.
    return budget / np.where(volatility > 0.0, volatility, np.inf)


def _vol_target_update(
    budget: np.ndarray, fraction: np.ndarray, inputs: LimitInputs, limits: Limits, state: Any
) -> tuple[Limits, Any]:
    volatility = inputs.volatility
    if _min_reduce(volatility) > 0.0:  # every forecast usable (False on NaN): the common case
        position = budget / volatility
    else:
        position = _vol_target_position(budget, volatility)
    # min with what comes in: a builder only ever tightens, so builders compose in any order.
    position = np.minimum(limits.position, position)
    order = np.minimum(limits.order, position * fraction)
    return Limits(position, limits.gross, limits.net, order), state


def _vol_target_batch(
    budget: np.ndarray, fraction: np.ndarray, inputs: LimitInputs, limits: Limits, state: Any
) -> tuple[Limits, Any]:
    position = np.minimum(limits.position, _vol_target_position(budget, inputs.volatility))
    order = np.minimum(limits.order, position * fraction)
    return Limits(position, limits.gross, limits.net, order), state


def _vol_target_describe(budget: float, fraction: float, inputs: LimitInputs, state: Any) -> str:
    text = f"position = {budget:,.0f} / sigma, order = {fraction:g} x position"
    volatility = np.asarray(inputs.volatility)
    unusable = np.flatnonzero(~(volatility > 0.0) | ~np.isfinite(volatility)).tolist()
    if unusable:
        text += f"; unusable sigma for asset(s) {unusable} -> 0"
    return text


def vol_target(
    risk_budget: float, order_fraction: float, *, name: str = "vol_target"
) -> LimitTransform:
    r"""Volatility targeting: each position's forecast one-period risk equals its budget.

    .. math::

        P_i = \frac{B}{\sigma_i}, \qquad O_i = f\, P_i,

    so a position at its limit has a one-period standard deviation of exactly
    ``risk_budget`` (:math:`P_i \sigma_i = B`): when an asset's volatility
    doubles, its position limit halves. Each limit is the min of this and the
    incoming limit (a builder only tightens). An unusable volatility (NaN,
    inf, <= 0) gives 0 for that asset.

    Parameters
    ----------
    risk_budget : float
        :math:`B`, the per-asset one-period standard deviation budget (currency), > 0.
    order_fraction : float
        :math:`f` in (0, 1]: an order may be at most this fraction of the position limit.
    name : str
        The stage's name in a derivation.

    Examples
    --------
    >>> transform = vol_target(risk_budget=20_000.0, order_fraction=0.25)
    >>> inputs = LimitInputs(np.array([0.01, 0.02, np.nan]), 0.02, 0.0, False)
    >>> limits, _ = transform.update(inputs, Limits.unbounded(3), transform.init(3))
    >>> limits.position.tolist(), limits.order.tolist()
    ([2000000.0, 1000000.0, 0.0], [500000.0, 250000.0, 0.0])
    >>> vol_target(risk_budget=0.0, order_fraction=0.1)
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: risk_budget: must be > 0, got 0.0
    """
    budget = config_value(as_float, risk_budget, "risk_budget", low=0, low_open=True)
    fraction = config_value(
        as_float, order_fraction, "order_fraction", low=0, high=1, low_open=True
    )
    # 0-d arrays: numpy multiplies an array by one about twice as fast as by a Python float.
    budget_0d, fraction_0d = np.array(budget), np.array(fraction)
    return LimitTransform(
        stage_name(name),
        _empty_init,
        functools.partial(_vol_target_update, budget_0d, fraction_0d),
        functools.partial(_vol_target_batch, budget_0d, fraction_0d),
        functools.partial(_vol_target_describe, budget, fraction),
    )


# ------------------------------------------------------------------ var_budget


def _var_budget_update(
    budget: float, inputs: LimitInputs, limits: Limits, state: Any
) -> tuple[Limits, Any]:
    value = inputs.var_per_gross
    gross = budget / value if 0.0 < value < math.inf else 0.0  # NaN fails both comparisons
    gross_limit, net_limit = min(limits.gross, gross), min(limits.net, gross)
    return Limits(limits.position, gross_limit, net_limit, limits.order), state


def _var_budget_batch(
    budget: float, inputs: LimitInputs, limits: Limits, state: Any
) -> tuple[Limits, Any]:
    value = np.asarray(inputs.var_per_gross, dtype=np.float64)
    gross = budget / np.where((value > 0.0) & (value < np.inf), value, np.inf)
    gross_limit, net_limit = np.minimum(limits.gross, gross), np.minimum(limits.net, gross)
    return Limits(limits.position, gross_limit, net_limit, limits.order), state


def _var_budget_describe(budget: float, inputs: LimitInputs, state: Any) -> str:
    value = float(inputs.var_per_gross)
    if 0.0 < value < math.inf:
        return f"gross = net = {budget:,.0f} / VaR per gross {value:.3%}"
    return f"unusable VaR per gross ({value}) -> 0"


def var_budget(var_budget: float, *, name: str = "var_budget") -> LimitTransform:
    r"""VaR budget: the gross limit is the gross at which the portfolio's VaR uses the budget.

    .. math::

        G = N = \frac{V}{v},

    with :math:`v` (``LimitInputs.var_per_gross``) the one-period VaR of a
    unit-gross portfolio in the current direction, from the forecast
    covariance: when correlations rise, :math:`v` rises and the gross limit
    falls. The net limit is set to the same value (a net exposure is at most
    the gross); the clamp's ceiling, a fraction of the hard net limit, bounds
    it. Each is the min with the incoming limit. An unusable :math:`v` (NaN,
    inf, <= 0) gives 0.

    Parameters
    ----------
    var_budget : float
        :math:`V`, the portfolio's one-period VaR budget (currency), > 0.
    name : str
        The stage's name in a derivation.

    Examples
    --------
    >>> transform = var_budget(50_000.0)
    >>> inputs = LimitInputs(np.array([0.01]), 0.025, 0.0, False)
    >>> limits, _ = transform.update(inputs, Limits.unbounded(1), transform.init(1))
    >>> limits.gross, limits.net
    (2000000.0, 2000000.0)
    """
    budget = config_value(as_float, var_budget, "var_budget", low=0, low_open=True)
    return LimitTransform(
        stage_name(name),
        _empty_init,
        functools.partial(_var_budget_update, budget),
        functools.partial(_var_budget_batch, budget),
        functools.partial(_var_budget_describe, budget),
    )


def unit_gross_var(covariance: Any, weights: Any, level: float) -> Any:
    r"""Gaussian one-period VaR of a unit-gross portfolio: ``LimitInputs.var_per_gross``.

    .. math::

        v = z_{\text{level}} \frac{\sqrt{w^\top \Sigma w}}{\sum_i |w_i|},

    scale-free in :math:`w` (only the direction counts). For a flat book
    (:math:`w = 0`) the worst unit-gross direction is used, a single asset:
    :math:`z \max_i \sqrt{\Sigma_{ii}}`. The engine may use a fatter-tailed
    quantile instead; any estimate that rises with risk works with
    :func:`var_budget`.

    Parameters
    ----------
    covariance : array (N, N) or (T, N, N)
        Forecast covariance of the one-period returns.
    weights : array (N,) or (T, N)
        Signed positions (any scale): the current direction.
    level : float
        VaR confidence level in (0.5, 1), e.g. 0.99.

    Returns
    -------
    float or ndarray (T,)

    Examples
    --------
    >>> cov = lambda rho: 1e-4 * np.array([[1.0, rho], [rho, 1.0]])
    >>> low, high = (unit_gross_var(cov(rho), [1.0, 1.0], 0.99) for rho in (0.2, 0.8))
    >>> round(low, 5), round(high, 5), high > low
    (0.01802, 0.02207, True)
    """
    level = config_value(as_float, level, "level", low=0.5, high=1, low_open=True, high_open=True)
    z = statistics.NormalDist().inv_cdf(level)
    covariance = np.asarray(covariance, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    result = unit_gross_var_at(covariance, weights, z)
    return float(result) if np.ndim(result) == 0 else result


def unit_gross_var_at(covariance: np.ndarray, weights: np.ndarray, z: float) -> Any:
    r""":func:`unit_gross_var` at the quantile ``z``, without argument checks (the hot path).

    ``z sqrt(w' S w) / sum |w|``, or ``z`` times the riskiest asset's standard
    deviation for a flat book. One step (``covariance`` (N, N)) goes through
    Python floats, a few microseconds; a leading batch axis on ``covariance``
    (``weights`` (N,) or batched alike) goes through one ``einsum``.

    >>> covariance = 1e-4 * np.array([[1.0, 0.5], [0.5, 1.0]])
    >>> round(unit_gross_var_at(covariance, np.array([1.0, 1.0]), 2.0), 6)
    0.017321
    >>> unit_gross_var_at(np.stack([covariance] * 3), np.zeros(2), 2.0).tolist()
    [0.02, 0.02, 0.02]
    """
    if covariance.ndim == 2 and weights.ndim == 1:  # one step
        gross = float(np.abs(weights).sum())
        if gross == 0.0:
            return z * math.sqrt(float(np.max(np.diag(covariance))))
        return z * math.sqrt(float(weights @ covariance @ weights)) / gross
    variance = np.einsum("...i,...ij,...j->...", weights, covariance, weights)
    gross = np.abs(weights).sum(axis=-1)
    worst = np.sqrt(np.diagonal(covariance, axis1=-2, axis2=-1).max(axis=-1))
    flat = gross == 0.0
    return z * np.where(flat, worst, np.sqrt(variance) / np.where(flat, 1.0, gross))


# -------------------------------------------------------------- regime_haircut


def _stressed_proba(proba: float) -> float:
    proba = float(proba)
    if proba != proba:  # NaN: the regime model is unusable, assume the worst
        return 1.0
    return min(max(proba, 0.0), 1.0)


def _regime_haircut_update(
    loss: float, inputs: LimitInputs, limits: Limits, state: Any
) -> tuple[Limits, Any]:
    factor = 1.0 - loss * _stressed_proba(inputs.stressed_proba)
    if factor == 1.0:
        return limits, state
    return limits.scaled(factor), state


def _regime_haircut_batch(
    loss: float, inputs: LimitInputs, limits: Limits, state: Any
) -> tuple[Limits, Any]:
    proba = np.asarray(inputs.stressed_proba, dtype=np.float64)
    proba = np.where(np.isnan(proba), 1.0, np.clip(proba, 0.0, 1.0))
    return limits.scaled_per_step(1.0 - loss * proba), state


def _regime_haircut_describe(loss: float, inputs: LimitInputs, state: Any) -> str:
    proba = _stressed_proba(inputs.stressed_proba)
    return f"x{1.0 - loss * proba:.3f} (P(stressed) = {proba:.2f})"


def regime_haircut(stressed_floor: float, *, name: str = "regime_haircut") -> LimitTransform:
    r"""Shrink every limit continuously with the probability of the stressed regime.

    .. math::

        x \leftarrow x \,\bigl(1 - (1 - h)\, p\bigr),

    linear, hence continuous and monotone in :math:`p`: x1 when calm for sure,
    :math:`\times h` when stressed for sure, no jump when the filtered
    probability crosses 0.5. A NaN :math:`p` counts as 1; others are clipped
    to [0, 1].

    Parameters
    ----------
    stressed_floor : float
        :math:`h` in (0, 1], the multiplier at :math:`p = 1`. Not 0: an
        unbounded limit times 0 would be NaN (use 1e-6 to stop new risk).
    name : str
        The stage's name in a derivation.

    Examples
    --------
    >>> transform = regime_haircut(stressed_floor=0.5)
    >>> inputs = LimitInputs(np.array([0.01]), 0.02, 0.36, False)
    >>> limits = Limits(np.array([1e6]), 2e6, 1e6, np.array([1e5]))
    >>> transform.update(inputs, limits, transform.init(1))[0].position.tolist()
    [820000.0]
    """
    floor = config_value(as_float, stressed_floor, "stressed_floor", low=0, high=1, low_open=True)
    loss = 1.0 - floor
    return LimitTransform(
        stage_name(name),
        _empty_init,
        functools.partial(_regime_haircut_update, loss),
        functools.partial(_regime_haircut_batch, loss),
        functools.partial(_regime_haircut_describe, loss),
    )


# --------------------------------------------------------- changepoint_tighten


def _changepoint_init(recovery_steps: int, n_assets: int) -> ChangepointState:
    return ChangepointState(recovery_steps)


def _changepoint_update(
    signal: str,
    factor: float,
    recovery_steps: int,
    inputs: LimitInputs,
    limits: Limits,
    state: Any,
) -> tuple[Limits, Any]:
    fired = getattr(inputs, signal)
    steps = 0 if fired else min(state.steps_since_change + 1, recovery_steps)
    if steps >= recovery_steps:
        return limits, ChangepointState(steps)
    multiplier = factor + (1.0 - factor) * steps / recovery_steps
    return limits.scaled(multiplier), ChangepointState(steps)


def _changepoint_batch(
    signal: str,
    factor: float,
    recovery_steps: int,
    inputs: LimitInputs,
    limits: Limits,
    state: Any,
) -> tuple[Limits, Any]:
    changepoint = np.asarray(getattr(inputs, signal), dtype=bool)
    if changepoint.size == 0:
        return limits, state
    index = np.arange(changepoint.size)
    # The last change point at or before each step; before the batch, the one the state implies.
    last = np.maximum.accumulate(np.where(changepoint, index, -1 - state.steps_since_change))
    steps = np.minimum(index - last, recovery_steps)
    multiplier = np.where(
        steps >= recovery_steps, 1.0, factor + (1.0 - factor) * steps / recovery_steps
    )
    return limits.scaled_per_step(multiplier), ChangepointState(int(steps[-1]))


def _changepoint_describe(
    signal: str, factor: float, recovery_steps: int, inputs: LimitInputs, state: Any
) -> str:
    what = _SIGNALS[signal]
    steps = state.steps_since_change
    if steps >= recovery_steps:
        return f"x1 (no {what} in the last {recovery_steps} steps)"
    multiplier = factor + (1.0 - factor) * steps / recovery_steps
    return f"x{multiplier:.3f} ({what} {steps} step(s) ago; x1 again after {recovery_steps})"


# The boolean inputs a tightening can follow, as a derivation names them.
_SIGNALS = {"changepoint": "change point", "correlation_alarm": "correlation breakdown"}


def changepoint_tighten(
    factor: float,
    recovery_steps: int,
    *,
    name: str = "changepoint_tighten",
    signal: str = "changepoint",
) -> LimitTransform:
    r"""Tighten on a detected change point, then recover linearly while the models re-adapt.

    With :math:`k` the steps since the last change point (0 on its step),

    .. math::

        x \leftarrow x \left(c + (1 - c) \frac{\min(k, R)}{R}\right),

    so the limits are :math:`\times c` on the change point and back to x1
    exactly :math:`R` steps later. A new change point during the recovery
    restarts it. Set :math:`R` to about the models' re-adaptation window
    (e.g. the forecasters' ``fast_steps`` after ``adapt``).

    Parameters
    ----------
    factor : float
        :math:`c` in (0, 1], the multiplier on the change point's step.
    recovery_steps : int
        :math:`R` >= 1.
    name : str
        The stage's name in a derivation.
    signal : {"changepoint", "correlation_alarm"}
        The :class:`LimitInputs` flag that triggers it (see
        :func:`correlation_tighten`).

    Examples
    --------
    >>> transform = changepoint_tighten(factor=0.5, recovery_steps=4)
    >>> state, path = transform.init(1), []
    >>> limits = Limits(np.array([1.0]), 1.0, 1.0, np.array([1.0]))
    >>> for flag in (False, True, False, False, False, False, False):
    ...     out, state = transform.update(LimitInputs(np.array([0.01]), 0.02, 0.0, flag),
    ...                                   limits, state)
    ...     path.append(out.gross)
    >>> path
    [1.0, 0.5, 0.625, 0.75, 0.875, 1.0, 1.0]
    """
    factor = config_value(as_float, factor, "factor", low=0, high=1, low_open=True)
    recovery_steps = config_value(as_int, recovery_steps, "recovery_steps", low=1)
    if signal not in _SIGNALS:
        raise InvalidConfig("signal", f"expected one of {list(_SIGNALS)}, got {signal!r}")
    return LimitTransform(
        stage_name(name),
        functools.partial(_changepoint_init, recovery_steps),
        functools.partial(_changepoint_update, signal, factor, recovery_steps),
        functools.partial(_changepoint_batch, signal, factor, recovery_steps),
        functools.partial(_changepoint_describe, signal, factor, recovery_steps),
    )


def correlation_tighten(
    factor: float, recovery_steps: int, *, name: str = "correlation_tighten"
) -> LimitTransform:
    """Tighten on a correlation breakdown (``LimitInputs.correlation_alarm``), then recover.

    The same shape as :func:`changepoint_tighten`: :math:`\\times c` on the
    alarm's step, back to x1 linearly over ``recovery_steps``. When
    diversification breaks down, the VaR budget already scales the limits by
    the higher forecast correlation; this adds a discrete cut while the
    models catch up.

    Examples
    --------
    >>> transform = correlation_tighten(factor=0.5, recovery_steps=2)
    >>> state = transform.init(1)
    >>> limits = Limits(np.array([1.0]), 1.0, 1.0, np.array([1.0]))
    >>> inputs = LimitInputs(np.array([0.01]), 0.02, 0.0, False, correlation_alarm=True)
    >>> out, state = transform.update(inputs, limits, state)
    >>> out.gross, transform.describe(inputs, state)
    (0.5, 'x0.500 (correlation breakdown 0 step(s) ago; x1 again after 2)')
    """
    return changepoint_tighten(factor, recovery_steps, name=name, signal="correlation_alarm")


# ----------------------------------------------------------------------- clamp


def _bounds_init(floor: Limits, n_assets: int) -> EmptyState:
    if floor.position.shape != (n_assets,):
        raise InvalidConfig(
            "n_assets", f"the bounds have {floor.position.shape[0]} assets, got {n_assets}"
        )
    return _EMPTY


def _clamp_update(
    floor: Limits, ceiling: Limits, inputs: LimitInputs, limits: Limits, state: Any
) -> tuple[Limits, Any]:
    # fmax maps NaN to the floor: whatever reached here, the result is a number.
    gross = limits.gross if limits.gross >= floor.gross else floor.gross
    net = limits.net if limits.net >= floor.net else floor.net
    return (
        Limits(
            np.minimum(np.fmax(limits.position, floor.position), ceiling.position),
            gross if gross <= ceiling.gross else ceiling.gross,
            net if net <= ceiling.net else ceiling.net,
            np.minimum(np.fmax(limits.order, floor.order), ceiling.order),
        ),
        state,
    )


def _clamp_batch(
    floor: Limits, ceiling: Limits, inputs: LimitInputs, limits: Limits, state: Any
) -> tuple[Limits, Any]:
    bounded = (
        np.minimum(np.fmax(x, lo), hi) for x, lo, hi in zip(limits, floor, ceiling, strict=True)
    )
    return Limits(*bounded), state


def _bounds_text(limits: Limits) -> str:
    """``position 200k, gross 800k, net 300k, order 50k`` (a list when assets differ)."""

    def text(value: Any) -> str:
        values = np.unique(np.asarray(value))
        if values.size == 1:
            return format_notional(values[0])
        return "[" + ", ".join(format_notional(v) for v in np.asarray(value)) + "]"

    return ", ".join(f"{field} {text(getattr(limits, field))}" for field in Limits._fields)


def _clamp_describe(floor: Limits, ceiling: Limits, inputs: LimitInputs, state: Any) -> str:
    return f"floor {_bounds_text(floor)}; ceiling {_bounds_text(ceiling)}"


def _hard_describe(floor: Limits, ceiling: Limits, inputs: LimitInputs, state: Any) -> str:
    return f"at most the hard limits: {_bounds_text(ceiling)}"


def _check_bounds(floor: Any, ceiling: Any, *, floor_name: str, ceiling_name: str) -> tuple:
    """Validate a floor (finite, >= 0) and a ceiling (>= floor, may be inf) as step Limits."""
    for label, value in ((floor_name, floor), (ceiling_name, ceiling)):
        if not isinstance(value, Limits):
            raise InvalidConfig(label, f"expected Limits, got {type(value).__name__}")
    n_assets = np.size(floor.position)
    checked = []
    for field in Limits._fields:
        shape = (n_assets,) if field in ("position", "order") else ()
        label = f"{floor_name}.{field}"
        low = config_value(as_array, getattr(floor, field), label, shape=shape, low=0)
        try:
            high = np.asarray(getattr(ceiling, field), dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidConfig(f"{ceiling_name}.{field}", "expected numbers") from None
        if high.shape != shape:
            raise InvalidConfig(
                f"{ceiling_name}.{field}", f"expected shape {shape}, got {high.shape}"
            )
        if np.any(np.isnan(high)) or np.any(high < low):
            raise InvalidConfig(
                f"{ceiling_name}.{field}",
                f"must be >= {floor_name}.{field} (and not NaN), got {high.tolist()}",
            )
        low.setflags(write=False)
        high = high.copy()
        high.setflags(write=False)
        checked.append((low, high))
    floor = Limits(checked[0][0], float(checked[1][0]), float(checked[2][0]), checked[3][0])
    ceiling = Limits(checked[0][1], float(checked[1][1]), float(checked[2][1]), checked[3][1])
    return floor, ceiling


def clamp(floor: Limits, ceiling: Limits, *, name: str = "clamp") -> LimitTransform:
    r"""Static floors and ceilings: :math:`x \leftarrow \min(\max(x, f), c)`, f floor, c ceiling.

    A NaN that reaches the clamp becomes the floor (``np.fmax``), so the output
    is always a number.

    Parameters
    ----------
    floor : Limits
        Finite, >= 0, with (N,) arrays.
    ceiling : Limits
        >= ``floor`` (``inf`` allowed: no ceiling).
    name : str
        The stage's name in a derivation.

    Examples
    --------
    >>> transform = clamp(Limits(np.array([1.0, 1.0]), 1.0, 1.0, np.array([0.5, 0.5])),
    ...                   Limits(np.array([5.0, 5.0]), 8.0, 4.0, np.array([2.0, 2.0])))
    >>> limits = Limits(np.array([0.2, 9.0]), 3.0, np.nan, np.array([0.1, 0.6]))
    >>> out, _ = transform.update(None, limits, transform.init(2))
    >>> out.position.tolist(), out.gross, out.net, out.order.tolist()
    ([1.0, 5.0], 3.0, 1.0, [0.5, 0.6])
    """
    floor, ceiling = _check_bounds(floor, ceiling, floor_name="floor", ceiling_name="ceiling")
    return LimitTransform(
        stage_name(name),
        functools.partial(_bounds_init, floor),
        functools.partial(_clamp_update, floor, ceiling),
        functools.partial(_clamp_batch, floor, ceiling),
        functools.partial(_clamp_describe, floor, ceiling),
    )


def clamp_to_hard_limits(hard: Limits, *, name: str = "hard_limits") -> LimitTransform:
    r"""Never report a dynamic limit above a hard one: :math:`x \leftarrow \min(x, \text{hard})`.

    The pre-trade gate applies ``min(hard, dynamic)`` anyway; this keeps the
    *reported* dynamic limits consistent with it. A NaN becomes 0 (a clamp
    with a zero floor): no new risk.

    Parameters
    ----------
    hard : Limits
        The hard notional limits, > 0 (``inf`` allowed), e.g.
        :meth:`HardLimits.notional_limits <riskengine.risk.pretrade.HardLimits.notional_limits>`;
        a scalar ``order`` applies to every asset.
    name : str
        The stage's name in a derivation.

    Examples
    --------
    >>> transform = clamp_to_hard_limits(Limits(np.array([1e6, 1e6]), 1.5e6, 5e5, 1e5))
    >>> limits = Limits(np.array([2e6, 3e5]), 1e6, 1e6, np.array([1e5, 2e4]))
    >>> out, _ = transform.update(None, limits, transform.init(2))
    >>> out.position.tolist(), out.gross, out.net
    ([1000000.0, 300000.0], 1000000.0, 500000.0)
    """
    hard = hard_limits(hard)
    n_assets = hard.position.size
    zero = Limits(np.zeros(n_assets), 0.0, 0.0, np.zeros(n_assets))
    floor, ceiling = _check_bounds(zero, hard, floor_name="zero", ceiling_name="hard")
    return LimitTransform(
        stage_name(name),
        functools.partial(_bounds_init, floor),
        functools.partial(_clamp_update, floor, ceiling),
        functools.partial(_clamp_batch, floor, ceiling),
        functools.partial(_hard_describe, floor, ceiling),
    )
