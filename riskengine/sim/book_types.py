"""The order book's data: parameters, state, events, actions and observations.

Every type is a frozen dataclass registered as a JAX pytree
(:func:`~riskengine.sim.pytree.frozen_pytree`) of fixed-shape int32 / float32
arrays, so a batch of books is the same type with a leading axis and every
kernel function (:mod:`riskengine.sim.book_kernel`) runs under ``jit``,
``vmap`` and ``scan``.  :class:`BookParams` is built from a validated
:class:`~riskengine.sim.book_spec.BookSpec` by :meth:`BookSpec.to_params
<riskengine.sim.book_spec.BookSpec.to_params>`.

The integer codes of event kinds (``LIMIT``, ``MARKET``, ``CANCEL``), sides
(``BUY``, ``SELL``) and the agent's limit-order commands (``HOLD``, ``PLACE``,
``CANCEL_ORDER``) are defined here too.

Examples
--------
>>> BookEvent.make(MARKET, SELL, distance=0, size=3, regime=0).kind
Array(1, dtype=int32)
>>> BookAction.market(buy=2).market_buy
Array(2, dtype=int32)
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp

from riskengine._validation import as_int
from riskengine.sim.pytree import frozen_pytree

__all__ = [
    "BUY",
    "CANCEL",
    "CANCEL_ORDER",
    "HOLD",
    "LIMIT",
    "MARKET",
    "PLACE",
    "SELL",
    "BookAction",
    "BookEvent",
    "BookObs",
    "BookParams",
    "BookState",
]

# Event kinds and sides (``side`` is the direction of the order's initiator).
LIMIT, MARKET, CANCEL = 0, 1, 2
BUY, SELL = 0, 1
# Agent limit-order commands.
HOLD, PLACE, CANCEL_ORDER = 0, 1, 2

_I32 = jnp.int32


@frozen_pytree(meta=("levels", "window", "events_per_step", "recentre_trigger"))
class BookParams:
    """Order-flow parameters as JAX arrays (build with :meth:`BookSpec.to_params
    <riskengine.sim.book_spec.BookSpec.to_params>`).

    ``R`` regimes, ``L = levels`` quoting levels per side, ``G = window`` ticks,
    ``K`` order sizes.  Rates are relative intensities (event time).

    Attributes
    ----------
    limit_cdf : float32 (R, L)
        Cumulative distribution of the limit-order distance ``i = 1..L``.
    limit_total : float32 (R,)
        ``sum_i lambda_r(i)``, limit-order rate per side.
    market_rate : float32 (R,)
        Market-order rate per side.
    cancel_rate : float32 (R,)
        ``theta_r(1)``, cancellation rate per lot at distance 1.
    decay_powers : float32 (R, 2, n_bits)
        ``decay ** (2 ** b)`` ([r, 0, b]) and ``decay ** -(2 ** b)`` ([r, 1, b]),
        the factors of the per-book scale ``decay ** n`` (binary powering).
    profile_down, profile_up : float32 (R, G)
        ``decay ** (G/2 - j)`` and ``decay ** (j - G/2)``: the static halves of
        the separable cancellation weights ``theta(i) = theta(1) decay ** (i-1)``.
    size_cdf : float32 (3, K)
        Cumulative size distribution for limit, market and cancel events (lots).
    transition_cdf : float32 (R, R)
        Row-wise cumulative per-event regime transition matrix.
    initial_regime_cdf : float32 (R,)
        Cumulative distribution of the regime at reset.
    initial_depth : int32 (R, L)
        Depth at distance ``1..L`` at reset, lots.
    tick_size : float32 ()
        Currency units per tick.
    initial_tick : int32 ()
        Best ask at reset, ticks.
    levels, window, events_per_step, recentre_trigger : int
        Static sizes (see :class:`~riskengine.sim.book_spec.BookSpec`).
    """

    limit_cdf: jax.Array
    limit_total: jax.Array
    market_rate: jax.Array
    cancel_rate: jax.Array
    decay_powers: jax.Array
    profile_down: jax.Array
    profile_up: jax.Array
    size_cdf: jax.Array
    transition_cdf: jax.Array
    initial_regime_cdf: jax.Array
    initial_depth: jax.Array
    tick_size: jax.Array
    initial_tick: jax.Array
    levels: int
    window: int
    events_per_step: int
    recentre_trigger: int


@frozen_pytree()
class BookState:
    """One book (add a leading axis for a batch).  All fields int32.

    Attributes
    ----------
    bid, ask : (G,)
        Resting lots per tick of the window (the agent's orders included).
    ref : ()
        Absolute tick of window index 0.
    regime : ()
        Current book regime.
    time : ()
        Background events applied so far (event time).
    agent_tick, agent_qty, agent_ahead : (2,)
        The agent's resting bid ([0]) and ask ([1]) order: absolute tick,
        remaining lots (0 = no order) and lots ahead of it in the queue.
    agent_sent, agent_filled : (2,)
        Cumulative lots the agent sent to buy ([0]) / sell ([1]), market and
        limit, and lots it got filled.
    fill_qty, fill_ticks : (2,)
        Lots bought ([0]) / sold ([1]) by the agent and ``sum(lots * tick)``
        since the start of the current :func:`~riskengine.sim.book_kernel.step`.
    added, executed, cancelled : ()
        Cumulative lots added to the book, executed and cancelled (including
        volume shifted off the window); ``added == executed + cancelled + resting``.
    market_buy_volume, market_sell_volume : ()
        Cumulative lots executed by market buy / sell orders (agent's included).
    """

    bid: jax.Array
    ask: jax.Array
    ref: jax.Array
    regime: jax.Array
    time: jax.Array
    agent_tick: jax.Array
    agent_qty: jax.Array
    agent_ahead: jax.Array
    agent_sent: jax.Array
    agent_filled: jax.Array
    fill_qty: jax.Array
    fill_ticks: jax.Array
    added: jax.Array
    executed: jax.Array
    cancelled: jax.Array
    market_buy_volume: jax.Array
    market_sell_volume: jax.Array


@frozen_pytree()
class BookEvent:
    """One background order-book event (int32 scalars).

    Attributes
    ----------
    kind : ``LIMIT`` (0), ``MARKET`` (1) or ``CANCEL`` (2).
    side : ``BUY`` (0) or ``SELL`` (1); for cancellations, 0 is the bid side.
    distance : ticks from the *opposite* best price (``1..L``; 0 for market orders).
    size : lots (>= 1).
    regime : book regime after this event.
    """

    kind: jax.Array
    side: jax.Array
    distance: jax.Array
    size: jax.Array
    regime: jax.Array

    @classmethod
    def make(cls, kind: int, side: int, distance: int, size: int, regime: int) -> BookEvent:
        """Build an event from Python ints, validating each field.

        >>> BookEvent.make(LIMIT, BUY, distance=1, size=2, regime=0).size
        Array(2, dtype=int32)
        >>> BookEvent.make(LIMIT, BUY, distance=1, size=0, regime=0)
        Traceback (most recent call last):
        ValueError: size: must be >= 1, got 0
        """
        values = dict(
            kind=as_int(kind, field="kind", low=0, high=2),
            side=as_int(side, field="side", low=0, high=1),
            distance=as_int(distance, field="distance", low=0),
            size=as_int(size, field="size", low=1),
            regime=as_int(regime, field="regime", low=0),
        )
        return cls(**{k: jnp.asarray(v, dtype=_I32) for k, v in values.items()})


@frozen_pytree()
class BookAction:
    """The agent's orders for one :func:`~riskengine.sim.book_kernel.step` (int32 scalars).

    Attributes
    ----------
    market_buy, market_sell : lots to buy / sell at market (0 = none).
    bid_command, ask_command : ``HOLD`` (0), ``PLACE`` (1, replaces any resting
        order on that side) or ``CANCEL_ORDER`` (2).
    bid_offset : ticks *above* the best bid for a new bid (0 joins the touch,
        1 improves it by a tick, -k rests k ticks behind it).
    ask_offset : ticks *below* the best ask for a new ask (same convention).
    bid_qty, ask_qty : lots of the new limit order.

    Limit orders are post-only: a bid that would reach the best ask is placed one
    tick below it (an ask one tick above the best bid), as exchanges' post-only
    "slide" does, so the agent never crosses the book with a limit order.
    """

    market_buy: jax.Array
    market_sell: jax.Array
    bid_command: jax.Array
    bid_offset: jax.Array
    bid_qty: jax.Array
    ask_command: jax.Array
    ask_offset: jax.Array
    ask_qty: jax.Array

    _FIELDS: ClassVar[tuple[str, ...]] = (
        "market_buy",
        "market_sell",
        "bid_command",
        "bid_offset",
        "bid_qty",
        "ask_command",
        "ask_offset",
        "ask_qty",
    )

    @classmethod
    def make(cls, **values: int) -> BookAction:
        """Build an action from Python ints; missing fields are 0 (do nothing).

        >>> BookAction.make(bid_command=PLACE, bid_offset=0, bid_qty=5).bid_qty
        Array(5, dtype=int32)
        >>> BookAction.make(market_buy=-1)
        Traceback (most recent call last):
        ValueError: action.market_buy: must be >= 0, got -1
        """
        unknown = sorted(set(values) - set(cls._FIELDS))
        if unknown:
            raise ValueError(f"action: unknown field(s) {unknown}")
        out = {}
        for name in cls._FIELDS:
            value = values.get(name, 0)
            if name.endswith("_command"):
                out[name] = as_int(value, field=f"action.{name}", low=0, high=2)
            elif name.endswith("_offset"):
                out[name] = as_int(value, field=f"action.{name}", low=-(2**20), high=2**20)
            else:
                out[name] = as_int(value, field=f"action.{name}", low=0, high=2**30)
        return cls(**{k: jnp.asarray(v, dtype=_I32) for k, v in out.items()})

    @classmethod
    def null(cls) -> BookAction:
        """The do-nothing action."""
        return cls.make()

    @classmethod
    def market(cls, buy: int = 0, sell: int = 0) -> BookAction:
        """Market order(s) only."""
        return cls.make(market_buy=buy, market_sell=sell)


@frozen_pytree()
class BookObs:
    """What the agent sees after a step (prices in currency units, volumes in lots).

    Attributes
    ----------
    mid, best_bid, best_ask : float32 prices (empty sides follow the rule of
        :mod:`riskengine.sim.book_kernel`).
    spread : int32 ticks.
    bid_depth, ask_depth : int32 lots at the best bid / ask.
    imbalance : float32 ``(bid_depth - ask_depth) / (bid_depth + ask_depth)``, 0 if both empty.
    regime : int32 book regime.
    agent_qty, agent_ahead : int32 (2,), the agent's resting bid / ask and queue ahead.
    fill_qty : int32 (2,), lots bought / sold by the agent during the step.
    fill_price : float32 (2,), their average price (0 when nothing filled).
    time : int32, background events so far.
    """

    mid: jax.Array
    best_bid: jax.Array
    best_ask: jax.Array
    spread: jax.Array
    bid_depth: jax.Array
    ask_depth: jax.Array
    imbalance: jax.Array
    regime: jax.Array
    agent_qty: jax.Array
    agent_ahead: jax.Array
    fill_qty: jax.Array
    fill_price: jax.Array
    time: jax.Array
