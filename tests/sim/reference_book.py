"""Plain-Python reference limit order book: the oracle for ``riskengine.sim.orderbook``.

One dict ``tick -> lots`` per side, one event at a time, written from the rules
in the ``orderbook`` module docstring without any vectorisation, so a test can
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
from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from riskengine.sim import orderbook as ob

__all__ = ["ReferenceBook", "generate_events", "replay"]

BUY, LIMIT, MARKET, CANCEL, HOLD, PLACE = ob.BUY, ob.LIMIT, ob.MARKET, ob.CANCEL, ob.HOLD, ob.PLACE


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
    def from_state(cls, state: ob.BookState, params: ob.BookParams | None = None) -> ReferenceBook:
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
        """Zero the per-step fill accumulators, as ``orderbook.step`` does."""
        self.fill_qty = [0, 0]
        self.fill_ticks = [0, 0]


def event_tuple(event: ob.BookEvent) -> tuple[int, int, int, int, int]:
    """``(kind, side, distance, size, regime)`` of a JAX event."""
    return tuple(int(x) for x in (event.kind, event.side, event.distance, event.size, event.regime))


def generate_events(
    params: ob.BookParams, seed: int, n_events: int, state: ob.BookState | None = None
) -> tuple[ob.BookState, list[tuple[int, int, int, int, int]], ob.BookState]:
    """Run the JAX sampler; return the initial state, the events it drew and the final state.

    The events are ``(kind, side, distance, size, regime)`` tuples, so the oracle
    replays exactly what the JAX book saw.
    """
    key = jax.random.key(seed)
    if state is None:
        _, state = ob.reset(jax.random.fold_in(key, 1), params)
    final, events = _sample_scan(state, jax.random.fold_in(key, 2), params, n_events)
    columns = [
        np.asarray(c).tolist()
        for c in (events.kind, events.side, events.distance, events.size, events.regime)
    ]
    return state, list(zip(*columns, strict=True)), final


@jax.jit
def _scan_body(state, key, params):
    event = ob._sample_from_uniforms(jax.random.uniform(key, (ob.N_UNIFORMS,)), state, params)
    return ob._apply_event(state, event, params), event


def _sample_scan(state, key, params, n_events):
    keys = jax.random.split(key, n_events)
    return _scan_events(state, keys, params)


@jax.jit
def _scan_events(state, keys, params):
    return jax.lax.scan(lambda s, k: _scan_body(s, k, params), state, keys)


def replay(
    events: Iterable[tuple[int, int, int, int, int]],
    initial_book: ob.BookState | ReferenceBook,
    params: ob.BookParams,
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


def jnp_action(action: dict[str, int]) -> ob.BookAction:
    """The JAX action matching a reference action dict."""
    return ob.BookAction(**{k: jnp.asarray(v, dtype=jnp.int32) for k, v in action.items()})
