r"""Classical execution schedules as :class:`~riskengine.execution.policy.ExecutionPolicy`.

Four baselines, each one idea, each sending MARKET child orders (the way these
schedules are executed in practice: the schedule decides *how much*, the
market order makes sure it trades).  A policy returns the fraction of the
remaining quantity to send; the environment rounds the child to whole lots,
``floor(fraction * remaining + 1/2)``, so each policy picks its whole-lot
child first and returns ``child / remaining``, which the environment turns
back into exactly that child.

The three static schedules prescribe holdings :math:`x_k` (lots still to
trade when step ``k`` starts, :math:`x_0 = X`, :math:`x_T = 0`) and send
what is left minus the rounded holdings the schedule wants after the step,

.. math::

    n_k = \operatorname{clip}\bigl(R_k - \operatorname{round}(x_{k+1}),\ 0,\ R_k\bigr),

with :math:`R_k` the lots actually left.  With exact fills that is
:math:`\operatorname{round}(x_k) - \operatorname{round}(x_{k+1})`: the
holdings stay within half a lot of the schedule at every step and never
drift (a short fill is made up at the next step), and the last step sends
everything.  Rounding a *fraction of the remainder* instead would not do:
for an order of 3 lots over 20 steps, ``round(3 / 20)`` is 0, and so is
every child until six steps remain -- TWAP would become "wait, then trade".

- :class:`TWAP`: :math:`x_k = X (T - k) / T` (child :math:`X / T`).
- :class:`VWAP`: :math:`x_k = X \sum_{j \ge k} e_j / \sum_j e_j`, where
  :math:`e_j` is the number of background events of step ``j``
  (``params.events``, the intraday profile: expected volume is proportional
  to it), so the child is :math:`X e_k / \sum_j e_j`.
- :class:`AlmgrenChriss`: the optimal holdings of Almgren & Chriss (2000),

  .. math::

      x_k = X \frac{\sinh(\kappa (T - t_k))}{\sinh(\kappa T)}, \qquad
      \cosh(\kappa\tau) = 1 + \frac{\tau^2 \tilde\kappa^2}{2}, \qquad
      \tilde\kappa^2 = \frac{\lambda \sigma^2}{\tilde\eta}, \qquad
      \tilde\eta = \eta - \frac{\gamma\tau}{2},

  with :math:`\tau` one step; the child is :math:`x_k - x_{k+1}`.
  :math:`\kappa \to 0` (no risk aversion) is TWAP.
- :class:`AdaptiveAlmgrenChriss`: re-plans every step: the AC trajectory of
  the *remaining* quantity over the *remaining* horizon, with the
  environment's current volatility estimate and the engine's
  urgency-scaled risk aversion :math:`\lambda_t = \lambda (1 + (\mu - 1) u_t)`,
  and sends its first child, :math:`R_k (1 - \sinh(\kappa_k(N-1)) /
  \sinh(\kappa_k N))` with ``N = T - k`` steps left.  A re-planned child has
  no fixed schedule to round against, so it is rounded at random
  (:math:`\lfloor c + U \rfloor`, ``U`` uniform from the policy's key):
  unbiased, where rounding to nearest would send nothing while the planned
  child is under half a lot.

Units: prices in currency (``tick_size`` 0.01 at a price near 100),
quantities in lots, time in decision steps.  So :math:`\eta` is currency per
lot (per lot traded in a step), :math:`\gamma` currency per lot,
:math:`\sigma` currency per :math:`\sqrt{\text{step}}` and :math:`\lambda`
per currency unit (see :mod:`riskengine.execution.impact` for estimates).

Examples
--------
>>> import jax
>>> from riskengine.execution import env
>>> params = env.make_params("regime_switching")
>>> obs, state = env.reset(jax.random.key(0), params)
>>> twap = TWAP()
>>> for k in range(params.horizon):
...     action = twap.act(jax.random.key(k), obs, state, params)
...     obs, state, reward, done, info = env.step(jax.random.key(k + 1), state, action, params)
>>> bool(done), int(info["unfilled"]), int(state.filled) == int(state.parent)
(True, 0, True)
>>> averse = AlmgrenChriss(eta=0.002, gamma=0.001, sigma=0.01, risk_aversion=1.0)
>>> averse.trajectory(8, 4).round(2)  # front-loaded against TWAP's [8, 6, 4, 2, 0]
array([8.  , 5.58, 3.52, 1.7 , 0.  ])
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from riskengine._validation import as_float, as_int
from riskengine.execution.env import MARKET, EnvParams, EnvState, ExecutionAction
from riskengine.execution.impact_estimate import ImpactEstimate
from riskengine.execution.policy import ExecutionPolicy
from riskengine.risk.execution_params import ExecutionConfig

__all__ = [
    "TWAP",
    "URGENCY_INDEX",
    "VWAP",
    "AdaptiveAlmgrenChriss",
    "AlmgrenChriss",
    "default_baselines",
]

#: Position of the engine's urgency in the observation (see :mod:`riskengine.execution.env`).
URGENCY_INDEX = 12
_F32, _I32 = jnp.float32, jnp.int32
# Below this kappa the sinh ratios are their kappa -> 0 limits to float32
# precision (relative error about (kappa T)^2).
_TINY_KAPPA = 1e-12


# --------------------------------------------------------------------------- helpers
def _step_index(state: EnvState, params: EnvParams) -> jax.Array:
    """The current step, clipped into the horizon (a finished episode reads as its last step)."""
    return jnp.clip(state.step, 0, params.horizon - 1)


def _steps_left(state: EnvState, params: EnvParams) -> jax.Array:
    """Decision steps still to come, this one included (at least 1)."""
    return jnp.maximum(params.horizon - state.step, 1).astype(_F32)


def _send(child: jax.Array, remaining: jax.Array) -> ExecutionAction:
    """The market action whose child the environment rounds to exactly ``child`` lots."""
    fraction = jnp.where(
        remaining > 0, child.astype(_F32) / jnp.maximum(remaining, 1).astype(_F32), 0.0
    )
    return ExecutionAction(fraction=fraction.astype(_F32), style=jnp.asarray(MARKET, _I32))


def _track(holdings_after: jax.Array, state: EnvState) -> ExecutionAction:
    """Send what is left beyond ``round(X * holdings_after)``, ``holdings_after`` in [0, 1]."""
    remaining = state.parent - state.filled
    target = jnp.floor(holdings_after * state.parent.astype(_F32) + 0.5).astype(_I32)
    child = jnp.clip(remaining - target, 0, remaining)
    return _send(child, remaining)


def _sinh_ratio(kappa: jax.Array, a: jax.Array, b: jax.Array) -> jax.Array:
    r""":math:`\sinh(\kappa a) / \sinh(\kappa b)` for :math:`0 \le a \le b`, :math:`b > 0`.

    Written as :math:`e^{\kappa(a - b)} (1 - e^{-2\kappa a}) / (1 - e^{-2\kappa b})`:
    no overflow for a large :math:`\kappa b`, and the limit :math:`a / b` is
    taken explicitly for :math:`\kappa \to 0` (where the ratio is 0/0).
    """
    small = kappa < _TINY_KAPPA
    safe = jnp.where(small, 1.0, kappa)  # keeps the unused branch finite
    ratio = jnp.exp(safe * (a - b)) * jnp.expm1(-2.0 * safe * a) / jnp.expm1(-2.0 * safe * b)
    return jnp.where(small, a / b, ratio)


def _ac_fraction(kappa: jax.Array, steps_left: jax.Array) -> jax.Array:
    r"""The AC child as a fraction of the remainder, :math:`1 - \sinh(\kappa(N-1))/\sinh(\kappa N)`.

    As :math:`(1 - e^{-\kappa})(1 + e^{-\kappa(2N-1)}) / (1 - e^{-2\kappa N})`:
    positive terms only (no cancellation), no overflow, and ``1/N`` (TWAP)
    for :math:`\kappa \to 0`, taken explicitly; exactly 1 at the last step.
    """
    n = steps_left
    small = kappa < _TINY_KAPPA
    safe = jnp.where(small, 1.0, kappa)
    fraction = (
        -jnp.expm1(-safe) * (1.0 + jnp.exp(-safe * (2.0 * n - 1.0))) / -jnp.expm1(-2.0 * safe * n)
    )
    fraction = jnp.where(small, 1.0 / n, fraction)
    return jnp.where(n <= 1.0, 1.0, jnp.clip(fraction, 0.0, 1.0))


def _discrete_kappa(kappa_tilde: Any, xp: Any = jnp) -> Any:
    r"""Solve :math:`\cosh\kappa = 1 + \tilde\kappa^2 / 2` (one-step :math:`\tau`).

    As :math:`\kappa = 2\,\mathrm{asinh}(\tilde\kappa / 2)` (from
    :math:`\cosh 2a = 1 + 2\sinh^2 a`): ``arccosh(1 + y)`` would round ``1 + y``
    to 1 in float32 for the small :math:`\tilde\kappa` that matter here.
    """
    return 2.0 * xp.arcsinh(kappa_tilde / 2.0)


def _check_impact(eta: float, gamma: float) -> tuple[float, float]:
    eta = as_float(eta, field="eta", low=0.0, low_open=True)
    gamma = as_float(gamma, field="gamma", low=0.0)
    if not eta - gamma / 2.0 > 0.0:
        # eta_tilde = eta - gamma / 2 <= 0: faster trading would *lower* the
        # expected cost, and the model has no optimal trajectory.
        raise ValueError(
            f"gamma: must be < 2 * eta = {2.0 * eta!r} (so that eta - gamma / 2 > 0), got {gamma!r}"
        )
    return eta, gamma


# --------------------------------------------------------------------------- policies
@dataclasses.dataclass(frozen=True)
class TWAP:
    r"""Time-weighted average price: the same quantity every step.

    Holdings :math:`x_k = X (T - k) / T`; the child is
    :math:`\operatorname{round}(x_k) - \operatorname{round}(x_{k+1})` with exact
    fills: exactly :math:`X / T` lots when ``T`` divides ``X``, otherwise
    :math:`\lfloor X/T \rfloor` or one more, spread evenly.

    >>> TWAP().name
    'twap'
    """

    name: ClassVar[str] = "twap"

    def holdings_after(self, state: EnvState, params: EnvParams) -> jax.Array:
        r""":math:`x_{k+1} / X` at step ``k``."""
        horizon = jnp.float32(params.horizon)
        return (horizon - 1.0 - _step_index(state, params).astype(_F32)) / horizon

    def act(
        self, key: jax.Array, obs: jax.Array, state: EnvState, params: EnvParams
    ) -> ExecutionAction:
        """Down to the schedule's holdings after this step, at market."""
        del key, obs  # a deterministic schedule
        return _track(self.holdings_after(state, params), state)


