r"""Optimal-execution environment on the JAX limit order book (gymnax-style pure functions).

One episode works one parent order: buy (or sell) ``X`` lots within ``T``
decision steps.  At each step the agent chooses how much of the remaining
quantity to execute now and how (:class:`ExecutionAction`); the book then runs
that step's background events (:func:`riskengine.sim.book_kernel.apply_event`),
during which a resting limit order may fill from its place in the queue.
After the last step any remainder is executed at market, and pays for it.

Accounting (everything in exact integer half-ticks until the final division)
----------------------------------------------------------------------------
With ``s = +1`` for a buy and ``-1`` for a sell, arrival mid :math:`m_0`, and a
fill of ``q`` lots at price ``p`` during step ``k``,

.. math::

    \text{IS (bps)} = 10^4 \, \frac{s \sum (p - m_0)\, q}{X m_0}
    = \underbrace{s\!\sum (p - m_k) q}_{\text{spread}}
    + \underbrace{s\!\sum (m_k - \tilde m_k) q}_{\text{impact}}
    + \underbrace{s\!\sum (\tilde m_k - m_0) q}_{\text{timing}}

(each over :math:`X m_0 / 10^4`), where :math:`m_k` is the mid when step ``k``
starts and :math:`\tilde m_k` the mid of a *shadow* book driven by the very
same random numbers without the agent's orders.  So "impact" is exactly the
price move the agent's own trading caused, against the best possible coupling
of the counterfactual, and "timing" is the market's own drift.  The shadow
book runs only when ``params.track_impact`` is set (evaluation); training
skips it.  The reward of a step is minus its IS contribution marked to market: the
step's fills against the mid when it started, plus the move of the mid over
the step on the quantity still to do,

.. math::

    r_k = -\frac{10^4}{X m_0}\, s\bigl[q_k (p_k - m_k) + R_k (m_{k+1} - m_k)\bigr],

which telescopes, so the undiscounted return of an episode is exactly
``-IS`` in bps, while each step is charged for what happened during it (less
variance for the learner than booking the drift when the fills come).

Observation (float32, 14 values, signed so that "up" is bad for the agent)
-------------------------------------------------------------------------
time left, quantity left, quantity left minus time left (behind schedule),
spread (ticks - 1), depth at the far touch (the side it takes from) and the
near touch (the side it queues on) over the typical depth, book imbalance
towards the agent's side, recent volatility over its reference, mid move since
arrival (ticks), the resting order and the queue ahead of it, the filtered
probability of a stressed book regime, the engine's urgency
(:func:`riskengine.risk.execution_params.urgency_array` of that volatility
ratio and probability), and last step's market volume over its typical level.

The regime probability comes from a forward filter over the book regimes
(the book's per-event transition matrix, powered to each step's event count)
whose emissions are the counts of limit, market and cancel events seen on the
tape during the step, with per-regime class frequencies measured once when the
parameters are built (:mod:`riskengine.execution.env_params`, which also
holds :class:`EnvParams` and :func:`make_params`).  It uses only past and
present events: no look-ahead.

Functions
---------
:func:`reset` and :func:`step` check their arguments and run a compiled
program, for calls one episode at a time.  Their traceable cores,
:func:`reset_env` and :func:`step_env`, are the same functions uncompiled,
for callers that trace them into their own ``jit`` / ``vmap`` / ``scan`` (the
evaluator, the trainer, the impact probes, as gymnax's ``reset_env`` /
``step_env``); :func:`episode_info` reads an episode's cost split from its
state.  All of them are pure.

Examples
--------
>>> import jax
>>> params = make_params("regime_switching")
>>> obs, state = reset(jax.random.key(0), params)
>>> obs.shape, int(state.parent) > 0
((14,), True)
>>> twap = ExecutionAction.make(fraction=1 / params.horizon, style=MARKET)
>>> total = 0.0
>>> for k in range(params.horizon):
...     obs, state, reward, done, info = step(jax.random.key(k + 1), state, twap, params)
...     total += float(reward)
>>> bool(done), int(state.filled) == int(state.parent)
(True, True)
>>> abs(total + float(info["is_bps"])) < 1e-3
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

from riskengine._validation import as_float, as_int
from riskengine.execution.env_params import EnvParams, make_params
from riskengine.risk.execution_params import urgency_array
from riskengine.sim import book_types
from riskengine.sim.book_kernel import (
    N_UNIFORMS,
    apply_action,
    apply_event,
    best_levels,
    event_from_uniforms,
    mid_half_ticks,
)
from riskengine.sim.book_kernel import reset as reset_book
from riskengine.sim.book_levels import depth_at, get_side, set_side
from riskengine.sim.book_types import BookAction, BookParams, BookState
from riskengine.sim.pytree import check_instance, check_key, frozen_pytree

__all__ = [
    "HOLD",
    "LIMIT_INSIDE",
    "LIMIT_TOUCH",
    "MARKET",
    "N_OBS",
    "N_STYLES",
    "EnvParams",
    "EnvState",
    "ExecutionAction",
    "episode_info",
    "make_params",
    "observe",
    "reset",
    "reset_env",
    "step",
    "step_env",
]

# Order styles.  MARKET crosses now; LIMIT_TOUCH joins the near best price;
# LIMIT_INSIDE improves it by a tick (post-only: never crosses); HOLD keeps the
# resting order, queue place and all, and sends nothing new.  A limit order at
# the resting order's own price for no more lots amends it down in place
# (keeping its queue place), as exchanges do.
MARKET, LIMIT_TOUCH, LIMIT_INSIDE, HOLD = 0, 1, 2, 3
N_STYLES = 4
N_OBS = 14
_F32, _I32 = jnp.float32, jnp.int32
_VOL_MEMORY = 0.7  # EWMA weight of the past in the per-step volatility estimate


@frozen_pytree()
class ExecutionAction:
    """What the agent does in one step (a pytree of two scalars; add a batch axis to vmap).

    Attributes
    ----------
    fraction : float32
        Fraction of the remaining quantity to send now, in [0, 1]; the child
        order is ``round(fraction * remaining)`` lots.
    style : int32
        ``MARKET``, ``LIMIT_TOUCH``, ``LIMIT_INSIDE`` or ``HOLD`` (``fraction``
        is then ignored).

    Inside jitted code out-of-range values are clipped (NaN counts as 0);
    :meth:`make` is the checked constructor for the API boundary.
    """

    fraction: jax.Array
    style: jax.Array

    @classmethod
    def make(cls, fraction: float, style: int) -> ExecutionAction:
        """Build a validated action.

        >>> ExecutionAction.make(0.5, LIMIT_TOUCH).style
        Array(1, dtype=int32)
        >>> ExecutionAction.make(1.5, MARKET)
        Traceback (most recent call last):
        ValueError: action.fraction: must be <= 1.0, got 1.5
        """
        fraction = as_float(fraction, field="action.fraction", low=0.0, high=1.0)
        style = as_int(style, field="action.style", low=0, high=N_STYLES - 1)
        return cls(fraction=jnp.asarray(fraction, _F32), style=jnp.asarray(style, _I32))


@frozen_pytree()
class EnvState:
    """One episode (int32 unless noted; add a leading axis for a batch).

    Attributes
    ----------
    book, shadow : BookState
        The book the agent trades in, and the same book without the agent.
    step : ()
        Decision steps taken (``horizon`` when done).
    side : ()
        +1 buy, -1 sell.
    parent, filled : ()
        Lots to execute and lots executed.
    arrival_mid2 : ()
        Twice the arrival mid, ticks.
    cost, spread_cost, impact_cost : ()
        Signed cost against the arrival mid, and its spread and impact parts,
        half-ticks times lots (timing is the rest).
    marked_cost : ()
        The same cost marked to market step by step (the rewards' sum); equal
        to ``cost`` once the episode is done.
    unfilled : ()
        Lots the final market order could not find in the visible book
        (charged one tick beyond it).
    regime_proba : float32 (R,)
        Filtered book-regime probabilities.
    variance : float32 ()
        EWMA of the squared mid change per event (ticks squared).
    last_volume : float32 ()
        Market volume of the last step over its typical level.
    depth_multiplier, activity_multiplier : float32 ()
        This episode's liquidity draws.
    initial_regime, stressed_steps : ()
        True book regime at arrival, and steps that ended in a stressed regime.
    """

    book: BookState
    shadow: BookState
    step: jax.Array
    side: jax.Array
    parent: jax.Array
    filled: jax.Array
    arrival_mid2: jax.Array
    cost: jax.Array
    marked_cost: jax.Array
    spread_cost: jax.Array
    impact_cost: jax.Array
    unfilled: jax.Array
    regime_proba: jax.Array
    variance: jax.Array
    last_volume: jax.Array
    depth_multiplier: jax.Array
    activity_multiplier: jax.Array
    initial_regime: jax.Array
    stressed_steps: jax.Array


def _tree_select(flag: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)


def _run_events(book, shadow, uniforms, n_active, book_params, shadow_too: bool):
    """Run the first ``n_active`` of ``uniforms`` (E, 4) as events; count event kinds."""

    def event(carry, xs):
        book, shadow, counts = carry
        u, index = xs
        active = index < n_active
        sampled = event_from_uniforms(u, book, book_params)
        book = _tree_select(active, apply_event(book, sampled, book_params), book)
        kinds = jnp.arange(3, dtype=_I32)
        counts = counts + jnp.where(active & (kinds == sampled.kind), 1, 0)
        if shadow_too:
            ghost = event_from_uniforms(u, shadow, book_params)
            shadow = _tree_select(active, apply_event(shadow, ghost, book_params), shadow)
        return (book, shadow, counts), None

    steps = jnp.arange(uniforms.shape[0], dtype=_I32)
    init = (book, shadow, jnp.zeros(3, _I32))
    (book, shadow, counts), _ = lax.scan(event, init, (uniforms, steps))
    return book, shadow, counts


# --------------------------------------------------------------------------- dynamics
def _episode_book(params: EnvParams, state: EnvState) -> BookParams:
    book = params.book
    return dataclasses.replace(
        book,
        limit_total=book.limit_total * state.depth_multiplier,
        market_rate=book.market_rate * state.activity_multiplier,
    )


def reset_env(key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
    """Draw an episode and warm its book up: the traceable core of :func:`reset`.

    Pure and unjitted, for callers that trace it into their own program
    (``vmap`` over episodes, ``scan`` over rollouts, as the evaluator and the
    trainer do); :func:`reset` is the same function, compiled.  The argument
    checks look only at Python types and static shapes, so they cost nothing
    once traced.

    The episode's draws come from ``split(key, 7)``: depth and activity
    multipliers, order size, side, the book's reset and its warm-up events.

    Examples
    --------
    >>> import jax
    >>> params = make_params("regime_switching")
    >>> keys = jax.random.split(jax.random.key(0), 3)
    >>> obs, state = jax.vmap(reset_env, in_axes=(0, None))(keys, params)
    >>> obs.shape, state.parent.shape
    ((3, 14), (3,))
    """
    _check_reset(key, params)
    keys = jax.random.split(key, 7)
    uniform = functools.partial(jax.random.uniform, dtype=_F32)
    lo, hi = params.log_depth_range
    depth_multiplier = jnp.exp(lo + (hi - lo) * uniform(keys[0]))
    lo, hi = params.log_activity_range
    activity_multiplier = jnp.exp(lo + (hi - lo) * uniform(keys[1]))
    lo, hi = params.size_range
    fraction = lo + (hi - lo) * uniform(keys[2])
    parent = jnp.maximum(jnp.round(fraction * params.typical_volume), 1).astype(_I32)
    side = jnp.where(uniform(keys[3]) < params.buy_probability, 1, -1).astype(_I32)
    book = params.book
    scaled_depth = jnp.maximum(jnp.round(book.initial_depth * depth_multiplier), 1)
    book = dataclasses.replace(book, initial_depth=scaled_depth.astype(_I32))
    _, book_state = reset_book(keys[4], book)
    zero = jnp.zeros((), _I32)
    state = EnvState(
        book=book_state,
        shadow=book_state,
        step=zero,
        side=side,
        parent=parent,
        filled=zero,
        arrival_mid2=zero,
        cost=zero,
        marked_cost=zero,
        spread_cost=zero,
        impact_cost=zero,
        unfilled=zero,
        regime_proba=params.initial_regime_proba,
        variance=params.reference_variance,
        last_volume=jnp.ones((), _F32),
        depth_multiplier=depth_multiplier,
        activity_multiplier=activity_multiplier,
        initial_regime=zero,
        stressed_steps=zero,
    )
    episode_book = _episode_book(params, state)
    if params.warmup_events:
        uniforms = uniform(keys[5], (params.warmup_events, N_UNIFORMS))
        warm, _, _ = _run_events(
            book_state, book_state, uniforms, params.warmup_events, episode_book, False
        )
        warm = dataclasses.replace(warm, time=jnp.zeros((), _I32))
    else:
        warm = book_state
    state = dataclasses.replace(
        state,
        book=warm,
        shadow=warm,
        arrival_mid2=mid_half_ticks(warm, params.book),
        initial_regime=warm.regime,
    )
    return _observe(state, params), state


def _observe(state: EnvState, params: EnvParams) -> jax.Array:
    book, bp = state.book, params.book
    best_bid, best_ask = best_levels(book, bp)
    bid_depth = depth_at(book.bid, best_bid).astype(_F32)
    ask_depth = depth_at(book.ask, best_ask).astype(_F32)
    buy = state.side > 0
    far = jnp.where(buy, ask_depth, bid_depth)
    near = jnp.where(buy, bid_depth, ask_depth)
    imbalance = (bid_depth - ask_depth) / jnp.maximum(bid_depth + ask_depth, 1.0)
    side = state.side.astype(_F32)
    horizon = jnp.float32(params.horizon)
    parent = state.parent.astype(_F32)
    time_left = (horizon - state.step.astype(_F32)) / horizon
    quantity_left = (state.parent - state.filled).astype(_F32) / parent
    volatility_ratio = jnp.sqrt(state.variance / params.reference_variance)
    stressed = 1.0 - state.regime_proba[0]
    urgency = urgency_array(params.urgency, volatility_ratio, stressed, xp=jnp)
    own = jnp.where(buy, 0, 1)
    resting = get_side(book.agent_qty, own).astype(_F32)
    ahead = get_side(book.agent_ahead, own).astype(_F32)
    drift = side * (mid_half_ticks(book, bp) - state.arrival_mid2).astype(_F32) / 2
    depth = params.typical_depth
    return jnp.stack(
        [
            time_left,
            quantity_left,
            quantity_left - time_left,
            jnp.minimum((best_ask - best_bid - 1).astype(_F32), 10.0),
            jnp.minimum(far / depth, 10.0),
            jnp.minimum(near / depth, 10.0),
            side * imbalance,
            jnp.minimum(volatility_ratio, 10.0),
            jnp.clip(drift / 5.0, -10.0, 10.0),
            resting / parent,
            jnp.minimum(ahead / depth, 10.0),
            stressed,
            urgency,
            jnp.minimum(state.last_volume, 10.0),
        ]
    ).astype(_F32)


def _child_order(action: ExecutionAction, state: EnvState):
    """``(child lots, style, is_limit, offset)`` of an action, clipped to what is valid."""
    remaining = state.parent - state.filled
    fraction = jnp.clip(jnp.nan_to_num(action.fraction, nan=0.0), 0.0, 1.0)
    style = jnp.clip(action.style, 0, N_STYLES - 1)
    child = jnp.clip(jnp.floor(fraction * remaining + 0.5).astype(_I32), 0, remaining)
    limit = (style == LIMIT_TOUCH) | (style == LIMIT_INSIDE)
    offset = jnp.where(style == LIMIT_INSIDE, 1, 0).astype(_I32)
    return child, style, limit, offset


def _book_action(action: ExecutionAction, state: EnvState) -> tuple[BookAction, jax.Array]:
    """The order-book action of an (already clipped) execution action, and its child size."""
    child, style, limit, offset = _child_order(action, state)
    command = jnp.where(
        style == HOLD,
        book_types.HOLD,
        jnp.where(limit & (child > 0), book_types.PLACE, book_types.CANCEL_ORDER),
    ).astype(_I32)
    market = jnp.where(style == MARKET, child, 0)
    buy = state.side > 0
    hold = jnp.asarray(book_types.HOLD, _I32)
    quantity = jnp.where(limit, child, 0)
    zero = jnp.zeros((), _I32)
    book_action = BookAction(
        market_buy=jnp.where(buy, market, 0),
        market_sell=jnp.where(buy, 0, market),
        bid_command=jnp.where(buy, command, hold),
        bid_offset=offset,
        bid_qty=jnp.where(buy, quantity, zero),
        ask_command=jnp.where(buy, hold, command),
        ask_offset=offset,
        ask_qty=jnp.where(buy, zero, quantity),
    )
    return book_action, child


def _amend_in_place(
    action: ExecutionAction, state: EnvState, bp: BookParams
) -> tuple[BookState, jax.Array]:
    """Shrink the resting order instead of replacing it, when that is what the action asks.

    A limit order at the price where the agent already rests, for no more lots
    than rest there, keeps its queue place (exchanges keep priority when an
    order is amended down); anything else is cancel-and-replace.  Returns the
    book and whether the action was such an amendment (the caller then sends
    ``HOLD``).
    """
    book = state.book
    child, _, limit, offset = _child_order(action, state)
    buy = state.side > 0
    own = jnp.where(buy, 0, 1)
    resting = get_side(book.agent_qty, own)
    index = get_side(book.agent_tick, own) - book.ref
    level = jnp.arange(bp.window, dtype=_I32)
    mine = (level == index) & (resting > 0)
    # Where a new order would go once the resting one is withdrawn.
    bid = book.bid - jnp.where(mine & buy, resting, 0)
    ask = book.ask - jnp.where(mine & ~buy, resting, 0)
    best_bid, best_ask = best_levels(dataclasses.replace(book, bid=bid, ask=ask), bp)
    target = jnp.where(
        buy,
        jnp.minimum(best_bid + offset, best_ask - 1),
        jnp.maximum(best_ask - offset, best_bid + 1),
    )
    amend = limit & (child > 0) & (resting > 0) & (target == index) & (child <= resting)
    cut = jnp.where(amend, resting - child, 0)
    book = dataclasses.replace(
        book,
        bid=book.bid - jnp.where(mine & buy, cut, 0),
        ask=book.ask - jnp.where(mine & ~buy, cut, 0),
        agent_qty=set_side(book.agent_qty, own, resting - cut),
        cancelled=book.cancelled + cut,
    )
    return book, amend


def _clear_fills(book: BookState) -> BookState:
    zeros = jnp.zeros_like(book.fill_qty)
    return dataclasses.replace(book, fill_qty=zeros, fill_ticks=zeros)


def _account(state: EnvState, book: BookState, mid2: jax.Array, shadow_mid2: jax.Array):
    """Add the fills recorded in ``book`` since its last :func:`_clear_fills` to the costs."""
    own = jnp.where(state.side > 0, 0, 1)
    quantity = get_side(book.fill_qty, own)
    ticks2 = 2 * get_side(book.fill_ticks, own)
    side = state.side
    return dataclasses.replace(
        state,
        filled=state.filled + quantity,
        cost=state.cost + side * (ticks2 - quantity * state.arrival_mid2),
        marked_cost=state.marked_cost + side * (ticks2 - quantity * mid2),
        spread_cost=state.spread_cost + side * (ticks2 - quantity * mid2),
        impact_cost=state.impact_cost + side * quantity * (mid2 - shadow_mid2),
    )


def step_env(
    key: jax.Array, state: EnvState, action: ExecutionAction, params: EnvParams
) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[str, jax.Array]]:
    """One decision step: the traceable core of :func:`step` (same returns).

    Pure and unjitted, for callers that trace it into their own program;
    :func:`step` is the same function, compiled.  One episode: ``vmap`` it
    for a batch.

    Examples
    --------
    >>> import jax
    >>> params = make_params("regime_switching")
    >>> obs, state = reset(jax.random.key(0), params)
    >>> action = ExecutionAction.make(fraction=0.5, style=LIMIT_TOUCH)
    >>> step_once = jax.jit(step_env)
    >>> obs, state, reward, done, info = step_once(jax.random.key(1), state, action, params)
    >>> int(state.step), bool(done)
    (1, False)
    """
    _check_step(key, state, action, params)
    bp = _episode_book(params, state)
    running = state.step < params.horizon
    cost_before = state.marked_cost
    mid2 = mid_half_ticks(state.book, bp)
    shadow_mid2 = mid_half_ticks(state.shadow, bp) if params.track_impact else mid2
    action = ExecutionAction(
        fraction=jnp.where(running, action.fraction, 0.0),
        style=jnp.where(running, action.style, HOLD),
    )
    amended_book, amend = _amend_in_place(action, state, bp)
    action = dataclasses.replace(action, style=jnp.where(amend, HOLD, action.style))
    book_action, _ = _book_action(action, state)
    book = apply_action(_clear_fills(amended_book), book_action, bp)

    # Background events of this step (a fixed-size scan, the tail masked off).
    index = jnp.minimum(state.step, params.horizon - 1)
    n_events = jnp.where(running, params.events[index], 0)
    uniforms = jax.random.uniform(key, (params.max_events, N_UNIFORMS), dtype=_F32)
    volume_before = book.market_buy_volume + book.market_sell_volume
    book, shadow, counts = _run_events(
        book, state.shadow, uniforms, n_events, bp, params.track_impact
    )
    state = _account(state, book, mid2, shadow_mid2)
    # Mark what is still to do to the new mid: the rewards telescope to -IS.
    remaining = state.parent - state.filled
    state = dataclasses.replace(
        state,
        marked_cost=state.marked_cost + state.side * remaining * (mid_half_ticks(book, bp) - mid2),
    )

    # Filter the book regime on this step's tape; update the volatility estimate.
    prior = state.regime_proba @ params.step_transition[index]
    log_like = params.class_log_proba @ counts.astype(_F32)
    posterior = prior * jnp.exp(log_like - jnp.max(log_like))
    posterior = posterior / jnp.sum(posterior)
    events = jnp.maximum(n_events, 1).astype(_F32)
    change = (mid_half_ticks(book, bp) - mid2).astype(_F32) / 2
    variance = _VOL_MEMORY * state.variance + (1 - _VOL_MEMORY) * change**2 / events
    volume = (book.market_buy_volume + book.market_sell_volume - volume_before).astype(_F32)
    typical = (
        params.typical_volume / params.horizon * events / (params.events.sum() / params.horizon)
    )
    state = dataclasses.replace(
        state,
        book=book,
        shadow=shadow,
        step=state.step + running.astype(_I32),
        regime_proba=jnp.where(running, posterior, state.regime_proba),
        variance=jnp.where(running, variance, state.variance),
        last_volume=jnp.where(running, volume / typical, state.last_volume),
        stressed_steps=state.stressed_steps + (running & (book.regime != 0)).astype(_I32),
    )

    # The end: any remainder goes at market; what the book cannot fill is
    # charged one tick beyond the visible window.
    final = running & (state.step == params.horizon)
    mid2_end = mid_half_ticks(state.book, bp)
    shadow_end = mid_half_ticks(state.shadow, bp) if params.track_impact else mid2_end
    sweep = ExecutionAction(fraction=jnp.float32(1.0), style=jnp.int32(MARKET))
    sweep_action, _ = _book_action(sweep, state)
    swept_book = apply_action(_clear_fills(state.book), sweep_action, bp)
    swept = _account(state, swept_book, mid2_end, shadow_end)
    missing = swept.parent - swept.filled
    beyond = jnp.where(
        swept.side > 0, swept_book.ref + bp.window, swept_book.ref - 1
    )  # one tick past the last visible level
    penalty = swept.side * missing * (2 * beyond - swept.arrival_mid2)
    penalty_spread = swept.side * missing * (2 * beyond - mid2_end)
    swept = dataclasses.replace(
        swept,
        book=swept_book,
        filled=swept.parent,
        cost=swept.cost + penalty,
        marked_cost=swept.marked_cost + penalty_spread,
        spread_cost=swept.spread_cost + penalty_spread,
        impact_cost=swept.impact_cost + swept.side * missing * (mid2_end - shadow_end),
        unfilled=missing,
    )
    state = _tree_select(final, swept, state)
    done = state.step >= params.horizon
    reward = -(state.marked_cost - cost_before).astype(_F32) * _bps_scale(state)
    info = episode_info(state, params)
    return _observe(state, params), state, reward, done, info


def _bps_scale(state: EnvState) -> jax.Array:
    """Basis points of the order's arrival value per half-tick-lot of cost."""
    return jnp.float32(1e4) / (state.parent.astype(_F32) * state.arrival_mid2.astype(_F32))


def episode_info(state: EnvState, params: EnvParams) -> dict[str, jax.Array]:
    """The running cost split and fill counts of an episode (the ``info`` of :func:`step`).

    ``is_bps``, ``spread_bps``, ``impact_bps``, ``timing_bps`` (float32,
    bps of the order's arrival value), ``filled``, ``unfilled``,
    ``completed``, ``stressed_steps`` and ``initial_regime``; pure and
    traceable, so a caller that scans :func:`step_env` reads the outcome of
    the final state with it.

    >>> import jax
    >>> params = make_params("regime_switching")
    >>> _, state = reset(jax.random.key(0), params)
    >>> info = episode_info(state, params)
    >>> float(info["is_bps"]), bool(info["completed"])
    (0.0, False)
    """
    check_instance(state, EnvState, "state")
    check_instance(params, EnvParams, "params")
    scale = _bps_scale(state)
    done = state.step >= params.horizon
    is_bps = state.cost.astype(_F32) * scale
    spread = state.spread_cost.astype(_F32) * scale
    impact = state.impact_cost.astype(_F32) * scale
    return {
        "is_bps": is_bps,
        "spread_bps": spread,
        "impact_bps": impact,
        "timing_bps": is_bps - spread - impact,
        "filled": state.filled,
        "unfilled": state.unfilled,
        "completed": done & (state.unfilled == 0),
        "stressed_steps": state.stressed_steps,
        "initial_regime": state.initial_regime,
    }


# --------------------------------------------------------------------------- API
def _check_reset(key: Any, params: Any) -> None:
    check_key(key)
    check_instance(params, EnvParams, "params")


def _check_step(key: Any, state: Any, action: Any, params: Any) -> None:
    check_key(key)
    check_instance(state, EnvState, "state")
    check_instance(action, ExecutionAction, "action")
    check_instance(params, EnvParams, "params")
    if np.shape(action.fraction) != () or np.shape(action.style) != ():
        raise ValueError(
            "action: expected scalar fraction and style (vmap the step for a batch), "
            f"got shapes {np.shape(action.fraction)} and {np.shape(action.style)}"
        )
    if np.shape(state.step) != ():
        raise ValueError(f"state: expected one episode, got batch shape {np.shape(state.step)}")


# Compiled once per parameter shapes: run eagerly, each of the few thousand
# operations of an episode's reset or step would be dispatched on its own.
_reset_jit = jax.jit(reset_env)
_step_jit = jax.jit(step_env)


def reset(key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
    """Draw an episode (side, size, liquidity, regime) and warm the book up.

    Returns ``(obs, state)``.  Checks its arguments, then runs the compiled
    :func:`reset_env`; pure, and jit- and vmap-able too.
    """
    _check_reset(key, params)
    return _reset_jit(key, params)


def step(
    key: jax.Array, state: EnvState, action: ExecutionAction, params: EnvParams
) -> tuple[jax.Array, EnvState, jax.Array, jax.Array, dict[str, jax.Array]]:
    """Apply ``action``, run the step's background events, account the fills.

    Returns ``(obs, state, reward, done, info)``: ``reward`` is minus the
    step's IS contribution (bps); ``info`` holds the running ``is_bps``,
    ``spread_bps``, ``impact_bps``, ``timing_bps`` (the last two need
    ``params.track_impact``; otherwise impact is 0 and timing carries both),
    ``filled``, ``unfilled``, ``completed``, ``stressed_steps`` and
    ``initial_regime`` (see :func:`episode_info`).  A finished episode stays
    finished (further steps change nothing and reward 0).  Checks its
    arguments, then runs the compiled :func:`step_env`.
    """
    _check_step(key, state, action, params)
    return _step_jit(key, state, action, params)


def observe(state: EnvState, params: EnvParams) -> jax.Array:
    """The observation vector of a state (see the module docstring)."""
    check_instance(state, EnvState, "state")
    check_instance(params, EnvParams, "params")
    return _observe(state, params)
