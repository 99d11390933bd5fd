r"""The execution environment's parameters, built from a scenario and measured once.

:func:`make_params` turns a scenario's ``[book]`` and ``[execution]`` tables
into :class:`EnvParams`, the frozen pytree :mod:`riskengine.execution.env`
steps with.  Besides converting the tables, it *measures* what the agent's
observation and the regime filter are scaled by, running each book regime
on its own (a fixed seed, 32 books of 4,000 events, the first quarter
dropped as the reset profile's transient):

* the frequency of limit, market and cancel events (the filter's emission
  model), with add-one smoothing;
* the market volume per event, the depth at the touch and the variance of
  the mid change per event, averaged over regimes with the book's stationary
  regime distribution: ``typical_volume`` (over the horizon),
  ``typical_depth`` and ``reference_variance``.

The step transition matrices are the per-event matrix powered to each
step's event count (the intraday profile of ``[execution]``).  The
measurement takes about a second, so parameters are cached per content of
the two tables and the engine's :class:`~riskengine.risk.execution_params.ExecutionConfig`.

Examples
--------
>>> params = make_params("regime_switching")
>>> params.horizon, params.book.levels, params.track_impact
(20, 20, False)
>>> int(params.events.sum()), round(float(params.typical_depth), 1)  # events, lots at the touch
(400, 7.3)
>>> params.with_impact().track_impact
True
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from riskengine.risk.execution_params import ExecutionConfig
from riskengine.sim import book_kernel
from riskengine.sim.book_levels import depth_at
from riskengine.sim.book_spec import BookSpec
from riskengine.sim.book_types import BookParams
from riskengine.sim.execution_spec import ExecutionSpec
from riskengine.sim.pytree import frozen_pytree
from riskengine.sim.specs import ScenarioSpec, load_spec

__all__ = ["EnvParams", "make_params"]

_F32, _I32 = jnp.float32, jnp.int32


@frozen_pytree(meta=("horizon", "max_events", "warmup_events", "track_impact", "urgency"))
class EnvParams:
    r"""Environment parameters (build with :func:`make_params`).

    Attributes
    ----------
    book : BookParams
        The order book.
    events : int32 (T,)
        Background events per step (the intraday profile).
    step_transition : float32 (T, R, R)
        Book-regime transition matrix over each step (per-event matrix powered).
    class_log_proba : float32 (R, 3)
        Log frequency of limit, market and cancel events in each book regime.
    initial_regime_proba : float32 (R,)
        The filter's prior at the arrival of the order.
    size_range, log_depth_range, log_activity_range : float32 (2,)
        Per-episode draws: order size (fraction of ``typical_volume``) and the
        log multipliers of the limit- and market-order rates.
    buy_probability : float32
    typical_volume : float32
        Market volume over the horizon (lots), averaged over regimes.
    typical_depth : float32
        Lots at the best price, averaged over regimes.
    reference_variance : float32
        Variance of the mid change per background event (ticks squared).
    risk_aversion : float32
        The static Almgren-Chriss :math:`\lambda` (per currency unit).
    horizon, max_events, warmup_events : int
        Static sizes.
    track_impact : bool
        Run the shadow book (for the impact / timing split).
    urgency : ExecutionConfig
        How the engine turns volatility and regime into urgency.
    """

    book: BookParams
    events: jax.Array
    step_transition: jax.Array
    class_log_proba: jax.Array
    initial_regime_proba: jax.Array
    size_range: jax.Array
    log_depth_range: jax.Array
    log_activity_range: jax.Array
    buy_probability: jax.Array
    typical_volume: jax.Array
    typical_depth: jax.Array
    reference_variance: jax.Array
    risk_aversion: jax.Array
    horizon: int
    max_events: int
    warmup_events: int
    track_impact: bool
    urgency: ExecutionConfig

    def with_impact(self, track: bool = True) -> EnvParams:
        """The same parameters with the shadow book on (or off)."""
        return dataclasses.replace(self, track_impact=bool(track))


# --------------------------------------------------------------------------- building
def _resolve(spec: Any) -> tuple[BookSpec, ExecutionSpec]:
    if isinstance(spec, str):
        spec = load_spec(spec)
    if not isinstance(spec, ScenarioSpec):
        raise TypeError(f"spec: expected a spec name or a ScenarioSpec, got {type(spec).__name__}")
    if spec.book is None or spec.execution is None:
        raise ValueError(
            f"spec: scenario {spec.name!r} needs both a [book] and an [execution] section"
        )
    return spec.book, spec.execution


@functools.partial(jax.jit, static_argnames=("n_events",))
def _measure_regime(key, book_params, n_events):
    """Per-event kind counts, market volume, touch depth and mid changes of a fixed regime."""
    _, state = book_kernel.reset(key, book_params)
    uniforms = jax.random.uniform(key, (n_events, book_kernel.N_UNIFORMS), dtype=_F32)

    def event(state, u):
        sampled = book_kernel.event_from_uniforms(u, state, book_params)
        before = book_kernel.mid_half_ticks(state, book_params)
        state = book_kernel.apply_event(state, sampled, book_params)
        best_bid, best_ask = book_kernel.best_levels(state, book_params)
        depth = depth_at(state.bid, best_bid) + depth_at(state.ask, best_ask)
        change = (book_kernel.mid_half_ticks(state, book_params) - before).astype(_F32) / 2
        return state, (sampled.kind, depth, change)

    state, (kinds, depth, change) = lax.scan(event, state, uniforms)
    volume = state.market_buy_volume + state.market_sell_volume
    return kinds, volume, depth, change


def _regime_statistics(book: BookSpec, n_books: int = 32, n_events: int = 4000) -> dict:
    """Measure each book regime in isolation (fixed seed: the result is part of the spec)."""
    rows = []
    for regime in range(book.n_regimes):
        fixed = dataclasses.replace(
            book,
            transition=np.eye(book.n_regimes),
            initial_regime_probs=np.eye(book.n_regimes)[regime],
        )
        params = fixed.to_params()
        keys = jax.random.split(jax.random.key(regime), n_books)
        kinds, volume, depth, change = jax.vmap(
            lambda k, p=params: _measure_regime(k, p, n_events)
        )(keys)
        burn = n_events // 4  # leave the reset profile behind
        kinds, depth, change = kinds[:, burn:], depth[:, burn:], change[:, burn:]
        counts = np.array([(np.asarray(kinds) == c).sum() for c in range(3)], dtype=np.float64)
        rows.append(
            {
                "class_proba": (counts + 1) / (counts.sum() + 3),
                "volume_per_event": float(np.asarray(volume).mean()) / n_events,
                "depth": float(np.asarray(depth).mean()) / 2,
                "variance": float(np.var(np.asarray(change))),
            }
        )
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


def _stationary(transition: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eig(transition.T)
    vector = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return vector / vector.sum()


def _content_key(spec: Any) -> str:
    """A spec's values as text: equal specs loaded twice share one cache entry."""
    values = {
        f.name: np.asarray(v).tolist() if isinstance(v := getattr(spec, f.name), np.ndarray) else v
        for f in dataclasses.fields(spec)
    }
    return repr(sorted(values.items()))


