r"""Dynamic (regime-adaptive) limits as small composable transforms, optax-style.

A *limit transform* is an ``init`` / ``update`` pair with NamedTuple state and
no hidden mutable state; :func:`chain` composes them. Each transform maps the
model outputs of one step (:class:`LimitInputs`) and the limits so far
(:class:`Limits`) to new limits:

=============================  ==============================================================
:func:`vol_target`             :math:`P_i = B / \sigma_i`, order :math:`= f P_i` (builds limits)
:func:`var_budget`             :math:`G = N = V / v`, ``v`` the VaR per unit of gross (builds)
:func:`regime_haircut`         every limit :math:`\times\,(1 - (1 - h)\, p_{\text{stressed}})`
:func:`changepoint_tighten`    :math:`\times\,c` on a change point, back to 1 linearly in R steps
:func:`clamp`                  :math:`\min(\max(x, \text{floor}), \text{ceiling})`
:func:`smooth`                 EMA; by default tightening at once and loosening smoothed
:func:`clamp_to_hard_limits`   :math:`\min(x, \text{hard})`
=============================  ==============================================================

:func:`limit_chain` builds the engine's standard chain, in that order, from a
:class:`DynamicLimitsConfig`. The order matters and is deliberate:

- **clamp before smooth.** The smoother then only sees values inside
  ``[floor, ceiling]`` and an EMA of such values stays inside them, so the
  bounds still hold at the end; after a model failure the limit recovers from
  the floor rather than from zero, and a huge unclamped value (a near-zero
  volatility) cannot keep a symmetric EMA above the ceiling for many steps.
  :func:`clamp_to_hard_limits` comes last so that rounding in the EMA can never
  report a dynamic limit above a hard one.

Every transform has a step path (``update``: one tick, small numpy arrays and
floats, a few microseconds) and a batch path over a leading time axis
(``update_batch``: the engine's ``replay``) equal to the step path in a loop to
1e-10 relative, with the same final state.

**Derivation.** :meth:`LimitChain.explain` returns, next to the limits, a
:class:`LimitDerivation`: the limits after every stage, which stage moved which
limit by which factor, a text :meth:`~LimitDerivation.summary`, and
:meth:`~LimitDerivation.change_from` to attribute the change since an earlier
derivation to the stages (the factors multiply to the change).

**Unusable models** (a volatility or VaR-per-gross that is NaN, infinite or
not positive) never produce a NaN limit: the builders set the affected limits
to 0, the most conservative value, and the clamp raises them to the floor; the
engine separately goes to REDUCING. A NaN stressed probability counts as 1
(fully stressed).

Examples
--------
>>> config = DynamicLimitsConfig(risk_budget=20_000.0, var_budget=50_000.0)
>>> limits_chain = limit_chain(config, hard_position=[2e6, 2e6], hard_gross=3e6,
...                            hard_net=1e6, hard_order=[5e5, 5e5])
>>> state = limits_chain.init(2)
>>> inputs = LimitInputs(volatility=np.array([0.01, 0.02]), var_per_gross=0.02,
...                      stressed_proba=0.0, changepoint=False)
>>> limits, state = limits_chain.update(inputs, Limits.unbounded(2), state)
>>> limits.position.tolist(), limits.gross, limits.net, limits.order.tolist()
([2000000.0, 1000000.0], 2500000.0, 1000000.0, [200000.0, 100000.0])
"""

from __future__ import annotations

import dataclasses
import functools
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from riskengine._config import config_from_mapping
from riskengine._validation import as_array, as_float, as_int
from riskengine.errors import InvalidConfig, InvalidInput

__all__ = [
    "ChangepointState",
    "DynamicLimitsConfig",
    "EmptyState",
    "LimitChain",
    "LimitChange",
    "LimitDerivation",
    "LimitInputs",
    "LimitMove",
    "LimitTransform",
    "Limits",
    "SmoothState",
    "chain",
    "changepoint_tighten",
    "clamp",
    "clamp_to_hard_limits",
    "limit_chain",
    "regime_haircut",
    "smooth",
    "unit_gross_var",
    "var_budget",
    "vol_target",
]

_SMOOTHING_MODES = ("asymmetric", "symmetric")
# The batch smoother scales by a**-j inside blocks; 1e100 keeps that far from overflow.
_LOG10_BLOCK_RANGE = 100.0
_MAX_BLOCK = 4096  # rows of (T, 2N + 2) smoothed at once: stays in cache
# Above this ratio of largest to smallest value, the asymmetric batch smoother takes its
# exact path: the closed form's relative error is about eps x this ratio.
_EXACT_SPAN = 1e4
_min_reduce = np.minimum.reduce  # bound once: the per-step check costs less


# --------------------------------------------------------------------------- data


class LimitInputs(NamedTuple):
    """The model outputs one step of the limit chain reads.

    Batch form: the same fields with a leading time axis, shapes (T, N), (T,),
    (T,), (T,).

    Attributes
    ----------
    volatility : ndarray (N,)
        Forecast per-period standard deviation of each asset's return (decimal).
    var_per_gross : float
        One-period VaR at the configured level of a unit-gross portfolio in the
        current direction (see :func:`unit_gross_var`); rises with correlations.
    stressed_proba : float
        Filtered probability of the stressed regime.
    changepoint : bool
        A change was detected on this step.
    """

    volatility: np.ndarray
    var_per_gross: float
    stressed_proba: float
    changepoint: bool


class Limits(NamedTuple):
    """Limit notionals; ``inf`` is unbounded. Batch form: a leading time axis on every field.

    Attributes
    ----------
    position : ndarray (N,)
        Maximum absolute position notional per asset.
    gross : float
        Maximum gross notional (sum of absolute positions).
    net : float
        Maximum absolute net notional (absolute sum of signed positions).
    order : ndarray (N,)
        Maximum notional of one order per asset.

    Examples
    --------
    >>> Limits.unbounded(2)
    Limits(position=array([inf, inf]), gross=inf, net=inf, order=array([inf, inf]))
    >>> Limits.unbounded(2, n_steps=3).gross.shape
    (3,)
    """

    position: np.ndarray
    gross: float
    net: float
    order: np.ndarray

    @classmethod
    def unbounded(cls, n_assets: int, n_steps: int | None = None) -> Limits:
        """All-``inf`` limits: the usual input of a chain's first (building) transform."""
        if n_steps is None:
            return cls(np.full(n_assets, np.inf), math.inf, math.inf, np.full(n_assets, np.inf))
        return cls(
            np.full((n_steps, n_assets), np.inf),
            np.full(n_steps, np.inf),
            np.full(n_steps, np.inf),
            np.full((n_steps, n_assets), np.inf),
        )


