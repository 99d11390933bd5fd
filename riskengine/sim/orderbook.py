"""Price-level limit order book on a tick grid, in JAX (gymnax-style ``reset`` / ``step``).

The book is a zero-intelligence order-flow model in the spirit of Cont, Stoikov
and Talreja (2010): Poisson limit orders, market orders and cancellations whose
intensities depend on the distance from the opposite best price and on the
current *book regime* (e.g. calm / stressed), see
:class:`~riskengine.sim.book_spec.BookSpec`.  Everything is a fixed-shape
int32 / float32 array, so thousands of books run under one ``vmap`` and volumes
are conserved exactly.

Representation
--------------
Each book holds bid and ask depths (int32 lots) on a window of ``G`` ticks whose
first tick is the absolute tick ``ref``.  Event ``t`` is sampled from the book
after event ``t - 1`` (:func:`sample_event`) and applied by the pure
:func:`apply_event`; agent orders go through :func:`apply_action`.  The rules,
which the plain-Python oracle in ``tests/sim/reference_book.py`` reproduces
exactly, are:

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
import functools
from typing import TYPE_CHECKING, Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from riskengine._validation import as_int, check_seed
from riskengine.sim._devices import map_over_devices

if TYPE_CHECKING:  # pragma: no cover
    from riskengine.sim.book_spec import BookSpec

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
    "BookRecording",
    "BookState",
    "apply_action",
    "apply_event",
    "observe",
    "reset",
    "sample_event",
    "simulate_book",
    "step",
]

# Event kinds and sides (``side`` is the direction of the order's initiator).
LIMIT, MARKET, CANCEL = 0, 1, 2
BUY, SELL = 0, 1
# Agent limit-order commands.
HOLD, PLACE, CANCEL_ORDER = 0, 1, 2

_I32 = jnp.int32
_F32 = jnp.float32
N_UNIFORMS = 4  # uniforms per background event: class, level, size, regime


def _frozen_pytree(meta: tuple[str, ...] = ()):
    """Make a frozen dataclass and register it as a pytree (``meta`` fields are static)."""

    def wrap(cls):
        cls = dataclasses.dataclass(frozen=True)(cls)
        data = [f.name for f in dataclasses.fields(cls) if f.name not in meta]
        return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=list(meta))

    return wrap


def _require(value: Any, cls: type, name: str) -> None:
    # Compare by name as well: a doctest run may load this module a second time
    # under another name (``orderbook`` beside ``riskengine.sim.orderbook``), and
    # the twin class is the same type for every purpose here.
    same = type(value).__qualname__ == cls.__qualname__
    if not (isinstance(value, cls) or same):
        raise TypeError(f"{name}: expected {cls.__name__}, got {type(value).__name__}")


def _check_key(key: Any, name: str = "key") -> None:
    """Accept a typed key or a raw ``uint32[2]`` key, nothing else."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"{name}: expected a single key, got shape {key.shape}")
        return
    if isinstance(key, jax.Array | np.ndarray) and key.dtype == np.uint32 and key.shape == (2,):
        return
    raise TypeError(f"{name}: expected a jax.random key, got {type(key).__name__}")