@dataclasses.dataclass(frozen=True)
class VWAP:
    r"""Volume-weighted average price: trade along the expected volume profile.

    Holdings :math:`x_k = X \sum_{j \ge k} e_j / \sum_j e_j`, with :math:`e_j`
    the background events of step ``j`` (``params.events``; the book's market
    volume is proportional to them in expectation), so with exact fills the
    child of step ``k`` is :math:`X e_k / \sum_j e_j`, rounded.

    >>> VWAP().name
    'vwap'
    """

    name: ClassVar[str] = "vwap"

    def holdings_after(self, state: EnvState, params: EnvParams) -> jax.Array:
        r""":math:`x_{k+1} / X` at step ``k``."""
        events = params.events.astype(_F32)
        after = jnp.cumsum(events[::-1])[::-1] - events  # sum(events[k + 1:])
        return after[_step_index(state, params)] / jnp.sum(events)

    def act(
        self, key: jax.Array, obs: jax.Array, state: EnvState, params: EnvParams
    ) -> ExecutionAction:
        """Down to the profile's holdings after this step, at market."""
        del key, obs
        return _track(self.holdings_after(state, params), state)


@dataclasses.dataclass(frozen=True)
class AlmgrenChriss:
    r"""The static Almgren-Chriss (2000) optimal trajectory.

    Minimises :math:`E[\text{cost}] + \lambda \operatorname{Var}[\text{cost}]`
    under linear temporary impact :math:`h(n) = \epsilon + \eta n` (per lot,
    ``n`` lots in a step) and linear permanent impact :math:`\gamma n`;
    the optimal holdings are

    .. math::

        x_k = X \frac{\sinh(\kappa (T - k))}{\sinh(\kappa T)}, \quad
        \kappa = 2\,\mathrm{asinh}\!\left(\tfrac{1}{2}\sqrt{\lambda\sigma^2/\tilde\eta}\right),
        \quad \tilde\eta = \eta - \gamma / 2,

    the one-step solution of :math:`\cosh\kappa = 1 + \tilde\kappa^2/2`.
    :meth:`act` sends :math:`x_k - x_{k+1}` in whole lots: what is left
    beyond :math:`\operatorname{round}(x_{k+1})`, so the holdings never drift
    from the closed form by more than half a lot.

    Parameters
    ----------
    eta : float
        Temporary impact, currency per lot per lot traded in the step (> 0).
    gamma : float
        Permanent impact, currency per lot traded (>= 0, and < ``2 * eta``).
    sigma : float
        Mid volatility, currency per :math:`\sqrt{\text{step}}` (>= 0).
    risk_aversion : float
        :math:`\lambda` per currency unit (>= 0; 0 is TWAP).

    Examples
    --------
    >>> ac = AlmgrenChriss(eta=0.002, gamma=0.001, sigma=0.01, risk_aversion=0.01)
    >>> round(ac.kappa, 5), ac.name
    (0.02582, 'almgren_chriss')
    >>> AlmgrenChriss(eta=-1.0, gamma=0.0, sigma=0.01, risk_aversion=0.01)
    Traceback (most recent call last):
    ValueError: eta: must be > 0.0, got -1.0
    """

    eta: float
    gamma: float
    sigma: float
    risk_aversion: float
    name: ClassVar[str] = "almgren_chriss"

    def __post_init__(self) -> None:
        eta, gamma = _check_impact(self.eta, self.gamma)
        object.__setattr__(self, "eta", eta)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "sigma", as_float(self.sigma, field="sigma", low=0.0))
        object.__setattr__(
            self, "risk_aversion", as_float(self.risk_aversion, field="risk_aversion", low=0.0)
        )

    @classmethod
    def from_estimate(cls, estimate: ImpactEstimate, risk_aversion: float) -> AlmgrenChriss:
        """The schedule with ``eta``, ``gamma`` and ``sigma`` of an impact estimate."""
        return cls(
            eta=estimate.eta,
            gamma=estimate.gamma,
            sigma=estimate.sigma,
            risk_aversion=risk_aversion,
        )

    @property
    def eta_tilde(self) -> float:
        r""":math:`\tilde\eta = \eta - \gamma\tau/2` (``tau`` = one step)."""
        return self.eta - self.gamma / 2.0

    @property
    def kappa(self) -> float:
        r"""The urgency :math:`\kappa` per step (float64)."""
        kappa_tilde = math.sqrt(self.risk_aversion * self.sigma**2 / self.eta_tilde)
        return float(_discrete_kappa(kappa_tilde, np))

    def trajectory(self, quantity: float, steps: int) -> np.ndarray:
        """Holdings :math:`x_0 = X, \\dots, x_T = 0` of the closed form (float64, ``steps + 1``).

        >>> AlmgrenChriss(eta=0.002, gamma=0.0, sigma=0.01, risk_aversion=0.0).trajectory(4, 4)
        array([4., 3., 2., 1., 0.])
        """
        quantity = as_float(quantity, field="quantity", low=0.0)
        steps = as_int(steps, field="steps", low=1)
        k = np.arange(steps + 1, dtype=np.float64)
        kappa = self.kappa
        if kappa < _TINY_KAPPA:
            return quantity * (steps - k) / steps
        # sinh(a) / sinh(b) as exp(a - b) (1 - e^{-2a}) / (1 - e^{-2b}): no overflow.
        a, b = kappa * (steps - k), kappa * steps
        return quantity * np.exp(a - b) * np.expm1(-2.0 * a) / np.expm1(-2.0 * b)

    def holdings_after(self, state: EnvState, params: EnvParams) -> jax.Array:
        r""":math:`x_{k+1} / X` at step ``k`` (float32)."""
        horizon = jnp.float32(params.horizon)
        left_after = horizon - 1.0 - _step_index(state, params).astype(_F32)
        return _sinh_ratio(jnp.float32(self.kappa), left_after, horizon)

    def act(
        self, key: jax.Array, obs: jax.Array, state: EnvState, params: EnvParams
    ) -> ExecutionAction:
        """Down to the trajectory's holdings after this step, at market."""
        del key, obs
        return _track(self.holdings_after(state, params), state)


