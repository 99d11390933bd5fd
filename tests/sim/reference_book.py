"""Plain-Python reference limit order book: the oracle for ``riskengine.sim.book_kernel``.

One dict ``tick -> lots`` per side, one event at a time, written from the rules
in the ``book_kernel`` module docstring without any vectorisation, so a test can
feed the *same* event / action sequence to both and demand identical books.

>>> import jax
>>> from riskengine.sim.book_spec import BookSpec
>>> params = BookSpec(levels=4, window_margin=2, recentre_trigger=1).to_params()
>>> initial, events, final = generate_events(params, seed=0, n_events=50)
>>> replay(events, initial, params).as_arrays() == ReferenceBook.from_state(final).as_arrays()
True
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from riskengine.sim import book_kernel
from riskengine.sim.book_rollout import BookRecording
from riskengine.sim.book_types import (
    BUY,
    CANCEL,
    HOLD,
    LIMIT,
    PLACE,
    BookAction,
    BookEvent,
    BookParams,
    BookState,
)

__all__ = [
    "ReferenceBook",
    "SamplerTables",
    "generate_events",
    "recording_digest",
    "replay",
    "run_sampled",
    "uniforms_of",
]

_F32 = np.float32
_BLOCK = 8  # levels per block of the sampler's prefix sums (``book_levels.BLOCK``)


@dataclasses.dataclass(frozen=True)
class SamplerTables:
    """The float32 tables of ``BookParams`` that the sampler reads, as numpy arrays.

    Built once per parameter set so that :meth:`ReferenceBook.sample` touches
    no JAX array in its loop.
    """

    limit_cdf: np.ndarray
    limit_total: np.ndarray
    market_rate: np.ndarray
    cancel_rate: np.ndarray
    decay_powers: np.ndarray
    profile_down: np.ndarray
    profile_up: np.ndarray
    size_cdf: np.ndarray
    transition_cdf: np.ndarray

    @classmethod
    def from_params(cls, params: BookParams) -> SamplerTables:
        """Copy the sampler's tables out of ``params`` (float32, unchanged bits)."""
        return cls(
            **{
                f.name: np.asarray(getattr(params, f.name), dtype=_F32)
                for f in dataclasses.fields(cls)
            }
        )


def _decay_power(powers: np.ndarray, exponent: int) -> np.float32:
    """``decay ** exponent`` as ``book_levels.decay_power``: float32 products, bit 0 first."""
    row = powers[0] if exponent >= 0 else powers[1]
    magnitude = abs(exponent)
    out = _F32(1.0)
    for bit in range(powers.shape[1]):
        if (magnitude >> bit) & 1:
            out = out * row[bit]
    return out


def _below(total: np.float32, u: np.float32) -> np.float32:
    """``min(u * total, nextafter(total, 0))`` in float32, as ``book_levels.below_total``."""
    return min(u * total, np.nextafter(total, _F32(0.0)))


def _count_le(cdf: np.ndarray, u: np.float32) -> int:
    """Entries of ``cdf`` that are ``<= u`` (the inverse-CDF draw)."""
    return sum(1 for c in cdf if c <= u)