# --------------------------------------------------------------------------- pytrees
@_frozen_pytree(meta=("levels", "window", "events_per_step", "recentre_trigger"))
class BookParams:
    """Order-flow parameters as JAX arrays (build with :meth:`BookSpec.to_params`).

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

    @classmethod
    def from_spec(cls, spec: BookSpec) -> BookParams:
        """Convert a validated :class:`~riskengine.sim.book_spec.BookSpec`."""
        from riskengine.sim.book_spec import BookSpec

        _require(spec, BookSpec, "spec")
        window = spec.window
        rates = spec.limit_rates()
        limit_cdf = np.cumsum(rates, axis=1) / rates.sum(axis=1, keepdims=True)
        limit_cdf[:, -1] = 1.0  # u < 1 always lands on a level
        offset = np.arange(window) - window // 2
        log_decay = np.log(spec.cancel_decay)
        size_tables = (spec.limit_size_probs, spec.market_size_probs, spec.cancel_size_probs)
        n_sizes = max(len(p) for p in size_tables)
        size_cdf = np.ones((3, n_sizes))
        for row, probs in enumerate(size_tables):
            size_cdf[row, : len(probs)] = np.cumsum(probs)
            size_cdf[row, len(probs) - 1 :] = 1.0
        # |best - 1 - G/2| < G + L + 2 for every reachable best price.
        n_bits = int(window + spec.levels + 2).bit_length()
        bit_power = 2.0 ** np.arange(n_bits)
        decay_powers = np.stack(
            [
                np.exp(log_decay[:, None] * bit_power[None, :]),
                np.exp(-log_decay[:, None] * bit_power[None, :]),
            ],
            axis=1,
        ).clip(0.0, np.finfo(np.float32).max)  # unreachable high bits must not be inf
        transition_cdf = np.cumsum(spec.transition, axis=1)
        transition_cdf[:, -1] = 1.0
        regime_cdf = np.cumsum(spec.initial_regime_probs)
        regime_cdf[-1] = 1.0
        f32 = functools.partial(jnp.asarray, dtype=_F32)
        return cls(
            limit_cdf=f32(limit_cdf),
            limit_total=f32(rates.sum(axis=1)),
            market_rate=f32(spec.market_rate),
            cancel_rate=f32(spec.cancel_rate),
            decay_powers=f32(decay_powers),
            profile_down=f32(np.exp(-log_decay[:, None] * offset[None, :])),
            profile_up=f32(np.exp(log_decay[:, None] * offset[None, :])),
            size_cdf=f32(size_cdf),
            transition_cdf=f32(transition_cdf),
            initial_regime_cdf=f32(regime_cdf),
            initial_depth=jnp.asarray(spec.initial_depth(), dtype=_I32),
            tick_size=f32(spec.tick_size),
            initial_tick=jnp.asarray(round(spec.initial_price / spec.tick_size), dtype=_I32),
            levels=spec.levels,
            window=window,
            events_per_step=spec.events_per_step,
            recentre_trigger=spec.recentre_trigger,
        )


@_frozen_pytree()
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
        since the start of the current :func:`step`.
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


@_frozen_pytree()
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


@_frozen_pytree()
class BookAction:
    """The agent's orders for one :func:`step` (int32 scalars).

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


