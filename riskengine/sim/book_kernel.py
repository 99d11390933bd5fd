"""The order book's pure kernel: reset, step, events, agent orders and best-price queries.

The book is a zero-intelligence order-flow model in the spirit of Cont, Stoikov
and Talreja (2010): Poisson limit orders, market orders and cancellations whose
intensities depend on the distance from the opposite best price and on the
current *book regime* (e.g. calm / stressed), see
:class:`~riskengine.sim.book_spec.BookSpec`.  Everything is a fixed-shape
int32 / float32 array (the types are in :mod:`riskengine.sim.book_types`), so
thousands of books run under one ``vmap`` and volumes are conserved exactly;
:mod:`riskengine.sim.book_rollout` runs batches of books for many events.

Every function here is pure and traceable, in the gymnax manner: call it
inside your own ``jit`` / ``vmap`` / ``scan``.  The two that draw random
numbers and run a few hundred operations, :func:`step` and
:func:`sample_event`, are also compiled (``jax.jit``) so that calling them
one at a time from Python is fast; the others are cheap or meant to be
traced into a caller's program (the execution environment traces
:func:`event_from_uniforms` and :func:`apply_event` into its own event
loop).  The argument checks look only at Python types and static shapes, so
they cost nothing once traced.

Representation
--------------
Each book holds bid and ask depths (int32 lots) on a window of ``G`` ticks whose
first tick is the absolute tick ``ref``.  Event ``t`` is sampled from the book
after event ``t - 1`` (:func:`sample_event`, or :func:`event_from_uniforms`
given its uniforms) and applied by :func:`apply_event`; agent orders go
through :func:`apply_action`.  :func:`best_levels` and :func:`mid_half_ticks`
(with :func:`~riskengine.sim.book_levels.depth_at`) read the touch without
building a whole observation.  The rules, which the plain-Python oracle in
``tests/sim/reference_book.py`` reproduces exactly, are:

* **Best prices / empty sides.** The best bid (ask) is the highest (lowest)
  non-empty level.  An empty ask side is treated as ``best bid + L``, an empty
  bid side as ``best ask - L`` and an empty book as a ``L``-tick spread around
  the window centre, so nothing is ever NaN and a market order on an empty side
  fills nothing.
* **Limit orders** of side buy (sell) arrive at distance ``i`` ticks below the
  best ask (above the best bid), so they never cross; ``i < spread`` improves
  the touch.
* **Cancellations** remove ``min(size, others)`` lots at a level, where
  ``others`` excludes the agent's own resting order (the background flow never
  cancels the agent).  If the agent rests there, the volume ahead of it shrinks
  by ``floor(cancelled * ahead / others)``: cancellations hit the queue
  uniformly in expectation, and integer floor division keeps the rule exact.
* **Market orders.** A background market order trades only against the
  opposite best level: ``min(size, depth at best)`` lots, the remainder
  lapses (no background event walks the book, so none needs a prefix sum).
  The agent's market orders (:func:`apply_action`) walk the opposite side
  from the touch outwards.  Each level is FIFO: the volume ahead of the
  agent first, then the agent, then the volume behind it.  Volume beyond
  the window is not reachable, so an agent market order larger than the
  visible book is partly unfilled.
* **Window re-centring.** After each event the window shifts by one tick
  towards the mid if the mid *before* the event was more than
  ``recentre_trigger`` ticks from the window centre.  The level shifted off
  the far edge counts as cancelled (also the agent's order, if it rested
  there), so ``added == executed + cancelled + resting`` holds exactly.  Limit
  orders whose level falls outside the window are dropped (they never happen
  for sensible ``window_margin``); both are rare because the margin is far
  from the touch.
* **Regimes.** Each event carries the regime after it, drawn from the
  per-event transition matrix; the event itself uses the rates of the regime
  before it.

Examples
--------
>>> import jax
>>> from riskengine.sim.book_spec import BookSpec
>>> params = BookSpec().to_params()
>>> obs, state = reset(jax.random.key(0), params)
>>> int(obs.spread), float(obs.mid)
(1, 99.995)
>>> action = BookAction.market(buy=3)
>>> obs, state, reward, done, info = step(jax.random.key(1), state, action, params)
>>> int(info["fill_qty"][0]), float(info["fill_price"][0])
(3, 100.0)
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jax import lax

from riskengine.sim.book_levels import (
    below_total,
    block_prefix,
    count_levels,
    decay_power,
    depth_at,
    get_side,
    int_sum,
    materialise,
    pick_row,
    prefix_sum,
    reduce_levels,
    set_side,
)
from riskengine.sim.book_types import (
    BUY,
    CANCEL,
    HOLD,
    LIMIT,
    MARKET,
    PLACE,
    SELL,
    BookAction,
    BookEvent,
    BookObs,
    BookParams,
    BookState,
)
from riskengine.sim.pytree import check_instance, check_key

__all__ = [
    "N_UNIFORMS",
    "apply_action",
    "apply_event",
    "best_levels",
    "event_from_uniforms",
    "mid_half_ticks",
    "observe",
    "reset",
    "run_events",
    "sample_event",
    "step",
]

_I32 = jnp.int32
_F32 = jnp.float32
N_UNIFORMS = 4  # uniforms per background event: class, level, size, regime


# --------------------------------------------------------------------------- queries
# Levels on axis 0 and any book axes after it, as in riskengine.sim.book_levels:
# the batched rollout and the one-book functions run the same code.


def _level_index(params: BookParams, ndim: int) -> jax.Array:
    """Window index ``0..G-1`` on axis 0, broadcastable against ``ndim``-d depths."""
    return jnp.arange(params.window, dtype=_I32).reshape((params.window,) + (1,) * (ndim - 1))


def _best(bid: jax.Array, ask: jax.Array, params: BookParams) -> tuple[jax.Array, jax.Array]:
    """Best bid / ask as window indices, with the empty-side rule of the module docstring."""
    window, levels = params.window, params.levels
    index = _level_index(params, bid.ndim)
    raw_bid = reduce_levels(jnp.where(bid > 0, index, -1), "max")
    raw_ask = reduce_levels(jnp.where(ask > 0, index, window), "min")
    has_bid, has_ask = raw_bid >= 0, raw_ask < window
    empty_bid = jnp.where(has_ask, raw_ask - levels, window // 2 - levels // 2)
    best_bid = jnp.where(has_bid, raw_bid, empty_bid)
    best_ask = jnp.where(has_ask, raw_ask, best_bid + levels)
    return materialise(best_bid, best_ask)


def best_levels(state: BookState, params: BookParams) -> tuple[jax.Array, jax.Array]:
    """Best bid and best ask of ``state`` as window indices (int32; add ``state.ref`` for ticks).

    Empty sides follow the rule of the module docstring, so both are always
    defined and ``best_bid < best_ask``.

    >>> import jax
    >>> from riskengine.sim.book_spec import BookSpec
    >>> params = BookSpec().to_params()
    >>> _, state = reset(jax.random.key(0), params)
    >>> best_bid, best_ask = best_levels(state, params)
    >>> int(state.ref + best_bid), int(state.ref + best_ask)
    (9999, 10000)
    """
    return _best(state.bid, state.ask, params)


def mid_half_ticks(state: BookState, params: BookParams) -> jax.Array:
    """Twice the mid price in ticks (int32, exact): ``2 * ref + best_bid + best_ask``.

    >>> import jax
    >>> from riskengine.sim.book_spec import BookSpec
    >>> params = BookSpec().to_params()
    >>> _, state = reset(jax.random.key(0), params)
    >>> int(mid_half_ticks(state, params))
    19999
    """
    best_bid, best_ask = best_levels(state, params)
    return 2 * state.ref + best_bid + best_ask


def _cancel_weights(
    state: BookState, best_bid: jax.Array, best_ask: jax.Array, params: BookParams
) -> tuple[jax.Array, jax.Array]:
    """Unscaled cancellation weights ``others(j) * decay ** (centre -+ j)`` of each side.

    ``others`` excludes the agent's own lots; levels more than ``L`` ticks from
    the opposite best price weigh 0.
    """
    index = _level_index(params, state.bid.ndim)
    agent_index = state.agent_tick - state.ref
    own_bid = jnp.where(index == agent_index[0], state.agent_qty[0], 0)
    own_ask = jnp.where(index == agent_index[1], state.agent_qty[1], 0)
    distance_bid = best_ask - index
    distance_ask = index - best_bid
    levels, zero = params.levels, jnp.float32(0.0)
    weight_bid = jnp.where(
        (distance_bid >= 1) & (distance_bid <= levels),
        (state.bid - own_bid).astype(_F32) * pick_row(params.profile_down, state.regime),
        zero,
    )
    weight_ask = jnp.where(
        (distance_ask >= 1) & (distance_ask <= levels),
        (state.ask - own_ask).astype(_F32) * pick_row(params.profile_up, state.regime),
        zero,
    )
    return weight_bid, weight_ask


def event_from_uniforms(u: jax.Array, state: BookState, params: BookParams) -> BookEvent:
    """The next background event given four uniforms ``u`` (4, *books) in [0, 1).

    ``u[0]`` picks the class, ``u[1]`` the limit distance or cancelled level,
    ``u[2]`` the size and ``u[3]`` the next regime.  Every categorical draw is
    an inverse CDF by counting ``cumulative <= u * total`` (no sort, no
    search); the cancelled level uses the two-level blocked prefix sums of
    :func:`~riskengine.sim.book_levels.block_prefix`, which pick level ``j`` with probability
    ``weight_j / total`` exactly as a flat prefix sum would, and never a level
    of zero weight.  :func:`sample_event` draws ``u`` from a key; a caller
    that draws its uniforms in bulk (:func:`run_events`) passes them here.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from riskengine.sim.book_spec import BookSpec
    >>> params = BookSpec().to_params()
    >>> _, state = reset(jax.random.key(0), params)
    >>> event = event_from_uniforms(jnp.array([0.01, 0.0, 0.0, 0.5]), state, params)
    >>> int(event.kind) == LIMIT, int(event.side) == BUY, int(event.distance), int(event.size)
    (True, True, 1, 1)
    """
    check_instance(state, BookState, "state")
    check_instance(params, BookParams, "params")
    window, levels = params.window, params.levels
    centre = window // 2
    regime = state.regime
    best_bid, best_ask = _best(state.bid, state.ask, params)
    weight_bid, weight_ask = _cancel_weights(state, best_bid, best_ask, params)
    inner_bid, before_bid, total_bid = block_prefix(weight_bid)
    inner_ask, before_ask, total_ask = block_prefix(weight_ask)
    # theta(i) = cancel_rate * decay ** (i - 1) factorises into a per-book scale
    # times the static profile of _cancel_weights.
    powers = pick_row(params.decay_powers, regime)  # (2, bits, *books)
    cancel_rate = pick_row(params.cancel_rate, regime)
    cancel_bid = cancel_rate * decay_power(powers, best_ask - 1 - centre) * total_bid
    cancel_ask = cancel_rate * decay_power(powers, centre - best_bid - 1) * total_ask
    # XLA CPU lets LLVM contract ``sum + a * b`` into one fused multiply-add
    # (one rounding, which plain float32 arithmetic does not reproduce).  The
    # rates are >= 0, so ``max(rate, 0)`` is exact and hides the product from
    # the additions below.
    cancel_bid = jnp.maximum(cancel_bid, jnp.float32(0.0))
    cancel_ask = jnp.maximum(cancel_ask, jnp.float32(0.0))
    limit_rate = pick_row(params.limit_total, regime)
    market_rate = pick_row(params.market_rate, regime)
    # Classes: limit buy, limit sell, market buy, market sell, cancel bid, cancel ask.
    cumulative = [limit_rate]
    for rate in (limit_rate, market_rate, market_rate, cancel_bid, cancel_ask):
        cumulative.append(cumulative[-1] + rate)
    target = below_total(cumulative[-1], u[0])
    event_class = sum((c <= target).astype(_I32) for c in cumulative)
    kind = event_class // 2
    side = event_class % 2
    buy = side == BUY

    limit_distance = 1 + count_levels(pick_row(params.limit_cdf, regime) <= u[1])
    total = jnp.where(buy, total_bid, total_ask)
    before = jnp.where(buy, before_bid, before_ask)
    (level_target,) = materialise(below_total(total, u[1]))
    level = sum(
        count_levels(before + jnp.where(buy, a, b) <= level_target)
        for a, b in zip(inner_bid, inner_ask, strict=True)
    )
    cancel_distance = jnp.where(buy, best_ask - level, level - best_bid)
    distance = jnp.where(
        kind == LIMIT,
        jnp.minimum(limit_distance, levels),
        jnp.where(kind == CANCEL, cancel_distance, 0),
    )
    size_cdf = pick_row(params.size_cdf, kind)
    size = jnp.minimum(1 + count_levels(size_cdf <= u[2]), size_cdf.shape[0])
    n_regimes = params.transition_cdf.shape[0]
    next_regime = count_levels(pick_row(params.transition_cdf, regime) <= u[3])
    fields = (kind, side, distance, size, jnp.minimum(next_regime, n_regimes - 1))
    return BookEvent(*materialise(*(f.astype(_I32) for f in fields)))


def sample_event(key: jax.Array, state: BookState, params: BookParams) -> BookEvent:
    """Draw the next background event given the current book.

    The event class is categorical over the total rates (limit buy / sell,
    market buy / sell, cancel bid / ask); the limit distance follows
    ``lambda_r(i)``, the cancelled level ``theta_r(i) * Q(i)``, the size its
    size distribution and the next regime the transition matrix.

    Examples
    --------
    >>> import jax
    >>> from riskengine.sim.book_spec import BookSpec
    >>> params = BookSpec().to_params()
    >>> _, state = reset(jax.random.key(0), params)
    >>> event = sample_event(jax.random.key(3), state, params)
    >>> 0 <= int(event.kind) <= 2 and int(event.size) >= 1
    True
    """
    check_key(key)
    check_instance(state, BookState, "state")
    check_instance(params, BookParams, "params")
    return _sample_event(key, state, params)


@jax.jit
def _sample_event(key: jax.Array, state: BookState, params: BookParams) -> BookEvent:
    # Jitted: run eagerly, each of the sampler's few hundred operations would be
    # dispatched (and compiled) on its own.
    u = jax.random.uniform(key, (N_UNIFORMS,), dtype=_F32)
    return event_from_uniforms(u, state, params)


def _shift_window(depth: jax.Array, shift: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Shift the window by ``shift`` in {-1, 0, 1} ticks; return new depths and lots dropped.

    Two static one-row slices chosen per book with ``jnp.where``: element-wise,
    so XLA fuses it with the event's update of the level.
    """
    zero = jnp.zeros_like(depth[:1])
    up = jnp.concatenate([depth[1:], zero])
    down = jnp.concatenate([zero, depth[:-1]])
    shifted = jnp.where(shift == 1, up, jnp.where(shift == -1, down, depth))
    dropped = jnp.where(shift == 1, depth[0], jnp.where(shift == -1, depth[-1], 0))
    return shifted, dropped