@dataclasses.dataclass
class ReferenceBook:
    """Mutable one-book state in absolute ticks (see ``BookState`` for the fields)."""

    window: int
    levels: int
    trigger: int
    ref: int
    bids: dict[int, int]
    asks: dict[int, int]
    regime: int = 0
    time: int = 0
    agent_tick: list[int] = dataclasses.field(default_factory=lambda: [0, 0])
    agent_qty: list[int] = dataclasses.field(default_factory=lambda: [0, 0])
    agent_ahead: list[int] = dataclasses.field(default_factory=lambda: [0, 0])
    agent_sent: list[int] = dataclasses.field(default_factory=lambda: [0, 0])
    agent_filled: list[int] = dataclasses.field(default_factory=lambda: [0, 0])
    fill_qty: list[int] = dataclasses.field(default_factory=lambda: [0, 0])
    fill_ticks: list[int] = dataclasses.field(default_factory=lambda: [0, 0])
    added: int = 0
    executed: int = 0
    cancelled: int = 0
    market_buy_volume: int = 0
    market_sell_volume: int = 0

    # ------------------------------------------------------------ conversion
    @classmethod
    def from_state(cls, state: BookState, params: BookParams | None = None) -> ReferenceBook:
        """Copy one (unbatched) JAX book state."""
        s = jax.tree.map(np.asarray, state)
        window = s.bid.shape[0]
        ref = int(s.ref)
        levels = params.levels if params is not None else 0
        trigger = params.recentre_trigger if params is not None else 0
        return cls(
            window=window,
            levels=levels,
            trigger=trigger,
            ref=ref,
            bids={ref + j: int(v) for j, v in enumerate(s.bid) if v},
            asks={ref + j: int(v) for j, v in enumerate(s.ask) if v},
            regime=int(s.regime),
            time=int(s.time),
            agent_tick=s.agent_tick.tolist(),
            agent_qty=s.agent_qty.tolist(),
            agent_ahead=s.agent_ahead.tolist(),
            agent_sent=s.agent_sent.tolist(),
            agent_filled=s.agent_filled.tolist(),
            fill_qty=s.fill_qty.tolist(),
            fill_ticks=s.fill_ticks.tolist(),
            added=int(s.added),
            executed=int(s.executed),
            cancelled=int(s.cancelled),
            market_buy_volume=int(s.market_buy_volume),
            market_sell_volume=int(s.market_sell_volume),
        )

    def as_arrays(self) -> dict[str, Any]:
        """Every field as plain lists / ints in window coordinates, for comparison."""
        return {
            "bid": [self.bids.get(self.ref + j, 0) for j in range(self.window)],
            "ask": [self.asks.get(self.ref + j, 0) for j in range(self.window)],
            "ref": self.ref,
            "regime": self.regime,
            "time": self.time,
            "agent_tick": list(self.agent_tick),
            "agent_qty": list(self.agent_qty),
            "agent_ahead": list(self.agent_ahead),
            "agent_sent": list(self.agent_sent),
            "agent_filled": list(self.agent_filled),
            "fill_qty": list(self.fill_qty),
            "fill_ticks": list(self.fill_ticks),
            "added": self.added,
            "executed": self.executed,
            "cancelled": self.cancelled,
            "market_buy_volume": self.market_buy_volume,
            "market_sell_volume": self.market_sell_volume,
        }

    # ------------------------------------------------------------ book rules
    def _side(self, side: int) -> dict[int, int]:
        return self.bids if side == BUY else self.asks

    def best(self) -> tuple[int, int]:
        """Best bid and ask ticks with the empty-side rule."""
        bids = [t for t, v in self.bids.items() if v > 0]
        asks = [t for t, v in self.asks.items() if v > 0]
        if bids:
            best_bid = max(bids)
        elif asks:
            best_bid = min(asks) - self.levels
        else:
            best_bid = self.ref + self.window // 2 - self.levels // 2
        best_ask = min(asks) if asks else best_bid + self.levels
        return best_bid, best_ask

    def _inside(self, tick: int) -> bool:
        return self.ref <= tick < self.ref + self.window

    def _walk(self, book: dict[int, int], ticks: Iterable[int], size: int, agent: int) -> list:
        """Consume ``size`` lots level by level; FIFO ahead / agent / behind."""
        fills = []
        remaining = size
        for tick in ticks:
            if remaining == 0:
                break
            take = min(remaining, book[tick])
            if take == 0:
                continue
            book[tick] -= take
            remaining -= take
            fills.append((tick, take))
            if agent >= 0 and self.agent_qty[agent] > 0 and self.agent_tick[agent] == tick:
                ahead = self.agent_ahead[agent]
                mine = max(0, min(take - ahead, self.agent_qty[agent]))
                self.agent_ahead[agent] = max(ahead - take, 0)
                self.agent_qty[agent] -= mine
                self.agent_filled[agent] += mine
                self.fill_qty[agent] += mine
                self.fill_ticks[agent] += mine * tick
        return fills

    def _cancel_prefix(
        self, side: int, opposite: int, profile: np.ndarray
    ) -> tuple[dict[int, np.float32], list[np.float32], np.float32]:
        """Blocked prefix sums of one side's cancellation weights, in the JAX order.

        ``opposite`` is the opposite best price (window index).  The weight of
        level ``j`` is ``float32(others) * profile[j]`` within ``L`` ticks of
        it.  Inside a block of ``_BLOCK`` levels the weights are summed left to
        right; ``before[k]`` chains the block totals left to right.  Levels
        outside the quoting range weigh exactly 0, and ``x + 0.0 == x`` in
        float32, so skipping them leaves every sum bit-identical.  Returns the
        within-block prefix of each positive level, ``before`` and the total.
        """
        book = self._side(side)
        n_blocks = -(-self.window // _BLOCK)
        mass = [_F32(0.0)] * n_blocks
        inner: dict[int, np.float32] = {}
        if side == BUY:
            quoting = range(max(opposite - self.levels, 0), min(opposite, self.window))
        else:
            quoting = range(max(opposite + 1, 0), min(opposite + self.levels + 1, self.window))
        for j in quoting:  # ascending window index, the JAX summation order
            tick = self.ref + j
            own = self.agent_qty[side] if self.agent_tick[side] == tick else 0
            others = book.get(tick, 0) - own
            if others == 0:
                continue
            block = j // _BLOCK
            mass[block] = mass[block] + _F32(others) * profile[j]
            inner[j] = mass[block]
        before = [_F32(0.0)]
        for block in range(1, n_blocks):
            before.append(before[-1] + mass[block - 1])
        return inner, before, before[-1] + mass[-1]

    def sampler_sums(
        self, tables: SamplerTables
    ) -> tuple[list[np.float32], list[list[tuple[int, np.float32]]]]:
        """The float32 sums the sampler compares its uniforms against.

        Returns the six cumulative class rates (limit buy, limit sell, market
        buy, market sell, cancel bid, cancel ask) and, for the bid ([0]) and
        ask ([1]) side, ``(level, prefix sum)`` for every level of positive
        cancellation weight, ascending, ending with the side's total.
        """
        cumulative, sides = self._sums(tables)
        return cumulative, [self._prefix(*side) for side in sides]

    def _prefix(
        self, inner: dict[int, np.float32], before: list[np.float32], total: np.float32
    ) -> list[tuple[int, np.float32]]:
        """``(level, before + inner)`` for each positive level, then ``(padded size, total)``."""
        prefix = [(j, before[j // _BLOCK] + inner[j]) for j in sorted(inner)]
        return [*prefix, (-(-self.window // _BLOCK) * _BLOCK, total)]

    def _sums(self, tables: SamplerTables) -> tuple[list[np.float32], list[tuple]]:
        """Cumulative class rates and each side's ``_cancel_prefix`` (see :meth:`sampler_sums`)."""
        best_bid, best_ask = self.best()
        bid_index, ask_index = best_bid - self.ref, best_ask - self.ref
        centre, regime = self.window // 2, self.regime
        sides = [
            self._cancel_prefix(BUY, ask_index, tables.profile_down[regime]),
            self._cancel_prefix(1 - BUY, bid_index, tables.profile_up[regime]),
        ]
        total_bid, total_ask = sides[0][2], sides[1][2]
        powers = tables.decay_powers[regime]
        cancel_rate = tables.cancel_rate[regime]
        cancel_bid = cancel_rate * _decay_power(powers, ask_index - 1 - centre) * total_bid
        cancel_ask = cancel_rate * _decay_power(powers, centre - bid_index - 1) * total_ask
        limit_rate, market_rate = tables.limit_total[regime], tables.market_rate[regime]
        cumulative = [limit_rate]
        for rate in (limit_rate, market_rate, market_rate, cancel_bid, cancel_ask):
            cumulative.append(cumulative[-1] + rate)
        return cumulative, sides

    def sample(self, u: Iterable[float], tables: SamplerTables) -> tuple[int, int, int, int, int]:
        """The event ``book_kernel`` samples from uniforms ``u`` (class, level, size, regime).

        Plain Python over the book's dicts, with every float operation done in
        numpy float32 in the JAX code's order, so the same uniforms give the
        same ``(kind, side, distance, size, regime)``.
        """
        u_class, u_level, u_size, u_regime = (_F32(x) for x in u)
        regime = self.regime
        cumulative, sides = self._sums(tables)
        event_class = _count_le(cumulative, _below(cumulative[-1], u_class))
        kind, side = divmod(event_class, 2)
        if kind == LIMIT:
            distance = min(1 + _count_le(tables.limit_cdf[regime], u_level), self.levels)
        elif kind == CANCEL:
            inner, before, total = sides[side]
            target = _below(total, u_level)
            # The JAX code counts the prefix sums <= target; they rise with the
            # level, so the count is the first level whose prefix exceeds it
            # (or every padded level, which never happens for a positive total).
            padded = -(-self.window // _BLOCK) * _BLOCK
            level = next((j for j in inner if before[j // _BLOCK] + inner[j] > target), padded)
            best_bid, best_ask = self.best()
            distance = best_ask - self.ref - level if side == BUY else level - best_bid + self.ref
        else:
            distance = 0
        size_cdf = tables.size_cdf[kind]
        size = min(1 + _count_le(size_cdf, u_size), len(size_cdf))
        n_regimes = len(tables.transition_cdf)
        next_regime = min(_count_le(tables.transition_cdf[regime], u_regime), n_regimes - 1)
        return kind, side, distance, size, next_regime

    def apply_event(self, kind: int, side: int, distance: int, size: int, regime: int) -> None:
        """One background event, then the window re-centring on the pre-event mid."""
        best_bid, best_ask = self.best()
        if kind in (LIMIT, CANCEL):
            tick = best_ask - distance if side == BUY else best_bid + distance
            book = self._side(side)
            if self._inside(tick):
                if kind == LIMIT:
                    book[tick] = book.get(tick, 0) + size
                    self.added += size
                else:
                    agent_here = self.agent_qty[side] > 0 and self.agent_tick[side] == tick
                    own = self.agent_qty[side] if agent_here else 0
                    others = book.get(tick, 0) - own
                    cancelled = min(size, others)
                    book[tick] = book.get(tick, 0) - cancelled
                    self.cancelled += cancelled
                    if agent_here:
                        ahead = self.agent_ahead[side]
                        self.agent_ahead[side] = ahead - (cancelled * ahead) // max(others, 1)
        else:
            hit = 1 - side
            # A background market order trades at the opposite best level only;
            # the part larger than that level lapses.
            if side == BUY:
                ticks = sorted(t for t, v in self.asks.items() if v > 0)[:1]
                fills = self._walk(self.asks, ticks, size, hit)
            else:
                ticks = sorted((t for t, v in self.bids.items() if v > 0), reverse=True)[:1]
                fills = self._walk(self.bids, ticks, size, hit)
            total = sum(q for _, q in fills)
            self.executed += total
            if side == BUY:
                self.market_buy_volume += total
            else:
                self.market_sell_volume += total
        self._recentre(best_bid, best_ask)
        for k in (0, 1):
            if self.agent_qty[k] == 0:
                self.agent_ahead[k] = 0
        self.time += 1
        self.regime = regime

    def _recentre(self, best_bid: int, best_ask: int) -> None:
        offset = (best_bid - self.ref) + (best_ask - self.ref) - self.window
        if offset > 2 * self.trigger:
            dropped_tick, self.ref = self.ref, self.ref + 1
        elif offset < -2 * self.trigger:
            dropped_tick, self.ref = self.ref + self.window - 1, self.ref - 1
        else:
            return
        for book in (self.bids, self.asks):
            self.cancelled += book.pop(dropped_tick, 0)
        for k in (0, 1):
            if self.agent_qty[k] > 0 and not self._inside(self.agent_tick[k]):
                self.agent_qty[k] = 0

    def apply_action(self, action: dict[str, int]) -> None:
        """The agent's orders: withdraw, market orders, then post-only placements."""
        buy_qty = max(action["market_buy"], 0)
        sell_qty = max(action["market_sell"], 0)
        withdraw = [
            action["bid_command"] != HOLD or sell_qty > 0,
            action["ask_command"] != HOLD or buy_qty > 0,
        ]
        for k in (0, 1):
            if withdraw[k] and self.agent_qty[k] > 0:
                book = self._side(k)
                book[self.agent_tick[k]] -= self.agent_qty[k]
                self.cancelled += self.agent_qty[k]
                self.agent_qty[k] = 0
            if self.agent_qty[k] == 0:
                self.agent_ahead[k] = 0
        for k, qty in ((0, buy_qty), (1, sell_qty)):
            if k == 0:
                ticks = sorted(t for t, v in self.asks.items() if v > 0)
                fills = self._walk(self.asks, ticks, qty, -1)
            else:
                ticks = sorted((t for t, v in self.bids.items() if v > 0), reverse=True)
                fills = self._walk(self.bids, ticks, qty, -1)
            total = sum(q for _, q in fills)
            self.agent_sent[k] += qty
            self.agent_filled[k] += total
            self.fill_qty[k] += total
            self.fill_ticks[k] += sum(t * q for t, q in fills)
            self.executed += total
            if k == 0:
                self.market_buy_volume += total
            else:
                self.market_sell_volume += total
        best_bid, best_ask = self.best()
        for k in (0, 1):
            name = "bid" if k == 0 else "ask"
            qty = action[f"{name}_qty"]
            if action[f"{name}_command"] != PLACE or qty <= 0:
                continue
            if k == 0:
                tick = min(best_bid + action["bid_offset"], best_ask - 1)
            else:
                tick = max(best_ask - action["ask_offset"], best_bid + 1)
            if not self._inside(tick):
                continue
            book = self._side(k)
            self.agent_ahead[k] = book.get(tick, 0)
            book[tick] = book.get(tick, 0) + qty
            self.agent_tick[k], self.agent_qty[k] = tick, qty
            self.agent_sent[k] += qty
            self.added += qty
            if k == 0:
                best_bid = max(best_bid, tick)

    def start_step(self) -> None:
        """Zero the per-step fill accumulators, as ``book_kernel.step`` does."""
        self.fill_qty = [0, 0]
        self.fill_ticks = [0, 0]


def event_tuple(event: BookEvent) -> tuple[int, int, int, int, int]:
    """``(kind, side, distance, size, regime)`` of a JAX event."""
    return tuple(int(x) for x in (event.kind, event.side, event.distance, event.size, event.regime))


def generate_events(
    params: BookParams, seed: int, n_events: int, state: BookState | None = None
) -> tuple[BookState, list[tuple[int, int, int, int, int]], BookState]:
    """Run the JAX sampler; return the initial state, the events it drew and the final state.

    The events are ``(kind, side, distance, size, regime)`` tuples, so the oracle
    replays exactly what the JAX book saw.
    """
    key = jax.random.key(seed)
    if state is None:
        _, state = book_kernel.reset(jax.random.fold_in(key, 1), params)
    final, events = _sample_scan(state, jax.random.fold_in(key, 2), params, n_events)
    columns = [
        np.asarray(c).tolist()
        for c in (events.kind, events.side, events.distance, events.size, events.regime)
    ]
    return state, list(zip(*columns, strict=True)), final


@jax.jit
def _scan_body(state, key, params):
    event = book_kernel.event_from_uniforms(
        jax.random.uniform(key, (book_kernel.N_UNIFORMS,)), state, params
    )
    return book_kernel.apply_event(state, event, params), event


def _sample_scan(state, key, params, n_events):
    keys = jax.random.split(key, n_events)
    return _scan_events(state, keys, params)


@jax.jit
def _scan_events(state, keys, params):
    return jax.lax.scan(lambda s, k: _scan_body(s, k, params), state, keys)


def replay(
    events: Iterable[tuple[int, int, int, int, int]],
    initial_book: BookState | ReferenceBook,
    params: BookParams,
) -> ReferenceBook:
    """Apply background events one at a time to a copy of ``initial_book``; return the book."""
    if isinstance(initial_book, ReferenceBook):
        book = dataclasses.replace(
            initial_book,
            bids=dict(initial_book.bids),
            asks=dict(initial_book.asks),
            **{
                f: list(getattr(initial_book, f))
                for f in (
                    "agent_tick",
                    "agent_qty",
                    "agent_ahead",
                    "agent_sent",
                    "agent_filled",
                    "fill_qty",
                    "fill_ticks",
                )
            },
        )
    else:
        book = ReferenceBook.from_state(initial_book, params)
    for event in events:
        book.apply_event(*event)
    return book


def uniforms_of(key: jax.Array, n_events: int) -> np.ndarray:
    """The ``(n_events, 4)`` float32 uniforms :func:`generate_events` draws from ``key``."""
    keys = jax.random.split(jax.random.fold_in(key, 2), n_events)
    draw = jax.vmap(lambda k: jax.random.uniform(k, (book_kernel.N_UNIFORMS,)))
    return np.asarray(draw(keys), dtype=_F32)


def run_sampled(
    book: ReferenceBook, uniforms: Iterable[Iterable[float]], tables: SamplerTables
) -> list[tuple[int, int, int, int, int]]:
    """The oracle's whole event loop on one book: sample each event, then apply it.

    Mutates ``book``; returns the events.  This is the like-for-like
    counterpart of the JAX event loop (rates from the book state, the event
    choice, its application), one event at a time.
    """
    events = []
    for u in uniforms:
        event = book.sample(u, tables)
        book.apply_event(*event)
        events.append(event)
    return events


def recording_digest(recording: BookRecording) -> str:
    """SHA-256 of every array of a ``simulate_book`` recording and of its final state.

    Cheap to import (no test framework), so a subprocess started with another
    JAX configuration can print it for comparison.
    """
    names = ("mid", "spread", "bid_depth", "ask_depth", "buy_volume", "sell_volume", "regime")
    arrays = [getattr(recording, name) for name in names] + jax.tree.leaves(recording.final_state)
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()


def jnp_action(action: dict[str, int]) -> BookAction:
    """The JAX action matching a reference action dict."""
    return BookAction(**{k: jnp.asarray(v, dtype=jnp.int32) for k, v in action.items()})
