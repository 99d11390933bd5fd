r"""Almgren-Chriss impact parameters measured in the simulated book, and the impact curve.

:func:`estimate_impact` runs *probes* in the execution environment's own book
(every episode draw of liquidity, activity, side and regime included): at
random steps (each with probability ``probe_probability``) a market child
order of a random size :math:`q_k`, uniform on ``1 .. max_probe`` lots, and
nothing in between.  With :math:`m_k` the mid when step ``k`` starts,
:math:`\tilde m_k` the mid of the shadow book (the same random numbers
without the agent, ``track_impact``), :math:`p_k` the average fill price and
:math:`s = \pm 1` the side, ordinary least squares
(:func:`numpy.linalg.lstsq`) on the Almgren-Chriss (2000) model gives

.. math::

    s (p_k - m_k) &= \epsilon + \eta\, q_k + e_k
    &&\text{(temporary impact; steps with a probe)}, \\
    s\, \Delta(m - \tilde m)_k &= c + \gamma\, q_k + e'_k
    &&\text{(permanent impact: the agent's own mid move in the step; all steps)}, \\
    \sigma^2 &= \overline{(\Delta \tilde m_k)^2}
    &&\text{(the undisturbed mid's variance per step)}.

Probes are sparse on purpose: a probe at every step keeps the far side of
the book thinned out, and then every later probe pays (and moves the mid)
more than a child order sent into the book's usual state.  On the
``regime_switching`` book, probing every step gives slopes about 1.6 times
those of sparse probes, and a model that over-predicts the TWAP curve's
impact by as much.  With sparse probes the predicted impact of TWAP orders
of 0.1 to 1 times the typical volume is within one or two standard errors
of the measured one (a little above it), and the spread part within a few
hundredths of a bp.

The half spread :math:`\epsilon` is the intercept: the fixed cost per lot
of the linear model, which is not quite the book's quoted half spread
(also reported, as ``quoted_half_spread``).  In the ``regime_switching``
book a one-lot order pays the quoted half spread, about 0.6 ticks, and each
further lot about 0.1 tick more (touches are often thin), so the line
through the fill costs of 1 to 7 lots meets zero size just under half a
tick.  The regressions' standard errors are clustered by episode (the
steps of one episode share a book).  The last step of an episode is left out of both fits: the
environment sweeps whatever is left there at market.

:func:`impact_curve` runs TWAP meta-orders of fixed sizes (a fraction of the
horizon's typical market volume) through the same book and reports their
mean implementation shortfall and its spread / impact / timing split, next to
what the Almgren-Chriss model with the estimated parameters predicts for the
same schedule of whole-lot children :math:`n_k`:

.. math::

    E[\text{cost}] = \epsilon X + \eta \sum_k n_k^2
    + \gamma \frac{X^2 - \sum_k n_k^2}{2}
    \quad\Bigl(= \epsilon X + \tilde\eta\, \tfrac{X^2}{T} + \gamma \tfrac{X^2}{2}
    \text{ for } n_k = X / T\Bigr),

whose first two terms are the environment's "spread" part (fills against the
mid of their own step) and the last its "impact" part (earlier children's
permanent impact on the mid), each in bps of :math:`X m_0`.  The power-law
exponent of the measured impact against the order size is reported with
it (the square-root law would be 0.5, the linear AC model about 1).

Examples
--------
>>> from riskengine.execution import env
>>> params = env.make_params("regime_switching")
>>> estimate = estimate_impact(params, seed=0, n_episodes=256)
>>> estimate.eta > 0, estimate.gamma > 0, estimate.sigma > 0
(True, True, True)
>>> 0.5 <= estimate.quoted_half_spread / estimate.tick_size < 1.5
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from riskengine._validation import as_float, as_int, check_seed
from riskengine.execution.baselines import TWAP
from riskengine.execution.env import (
    MARKET,
    EnvParams,
    ExecutionAction,
    episode_info,
    reset_env,
    step_env,
)
from riskengine.execution.impact_estimate import ImpactEstimate
from riskengine.sim.book_kernel import best_levels, mid_half_ticks
from riskengine.sim.devices import map_over_devices
from riskengine.sim.pytree import check_instance

__all__ = [
    "DEFAULT_SIZE_FRACTIONS",
    "ImpactCurve",
    "ImpactEstimate",
    "estimate_impact",
    "impact_curve",
]

#: Meta-order sizes of :func:`impact_curve`, as fractions of the typical horizon volume.
DEFAULT_SIZE_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 1.0)
# Episodes per compiled call: every run goes through one program shape, so the
# probes and the curve, of any size, share a single compilation per process.
_CHUNK = 256
# Random streams under the seed, so the probes and the curve draw different episodes.
_PROBE_STREAM, _CURVE_STREAM = 0, 1
_F32, _I32 = jnp.float32, jnp.int32


# --------------------------------------------------------------------------- results
# ImpactEstimate lives in its own module (re-exported here), so that the
# baselines, which build schedules from it, need not import this module.
@dataclasses.dataclass(frozen=True, eq=False)
class ImpactCurve:
    """Mean cost of TWAP meta-orders by size, measured and as the AC model predicts.

    Arrays have one entry per size (bps of the order's arrival value).

    Attributes
    ----------
    size_fraction : float64
        Order size over the horizon's typical market volume.
    order_lots : int64
        The order, lots (``max(round(fraction * typical_volume), 1)``).
    is_bps, spread_bps, impact_bps, timing_bps : float64
        Mean implementation shortfall and its parts (see
        :mod:`riskengine.execution.env`).
    is_bps_stderr, spread_bps_stderr, impact_bps_stderr, timing_bps_stderr : float64
        Their standard errors.
    predicted_is_bps, predicted_spread_bps, predicted_impact_bps : float64
        The Almgren-Chriss expected cost of the same child orders with
        ``estimate`` (timing is 0 in expectation).
    impact_exponent, impact_exponent_stderr : float
        Slope of ``log(impact_bps)`` on ``log(order_lots)`` (NaN when a mean
        impact is not positive or fewer than two sizes; stderr NaN below three).
    predicted_impact_exponent : float
        The same slope fitted to ``predicted_impact_bps``.
    n_episodes : int
        Episodes per size (the same market paths for every size).
    estimate : ImpactEstimate
        The parameters behind the predictions.
    """

    size_fraction: np.ndarray
    order_lots: np.ndarray
    is_bps: np.ndarray
    is_bps_stderr: np.ndarray
    spread_bps: np.ndarray
    spread_bps_stderr: np.ndarray
    impact_bps: np.ndarray
    impact_bps_stderr: np.ndarray
    timing_bps: np.ndarray
    timing_bps_stderr: np.ndarray
    predicted_is_bps: np.ndarray
    predicted_spread_bps: np.ndarray
    predicted_impact_bps: np.ndarray
    impact_exponent: float
    impact_exponent_stderr: float
    predicted_impact_exponent: float
    n_episodes: int
    estimate: ImpactEstimate

    def summary(self) -> list[dict[str, float]]:
        """One row per size: the measured means with standard errors and the AC prediction.

        >>> from riskengine.execution import env
        >>> params = env.make_params("regime_switching")
        >>> estimate = estimate_impact(params, seed=0, n_episodes=256)
        >>> curve = impact_curve(params, (0.2, 0.5), seed=0, n_episodes=256, estimate=estimate)
        >>> [row["order_lots"] for row in curve.summary()]
        [6, 16]
        """
        names = [f.name for f in dataclasses.fields(self) if f.name.endswith("bps")]
        names += [f"{name}_stderr" for name in ("is_bps", "spread_bps", "impact_bps", "timing_bps")]
        rows = []
        for i, fraction in enumerate(self.size_fraction):
            row: dict[str, float] = {
                "size_fraction": float(fraction),
                "order_lots": int(self.order_lots[i]),
            }
            row.update({name: float(getattr(self, name)[i]) for name in sorted(set(names))})
            rows.append(row)
        return rows


# --------------------------------------------------------------------------- simulation
def _episode(index, seed, stream, params: EnvParams, twap, max_probe, probe_probability):
    """One episode: random market probes (``twap`` False) or a TWAP meta-order (True)."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), stream), index)
    reset_key, probe_key, steps_key = jax.random.split(key, 3)
    obs, state = reset_env(reset_key, params)
    size_key, when_key = jax.random.split(probe_key)
    sizes = jax.random.randint(size_key, (params.horizon,), 1, max_probe + 1, dtype=_I32)
    probing = jax.random.uniform(when_key, (params.horizon,)) < probe_probability
    probes = jnp.where(probing, sizes, 0)
    book_params = params.book

    def body(carry, xs):
        obs, state = carry
        step_key, probe = xs
        mid2 = mid_half_ticks(state.book, book_params)
        best_bid, best_ask = best_levels(state.book, book_params)
        shadow2 = mid_half_ticks(state.shadow, book_params)
        remaining = jnp.maximum(state.parent - state.filled, 1).astype(_F32)
        schedule = TWAP().act(step_key, obs, state, params).fraction
        fraction = jnp.where(twap, schedule, probe.astype(_F32) / remaining)
        action = ExecutionAction(fraction=fraction, style=jnp.asarray(MARKET, _I32))
        obs, after, _, _, _ = step_env(step_key, state, action, params)
        mid2_after = mid_half_ticks(after.book, book_params)
        shadow2_after = mid_half_ticks(after.shadow, book_params)
        record = {
            "lots": after.filled - state.filled,
            # side * (2 * sum(fill ticks) - lots * 2 m_k): half-ticks times lots
            "spread_half_ticks": after.spread_cost - state.spread_cost,
            "quoted_spread": best_ask - best_bid,  # ticks, when the step starts
            "gap_change": (mid2_after - shadow2_after) - (mid2 - shadow2),
            "shadow_change": shadow2_after - shadow2,
        }
        return (obs, after), record

    keys = jax.random.split(steps_key, params.horizon)
    (_, state), records = lax.scan(body, (obs, state), (keys, probes))
    info = episode_info(state, params)
    return {
        **records,
        "side": state.side,
        "parent": state.parent,
        "arrival_mid2": state.arrival_mid2,
        "unfilled": state.unfilled,
        **{name: info[name] for name in ("is_bps", "spread_bps", "impact_bps", "timing_bps")},
    }


def _episodes(indices, seed, stream, params, twap, max_probe, probe_probability):
    return jax.vmap(_episode, in_axes=(0, None, None, None, None, None, None))(
        indices, seed, stream, params, twap, max_probe, probe_probability
    )


def _simulate(
    params: EnvParams,
    seed: int,
    stream: int,
    n_episodes: int,
    *,
    twap: bool,
    max_probe: int,
    probe_probability: float = 0.0,
) -> dict[str, np.ndarray]:
    """Run ``n_episodes`` in chunks of one fixed shape; episode ``i`` depends only on ``i``."""
    outputs = []
    args = (
        jnp.asarray(seed, jnp.uint32),
        jnp.asarray(stream, jnp.uint32),
        params,
        jnp.asarray(twap),
        jnp.asarray(max_probe, _I32),
        jnp.asarray(probe_probability, _F32),
    )
    for start in range(0, n_episodes, _CHUNK):
        out = map_over_devices(
            _episodes,
            lambda m, start=start: jnp.arange(start, start + m, dtype=jnp.uint32),
            _CHUNK,
            *args,
        )
        outputs.append({k: np.asarray(v)[:_CHUNK] for k, v in jax.device_get(out).items()})
    return {k: np.concatenate([o[k] for o in outputs])[:n_episodes] for k in outputs[0]}


def _with_fixed_size(params: EnvParams, lots: float) -> EnvParams:
    """``params`` whose every episode is an order of ``lots`` (the size draw pinned)."""
    fraction = lots / float(params.typical_volume)
    return dataclasses.replace(params, size_range=jnp.asarray([fraction, fraction], _F32))


def _check_params(params: Any) -> EnvParams:
    check_instance(params, EnvParams, "params")
    return params.with_impact(True)  # impact is measured against the shadow book


# --------------------------------------------------------------------------- statistics
def _ols(design: np.ndarray, y: np.ndarray, groups: np.ndarray):
    """Least squares with episode-clustered standard errors; returns (coef, stderr, r2)."""
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    bread = np.linalg.inv(design.T @ design)
    scores = design * resid[:, None]
    n_groups = int(groups.max()) + 1
    per_group = np.stack(
        [np.bincount(groups, weights=scores[:, j], minlength=n_groups) for j in range(coef.size)],
        axis=1,
    )
    used = np.unique(groups).size
    meat = per_group.T @ per_group * used / max(used - 1, 1)
    stderr = np.sqrt(np.diag(bread @ meat @ bread))
    total = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum(resid**2) / total if total > 0 else float("nan")
    return coef, stderr, float(r2)


def _power_law(size: np.ndarray, value: np.ndarray) -> tuple[float, float]:
    """Slope and its stderr of ``log(value)`` on ``log(size)`` (NaN when undefined)."""
    if size.size < 2 or not np.all(value > 0) or np.unique(size).size < 2:
        return float("nan"), float("nan")
    design = np.column_stack([np.ones(size.size), np.log(size)])
    y = np.log(value)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    if size.size < 3:
        return float(coef[1]), float("nan")
    resid = y - design @ coef
    scale = resid @ resid / (size.size - 2)
    stderr = np.sqrt(scale * np.linalg.inv(design.T @ design)[1, 1])
    return float(coef[1]), float(stderr)


def _stderr(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / np.sqrt(values.size))


# --------------------------------------------------------------------------- API
def estimate_impact(
    params: EnvParams,
    seed: int = 0,
    n_episodes: int = 512,
    max_probe: int | None = None,
    probe_probability: float = 0.25,
) -> ImpactEstimate:
    """Estimate :math:`\\eta`, :math:`\\gamma`, :math:`\\sigma` and the half spread with probes.

    Parameters
    ----------
    params : EnvParams
        The environment (its shadow book is switched on here).
    seed : int
        Episode ``i`` of the probes starts from ``fold_in(key(seed), i)``
        (in the probe stream), whatever ``n_episodes``.
    n_episodes : int
        Probe episodes (>= 2), of ``T - 1`` steps that may hold a probe.
    max_probe : int, optional
        Largest probe, lots (default: the typical touch depth rounded, at
        least 2): from one lot to what one price level holds, which covers
        the child orders of the spec's parent orders with room to spare.
    probe_probability : float
        Probability that a step holds a probe, in (0, 1] (see the module
        docstring for why not 1).

    Returns
    -------
    ImpactEstimate

    Notes
    -----
    Episodes run in compiled chunks of 256, so every call in a process (this
    one and :func:`impact_curve`, any ``n_episodes``) shares one compilation,
    about 20 s on a laptop-class CPU; a chunk then takes about half a second.

    Examples
    --------
    >>> from riskengine.execution import env
    >>> params = env.make_params("regime_switching")
    >>> summary = estimate_impact(params, seed=0, n_episodes=256).summary()
    >>> round(summary["quoted_half_spread_ticks"], 2), summary["n_episodes"]
    (0.61, 256)
    """
    params = _check_params(params)
    seed = check_seed(seed)
    n_episodes = as_int(n_episodes, field="n_episodes", low=2, high=2**24)
    if max_probe is None:
        max_probe = max(2, round(float(params.typical_depth)))
    max_probe = as_int(max_probe, field="max_probe", low=1, high=10_000)
    probe_probability = as_float(
        probe_probability, field="probe_probability", low=0.0, low_open=True, high=1.0
    )
    tick = float(params.book.tick_size)
    # The parent covers every probe, so each probe trades exactly what was drawn.
    probing = _with_fixed_size(params, max_probe * params.horizon + 1)
    out = _simulate(
        probing,
        seed,
        _PROBE_STREAM,
        n_episodes,
        twap=False,
        max_probe=max_probe,
        probe_probability=probe_probability,
    )

    steps = params.horizon - 1  # the last step ends in the sweep of the remainder
    lots = out["lots"][:, :steps].astype(np.float64)
    side = out["side"].astype(np.float64)[:, None]
    episode = np.broadcast_to(np.arange(n_episodes)[:, None], lots.shape)
    traded = lots > 0
    # Average fill price minus the step's starting mid, signed, currency per lot.
    slippage = out["spread_half_ticks"][:, :steps][traded] / (2.0 * lots[traded]) * tick
    design = np.column_stack([np.ones(slippage.size), lots[traded]])
    temporary, temporary_se, temporary_r2 = _ols(design, slippage, episode[traded])
    quoted = out["quoted_spread"][:, :steps][traded] / 2.0 * tick
    quoted_mean, quoted_se, _ = _ols(np.ones((quoted.size, 1)), quoted, episode[traded])
    # The agent's own mid move in the step (mid minus shadow mid), signed, currency.
    own_move = (side * out["gap_change"][:, :steps] / 2.0 * tick).ravel()
    design = np.column_stack([np.ones(own_move.size), lots.ravel()])
    permanent, permanent_se, permanent_r2 = _ols(design, own_move, episode.ravel())
    # The undisturbed mid's variance per step (every step: the shadow never trades).
    per_episode = np.mean((out["shadow_change"] / 2.0 * tick) ** 2, axis=1)
    sigma = float(np.sqrt(per_episode.mean()))
    sigma_se = _stderr(per_episode) / (2.0 * sigma) if sigma > 0 else float("nan")
    return ImpactEstimate(
        eta=float(temporary[1]),
        gamma=float(permanent[1]),
        sigma=sigma,
        half_spread=float(temporary[0]),
        quoted_half_spread=float(quoted_mean[0]),
        eta_stderr=float(temporary_se[1]),
        gamma_stderr=float(permanent_se[1]),
        sigma_stderr=float(sigma_se),
        half_spread_stderr=float(temporary_se[0]),
        quoted_half_spread_stderr=float(quoted_se[0]),
        temporary_r2=temporary_r2,
        permanent_r2=permanent_r2,
        permanent_intercept=float(permanent[0]),
        n_episodes=n_episodes,
        n_probes=int(traded.sum()),
        max_probe=max_probe,
        probe_probability=probe_probability,
        tick_size=tick,
    )


def impact_curve(
    params: EnvParams,
    size_fractions: Sequence[float] = DEFAULT_SIZE_FRACTIONS,
    seed: int = 0,
    n_episodes: int = 256,
    estimate: ImpactEstimate | None = None,
) -> ImpactCurve:
    """Mean IS and its split for TWAP meta-orders by size, against the AC prediction.

    Parameters
    ----------
    params : EnvParams
        The environment (its shadow book is switched on here).
    size_fractions : sequence of float
        Order sizes over ``params.typical_volume`` (> 0); every episode of a
        size trades exactly that order (the spec's size draw is pinned).
    seed : int
        Episode ``i`` starts from ``fold_in(key(seed), i)`` in the curve's
        stream for every size (common random numbers across sizes).
    n_episodes : int
        Episodes per size (>= 2).
    estimate : ImpactEstimate, optional
        Parameters for the prediction (default: ``estimate_impact(params, seed)``).

    Returns
    -------
    ImpactCurve
    """
    params = _check_params(params)
    seed = check_seed(seed)
    n_episodes = as_int(n_episodes, field="n_episodes", low=2, high=2**24)
    if isinstance(size_fractions, str) or not isinstance(size_fractions, Sequence | np.ndarray):
        raise TypeError(f"size_fractions: expected a sequence of numbers, got {size_fractions!r}")
    fractions = np.array(
        [
            as_float(f, field=f"size_fractions[{i}]", low=0.0, low_open=True, high=100.0)
            for i, f in enumerate(size_fractions)
        ]
    )
    if fractions.size == 0:
        raise ValueError("size_fractions: expected at least one size")
    if estimate is None:
        estimate = estimate_impact(params, seed=seed)
    check_instance(estimate, ImpactEstimate, "estimate")

    volume = float(params.typical_volume)
    columns: dict[str, list[float]] = {}
    order_lots = []
    for fraction in fractions:
        lots = max(round(fraction * volume), 1)
        order_lots.append(lots)
        out = _simulate(
            _with_fixed_size(params, lots), seed, _CURVE_STREAM, n_episodes, twap=True, max_probe=0
        )
        for name in ("is_bps", "spread_bps", "impact_bps", "timing_bps"):
            values = out[name].astype(np.float64)
            columns.setdefault(name, []).append(float(values.mean()))
            columns.setdefault(f"{name}_stderr", []).append(_stderr(values))
        # The AC expected cost of the children actually sent, per episode.
        children = out["lots"].astype(np.float64)
        quantity = children.sum(axis=1)
        squares = (children**2).sum(axis=1)
        value = quantity * out["arrival_mid2"] / 2.0 * estimate.tick_size / 1e4  # X m0 / 1e4
        spread = (estimate.half_spread * quantity + estimate.eta * squares) / value
        impact = estimate.gamma * (quantity**2 - squares) / 2.0 / value
        columns.setdefault("predicted_spread_bps", []).append(float(spread.mean()))
        columns.setdefault("predicted_impact_bps", []).append(float(impact.mean()))
        columns.setdefault("predicted_is_bps", []).append(float((spread + impact).mean()))

    arrays = {name: np.asarray(values) for name, values in columns.items()}
    lots_array = np.asarray(order_lots, dtype=np.int64)
    exponent, exponent_se = _power_law(lots_array.astype(np.float64), arrays["impact_bps"])
    predicted_exponent, _ = _power_law(
        lots_array.astype(np.float64), arrays["predicted_impact_bps"]
    )
    return ImpactCurve(
        size_fraction=fractions,
        order_lots=lots_array,
        impact_exponent=exponent,
        impact_exponent_stderr=exponent_se,
        predicted_impact_exponent=predicted_exponent,
        n_episodes=n_episodes,
        estimate=estimate,
        **arrays,
    )