_PARAMS_CACHE: dict[tuple[str, str, ExecutionConfig], EnvParams] = {}


def _cached_params(book: BookSpec, execution: ExecutionSpec, urgency: ExecutionConfig):
    key = (_content_key(book), _content_key(execution), urgency)
    if key not in _PARAMS_CACHE:
        _PARAMS_CACHE[key] = _build_params(book, execution, urgency)
    return _PARAMS_CACHE[key]


def _build_params(book: BookSpec, execution: ExecutionSpec, urgency: ExecutionConfig):
    stats = _regime_statistics(book)
    weights = _stationary(np.asarray(book.transition, dtype=np.float64))
    events = execution.events_per_step_profile()
    per_event = np.asarray(book.transition, dtype=np.float64)
    step_transition = np.stack([np.linalg.matrix_power(per_event, int(n)) for n in events])
    total_events = int(events.sum())
    f32 = functools.partial(jnp.asarray, dtype=_F32)
    return EnvParams(
        book=book.to_params(),
        events=jnp.asarray(events, dtype=_I32),
        step_transition=f32(step_transition),
        class_log_proba=f32(np.log(stats["class_proba"])),
        initial_regime_proba=f32(book.initial_regime_probs),
        size_range=f32(execution.order_size_fraction),
        log_depth_range=f32(np.log(execution.depth_multiplier)),
        log_activity_range=f32(np.log(execution.activity_multiplier)),
        buy_probability=f32(execution.buy_probability),
        typical_volume=f32(weights @ stats["volume_per_event"] * total_events),
        typical_depth=f32(weights @ stats["depth"]),
        reference_variance=f32(weights @ stats["variance"]),
        risk_aversion=f32(execution.risk_aversion),
        horizon=execution.horizon_steps,
        max_events=int(events.max()),
        warmup_events=execution.warmup_events,
        track_impact=False,
        urgency=urgency,
    )


def make_params(
    spec: Any, *, track_impact: bool = False, urgency: ExecutionConfig | None = None
) -> EnvParams:
    """Environment parameters for a scenario with ``[book]`` and ``[execution]`` sections.

    Parameters
    ----------
    spec : str or ScenarioSpec
        A catalogue name (``"regime_switching"``) or a loaded spec.
    track_impact : bool
        Run the shadow book, for the impact / timing split (evaluation).
    urgency : ExecutionConfig, optional
        The engine's execution config (default: the engine's default).

    The typical volume, depth, volatility and regime event frequencies are
    measured once per spec with a fixed seed (about a second) and cached.
    """
    book, execution = _resolve(spec)
    urgency = ExecutionConfig() if urgency is None else urgency
    if not isinstance(urgency, ExecutionConfig):
        raise TypeError(f"urgency: expected an ExecutionConfig, got {type(urgency).__name__}")
    return _cached_params(book, execution, urgency).with_impact(track_impact)