@_frozen_pytree()
class BookObs:
    """What the agent sees after a step (prices in currency units, volumes in lots).

    Attributes
    ----------
    mid, best_bid, best_ask : float32 prices (empty sides follow the module's rule).
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


# --------------------------------------------------------------------------- core
# Every core function takes the price levels on axis 0 and any number of book
# axes after it: ``bid`` is ``(G,)`` for one book and ``(G, B)`` inside
# :func:`simulate_book`, where books on the minor axis turn each reduction over
# levels into element-wise vector operations across books (no transposes, no
# gathers, no ``reduce_window``).  The per-book API functions run the same code
# with no book axes, so the batched hot loop and ``apply_event`` cannot diverge.
_BLOCK = 8  # levels per block of the two-level cancellation sampler


def _level_index(params: BookParams, ndim: int) -> jax.Array:
    """Window index ``0..G-1`` on axis 0, broadcastable against ``ndim``-d depths."""
    return jnp.arange(params.window, dtype=_I32).reshape((params.window,) + (1,) * (ndim - 1))


def _isum(values: jax.Array) -> jax.Array:
    """Integer sum kept in int32 (``jnp.sum`` widens to int64 under ``jax_enable_x64``)."""
    return jnp.sum(values, dtype=_I32)


_REDUCE_CHUNK = 32  # XLA CPU rewrites longer reductions into a slow reduce-window tree


def _reduce_rows(values: jax.Array, op: str) -> jax.Array:
    """``sum`` / ``max`` / ``min`` over axis 0 (levels), for integer values.

    With books on the minor axis this is a column reduction that XLA CPU
    vectorises across books.  Reductions longer than 32 go through a
    ``reduce-window`` tree on CPU, several times slower, so longer axes are
    reduced in chunks of 32 rows.  A reduction (rather than a chain of
    selects) also keeps XLA from fusing the per-book result's producers into
    every (level, book) element of its consumers.
    """
    # dtype: jnp.sum widens int32 to int64 under jax_enable_x64.
    reduce = {
        "sum": functools.partial(jnp.sum, dtype=values.dtype),
        "max": jnp.max,
        "min": jnp.min,
    }[op]
    size = values.shape[0]
    if size <= _REDUCE_CHUNK:
        return reduce(values, axis=0)
    n_chunks = -(-size // _REDUCE_CHUNK)
    fill = {"sum": 0, "max": jnp.iinfo(values.dtype).min, "min": jnp.iinfo(values.dtype).max}[op]
    pad = [(0, n_chunks * _REDUCE_CHUNK - size)] + [(0, 0)] * (values.ndim - 1)
    grid = jnp.pad(values, pad, constant_values=fill)
    partial = reduce(grid.reshape((n_chunks, _REDUCE_CHUNK, *values.shape[1:])), axis=1)
    return reduce(partial, axis=0)


def _count(values: jax.Array) -> jax.Array:
    """Number of true entries along axis 0, as int32."""
    return _reduce_rows(values.astype(_I32), "sum")


def _at(depth: jax.Array, position: jax.Array) -> jax.Array:
    """``depth[position]`` per book, 0 outside the window: a masked sum, not a gather."""
    index = jnp.arange(depth.shape[0], dtype=_I32).reshape((-1,) + (1,) * (depth.ndim - 1))
    return _reduce_rows(jnp.where(index == position, depth, 0), "sum")


def _materialise(*values: jax.Array) -> tuple[jax.Array, ...]:
    """The same values, computed once and stored before their consumers run.

    XLA CPU fuses a per-book value's producers into every (level, book)
    element of a wider consumer, recomputing a chain of tens of operations
    ``G`` times; ``optimization_barrier`` is expanded away before fusion on
    CPU.  A reduction is never fused into its consumer, so each value goes
    through ``max(x, lowest)`` over a stacked axis of two (exact).
    """
    out = []
    for value in values:
        dtype = value.dtype
        work = value.astype(_I32) if dtype == jnp.bool_ else value
        if jnp.issubdtype(work.dtype, jnp.floating):
            lowest = jnp.full_like(work, -jnp.inf)
        else:
            lowest = jnp.full_like(work, jnp.iinfo(work.dtype).min)
        out.append(jnp.max(jnp.stack([work, lowest]), axis=0).astype(dtype))
    return tuple(out)


def _best(bid: jax.Array, ask: jax.Array, params: BookParams) -> tuple[jax.Array, jax.Array]:
    """Best bid / ask as window indices, with the empty-side rule of the module docstring."""
    window, levels = params.window, params.levels
    index = _level_index(params, bid.ndim)
    raw_bid = _reduce_rows(jnp.where(bid > 0, index, -1), "max")
    raw_ask = _reduce_rows(jnp.where(ask > 0, index, window), "min")
    has_bid, has_ask = raw_bid >= 0, raw_ask < window
    empty_bid = jnp.where(has_ask, raw_ask - levels, window // 2 - levels // 2)
    best_bid = jnp.where(has_bid, raw_bid, empty_bid)
    best_ask = jnp.where(has_ask, raw_ask, best_bid + levels)
    return _materialise(best_bid, best_ask)


def _pick(values: jax.Array, index: jax.Array) -> jax.Array:
    """``values[index]`` along the leading (static, small) axis, per book, without a gather.

    ``values`` is ``(R, *tail)`` and ``index`` has the books' shape; the result
    is ``(*tail, *books)``.  A short chain of selects vectorises across books,
    where a per-book dynamic index would become an XLA gather.
    """
    rows = values.reshape(values.shape + (1,) * jnp.ndim(index))
    out = jnp.broadcast_to(rows[0], values.shape[1:] + jnp.shape(index))
    for row in range(1, values.shape[0]):
        out = jnp.where(index == row, rows[row], out)
    return out


def _pair_get(values: jax.Array, side: jax.Array) -> jax.Array:
    """``values[side]`` of a ``(2, *books)`` bid / ask pair."""
    return jnp.where(side == 0, values[0], values[1])


def _pair_set(values: jax.Array, side: jax.Array, new: jax.Array) -> jax.Array:
    """``values`` with ``values[side]`` replaced by ``new`` (per book)."""
    pair = jnp.arange(2, dtype=_I32).reshape((2,) + (1,) * (values.ndim - 1))
    return jnp.where(pair == side, new, values)


def _cumsum(values: jax.Array, block: int = 8) -> jax.Array:
    """Inclusive prefix sum of a 1-D array, blocked so that it vectorises across books.

    Only the agent's market orders (:func:`apply_action`, once per step) walk
    the book; ``jnp.cumsum`` lowers to ``reduce_window`` on CPU, which two
    short unrolled scans (within blocks, then over blocks) beat under ``vmap``.
    """
    size = values.shape[0]
    padded = -(-size // block) * block
    grid = jnp.pad(values, (0, padded - size)).reshape(padded // block, block)
    columns = [grid[:, 0]]
    for column in range(1, block):
        columns.append(columns[-1] + grid[:, column])
    offsets = [jnp.zeros_like(columns[-1][0])]
    for row in range(1, padded // block):
        offsets.append(offsets[-1] + columns[-1][row - 1])
    inner = jnp.stack(columns, axis=1) + jnp.stack(offsets)[:, None]
    return inner.reshape(padded)[:size]


def _below(total: jax.Array, u: jax.Array) -> jax.Array:
    """``u * total`` clamped strictly below ``total`` (for ``total > 0``).

    Float rounding can give ``u * total == total`` for ``u`` within ``2**-24``
    of one; the clamp keeps every inverse-CDF search on a category of
    positive mass.
    """
    return jnp.minimum(u * total, jnp.nextafter(total, jnp.zeros_like(total)))


def _decay_power(powers: jax.Array, exponent: jax.Array) -> jax.Array:
    """``decay ** exponent`` by binary powering over ``powers`` (2, bits), see BookParams.

    A fixed product order (bit 0 first) of tabulated float32 factors and no
    ``exp``, so that the plain-Python oracle reproduces it bit for bit.
    """
    magnitude = jnp.abs(exponent)
    out = jnp.ones(jnp.shape(exponent), _F32)
    for bit in range(powers.shape[1]):
        factor = jnp.where(exponent >= 0, powers[0, bit], powers[1, bit])
        out = out * jnp.where((magnitude >> bit) & 1 == 1, factor, jnp.float32(1.0))
    return out


def _block_prefix(weight: jax.Array) -> tuple[list[jax.Array], jax.Array, jax.Array]:
    """Blocked inclusive prefix sums of ``weight`` (G, *books) in a fixed order.

    Returns ``inner`` (``_BLOCK`` arrays of shape ``(n_blocks, *books)``, the
    prefix sums within each block), ``before`` (``(n_blocks, *books)``, the
    total of all earlier blocks) and ``total``.  Every sum is an explicit
    left-to-right chain of float32 adds (XLA does not reassociate them), which
    is what lets the oracle's numpy float32 loop reproduce the bits.
    """
    size = weight.shape[0]
    n_blocks = -(-size // _BLOCK)
    pad = [(0, n_blocks * _BLOCK - size)] + [(0, 0)] * (weight.ndim - 1)
    grid = jnp.pad(weight, pad).reshape((n_blocks, _BLOCK, *weight.shape[1:]))
    inner = [grid[:, 0]]
    for column in range(1, _BLOCK):
        inner.append(inner[-1] + grid[:, column])
    mass = inner[-1]
    before = [jnp.zeros_like(mass[0])]
    for block in range(1, n_blocks):
        before.append(before[-1] + mass[block - 1])
    total = before[-1] + mass[n_blocks - 1]
    before, total = _materialise(jnp.stack(before), total)
    return inner, before, total


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
        (state.bid - own_bid).astype(_F32) * _pick(params.profile_down, state.regime),
        zero,
    )
    weight_ask = jnp.where(
        (distance_ask >= 1) & (distance_ask <= levels),
        (state.ask - own_ask).astype(_F32) * _pick(params.profile_up, state.regime),
        zero,
    )
    return weight_bid, weight_ask


def _sample_from_uniforms(u: jax.Array, state: BookState, params: BookParams) -> BookEvent:
    """Sample the next event from four uniforms ``u`` (4, *books) in [0, 1).

    ``u[0]`` picks the class, ``u[1]`` the limit distance or cancelled level,
    ``u[2]`` the size and ``u[3]`` the next regime.  Every categorical draw is
    an inverse CDF by counting ``cumulative <= u * total`` (no sort, no
    search); the cancelled level uses the two-level blocked prefix sums of
    :func:`_block_prefix`, which pick level ``j`` with probability
    ``weight_j / total`` exactly as a flat prefix sum would, and never a level
    of zero weight.
    """
    window, levels = params.window, params.levels
    centre = window // 2
    regime = state.regime
    best_bid, best_ask = _best(state.bid, state.ask, params)
    weight_bid, weight_ask = _cancel_weights(state, best_bid, best_ask, params)
    inner_bid, before_bid, total_bid = _block_prefix(weight_bid)
    inner_ask, before_ask, total_ask = _block_prefix(weight_ask)
    # theta(i) = cancel_rate * decay ** (i - 1) factorises into a per-book scale
    # times the static profile of _cancel_weights.
    powers = _pick(params.decay_powers, regime)  # (2, bits, *books)
    cancel_rate = _pick(params.cancel_rate, regime)
    cancel_bid = cancel_rate * _decay_power(powers, best_ask - 1 - centre) * total_bid
    cancel_ask = cancel_rate * _decay_power(powers, centre - best_bid - 1) * total_ask
    # XLA CPU lets LLVM contract ``sum + a * b`` into one fused multiply-add
    # (one rounding, which plain float32 arithmetic does not reproduce).  The
    # rates are >= 0, so ``max(rate, 0)`` is exact and hides the product from
    # the additions below.
    cancel_bid = jnp.maximum(cancel_bid, jnp.float32(0.0))
    cancel_ask = jnp.maximum(cancel_ask, jnp.float32(0.0))
    limit_rate = _pick(params.limit_total, regime)
    market_rate = _pick(params.market_rate, regime)
    # Classes: limit buy, limit sell, market buy, market sell, cancel bid, cancel ask.
    cumulative = [limit_rate]
    for rate in (limit_rate, market_rate, market_rate, cancel_bid, cancel_ask):
        cumulative.append(cumulative[-1] + rate)
    target = _below(cumulative[-1], u[0])
    event_class = sum((c <= target).astype(_I32) for c in cumulative)
    kind = event_class // 2
    side = event_class % 2
    buy = side == BUY

    limit_distance = 1 + _count(_pick(params.limit_cdf, regime) <= u[1])
    total = jnp.where(buy, total_bid, total_ask)
    before = jnp.where(buy, before_bid, before_ask)
    (level_target,) = _materialise(_below(total, u[1]))
    level = sum(
        _count(before + jnp.where(buy, a, b) <= level_target)
        for a, b in zip(inner_bid, inner_ask, strict=True)
    )
    cancel_distance = jnp.where(buy, best_ask - level, level - best_bid)
    distance = jnp.where(
        kind == LIMIT,
        jnp.minimum(limit_distance, levels),
        jnp.where(kind == CANCEL, cancel_distance, 0),
    )
    size_cdf = _pick(params.size_cdf, kind)
    size = jnp.minimum(1 + _count(size_cdf <= u[2]), size_cdf.shape[0])
    n_regimes = params.transition_cdf.shape[0]
    next_regime = _count(_pick(params.transition_cdf, regime) <= u[3])
    fields = (kind, side, distance, size, jnp.minimum(next_regime, n_regimes - 1))
    return BookEvent(*_materialise(*(f.astype(_I32) for f in fields)))


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
    _check_key(key)
    _require(state, BookState, "state")
    _require(params, BookParams, "params")
    return _sample_event(key, state, params)


@jax.jit
def _sample_event(key: jax.Array, state: BookState, params: BookParams) -> BookEvent:
    # Jitted: run eagerly, each of the sampler's few hundred operations would be
    # dispatched (and compiled) on its own.
    u = jax.random.uniform(key, (N_UNIFORMS,), dtype=_F32)
    return _sample_from_uniforms(u, state, params)


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
    _require(state, BookState, "state")
    _require(event, BookEvent, "event")
    _require(params, BookParams, "params")
    return _apply_event(state, event, params)


def _apply_event(state: BookState, event: BookEvent, params: BookParams) -> BookState:
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
    on_bid, position = _materialise(on_bid, position)
    depth_here = _at(jnp.where(on_bid, state.bid, state.ask), position)
    agent_side = jnp.where(on_bid, BUY, SELL)
    agent_tick = _pair_get(state.agent_tick, agent_side)
    agent_qty = _pair_get(state.agent_qty, agent_side)
    agent_ahead = _pair_get(state.agent_ahead, agent_side)
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
    on_bid, position, delta, shift = _materialise(
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
        still_inside, _pair_set(state.agent_qty, agent_side, agent_qty - fill), 0
    )
    agent_ahead_after = jnp.where(
        agent_qty_after > 0, _pair_set(state.agent_ahead, agent_side, ahead_after), 0
    )
    fill_by_side = _pair_set(jnp.zeros_like(state.agent_qty), agent_side, fill)
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
    _require(state, BookState, "state")
    _require(action, BookAction, "action")
    _require(params, BookParams, "params")
    return _apply_action(state, action, params)


def _apply_action(state: BookState, action: BookAction, params: BookParams) -> BookState:
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
    cancelled = state.cancelled + _isum(removed)

    # 2. Market orders.
    ticks = state.ref + index
    consumed_ask = jnp.clip(buy_qty - (_cumsum(ask) - ask), 0, ask)
    bid_from_top = bid[::-1]
    consumed_bid = jnp.clip(sell_qty - (_cumsum(bid_from_top) - bid_from_top), 0, bid_from_top)[
        ::-1
    ]
    ask = ask - consumed_ask
    bid = bid - consumed_bid
    filled = jnp.stack([_isum(consumed_ask), _isum(consumed_bid)])
    filled_ticks = jnp.stack([_isum(consumed_ask * ticks), _isum(consumed_bid * ticks)])
    sent = jnp.stack([buy_qty, sell_qty])

    # 3. New limit orders (post-only), bid then ask.
    best_bid, best_ask = _best(bid, ask, params)
    place_bid = (action.bid_command == PLACE) & (action.bid_qty > 0)
    bid_position = jnp.minimum(best_bid + action.bid_offset, best_ask - 1)
    place_bid = place_bid & (bid_position >= 0) & (bid_position < window)
    bid_ahead = _isum(jnp.where(index == bid_position, bid, 0))
    bid = bid + jnp.where((index == bid_position) & place_bid, action.bid_qty, 0)
    best_bid = jnp.where(place_bid, jnp.maximum(best_bid, bid_position), best_bid)

    place_ask = (action.ask_command == PLACE) & (action.ask_qty > 0)
    ask_position = jnp.maximum(best_ask - action.ask_offset, best_bid + 1)
    place_ask = place_ask & (ask_position >= 0) & (ask_position < window)
    ask_ahead = _isum(jnp.where(index == ask_position, ask, 0))
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
        added=state.added + _isum(placed_qty),
        executed=state.executed + _isum(filled),
        cancelled=cancelled,
        market_buy_volume=state.market_buy_volume + filled[0],
        market_sell_volume=state.market_sell_volume + filled[1],
    )


# --------------------------------------------------------------------------- env API
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
    _check_key(key)
    _require(params, BookParams, "params")
    return _reset(key, params)


def _reset(key: jax.Array, params: BookParams) -> tuple[BookObs, BookState]:
    window, levels = params.window, params.levels
    centre = window // 2
    regime = jnp.minimum(
        _isum(params.initial_regime_cdf <= jax.random.uniform(key, (), dtype=_F32)),
        params.initial_regime_cdf.shape[0] - 1,
    ).astype(_I32)
    depth = _pick(params.initial_depth, regime)
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
        added=_isum(2 * depth),
        executed=zero,
        cancelled=zero,
        market_buy_volume=zero,
        market_sell_volume=zero,
    )
    return _observe(state, params), state


def observe(state: BookState, params: BookParams) -> BookObs:
    """The observation of a book state (see :class:`BookObs`)."""
    _require(state, BookState, "state")
    _require(params, BookParams, "params")
    return _observe(state, params)


def _observe(state: BookState, params: BookParams) -> BookObs:
    best_bid, best_ask = _best(state.bid, state.ask, params)
    bid_depth = _at(state.bid, best_bid)
    ask_depth = _at(state.ask, best_ask)
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
    _check_key(key)
    _require(state, BookState, "state")
    _require(action, BookAction, "action")
    _require(params, BookParams, "params")
    return _step(key, state, action, params)


@jax.jit
def _step(key, state, action, params):
    state = dataclasses.replace(
        state, fill_qty=jnp.zeros_like(state.fill_qty), fill_ticks=jnp.zeros_like(state.fill_ticks)
    )
    state = _apply_action(state, action, params)
    uniforms = jax.random.uniform(key, (params.events_per_step, N_UNIFORMS), dtype=_F32)
    state = _run_events(state, uniforms, params)
    obs = _observe(state, params)
    info = {
        "fill_qty": obs.fill_qty,
        "fill_price": obs.fill_price,
        "fill_notional": state.fill_ticks.astype(_F32) * params.tick_size,
        "time": state.time,
    }
    return obs, state, jnp.zeros((), _F32), jnp.zeros((), jnp.bool_), info


# --------------------------------------------------------------------------- batch runs
@dataclasses.dataclass(frozen=True, eq=False)
class BookRecording:
    """Recorded book statistics, shape ``(n_books, n_records)`` unless noted.

    Attributes
    ----------
    mid : float64, mid price (currency units) after each record interval.
    spread : int32, ticks.
    bid_depth, ask_depth : int32, lots at the best bid / ask.
    buy_volume, sell_volume : int32, lots executed by market buys / sells during the interval.
    regime : int32, book regime.
    tick_size : float, currency units per tick.
    record_every : int, events per record interval.
    final_state : BookState with numpy leaves (leading axis ``n_books``).
    """

    mid: np.ndarray
    spread: np.ndarray
    bid_depth: np.ndarray
    ask_depth: np.ndarray
    buy_volume: np.ndarray
    sell_volume: np.ndarray
    regime: np.ndarray
    tick_size: float
    record_every: int
    final_state: BookState

    def summary(self) -> dict[str, float]:
        """Mean / quantiles of spread and depth and the traded volume per event.

        >>> from riskengine.sim.book_spec import BookSpec
        >>> rec = simulate_book(BookSpec(), seed=0, n_books=3, n_events=300, record_every=100)
        >>> sorted(rec.summary())[:3]
        ['mean_best_depth', 'mean_spread_ticks', 'median_spread_ticks']
        """
        depth = (self.bid_depth + self.ask_depth) / 2
        returns = np.diff(np.log(self.mid), axis=1)
        return {
            "mean_spread_ticks": float(self.spread.mean()),
            "median_spread_ticks": float(np.median(self.spread)),
            "p95_spread_ticks": float(np.quantile(self.spread, 0.95)),
            "mean_best_depth": float(depth.mean()),
            "volume_per_event": float(
                (self.buy_volume + self.sell_volume).mean() / self.record_every
            ),
            "mid_return_std": float(returns.std()) if returns.size else 0.0,
        }


def _resolve_spec(spec: Any) -> BookSpec:
    from riskengine.sim.book_spec import BookSpec

    if isinstance(spec, BookSpec):
        return spec
    if isinstance(spec, str):
        from riskengine.sim.specs import load_spec  # lazy: the loader imports this module

        spec = load_spec(spec)
    book = getattr(spec, "book", spec)
    if book is None:
        raise ValueError("spec: the scenario has no [book] section")
    if not isinstance(book, BookSpec):
        raise TypeError(
            f"spec: expected a BookSpec, a ScenarioSpec or a spec name, got {type(spec).__name__}"
        )
    return book


_MAX_CHUNK = 250  # events per bulk draw of uniforms: (chunk, 4, n_books) float32


def _chunk_size(record_every: int) -> int:
    """The largest divisor of ``record_every`` not above ``_MAX_CHUNK``."""
    return max(d for d in range(1, min(record_every, _MAX_CHUNK) + 1) if record_every % d == 0)


def _books_last(tree: Any) -> Any:
    """Move the leading book axis of every leaf to the end (``(B, G)`` -> ``(G, B)``)."""
    return jax.tree.map(lambda x: jnp.moveaxis(x, 0, -1), tree)


def _books_first(tree: Any) -> Any:
    """Inverse of :func:`_books_last`."""
    return jax.tree.map(lambda x: jnp.moveaxis(x, -1, 0), tree)


def _run_events(state: BookState, uniforms: jax.Array, params: BookParams) -> BookState:
    """Apply ``uniforms.shape[0]`` sampled events; ``uniforms`` is ``(n, 4, *books)``."""

    def event(state, u):
        return _apply_event(state, _sample_from_uniforms(u, state, params), params), None

    state, _ = lax.scan(event, state, uniforms)
    return state


def _simulate_batched(books, seed, params, n_records, record_every):
    """All ``books`` (uint32 book indices) at once, books on the minor axis.

    No ``vmap`` inside the event loop.  Book ``b`` resets from
    ``fold_in(reset_key, b)`` and draws its uniforms for chunk ``c`` of record
    interval ``r`` from ``fold_in(fold_in(fold_in(run_key, b), r), c)``, so its
    path depends only on the seed and ``b``: not on how many books run, nor on
    which device runs them.
    """
    key = jax.random.key(seed)
    reset_key, run_key = jax.random.split(key)
    _, state = jax.vmap(lambda b: _reset(jax.random.fold_in(reset_key, b), params))(books)
    book_keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(run_key, books)
    chunk = _chunk_size(record_every)

    def draw(record, chunk_index):
        def one_book(book_key):
            key = jax.random.fold_in(jax.random.fold_in(book_key, record), chunk_index)
            return jax.random.uniform(key, (chunk, N_UNIFORMS), dtype=_F32)

        return jax.vmap(one_book, out_axes=2)(book_keys)  # (chunk, 4, n_books)

    def interval(state, record):
        buy, sell = state.market_buy_volume, state.market_sell_volume

        def run_chunk(state, chunk_index):
            return _run_events(state, draw(record, chunk_index), params), None

        chunks = jnp.arange(record_every // chunk, dtype=jnp.uint32)
        state, _ = lax.scan(run_chunk, state, chunks)
        return state, _record(state, params, buy, sell)

    records_index = jnp.arange(n_records, dtype=jnp.uint32)
    state, records = lax.scan(interval, _books_last(state), records_index)
    return _books_first(state), jax.tree.map(lambda x: jnp.moveaxis(x, 0, -1), records)


def _record(state, params, buy_before, sell_before):
    best_bid, best_ask = _best(state.bid, state.ask, params)
    return {
        "mid2": 2 * state.ref + best_bid + best_ask,
        "spread": best_ask - best_bid,
        "bid_depth": _at(state.bid, best_bid),
        "ask_depth": _at(state.ask, best_ask),
        "buy_volume": state.market_buy_volume - buy_before,
        "sell_volume": state.market_sell_volume - sell_before,
        "regime": state.regime,
    }


def simulate_book(
    spec: Any, seed: int, n_books: int, n_events: int, record_every: int = 100
) -> BookRecording:
    """Simulate ``n_books`` independent books for ``n_events`` background events.

    Parameters
    ----------
    spec : BookSpec, ScenarioSpec or str
        A book spec, a scenario with a ``.book`` attribute, or a spec name for
        :func:`riskengine.sim.specs.load_spec`.
    seed : int
        Seed in ``[0, 2**32)``; book ``b`` uses ``fold_in(key, b)``, so a book's
        path does not depend on ``n_books`` nor on the number of devices.  The
        books are split over ``jax.local_devices()`` (one XLA CPU program runs
        on one core; set ``jax_num_cpu_devices`` before JAX starts to use more).
    n_books, n_events : int
        Batch size and events per book (>= 1).
    record_every : int
        Events per record interval; must divide ``n_events``.

    Returns
    -------
    BookRecording

    Examples
    --------
    >>> from riskengine.sim.book_spec import BookSpec
    >>> rec = simulate_book(BookSpec(), seed=0, n_books=3, n_events=300, record_every=100)
    >>> rec.mid.shape, bool((rec.spread >= 1).all())
    ((3, 3), True)
    >>> simulate_book(BookSpec(), seed=0, n_books=3, n_events=300, record_every=7)
    Traceback (most recent call last):
    ValueError: record_every: must divide n_events=300, got 7
    """
    book = _resolve_spec(spec)
    seed = check_seed(seed)
    n_books = as_int(n_books, field="n_books", low=1, high=2**24)
    n_events = as_int(n_events, field="n_events", low=1, high=2**31 - 1)
    record_every = as_int(record_every, field="record_every", low=1)
    if n_events % record_every:
        raise ValueError(f"record_every: must divide n_events={n_events}, got {record_every}")
    params = book.to_params()
    final, records = map_over_devices(
        _simulate_batched,
        functools.partial(jnp.arange, dtype=jnp.uint32),
        n_books,
        jnp.asarray(seed, dtype=jnp.uint32),
        params,
        n_records=n_events // record_every,
        record_every=record_every,
    )
    # Drop the padding books that round the batch up to a multiple of the devices.
    records = {name: value[:n_books] for name, value in jax.device_get(records).items()}
    final = jax.tree.map(lambda x: x[:n_books], jax.device_get(final))
    tick = float(book.tick_size)
    return BookRecording(
        mid=records["mid2"].astype(np.float64) * tick / 2,
        spread=records["spread"],
        bid_depth=records["bid_depth"],
        ask_depth=records["ask_depth"],
        buy_volume=records["buy_volume"],
        sell_volume=records["sell_volume"],
        regime=records["regime"],
        tick_size=tick,
        record_every=record_every,
        final_state=final,
    )
