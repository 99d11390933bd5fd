"""Batches of order books run for many events: :func:`simulate_book` and its recording.

The books of a batch sit on the *minor* axis of every state leaf (``(G, B)``
depths, see :mod:`riskengine.sim.book_levels`), so the event loop is one
``lax.scan`` of the kernel's :func:`~riskengine.sim.book_kernel.run_events`
with no ``vmap`` inside it, and reductions over price levels become
element-wise vector operations across books.  Uniforms are drawn in bulk per
chunk of events, and the batch is split over the local devices
(:func:`~riskengine.sim.devices.map_over_devices`).  Book ``b``'s random
numbers depend only on the seed and ``b``, so a book's path is the same in
any batch and on any number of devices.

Examples
--------
>>> from riskengine.sim.book_spec import BookSpec
>>> rec = simulate_book(BookSpec(), seed=0, n_books=2, n_events=200, record_every=100)
>>> rec.spread.shape, rec.final_state.bid.shape
((2, 2), (2, 64))
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from riskengine._validation import as_int, check_seed
from riskengine.sim.book_kernel import N_UNIFORMS, best_levels, reset, run_events
from riskengine.sim.book_levels import depth_at
from riskengine.sim.book_spec import BookSpec
from riskengine.sim.book_types import BookState
from riskengine.sim.devices import map_over_devices
from riskengine.sim.specs import load_spec

__all__ = ["BookRecording", "simulate_book"]

_F32 = jnp.float32


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
    if isinstance(spec, BookSpec):
        return spec
    if isinstance(spec, str):
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
    _, state = jax.vmap(lambda b: reset(jax.random.fold_in(reset_key, b), params))(books)
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
            return run_events(state, draw(record, chunk_index), params), None

        chunks = jnp.arange(record_every // chunk, dtype=jnp.uint32)
        state, _ = lax.scan(run_chunk, state, chunks)
        return state, _record(state, params, buy, sell)

    records_index = jnp.arange(n_records, dtype=jnp.uint32)
    state, records = lax.scan(interval, _books_last(state), records_index)
    return _books_first(state), jax.tree.map(lambda x: jnp.moveaxis(x, 0, -1), records)


def _record(state, params, buy_before, sell_before):
    best_bid, best_ask = best_levels(state, params)
    return {
        "mid2": 2 * state.ref + best_bid + best_ask,
        "spread": best_ask - best_bid,
        "bid_depth": depth_at(state.bid, best_bid),
        "ask_depth": depth_at(state.ask, best_ask),
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