@dataclasses.dataclass(frozen=True)
class AdaptiveAlmgrenChriss:
    r"""Almgren-Chriss re-planned every step with the current volatility and urgency.

    At step ``k`` with ``N`` steps and :math:`R_k` lots left, the policy solves
    the AC problem for :math:`R_k` over the remaining horizon and sends its
    first child, :math:`c_k = R_k (1 - \sinh(\kappa_k (N-1)) / \sinh(\kappa_k N))`,
    with :math:`\kappa_k` from

    .. math::

        \sigma_k^2 = v_k \, \bar e_k \, \delta^2, \qquad
        \lambda_k = \lambda \bigl(1 + (\mu - 1)\, u_k\bigr),

    where :math:`v_k` is the environment's EWMA of the mid's variance per
    background event (``state.variance``, ticks squared), :math:`\bar e_k` the
    mean event count of the remaining steps (AC takes one :math:`\sigma` for
    the rest of the horizon, so the per-event variance is scaled by the clock
    still to come, not by this step's alone), :math:`\delta` the tick size and
    :math:`u_k` the engine's urgency (observation ``URGENCY_INDEX``: the
    environment's :func:`~riskengine.risk.execution_params.urgency_array` of
    the volatility ratio and the stressed-regime probability) -- the engine's
    rule for risk aversion.  The child sent is :math:`\lfloor c_k + U \rfloor`
    lots with ``U`` uniform on [0, 1) from ``key``: unbiased rounding (a
    re-planned child has no fixed schedule to round against, and rounding to
    nearest would send nothing while :math:`c_k < 1/2`).  With
    :math:`u_k = 0` and a constant :math:`\sigma_k` the plan is
    :class:`AlmgrenChriss`'s (:meth:`planned_fraction`).  An unusable
    variance (NaN or negative) falls back to the environment's reference
    level; a NaN urgency counts as 1, as the engine treats unusable inputs.

    Parameters
    ----------
    eta, gamma : float
        Temporary and permanent impact, as in :class:`AlmgrenChriss`.
    risk_aversion : float
        :math:`\lambda` in calm markets (urgency 0), per currency unit (>= 0).
    multiplier : float
        :math:`\mu \ge 1`: risk aversion at full urgency is :math:`\mu\lambda`
        (default: the engine's ``ExecutionConfig().max_risk_aversion_multiplier``).

    Examples
    --------
    >>> policy = AdaptiveAlmgrenChriss(eta=0.002, gamma=0.001, risk_aversion=0.01)
    >>> policy.name, policy.multiplier
    ('adaptive_ac', 10.0)
    >>> AdaptiveAlmgrenChriss(eta=0.002, gamma=0.001, risk_aversion=0.01, multiplier=0.5)
    Traceback (most recent call last):
    ValueError: multiplier: must be >= 1.0, got 0.5
    """

    eta: float
    gamma: float
    risk_aversion: float
    multiplier: float = ExecutionConfig().max_risk_aversion_multiplier
    name: ClassVar[str] = "adaptive_ac"

    def __post_init__(self) -> None:
        eta, gamma = _check_impact(self.eta, self.gamma)
        object.__setattr__(self, "eta", eta)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(
            self, "risk_aversion", as_float(self.risk_aversion, field="risk_aversion", low=0.0)
        )
        object.__setattr__(
            self, "multiplier", as_float(self.multiplier, field="multiplier", low=1.0)
        )

    @classmethod
    def from_estimate(
        cls, estimate: ImpactEstimate, risk_aversion: float, multiplier: float | None = None
    ) -> AdaptiveAlmgrenChriss:
        """The policy with ``eta`` and ``gamma`` of an impact estimate (``sigma`` comes live)."""
        if multiplier is None:
            multiplier = ExecutionConfig().max_risk_aversion_multiplier
        return cls(
            eta=estimate.eta,
            gamma=estimate.gamma,
            risk_aversion=risk_aversion,
            multiplier=multiplier,
        )

    def volatility(self, state: EnvState, params: EnvParams) -> jax.Array:
        r"""The :math:`\sigma_k` the policy plans with, currency per :math:`\sqrt{\text{step}}`."""
        variance = jnp.where(state.variance >= 0.0, state.variance, params.reference_variance)
        events = params.events.astype(_F32)
        still_to_come = jnp.cumsum(events[::-1])[::-1][_step_index(state, params)]
        mean_events = still_to_come / _steps_left(state, params)
        return jnp.sqrt(variance * mean_events) * params.book.tick_size

    def planned_fraction(self, obs: jax.Array, state: EnvState, params: EnvParams) -> jax.Array:
        """The re-planned child :math:`c_k` as a fraction of the remainder (before rounding)."""
        urgency = jnp.clip(jnp.nan_to_num(obs[URGENCY_INDEX], nan=1.0), 0.0, 1.0)
        risk_aversion = self.risk_aversion * (1.0 + (self.multiplier - 1.0) * urgency)
        eta_tilde = jnp.float32(self.eta - self.gamma / 2.0)
        sigma = self.volatility(state, params)
        kappa = _discrete_kappa(jnp.sqrt(risk_aversion * sigma**2 / eta_tilde))
        return _ac_fraction(kappa, _steps_left(state, params))

    def act(
        self, key: jax.Array, obs: jax.Array, state: EnvState, params: EnvParams
    ) -> ExecutionAction:
        """The first child of the AC plan over the remaining horizon, rounded at random."""
        remaining = state.parent - state.filled
        planned = self.planned_fraction(obs, state, params) * remaining.astype(_F32)
        uniform = jax.random.uniform(key, (), dtype=_F32)
        child = jnp.clip(jnp.floor(planned + uniform).astype(_I32), 0, remaining)
        return _send(child, remaining)


def default_baselines(params: EnvParams, estimate: ImpactEstimate) -> dict[str, ExecutionPolicy]:
    """The four baselines, keyed by name, with the spec's :math:`\\lambda` and estimated impact.

    ``almgren_chriss`` and ``adaptive_ac`` use ``params.risk_aversion`` (the
    ``[execution]`` table's ``risk_aversion``) and the estimate's ``eta``,
    ``gamma`` (and ``sigma`` for the static one); the adaptive multiplier is
    the environment's own ``params.urgency.max_risk_aversion_multiplier``.

    Parameters
    ----------
    params : EnvParams
    estimate : ImpactEstimate
        From :func:`riskengine.execution.impact.estimate_impact`.

    Returns
    -------
    dict of str to ExecutionPolicy
        ``twap``, ``vwap``, ``almgren_chriss``, ``adaptive_ac``.
    """
    risk_aversion = float(params.risk_aversion)
    return {
        "twap": TWAP(),
        "vwap": VWAP(),
        "almgren_chriss": AlmgrenChriss.from_estimate(estimate, risk_aversion),
        "adaptive_ac": AdaptiveAlmgrenChriss.from_estimate(
            estimate, risk_aversion, params.urgency.max_risk_aversion_multiplier
        ),
    }