class EmptyState(NamedTuple):
    """State of a stateless transform."""


class ChangepointState(NamedTuple):
    """State of :func:`changepoint_tighten`.

    ``steps_since_change`` is 0 on the step of a change point and saturates at
    ``recovery_steps`` (fully recovered; also the initial value).
    """

    steps_since_change: int


class SmoothState(NamedTuple):
    """State of :func:`smooth`: the smoothed limits so far (``inf`` until a first value)."""

    smoothed: Limits


class LimitTransform(NamedTuple):
    """A limit rule: a name and pure functions; the state lives outside, in the caller.

    Attributes
    ----------
    name : str
        The stage's name in a :class:`LimitDerivation` (unique within a chain).
    init : callable
        ``init(n_assets) -> state``, a NamedTuple.
    update : callable
        ``update(inputs, limits, state) -> (limits, state)`` for one step.
    update_batch : callable
        ``update_batch(inputs, limits, state) -> (limits, state)`` over a leading
        time axis; equals ``update`` in a loop to 1e-10.
    describe : callable
        ``describe(inputs, state) -> str``: why the stage did what it did, from
        the step's inputs and the state after it (for :meth:`LimitDerivation.summary`).
    """

    name: str
    init: Callable[[int], Any]
    update: Callable[[LimitInputs, Limits, Any], tuple[Limits, Any]]
    update_batch: Callable[[LimitInputs, Limits, Any], tuple[Limits, Any]]
    describe: Callable[[LimitInputs, Any], str]


_EMPTY = EmptyState()


def _empty_init(n_assets: int) -> EmptyState:
    return _EMPTY


def _scale(limits: Limits, factor: Any) -> Limits:
    return Limits(
        limits.position * factor, limits.gross * factor, limits.net * factor, limits.order * factor
    )


def _scale_batch(limits: Limits, factor: np.ndarray) -> Limits:
    column = factor[:, None]
    return Limits(
        limits.position * column, limits.gross * factor, limits.net * factor, limits.order * column
    )