def apply_event(state: BookState, event: BookEvent, params: BookParams) -> BookState:
    """Apply one background event (pure; the rules are in the module docstring).

    Examples
    --------
    >>> import jax
    >>> from riskengine.sim.book_spec import BookSpec
    >>> params = BookSpec().to_params()
    >>> _, state = reset(jax.random.key(0), params)
    >>> before = int(state.ask.sum())
    >>> event = BookEvent.make(MARKET, BUY, distance=0, size=2, regime=0)
    >>> after = apply_event(state, event, params)
    >>> before - int(after.ask.sum()), int(after.executed)
    (2, 2)
    """
    check_instance(state, BookState, "state")
    check_instance(event, BookEvent, "event")
    check_instance(params, BookParams, "params")
    window = params.window
    index = _level_index(params, state.bid.ndim)
    best_bid, best_ask = _best(state.bid, state.ask, params)
    kind, side, size = event.kind, event.side, event.size
    buy = side == BUY
    market = kind == MARKET

    # Every background event changes one level of one side: limit orders and
    # cancellations the initiator's own side at `distance` from the opposite
    # best, market orders the opposite side's best level.
    on_bid = buy != market
    position = jnp.where(
        market,
        jnp.where(buy, best_ask, best_bid),
        jnp.where(buy, best_ask - event.distance, best_bid + event.distance),
    )
    in_window = (position >= 0) & (position < window)
    on_bid, position = materialise(on_bid, position)
    depth_here = depth_at(jnp.where(on_bid, state.bid, state.ask), position)
    agent_side = jnp.where(on_bid, BUY, SELL)
    agent_tick = get_side(state.agent_tick, agent_side)
    agent_qty = get_side(state.agent_qty, agent_side)
    agent_ahead = get_side(state.agent_ahead, agent_side)
    agent_here = (agent_qty > 0) & (agent_tick - state.ref == position)
    others = depth_here - jnp.where(agent_here, agent_qty, 0)
    added = jnp.where((kind == LIMIT) & in_window, size, 0)
    cancelled = jnp.where((kind == CANCEL) & in_window, jnp.minimum(size, others), 0)
    executed = jnp.where(market, jnp.minimum(size, depth_here), 0)
    # The agent's queue: cancellations hit it uniformly (floor of the pro-rata
    # share); a market order fills FIFO, the volume ahead first.
    ahead_cut = jnp.where(agent_here, (cancelled * agent_ahead) // jnp.maximum(others, 1), 0)
    fill = jnp.where(market & agent_here, jnp.clip(executed - agent_ahead, 0, agent_qty), 0)
    ahead_after = jnp.where(
        market & agent_here, jnp.maximum(agent_ahead - executed, 0), agent_ahead - ahead_cut
    )
    # Re-centre on the mid before the event; the level shifted off counts as cancelled.
    offset = best_bid + best_ask - window
    shift = jnp.where(
        offset > 2 * params.recentre_trigger,
        1,
        jnp.where(offset < -2 * params.recentre_trigger, -1, 0),
    ).astype(_I32)
    on_bid, position, delta, shift = materialise(
        on_bid, position, added - cancelled - executed, shift
    )
    change = jnp.where(index == position, delta, 0)
    bid = state.bid + jnp.where(on_bid, change, 0)
    ask = state.ask + jnp.where(on_bid, 0, change)
    bid, dropped_bid = _shift_window(bid, shift)
    ask, dropped_ask = _shift_window(ask, shift)
    ref = state.ref + shift
    agent_index = state.agent_tick - ref
    still_inside = (agent_index >= 0) & (agent_index < window)
    agent_qty_after = jnp.where(
        still_inside, set_side(state.agent_qty, agent_side, agent_qty - fill), 0
    )
    agent_ahead_after = jnp.where(
        agent_qty_after > 0, set_side(state.agent_ahead, agent_side, ahead_after), 0
    )
    fill_by_side = set_side(jnp.zeros_like(state.agent_qty), agent_side, fill)
    market_buy = market & buy
    return dataclasses.replace(
        state,
        bid=bid,
        ask=ask,
        ref=ref,
        regime=event.regime,
        time=state.time + 1,
        agent_qty=agent_qty_after,
        agent_ahead=agent_ahead_after,
        agent_filled=state.agent_filled + fill_by_side,
        fill_qty=state.fill_qty + fill_by_side,
        fill_ticks=state.fill_ticks + fill_by_side * agent_tick,
        added=state.added + added,
        executed=state.executed + executed,
        cancelled=state.cancelled + cancelled + dropped_bid + dropped_ask,
        market_buy_volume=state.market_buy_volume + jnp.where(market_buy, executed, 0),
        market_sell_volume=state.market_sell_volume + jnp.where(market & ~buy, executed, 0),
    )


def apply_action(state: BookState, action: BookAction, params: BookParams) -> BookState:
    """Apply the agent's orders (pure), in this order.

    1. Cancel the resting order of every side with a ``PLACE`` or
       ``CANCEL_ORDER`` command, and (self-trade prevention) the resting order a
       market order of the agent would hit.
    2. Market buy / sell orders walk the book; fills are reported per side.
    3. Place new limit orders relative to the touch after step 2 (bid first,
       then ask, both post-only).  The new order joins the back of its level:
       the volume already there is ahead of it.  A level outside the window
       means the order is not placed.  Quantities ``<= 0`` mean "no order".

    Examples
    --------
    >>> import jax
    >>> from riskengine.sim.book_spec import BookSpec
    >>> params = BookSpec().to_params()
    >>> _, state = reset(jax.random.key(0), params)
    >>> action = BookAction.make(bid_command=PLACE, bid_offset=0, bid_qty=4)
    >>> state = apply_action(state, action, params)
    >>> state.agent_qty.tolist(), int(state.agent_ahead[0]) == int(params.initial_depth[0, 0])
    ([4, 0], True)
    """
    check_instance(state, BookState, "state")
    check_instance(action, BookAction, "action")
    check_instance(params, BookParams, "params")
    window = params.window
    index = jnp.arange(window, dtype=_I32)
    buy_qty = jnp.maximum(action.market_buy, 0)
    sell_qty = jnp.maximum(action.market_sell, 0)

    # 1. Cancellations (commanded, replaced, or self-trade prevention).
    withdraw = jnp.stack(
        [
            (action.bid_command != HOLD) | (sell_qty > 0),
            (action.ask_command != HOLD) | (buy_qty > 0),
        ]
    )
    removed = jnp.where(withdraw, state.agent_qty, 0)
    bid = state.bid - jnp.where(index == state.agent_tick[0] - state.ref, removed[0], 0)
    ask = state.ask - jnp.where(index == state.agent_tick[1] - state.ref, removed[1], 0)
    agent_qty = state.agent_qty - removed
    agent_ahead = jnp.where(agent_qty > 0, state.agent_ahead, 0)
    cancelled = state.cancelled + int_sum(removed)

    # 2. Market orders.
    ticks = state.ref + index
    consumed_ask = jnp.clip(buy_qty - (prefix_sum(ask) - ask), 0, ask)
    bid_from_top = bid[::-1]
    consumed_bid = jnp.clip(sell_qty - (prefix_sum(bid_from_top) - bid_from_top), 0, bid_from_top)[
        ::-1
    ]
    ask = ask - consumed_ask
    bid = bid - consumed_bid
    filled = jnp.stack([int_sum(consumed_ask), int_sum(consumed_bid)])
    filled_ticks = jnp.stack([int_sum(consumed_ask * ticks), int_sum(consumed_bid * ticks)])
    sent = jnp.stack([buy_qty, sell_qty])

    # 3. New limit orders (post-only), bid then ask.
    best_bid, best_ask = _best(bid, ask, params)
    place_bid = (action.bid_command == PLACE) & (action.bid_qty > 0)
    bid_position = jnp.minimum(best_bid + action.bid_offset, best_ask - 1)
    place_bid = place_bid & (bid_position >= 0) & (bid_position < window)
    bid_ahead = int_sum(jnp.where(index == bid_position, bid, 0))
    bid = bid + jnp.where((index == bid_position) & place_bid, action.bid_qty, 0)
    best_bid = jnp.where(place_bid, jnp.maximum(best_bid, bid_position), best_bid)

    place_ask = (action.ask_command == PLACE) & (action.ask_qty > 0)
    ask_position = jnp.maximum(best_ask - action.ask_offset, best_bid + 1)
    place_ask = place_ask & (ask_position >= 0) & (ask_position < window)
    ask_ahead = int_sum(jnp.where(index == ask_position, ask, 0))
    ask = ask + jnp.where((index == ask_position) & place_ask, action.ask_qty, 0)

    placed = jnp.stack([place_bid, place_ask])
    placed_qty = jnp.where(placed, jnp.stack([action.bid_qty, action.ask_qty]), 0)
    new_tick = state.ref + jnp.stack([bid_position, ask_position])
    return dataclasses.replace(
        state,
        bid=bid,
        ask=ask,
        agent_tick=jnp.where(placed, new_tick, state.agent_tick),
        agent_qty=jnp.where(placed, placed_qty, agent_qty),
        agent_ahead=jnp.where(placed, jnp.stack([bid_ahead, ask_ahead]), agent_ahead),
        agent_sent=state.agent_sent + sent + placed_qty,
        agent_filled=state.agent_filled + filled,
        fill_qty=state.fill_qty + filled,
        fill_ticks=state.fill_ticks + filled_ticks,
        added=state.added + int_sum(placed_qty),
        executed=state.executed + int_sum(filled),
        cancelled=cancelled,
        market_buy_volume=state.market_buy_volume + filled[0],
        market_sell_volume=state.market_sell_volume + filled[1],
    )


# --------------------------------------------------------------------------- reset / step
def reset(key: jax.Array, params: BookParams) -> tuple[BookObs, BookState]:
    """A fresh book at its regime's steady-state-like depth profile, spread one tick.

    The regime is drawn from ``initial_regime_probs`` with ``key``; the depth
    at distance ``i`` is ``params.initial_depth[regime, i - 1]``; the initial
    volume counts as ``added``.

    Examples
    --------
    >>> import jax
    >>> from riskengine.sim.book_spec import BookSpec
    >>> params = BookSpec().to_params()
    >>> obs, state = reset(jax.random.key(0), params)
    >>> float(obs.best_bid), float(obs.best_ask), int(state.added) == int(state.bid.sum() * 2)
    (99.99, 100.0, True)
    """
    check_key(key)
    check_instance(params, BookParams, "params")
    window, levels = params.window, params.levels
    centre = window // 2
    regime = jnp.minimum(
        int_sum(params.initial_regime_cdf <= jax.random.uniform(key, (), dtype=_F32)),
        params.initial_regime_cdf.shape[0] - 1,
    ).astype(_I32)
    depth = pick_row(params.initial_depth, regime)
    zeros_low = jnp.zeros((centre - levels,), _I32)
    zeros_high = jnp.zeros((window - centre - levels,), _I32)
    bid = jnp.concatenate([zeros_low, depth[::-1], jnp.zeros((window - centre,), _I32)])
    ask = jnp.concatenate([jnp.zeros((centre,), _I32), depth, zeros_high])
    zero, pair = jnp.zeros((), _I32), jnp.zeros((2,), _I32)
    state = BookState(
        bid=bid,
        ask=ask,
        ref=params.initial_tick - centre,
        regime=regime,
        time=zero,
        agent_tick=pair,
        agent_qty=pair,
        agent_ahead=pair,
        agent_sent=pair,
        agent_filled=pair,
        fill_qty=pair,
        fill_ticks=pair,
        added=int_sum(2 * depth),
        executed=zero,
        cancelled=zero,
        market_buy_volume=zero,
        market_sell_volume=zero,
    )
    return observe(state, params), state


def observe(state: BookState, params: BookParams) -> BookObs:
    """The observation of a book state (see :class:`~riskengine.sim.book_types.BookObs`).

    >>> import jax
    >>> from riskengine.sim.book_spec import BookSpec
    >>> params = BookSpec().to_params()
    >>> _, state = reset(jax.random.key(0), params)
    >>> obs = observe(state, params)
    >>> int(obs.spread), int(obs.bid_depth) == int(params.initial_depth[0, 0])
    (1, True)
    """
    check_instance(state, BookState, "state")
    check_instance(params, BookParams, "params")
    best_bid, best_ask = _best(state.bid, state.ask, params)
    bid_depth = depth_at(state.bid, best_bid)
    ask_depth = depth_at(state.ask, best_ask)
    total = bid_depth + ask_depth
    imbalance = jnp.where(total > 0, (bid_depth - ask_depth) / jnp.maximum(total, 1), 0.0)
    tick = params.tick_size
    fill_price = jnp.where(
        state.fill_qty > 0,
        state.fill_ticks.astype(_F32) / jnp.maximum(state.fill_qty, 1).astype(_F32) * tick,
        0.0,
    )
    return BookObs(
        mid=(state.ref + (best_bid + best_ask) / 2).astype(_F32) * tick,
        best_bid=(state.ref + best_bid).astype(_F32) * tick,
        best_ask=(state.ref + best_ask).astype(_F32) * tick,
        spread=(best_ask - best_bid).astype(_I32),
        bid_depth=bid_depth,
        ask_depth=ask_depth,
        imbalance=imbalance.astype(_F32),
        regime=state.regime,
        agent_qty=state.agent_qty,
        agent_ahead=state.agent_ahead,
        fill_qty=state.fill_qty,
        fill_price=fill_price.astype(_F32),
        time=state.time,
    )


def step(
    key: jax.Array, state: BookState, action: BookAction, params: BookParams
) -> tuple[BookObs, BookState, jax.Array, jax.Array, dict[str, jax.Array]]:
    """Apply the agent's action, then ``params.events_per_step`` background events.

    Returns ``(obs, state, reward, done, info)``; the reward is 0 and ``done`` is
    False (the execution environment built on top defines both).  ``info`` holds
    the agent's fills during the step: ``fill_qty`` (lots bought, sold),
    ``fill_price`` (average price, 0 if no fill), ``fill_notional`` (currency
    units) and ``time`` (event index at the end of the step).

    Examples
    --------
    >>> import jax
    >>> from riskengine.sim.book_spec import BookSpec
    >>> params = BookSpec(events_per_step=10).to_params()
    >>> obs, state = reset(jax.random.key(0), params)
    >>> obs, state, reward, done, info = step(jax.random.key(1), state, BookAction.null(), params)
    >>> int(info["time"]), float(reward), bool(done)
    (10, 0.0, False)
    """
    check_key(key)
    check_instance(state, BookState, "state")
    check_instance(action, BookAction, "action")
    check_instance(params, BookParams, "params")
    return _step(key, state, action, params)


@jax.jit
def _step(key, state, action, params):
    # Compiled: eagerly, each of the step's few hundred operations would be
    # dispatched (and compiled) on its own.
    state = dataclasses.replace(
        state, fill_qty=jnp.zeros_like(state.fill_qty), fill_ticks=jnp.zeros_like(state.fill_ticks)
    )
    state = apply_action(state, action, params)
    uniforms = jax.random.uniform(key, (params.events_per_step, N_UNIFORMS), dtype=_F32)
    state = run_events(state, uniforms, params)
    obs = observe(state, params)
    info = {
        "fill_qty": obs.fill_qty,
        "fill_price": obs.fill_price,
        "fill_notional": state.fill_ticks.astype(_F32) * params.tick_size,
        "time": state.time,
    }
    return obs, state, jnp.zeros((), _F32), jnp.zeros((), jnp.bool_), info


def run_events(state: BookState, uniforms: jax.Array, params: BookParams) -> BookState:
    """Sample and apply ``uniforms.shape[0]`` background events (a ``lax.scan``).

    ``uniforms`` is ``(n, N_UNIFORMS, *books)``: event ``t`` is
    :func:`event_from_uniforms` of ``uniforms[t]`` and the book after event
    ``t - 1``.  The book axes (if any) are the *last* axes of every state
    leaf, as in :mod:`riskengine.sim.book_rollout`.

    >>> import jax
    >>> from riskengine.sim.book_spec import BookSpec
    >>> params = BookSpec().to_params()
    >>> _, state = reset(jax.random.key(0), params)
    >>> uniforms = jax.random.uniform(jax.random.key(1), (50, N_UNIFORMS))
    >>> int(run_events(state, uniforms, params).time)
    50
    """

    def event(state, u):
        return apply_event(state, event_from_uniforms(u, state, params), params), None

    state, _ = lax.scan(event, state, uniforms)
    return state