def _config_value(check: Callable[..., Any], value: Any, field: str, **bounds: Any) -> Any:
    """Run a :mod:`riskengine._validation` check, re-raising as :class:`InvalidConfig`."""
    try:
        return check(value, field=field, **bounds)
    except (TypeError, ValueError) as error:
        raise InvalidConfig(field, str(error).removeprefix(f"{field}: ")) from None


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidConfig("name", f"expected a non-empty string, got {name!r}")
    return name


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
    budget = _config_value(as_float, risk_budget, "risk_budget", low=0, low_open=True)
    fraction = _config_value(
        as_float, order_fraction, "order_fraction", low=0, high=1, low_open=True
    )
    # 0-d arrays: numpy multiplies an array by one about twice as fast as by a Python float.
    budget_0d, fraction_0d = np.array(budget), np.array(fraction)
    return LimitTransform(
        _check_name(name),
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
    budget = _config_value(as_float, var_budget, "var_budget", low=0, low_open=True)
    return LimitTransform(
        _check_name(name),
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
    level = _config_value(as_float, level, "level", low=0.5, high=1, low_open=True, high_open=True)
    z = statistics.NormalDist().inv_cdf(level)
    covariance = np.asarray(covariance, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    variance = np.einsum("...i,...ij,...j->...", weights, covariance, weights)
    gross = np.abs(weights).sum(axis=-1)
    worst = np.sqrt(np.diagonal(covariance, axis1=-2, axis2=-1).max(axis=-1))
    flat = gross == 0.0
    result = z * np.where(flat, worst, np.sqrt(variance) / np.where(flat, 1.0, gross))
    return float(result) if result.ndim == 0 else result


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
    return _scale(limits, factor), state


def _regime_haircut_batch(
    loss: float, inputs: LimitInputs, limits: Limits, state: Any
) -> tuple[Limits, Any]:
    proba = np.asarray(inputs.stressed_proba, dtype=np.float64)
    proba = np.where(np.isnan(proba), 1.0, np.clip(proba, 0.0, 1.0))
    return _scale_batch(limits, 1.0 - loss * proba), state


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
    floor = _config_value(as_float, stressed_floor, "stressed_floor", low=0, high=1, low_open=True)
    loss = 1.0 - floor
    return LimitTransform(
        _check_name(name),
        _empty_init,
        functools.partial(_regime_haircut_update, loss),
        functools.partial(_regime_haircut_batch, loss),
        functools.partial(_regime_haircut_describe, loss),
    )


# --------------------------------------------------------- changepoint_tighten


def _changepoint_init(recovery_steps: int, n_assets: int) -> ChangepointState:
    return ChangepointState(recovery_steps)


def _changepoint_update(
    factor: float, recovery_steps: int, inputs: LimitInputs, limits: Limits, state: Any
) -> tuple[Limits, Any]:
    steps = 0 if inputs.changepoint else min(state.steps_since_change + 1, recovery_steps)
    if steps >= recovery_steps:
        return limits, ChangepointState(steps)
    multiplier = factor + (1.0 - factor) * steps / recovery_steps
    return _scale(limits, multiplier), ChangepointState(steps)


def _changepoint_batch(
    factor: float, recovery_steps: int, inputs: LimitInputs, limits: Limits, state: Any
) -> tuple[Limits, Any]:
    changepoint = np.asarray(inputs.changepoint, dtype=bool)
    if changepoint.size == 0:
        return limits, state
    index = np.arange(changepoint.size)
    # The last change point at or before each step; before the batch, the one the state implies.
    last = np.maximum.accumulate(np.where(changepoint, index, -1 - state.steps_since_change))
    steps = np.minimum(index - last, recovery_steps)
    multiplier = np.where(
        steps >= recovery_steps, 1.0, factor + (1.0 - factor) * steps / recovery_steps
    )
    return _scale_batch(limits, multiplier), ChangepointState(int(steps[-1]))


def _changepoint_describe(
    factor: float, recovery_steps: int, inputs: LimitInputs, state: Any
) -> str:
    steps = state.steps_since_change
    if steps >= recovery_steps:
        return f"x1 (no change point in the last {recovery_steps} steps)"
    multiplier = factor + (1.0 - factor) * steps / recovery_steps
    return f"x{multiplier:.3f} (change point {steps} step(s) ago; x1 again after {recovery_steps})"


def changepoint_tighten(
    factor: float, recovery_steps: int, *, name: str = "changepoint_tighten"
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
    factor = _config_value(as_float, factor, "factor", low=0, high=1, low_open=True)
    recovery_steps = _config_value(as_int, recovery_steps, "recovery_steps", low=1)
    return LimitTransform(
        _check_name(name),
        functools.partial(_changepoint_init, recovery_steps),
        functools.partial(_changepoint_update, factor, recovery_steps),
        functools.partial(_changepoint_batch, factor, recovery_steps),
        functools.partial(_changepoint_describe, factor, recovery_steps),
    )


# ---------------------------------------------------------------------- smooth


def _smooth_init(n_assets: int) -> SmoothState:
    return SmoothState(Limits.unbounded(n_assets))


def _smooth_update(
    decay: np.ndarray,
    weight: np.ndarray,
    decay_float: float,
    weight_float: float,
    asymmetric: bool,
    inputs: LimitInputs,
    limits: Limits,
    state: Any,
) -> tuple[Limits, Any]:
    previous = state.smoothed
    a, b = decay_float, weight_float
    if asymmetric:
        # min(raw, EMA) == raw when raw < previous (tighten at once), else the EMA (loosen slowly).
        # An inf previous (no value yet) makes the EMA inf, so the first value passes unchanged.
        position = np.minimum(limits.position, previous.position * decay + limits.position * weight)
        order = np.minimum(limits.order, previous.order * decay + limits.order * weight)
        gross, net = limits.gross, limits.net
        ema = a * previous.gross + b * gross
        gross = gross if gross <= ema else ema  # NaN-propagating, like np.minimum
        ema = a * previous.net + b * net
        net = net if net <= ema else ema
    else:
        position = np.where(
            previous.position == np.inf,
            limits.position,
            previous.position * decay + limits.position * weight,
        )
        order = np.where(
            previous.order == np.inf, limits.order, previous.order * decay + limits.order * weight
        )
        gross = (
            limits.gross if previous.gross == math.inf else a * previous.gross + b * limits.gross
        )
        net = limits.net if previous.net == math.inf else a * previous.net + b * limits.net
    smoothed = Limits(position, gross, net, order)
    return smoothed, SmoothState(smoothed)


def _stack(limits: Limits) -> np.ndarray:
    """Limits (batch or step) as columns ``[position..., gross, net, order...]``."""
    position = np.asarray(limits.position, dtype=np.float64)
    gross = np.asarray(limits.gross, dtype=np.float64)[..., None]
    net = np.asarray(limits.net, dtype=np.float64)[..., None]
    return np.concatenate([position, gross, net, np.asarray(limits.order, dtype=np.float64)], -1)


def _unstack(matrix: np.ndarray, n_assets: int) -> Limits:
    n = n_assets
    return Limits(
        matrix[..., :n].copy(),
        matrix[..., n].copy(),
        matrix[..., n + 1].copy(),
        matrix[..., n + 2 :],
    )


def _smooth_finite(
    raw: np.ndarray, start: np.ndarray, decay: float, asymmetric: bool
) -> np.ndarray:
    r"""The smoother over finite ``raw`` (T, M) >= 0 from ``start`` (M,) (finite or +inf).

    Both modes have a closed form in blocks of time steps (:func:`_smooth_blocks`).
    The symmetric one only adds and multiplies non-negative numbers, so it is
    as exact as the step loop. The asymmetric one subtracts, and loses about
    eps x (largest / smallest value) relative, so columns whose values span
    more than ``_EXACT_SPAN`` go through :func:`_asymmetric_scan` instead:
    exact whatever the span, but about 5x slower. The engine's chain clamps
    before it smooths, so its span is at most ceiling / floor (10 by default).
    """
    if not asymmetric:
        return _smooth_blocks(raw, start, decay, asymmetric=False)
    lower = np.minimum(start, raw.min(axis=0))
    largest = np.maximum(np.where(start < np.inf, start, 0.0), raw.max(axis=0))
    smallest = lower
    if np.any(lower == 0.0):  # zeros are exact; after one, the smallest value is ~ b x r
        positive = np.where(raw > 0.0, raw, np.inf).min(axis=0)
        smallest = np.where(lower > 0.0, lower, (1.0 - decay) * positive)
    fast = largest <= _EXACT_SPAN * smallest
    if fast.all():
        return _smooth_blocks(raw, start, decay, asymmetric=True, lower=lower)
    smoothed = np.empty_like(raw)
    if fast.any():
        smoothed[:, fast] = _smooth_blocks(
            raw[:, fast], start[fast], decay, asymmetric=True, lower=lower[fast]
        )
    smoothed[:, ~fast] = _asymmetric_scan(raw[:, ~fast], start[~fast], decay)
    return smoothed


def _smooth_blocks(
    raw: np.ndarray,
    start: np.ndarray,
    decay: float,
    *,
    asymmetric: bool,
    lower: np.ndarray | None = None,
) -> np.ndarray:
    r"""Both smoothers in closed form, block by block of time steps.

    Within a block :math:`j = 0, 1, \dots` counts steps from its start,
    :math:`p` is the smoothed value before it, :math:`R_j = a^{-j} r_j` (the
    block is short enough that :math:`a^{-j}` stays below 1e100) and
    :math:`C_j = \sum_{i \le j} R_i` (``np.cumsum``). The symmetric EMA is
    :math:`s_j = a^j (b C_j + a p)`. The asymmetric one,
    :math:`s_j = \min(r_j, a s_{j-1} + b r_j)`, unrolls (:math:`\min`
    distributes over the positively weighted sum) to

    .. math::

        s_j = a^j \Bigl(b C_j + \min\bigl(a p,\; \min_{k \le j} (R_k - b C_k)\bigr)\Bigr),

    a running minimum (``np.minimum.accumulate``). Only :math:`p` crosses
    blocks: a Python loop over T / block (>= 333 steps a block for a halflife
    >= 1). The asymmetric :math:`s_j` is a convex combination of :math:`p,
    r_0, \dots, r_j` and at most :math:`r_j`, so it is clipped to
    ``[min(start, r), r_j]``: a tightening to the current value and a run at
    the batch's lowest value (a limit held at 0 or at its floor) come out
    exact.
    """
    weight = 1.0 - decay
    n_steps, n_columns = raw.shape
    block = int(min(n_steps, _MAX_BLOCK, max(1, _LOG10_BLOCK_RANGE // -math.log10(decay))))
    powers = np.arange(block)
    up, down = (decay**-powers)[:, None], (decay**powers)[:, None]
    smoothed = np.empty_like(raw)
    work = np.empty((block, n_columns))
    first = start == np.inf
    previous = np.where(first, raw[0], start) if not asymmetric else start
    if asymmetric and lower is None:
        lower = np.minimum(start, raw.min(axis=0))
    for begin in range(0, n_steps, block):
        end = min(begin + block, n_steps)
        size = end - begin
        values, out, scaled = raw[begin:end], smoothed[begin:end], work[:size]
        # In place and block by block, so the block stays in cache.
        np.multiply(values, up[:size], out=scaled)
        np.cumsum(scaled, axis=0, out=out)
        np.multiply(out, weight, out=out)
        if asymmetric:
            np.subtract(scaled, out, out=scaled)
            np.minimum.accumulate(scaled, axis=0, out=scaled)
            np.minimum(scaled, decay * previous, out=scaled)
            np.add(out, scaled, out=out)
        else:
            np.add(out, decay * previous, out=out)
        np.multiply(out, down[:size], out=out)
        if asymmetric:
            np.maximum(out, lower, out=out)
            np.minimum(out, values, out=out)
        previous = out[-1].copy()
    if not asymmetric:  # the first value passes unchanged, exactly as in the step path
        smoothed[0] = np.where(first, raw[0], smoothed[0])
    return smoothed


def _asymmetric_scan(raw: np.ndarray, start: np.ndarray, decay: float) -> np.ndarray:
    r"""The asymmetric smoother as a parallel prefix scan: exact, :math:`O(T \log T)`.

    Each step is the map :math:`x \mapsto \min(P, A x + Q)` with
    :math:`(P, A, Q) = (r_t, a, b r_t)`, and such maps compose into one of
    the same form, :math:`(P_2, A_2, Q_2) \circ (P_1, A_1, Q_1) =
    (\min(P_2, A_2 P_1 + Q_2),\, A_2 A_1,\, A_2 Q_1 + Q_2)`, using only
    min, + and x of non-negative numbers: no cancellation, so a relative
    error of a few eps x log2(T) whatever the span of the values. A
    Hillis-Steele scan composes all prefixes in log2(T) vectorised rounds;
    :math:`A` after :math:`t + 1` maps is :math:`a^{t+1}`, the same for every
    column.
    """
    ceiling, offset = raw.copy(), (1.0 - decay) * raw  # P and Q of each prefix
    shift = 1
    while shift < raw.shape[0]:
        factor = decay**shift
        ceiling[shift:] = np.minimum(ceiling[shift:], factor * ceiling[:-shift] + offset[shift:])
        offset[shift:] = factor * offset[:-shift] + offset[shift:]
        shift *= 2
    carried = (decay ** np.arange(1, raw.shape[0] + 1))[:, None] * np.where(
        start < np.inf, start, 0.0
    )
    # An unbounded start (no value yet) leaves the first value, hence every prefix, unchanged.
    return np.where(start < np.inf, np.minimum(ceiling, carried + offset), ceiling)


def _smooth_matrix(
    raw: np.ndarray, start: np.ndarray, decay: float, asymmetric: bool
) -> np.ndarray:
    """The smoother over any ``raw`` (T, M): inf resets (as in the step path), NaN sticks."""
    clean = np.isfinite(raw).all(axis=0) & ~np.isnan(start)
    if clean.all():  # the usual case: no gather / scatter of columns
        return _smooth_finite(raw, start, decay, asymmetric)
    smoothed = np.empty_like(raw)
    if clean.any():
        smoothed[:, clean] = _smooth_finite(raw[:, clean], start[clean], decay, asymmetric)
    # Rare columns with an unbounded or NaN value: solve each finite run from the state the
    # step path reaches there (inf after an unbounded value); NaN propagates to the end.
    for column in np.flatnonzero(~clean):
        values, out = raw[:, column], smoothed[:, column]
        bad = np.flatnonzero(np.isnan(values))
        stop = bad[0] if bad.size else values.size
        if np.isnan(start[column]):
            stop = 0
        out[stop:] = np.nan
        state = start[column : column + 1]
        begin = 0
        while begin < stop:
            if values[begin] == np.inf:
                out[begin] = np.inf
                state = np.array([np.inf])
                begin += 1
                continue
            finite = np.flatnonzero(~np.isfinite(values[begin:stop]))
            end = begin + finite[0] if finite.size else stop
            run = _smooth_finite(values[begin:end, None], state, decay, asymmetric)
            out[begin:end] = run[:, 0]
            state = run[-1]
            begin = end
    return smoothed


def _smooth_batch(
    decay: np.ndarray,
    weight: np.ndarray,
    asymmetric: bool,
    inputs: LimitInputs,
    limits: Limits,
    state: Any,
) -> tuple[Limits, Any]:
    raw = _stack(limits)
    if raw.shape[0] == 0:
        return limits, state
    n_assets = np.shape(limits.position)[-1]
    matrix = _smooth_matrix(raw, _stack(state.smoothed), float(decay), asymmetric)
    smoothed = _unstack(matrix, n_assets)
    last = Limits(
        smoothed.position[-1].copy(),
        float(smoothed.gross[-1]),
        float(smoothed.net[-1]),
        smoothed.order[-1].copy(),
    )
    return smoothed, SmoothState(last)


def _smooth_describe(halflife: float, asymmetric: bool, inputs: LimitInputs, state: Any) -> str:
    how = "tightening at once, loosening smoothed" if asymmetric else "both ways"
    return f"EMA, halflife {halflife:g} steps, {how}"


def smooth(
    halflife_steps: float,
    *,
    mode: Literal["asymmetric", "symmetric"] = "asymmetric",
    name: str = "smooth",
) -> LimitTransform:
    r"""Exponential smoothing of every limit, so limits do not flap between updates.

    With :math:`a = 2^{-1/\text{halflife}}`, :math:`b = 1 - a` and :math:`r_t`
    the incoming limit:

    - ``"asymmetric"`` (default): :math:`s_t = \min(r_t,\; a s_{t-1} + b r_t)`.
      A tightening (:math:`r_t < s_{t-1}`) applies at once; a loosening is
      smoothed. The smoothed limit is never above what current information
      supports (:math:`s_t \le r_t`), so a rise in risk is never answered
      late; what is damped is the rebound after a spike, which is what makes
      traders rebuild a position only to be cut again.
    - ``"symmetric"``: :math:`s_t = a s_{t-1} + b r_t`, a plain EMA: tightening
      is delayed too (the limit lags a volatility spike by about a halflife).

    The first value initialises the state; an unbounded (``inf``) value
    passes through and the next finite value starts afresh; a NaN sticks (no
    transform here emits NaN). The batch path loops over blocks of >= 333
    steps, not over steps: a closed form per block, or, for asymmetric
    smoothing of values spanning more than 1e4 (e.g. 1e6 -> 0 -> 1), an exact
    prefix scan about 5x slower (see ``_smooth_finite``); either equals the
    step loop to about 1e-12.

    Parameters
    ----------
    halflife_steps : float
        Steps for the weight of a past value to halve, >= 1 (shorter is no
        smoothing: leave the transform out).
    mode : {"asymmetric", "symmetric"}
    name : str
        The stage's name in a derivation.

    Examples
    --------
    >>> transform = smooth(halflife_steps=1.0)
    >>> state, path = transform.init(1), []
    >>> for value in (100.0, 200.0, 200.0, 50.0, 200.0):
    ...     limits = Limits(np.array([value]), value, value, np.array([value]))
    ...     limits, state = transform.update(None, limits, state)
    ...     path.append(limits.gross)
    >>> path
    [100.0, 150.0, 175.0, 50.0, 125.0]
    >>> smooth(2.0, mode="fast")
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: mode: expected one of ('asymmetric', 'symmetric'), got 'fast'
    """
    halflife = _config_value(as_float, halflife_steps, "halflife_steps", low=1)
    if mode not in _SMOOTHING_MODES:
        raise InvalidConfig("mode", f"expected one of {_SMOOTHING_MODES}, got {mode!r}")
    decay = 0.5 ** (1.0 / halflife)
    asymmetric = mode == "asymmetric"
    decay_0d, weight_0d = np.array(decay), np.array(1.0 - decay)
    return LimitTransform(
        _check_name(name),
        _smooth_init,
        functools.partial(_smooth_update, decay_0d, weight_0d, decay, 1.0 - decay, asymmetric),
        functools.partial(_smooth_batch, decay_0d, weight_0d, asymmetric),
        functools.partial(_smooth_describe, halflife, asymmetric),
    )


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
            return _notional(values[0])
        return "[" + ", ".join(_notional(v) for v in np.asarray(value)) + "]"

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
        low = _config_value(as_array, getattr(floor, field), label, shape=shape, low=0)
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
        _check_name(name),
        functools.partial(_bounds_init, floor),
        functools.partial(_clamp_update, floor, ceiling),
        functools.partial(_clamp_batch, floor, ceiling),
        functools.partial(_clamp_describe, floor, ceiling),
    )


def clamp_to_hard_limits(
    hard_position: Any,
    hard_gross: float,
    hard_net: float,
    hard_order: Any,
    *,
    name: str = "hard_limits",
) -> LimitTransform:
    r"""Never report a dynamic limit above a hard one: :math:`x \leftarrow \min(x, \text{hard})`.

    The pre-trade controls apply ``min(hard, dynamic)`` anyway; this keeps the
    *reported* dynamic limits consistent with them. A NaN becomes 0 (a clamp
    with a zero floor): no new risk.

    Parameters
    ----------
    hard_position, hard_order : array (N,)
        Hard per-asset limits, > 0 (``inf`` allowed).
    hard_gross, hard_net : float
        Hard portfolio limits, > 0.
    name : str
        The stage's name in a derivation.

    Examples
    --------
    >>> transform = clamp_to_hard_limits([1e6, 1e6], 1.5e6, 5e5, [1e5, 1e5])
    >>> limits = Limits(np.array([2e6, 3e5]), 1e6, 1e6, np.array([1e5, 2e4]))
    >>> out, _ = transform.update(None, limits, transform.init(2))
    >>> out.position.tolist(), out.gross, out.net
    ([1000000.0, 300000.0], 1000000.0, 500000.0)
    """
    hard = _hard_limits(hard_position, hard_gross, hard_net, hard_order)
    n_assets = hard.position.size
    zero = Limits(np.zeros(n_assets), 0.0, 0.0, np.zeros(n_assets))
    floor, ceiling = _check_bounds(zero, hard, floor_name="zero", ceiling_name="hard")
    return LimitTransform(
        _check_name(name),
        functools.partial(_bounds_init, floor),
        functools.partial(_clamp_update, floor, ceiling),
        functools.partial(_clamp_batch, floor, ceiling),
        functools.partial(_hard_describe, floor, ceiling),
    )


def _hard_limits(hard_position: Any, hard_gross: Any, hard_net: Any, hard_order: Any) -> Limits:
    """Validate hard limits (> 0, ``inf`` allowed), naming the argument."""

    def positive(value: Any, field: str, shape: tuple[int, ...]) -> np.ndarray:
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidConfig(field, f"expected numbers, got {type(value).__name__}") from None
        if isinstance(value, bool) or array.shape != shape:
            raise InvalidConfig(field, f"expected shape {shape}, got {array.shape}")
        if np.any(np.isnan(array)) or np.any(array <= 0.0):
            raise InvalidConfig(field, f"every value must be > 0, got {array.tolist()}")
        return array

    position = np.asarray(hard_position)
    if position.ndim != 1 or position.size == 0:
        raise InvalidConfig("hard_position", f"expected one value per asset, got {hard_position!r}")
    n_assets = position.size
    order = hard_order if np.ndim(hard_order) else np.full(n_assets, hard_order)
    return Limits(
        positive(hard_position, "hard_position", (n_assets,)),
        float(positive(hard_gross, "hard_gross", ())),
        float(positive(hard_net, "hard_net", ())),
        positive(order, "hard_order", (n_assets,)),
    )


# ----------------------------------------------------------------------- chain


def _check_batch(inputs: LimitInputs, limits: Limits) -> tuple[LimitInputs, Limits, int, int]:
    """Batch inputs and limits as float arrays of consistent (T, N) / (T,) shapes."""
    volatility = np.asarray(inputs.volatility, dtype=np.float64)
    if volatility.ndim != 2:
        raise InvalidInput("volatility", f"expected shape (T, N), got {volatility.shape}")
    n_steps, n_assets = volatility.shape
    checked = LimitInputs(
        volatility,
        np.asarray(inputs.var_per_gross, dtype=np.float64),
        np.asarray(inputs.stressed_proba, dtype=np.float64),
        np.asarray(inputs.changepoint, dtype=bool),
    )
    for field in ("var_per_gross", "stressed_proba", "changepoint"):
        if getattr(checked, field).shape != (n_steps,):
            shape = getattr(checked, field).shape
            raise InvalidInput(field, f"expected shape ({n_steps},), got {shape}")
    arrays = []
    for field, value in zip(Limits._fields, limits, strict=True):
        shape = (n_steps, n_assets) if field in ("position", "order") else (n_steps,)
        array = np.asarray(value, dtype=np.float64)
        if array.shape != shape:
            raise InvalidInput(f"limits.{field}", f"expected shape {shape}, got {array.shape}")
        arrays.append(array)
    return checked, Limits(*arrays), n_steps, n_assets


@dataclasses.dataclass(frozen=True, eq=False)
class LimitChain:
    """Transforms applied in order; the same interface as one transform (so chains nest).

    The state is a tuple with one entry per transform, as in optax. Build it
    with :func:`chain`.

    Examples
    --------
    >>> rules = chain(vol_target(20_000.0, 0.1), regime_haircut(0.5))
    >>> rules.names
    ('vol_target', 'regime_haircut')
    >>> inputs = LimitInputs(np.array([0.01]), 0.02, 1.0, False)
    >>> limits, state, derivation = rules.explain(inputs, Limits.unbounded(1), rules.init(1))
    >>> limits.position.tolist(), derivation.moved_by("position[0]")
    ([1000000.0], ('vol_target', 'regime_haircut'))
    """

    transforms: tuple[LimitTransform | LimitChain, ...]
    name: str = "chain"
    _updates: tuple = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = [transform.name for transform in self.transforms]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise InvalidConfig("transforms", f"stage names must be unique, got {duplicates} twice")
        object.__setattr__(self, "_updates", tuple(t.update for t in self.transforms))

    @property
    def names(self) -> tuple[str, ...]:
        """The stages' names, in order."""
        return tuple(transform.name for transform in self.transforms)

    def init(self, n_assets: int) -> tuple:
        """The initial state: one entry per transform."""
        n_assets = _config_value(as_int, n_assets, "n_assets", low=1)
        return tuple(transform.init(n_assets) for transform in self.transforms)

    def update(self, inputs: LimitInputs, limits: Limits, state: tuple) -> tuple[Limits, tuple]:
        """One step: ``(limits, state)`` after every transform. No input checks (hot path)."""
        new_state = []
        for update, transform_state in zip(self._updates, state, strict=True):
            limits, transform_state = update(inputs, limits, transform_state)
            new_state.append(transform_state)
        return limits, tuple(new_state)

    def update_batch(
        self, inputs: LimitInputs, limits: Limits, state: tuple
    ) -> tuple[Limits, tuple]:
        """Many steps (leading time axis): equals :meth:`update` in a loop to 1e-10."""
        inputs, limits, _, _ = _check_batch(inputs, limits)
        new_state = []
        for transform, transform_state in zip(self.transforms, state, strict=True):
            limits, transform_state = transform.update_batch(inputs, limits, transform_state)
            new_state.append(transform_state)
        return limits, tuple(new_state)

    def explain(
        self, inputs: LimitInputs, limits: Limits, state: tuple
    ) -> tuple[Limits, tuple, LimitDerivation]:
        """:meth:`update`, plus the :class:`LimitDerivation` of the result."""
        initial, stages, new_state = limits, [], []
        for transform, transform_state in zip(self.transforms, state, strict=True):
            limits, transform_state = transform.update(inputs, limits, transform_state)
            stages.append(limits)
            new_state.append(transform_state)
        new_state = tuple(new_state)
        derivation = LimitDerivation(
            inputs=inputs,
            initial=initial,
            stage_names=self.names,
            stage_limits=tuple(stages),
            _describers=tuple(
                functools.partial(t.describe, inputs, s)
                for t, s in zip(self.transforms, new_state, strict=True)
            ),
        )
        return limits, new_state, derivation

    def describe(self, inputs: LimitInputs, state: tuple) -> str:
        """The stages' descriptions, joined (when this chain is a stage of another)."""
        return "; ".join(
            f"{t.name}: {t.describe(inputs, s)}"
            for t, s in zip(self.transforms, state, strict=True)
        )


def chain(*transforms: LimitTransform | LimitChain, name: str = "chain") -> LimitChain:
    """Compose transforms, applied left to right; stage names must be unique.

    >>> chain(smooth(2.0), smooth(4.0))
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: transforms: stage names must be unique, got ['smooth'] twice
    """
    return LimitChain(tuple(transforms), name=_check_name(name))


# ------------------------------------------------------------------ derivation


def _notional(value: float) -> str:
    """A limit for people: 1.2M, 984k, inf."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _labels(n_assets: int, assets: Sequence[str] | None) -> tuple[str, ...]:
    if assets is None:
        assets = [str(i) for i in range(n_assets)]
    elif len(assets) != n_assets:
        raise InvalidInput("assets", f"expected {n_assets} names, got {len(assets)}")
    return (
        *(f"position[{a}]" for a in assets),
        "gross",
        "net",
        *(f"order[{a}]" for a in assets),
    )


def _multiplier(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """What a stage did to a limit, as a factor.

    1 if it left the limit alone; ``after`` if it set an unbounded one (a
    builder); ``after / before`` between positive finite values; NaN when
    that is not a multiplication (to or from 0, to inf, NaN).
    """
    before, after = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    positive = (after > 0.0) & (after < np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(positive & (before > 0.0) & (before < np.inf), after / before, np.nan)
    ratio = np.where(positive & (before == np.inf), after, ratio)
    return np.where(after == before, 1.0, ratio)


class LimitMove(NamedTuple):
    """One stage changing one limit."""

    limit: str
    stage: str
    before: float
    after: float

    @property
    def factor(self) -> float:
        """``after / before``; ``after`` when ``before`` was unbounded; NaN to or from 0."""
        return float(_multiplier(self.before, self.after))


class LimitChange(NamedTuple):
    """A limit's change between two derivations, attributed to the stages.

    Attributes
    ----------
    limit : str
        The label, e.g. ``"position[AAPL]"``.
    before, after : float
        The final limit then and now.
    factors : tuple of (stage, factor), or None
        How much each stage's own multiplier changed; they multiply to
        ``after / before``. None when a stage went to or from 0 or inf then or
        now (no multiplicative account exists): read ``stages`` instead.
    stages : tuple of (stage, before, after)
        The stages that moved the limit now (as :meth:`LimitDerivation.moves`).
    """

    limit: str
    before: float
    after: float
    factors: tuple[tuple[str, float], ...] | None
    stages: tuple[tuple[str, float, float], ...]

    def __str__(self) -> str:
        if self.factors is not None:
            moved = ", ".join(f"{stage} x{f:.3g}" for stage, f in self.factors if f != 1.0)
        else:
            moved = "now " + ", ".join(
                f"{stage} {_notional(then)} -> {_notional(now)}" for stage, then, now in self.stages
            )
        return f"{self.limit} {_notional(self.before)} -> {_notional(self.after)}: {moved}"


@dataclasses.dataclass(frozen=True, eq=False)
class LimitDerivation:
    """How one step's limits were derived: the limits after every stage of a chain.

    Made by :meth:`LimitChain.explain`. Limits are addressed by label:
    ``position[i]``, ``gross``, ``net``, ``order[i]`` (``i`` an asset name when
    ``assets`` is given, else its index).

    Examples
    --------
    >>> rules = chain(vol_target(21_600.0, 0.1), var_budget(50_000.0), regime_haircut(0.5),
    ...               smooth(5.0))
    >>> state = rules.init(1)
    >>> calm = LimitInputs(np.array([0.018]), 0.02, 0.0, False)
    >>> _, state, before = rules.explain(calm, Limits.unbounded(1), state)
    >>> stressed = LimitInputs(np.array([0.018]), 0.02, 0.36, False)
    >>> _, state, derivation = rules.explain(stressed, Limits.unbounded(1), state)
    >>> derivation.moved_by("position[AAPL]", assets=["AAPL"])
    ('vol_target', 'regime_haircut')
    >>> print(derivation.change_from(before, assets=["AAPL"])[0])
    position[AAPL] 1.2M -> 984k: regime_haircut x0.82
    >>> print(derivation.summary(assets=["AAPL"]))
    Limit derivation: P(stressed) = 0.36, change point: no, VaR per gross = 2.000%
    limit           input            vol_target  var_budget  regime_haircut  smooth  final
    position[AAPL]  sigma 1.80%      1.2M        .           984k            .       984k
    gross           VaR/gross 2.00%  .           2.5M        2.05M           .       2.05M
    net             VaR/gross 2.00%  .           2.5M        2.05M           .       2.05M
    order[AAPL]     sigma 1.80%      120k        .           98.4k           .       98.4k
    vol_target: position = 21,600 / sigma, order = 0.1 x position
    var_budget: gross = net = 50,000 / VaR per gross 2.000%
    regime_haircut: x0.820 (P(stressed) = 0.36)
    smooth: EMA, halflife 5 steps, tightening at once, loosening smoothed
    """

    inputs: LimitInputs
    initial: Limits
    stage_names: tuple[str, ...]
    stage_limits: tuple[Limits, ...]
    _describers: tuple[Callable[[], str], ...] = dataclasses.field(default=(), repr=False)

    @property
    def final(self) -> Limits:
        """The chain's output."""
        return self.stage_limits[-1] if self.stage_limits else self.initial

    @functools.cached_property
    def notes(self) -> tuple[str, ...]:
        """Each stage's own account of what it did (computed on first access)."""
        return tuple(describe() for describe in self._describers)

    def after(self, stage: str) -> Limits:
        """The limits after ``stage``."""
        return self.stage_limits[self._index(stage)]

    def before(self, stage: str) -> Limits:
        """The limits entering ``stage``."""
        index = self._index(stage)
        return self.stage_limits[index - 1] if index else self.initial

    def _index(self, stage: str) -> int:
        if stage not in self.stage_names:
            raise InvalidInput("stage", f"unknown stage {stage!r}; stages: {self.stage_names}")
        return self.stage_names.index(stage)

    def table(self) -> np.ndarray:
        """Every limit (rows, in :meth:`labels` order) entering the chain and after each stage."""
        return np.stack([_stack(self.initial), *(_stack(s) for s in self.stage_limits)], axis=1)

    def labels(self, assets: Sequence[str] | None = None) -> tuple[str, ...]:
        """The row labels of :meth:`table`."""
        return _labels(np.size(self.initial.position), assets)

    def moves(self, assets: Sequence[str] | None = None) -> tuple[LimitMove, ...]:
        """Every (limit, stage) where the stage changed the limit, in chain order."""
        table, labels = self.table(), self.labels(assets)
        moved = table[:, 1:] != table[:, :-1]
        moved &= ~(np.isnan(table[:, 1:]) & np.isnan(table[:, :-1]))
        return tuple(
            LimitMove(
                labels[row],
                self.stage_names[col],
                float(table[row, col]),
                float(table[row, col + 1]),
            )
            for row, col in zip(*np.nonzero(moved), strict=True)
        )

    def moved_by(self, limit: str, assets: Sequence[str] | None = None) -> tuple[str, ...]:
        """The stages that changed ``limit`` (a label such as ``"position[AAPL]"``)."""
        if limit not in self.labels(assets):
            raise InvalidInput("limit", f"unknown limit {limit!r}")
        return tuple(move.stage for move in self.moves(assets) if move.limit == limit)

    def multipliers(self) -> np.ndarray:
        """Each stage's factor on each limit (rows as :meth:`table`, one column a stage)."""
        table = self.table()
        return _multiplier(table[:, :-1], table[:, 1:])

    def change_from(
        self, previous: LimitDerivation, assets: Sequence[str] | None = None
    ) -> tuple[LimitChange, ...]:
        """Attribute the change of every final limit since ``previous`` to the stages.

        A stage's contribution is the ratio of its multipliers now and then;
        they multiply to ``after / before``, so "position[AAPL] 1.2M -> 984k:
        regime_haircut x0.82" says the haircut did it. A limit that went
        through 0 (an unusable model) is explained by the stage outputs instead.
        """
        if previous.stage_names != self.stage_names:
            raise InvalidInput(
                "previous", f"stages {previous.stage_names} differ from {self.stage_names}"
            )
        labels = self.labels(assets)
        now, then = self.multipliers(), previous.multipliers()
        ratio = now / then
        table = self.table()
        final_now, final_then = _stack(self.final), _stack(previous.final)
        changes = []
        for row in np.flatnonzero(final_now != final_then):
            factors = None
            if np.all(np.isfinite(ratio[row]) & (ratio[row] > 0.0)):
                factors = tuple(zip(self.stage_names, ratio[row].tolist(), strict=True))
            stages = tuple(
                (stage, float(table[row, col]), float(table[row, col + 1]))
                for col, stage in enumerate(self.stage_names)
                if table[row, col] != table[row, col + 1]
            )
            changes.append(
                LimitChange(
                    labels[row], float(final_then[row]), float(final_now[row]), factors, stages
                )
            )
        return tuple(changes)

    def summary(self, assets: Sequence[str] | None = None) -> str:
        """A text table: the value after each stage that moved it ("." if unchanged)."""
        inputs, labels, table = self.inputs, self.labels(assets), self.table()
        volatility = np.asarray(inputs.volatility, dtype=np.float64)
        var_per_gross = float(inputs.var_per_gross)
        header = (
            f"Limit derivation: P(stressed) = {float(inputs.stressed_proba):.2f}, "
            f"change point: {'yes' if inputs.changepoint else 'no'}, "
            f"VaR per gross = {var_per_gross:.3%}"
        )
        sigma = [f"sigma {v:.2%}" if np.isfinite(v) else f"sigma {v}" for v in volatility]
        var = f"VaR/gross {var_per_gross:.2%}"
        source = [*sigma, var, var, *sigma]
        rows = [["limit", "input", *self.stage_names, "final"]]
        for row, label in enumerate(labels):
            cells = [label, source[row]]
            for col in range(len(self.stage_names)):
                before, after = table[row, col], table[row, col + 1]
                changed = before != after and not (math.isnan(before) and math.isnan(after))
                cells.append(_notional(after) if changed else ".")
            rows.append([*cells, _notional(table[row, -1])])
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = [header]
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines += [
            f"{name}: {note}" for name, note in zip(self.stage_names, self.notes, strict=True)
        ]
        return "\n".join(lines)


# ---------------------------------------------------------------------- config


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
    recovery_steps : int
        Steps back to x1 after a change point, >= 1.
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
            "recovery_steps": (as_int, {"low": 1}),
            "halflife_steps": (as_float, {"low": 1}),
            "ceiling_fraction": (as_float, {**positive, "high": 1}),
        }
        for field, (check, bounds) in checks.items():
            value = _config_value(check, getattr(self, field), field, **bounds)
            object.__setattr__(self, field, value)
        floor = _config_value(
            as_float, self.floor_fraction, "floor_fraction", low=0, high=self.ceiling_fraction
        )
        object.__setattr__(self, "floor_fraction", floor)
        if self.smoothing_mode not in _SMOOTHING_MODES:
            raise InvalidConfig(
                "smoothing_mode", f"expected one of {_SMOOTHING_MODES}, got {self.smoothing_mode!r}"
            )

    @classmethod
    def from_mapping(
        cls, table: Mapping[str, Any], *, field: str = "dynamic"
    ) -> DynamicLimitsConfig:
        """Parse a config table (e.g. TOML); unknown keys and bad values name ``field.key``."""
        return config_from_mapping(cls, table, field)


def limit_chain(
    config: DynamicLimitsConfig,
    hard_position: Any,
    hard_gross: float,
    hard_net: float,
    hard_order: Any,
) -> LimitChain:
    """The engine's standard chain.

    ``vol_target -> var_budget -> regime_haircut -> changepoint_tighten ->
    clamp -> smooth -> hard_limits`` (why this order: see the module
    docstring). The clamp's floor and ceiling are ``floor_fraction`` and
    ``ceiling_fraction`` times the hard limits.

    Parameters
    ----------
    config : DynamicLimitsConfig
    hard_position, hard_order : array (N,) (``hard_order`` may be a scalar)
        Hard per-asset limits (notional), > 0.
    hard_gross, hard_net : float
        Hard portfolio limits (notional), > 0.

    Examples
    --------
    >>> rules = limit_chain(DynamicLimitsConfig(risk_budget=1e4, var_budget=1e5),
    ...                     [1e6, 1e6], 2e6, 1e6, 2e5)
    >>> rules.names  # doctest: +NORMALIZE_WHITESPACE
    ('vol_target', 'var_budget', 'regime_haircut', 'changepoint_tighten', 'clamp', 'smooth',
     'hard_limits')
    """
    if not isinstance(config, DynamicLimitsConfig):
        raise InvalidConfig("config", f"expected DynamicLimitsConfig, got {type(config).__name__}")
    hard = _hard_limits(hard_position, hard_gross, hard_net, hard_order)
    for field, limit in zip(Limits._fields, hard, strict=True):
        if not np.all(np.isfinite(limit)):
            problem = "must be finite: the floor and ceiling are fractions of it"
            raise InvalidConfig(f"hard_{field}", f"{problem}, got {np.asarray(limit).tolist()}")
    floor = _scale(hard, config.floor_fraction)
    ceiling = _scale(hard, config.ceiling_fraction)
    return chain(
        vol_target(config.risk_budget, config.order_fraction),
        var_budget(config.var_budget),
        regime_haircut(config.stressed_floor),
        changepoint_tighten(config.changepoint_factor, config.recovery_steps),
        clamp(floor, ceiling),
        smooth(config.halflife_steps, mode=config.smoothing_mode),  # type: ignore[arg-type]
        clamp_to_hard_limits(hard.position, hard.gross, hard.net, hard.order),
        name="dynamic_limits",
    )
