"""The account the pre-trade gate guards: marks, fills, cash, positions, working orders, P&L.

:class:`Account` keeps the book, and nothing else: it never approves or
denies. The gate (:class:`~riskengine.risk.pretrade.PreTradeGate`) reads its
worst-case exposure queries to decide, and reserves an approved order here.

Conventions
-----------
Worst case
    Exposure counts every working order as if it filled: an asset's long worst
    case is ``position + working buys`` and its short worst case is
    ``position - working sells``. An approved order reserves its quantity under
    its order id (:meth:`Account.reserve`) until it is filled or cancelled.
Daily P&L
    ``equity = cash + sum(position * price)`` and the daily P&L is equity minus
    the equity at the start of the UTC day. At a day roll the start-of-day
    equity is the equity at the *previous* day's last prices, taken before the
    new day's first prices or fills apply, so an overnight gap counts against
    the new day: every price move lands in exactly one day. Before an asset
    has been marked, its position is valued at its latest fill price.
Time
    ``mark`` and ``on_fill`` times drive the P&L day and may not go
    backwards; they are int nanoseconds since the epoch (UTC), from
    1970-01-01 to 2262-04-11 (:mod:`riskengine._time`). The latest of them is
    the account's clock (:attr:`Account.clock_ns`), the time the gate checks
    order times against.
Working orders
    An approved order is reserved with its limit price
    (:meth:`Account.reserve`), so a fill can be checked against it
    (:meth:`Account.fill_target`, which the gate's
    :meth:`~riskengine.risk.pretrade.PreTradeGate.check_fill` uses).

Every call validates its input before it changes anything, so a call that
raises :class:`~riskengine.errors.InvalidInput` leaves the account exactly as
it was. The state is plain attributes (floats, ints, lists, dicts, strs,
None) so snapshot codecs and ``pickle`` can walk it. Not thread-safe.

Examples
--------
>>> from riskengine.risk.orders import Fill
>>> account = Account(["SPX", "NDX"], cash=1_000.0)
>>> account.mark(0, [100.0, 200.0])
>>> account.on_fill(Fill("SPX", "buy", 5, 100.0), 1)
>>> account.positions, account.cash, account.equity
((5.0, 0.0), 500.0, 1000.0)
>>> account.mark(2, [110.0, 200.0])
>>> account.daily_pnl
50.0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from riskengine._time import MAX_NS, MIN_NS, check_nanosecond_array, check_nanoseconds, day_of
from riskengine._validation import MIN_PRICE, price_problem
from riskengine.errors import (
    InvalidConfig,
    InvalidFill,
    InvalidOrder,
    InvalidPrice,
    InvalidTimestamp,
    MissingAsset,
)
from riskengine.risk.orders import Fill

__all__ = ["ROUNDING_TOLERANCE", "Account", "as_nanoseconds"]

# Relative rounding tolerance: an order that closes a position exactly must count
# as risk-reducing even when the position carries float residue (0.1 + 0.2), and
# the last partial fill of an order must be allowed to match its remaining size.
ROUNDING_TOLERANCE = 1e-9


def as_nanoseconds(value: Any) -> int:
    """An int timestamp (nanoseconds since the epoch, 1970 to 2262), or :class:`InvalidTimestamp`.

    >>> as_nanoseconds(2**70)
    Traceback (most recent call last):
    riskengine.errors.InvalidTimestamp: timestamp: 1180591620717411303424 is outside 1970-01-01 ...
    """
    if type(value) is int and MIN_NS <= value <= MAX_NS:
        return value  # the hot path
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTimestamp(
            "timestamp", f"expected int nanoseconds since the epoch, got {type(value).__name__}"
        )
    return check_nanoseconds(int(value))


def _check_assets(assets: Any) -> tuple[str, ...]:
    if isinstance(assets, str | bytes) or not isinstance(assets, Sequence):
        raise InvalidConfig(
            "assets", f"expected a sequence of asset names, got {type(assets).__name__}"
        )
    names = tuple(assets)
    if not names:
        raise InvalidConfig("assets", "expected at least one asset")
    for j, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise InvalidConfig(f"assets[{j}]", f"expected a non-empty string, got {name!r}")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidConfig("assets", f"duplicate asset(s) {duplicates}")
    return names


class Account:
    """Positions, cash, last prices, working-order reservations and the P&L day of a book.

    Parameters
    ----------
    assets : sequence of str
        The tradable assets; prices passed to :meth:`mark` follow this order.
    cash : float
        Starting cash: equity is cash plus positions at their prices.
    """

    def __init__(self, assets: Sequence[str], cash: float = 0.0) -> None:
        names = _check_assets(assets)
        self.assets = names
        n = len(names)
        self._index = {name: j for j, name in enumerate(names)}
        self._position = [0.0] * n
        cash = float(cash) if isinstance(cash, int | float) and not isinstance(cash, bool) else None
        if cash is None or not math.isfinite(cash):
            raise InvalidConfig("cash", "expected a finite number")
        self._cash = cash
        self._last_price = [math.nan] * n  # market marks; NaN until the first mark
        # Prices the equity uses: the marks, or an unmarked asset's latest fill price.
        self._valuation_price = [0.0] * n
        # order id -> [asset index, side, remaining quantity, limit price]
        self._working: dict[str, list] = {}
        self._working_buy = [0.0] * n
        self._working_sell = [0.0] * n
        # Worst-case notionals at the last price, per asset, kept current on every
        # change so the gate sums lists instead of looping over assets.
        self._long_notional = [0.0] * n  # (position + working buys) * last price
        self._short_notional = [0.0] * n  # (position - working sells) * last price
        self._gross_notional = [0.0] * n  # the larger absolute value of the two
        self._clock_ns: int | None = None  # time of the last mark or fill
        self._day: int | None = None  # UTC day of the last mark or fill
        self._start_equity = cash
        self._next_order_number = 1

    def __repr__(self) -> str:
        return f"{type(self).__name__}(assets={list(self.assets)!r}, cash={self._cash!r})"

    # -- inputs ---------------------------------------------------------------

    def mark(self, now_ns: int, prices: Sequence[float]) -> None:
        """New last prices, in asset order; rolls the P&L day.

        Parameters
        ----------
        now_ns : int
            Time of the prices, nanoseconds since the epoch; not before the last mark or fill.
        prices : sequence of float
            One finite price > 0 per asset, in the order of ``assets``.
        """
        now_ns = self._clock_time(now_ns)
        n = len(self.assets)
        if (
            type(prices) is list
            and len(prices) == n
            and all(type(value) is float and MIN_PRICE <= value < math.inf for value in prices)
        ):
            self._apply_marks(now_ns, prices)  # the engine's hot path: already clean
            return
        if isinstance(prices, str | bytes | Mapping):
            raise InvalidPrice(
                "prices", f"expected {n} prices in asset order, got {type(prices).__name__}"
            )
        try:
            values = list(prices)
        except TypeError:
            raise InvalidPrice(
                "prices", f"expected {n} prices in asset order, got {type(prices).__name__}"
            ) from None
        if len(values) < n:
            raise MissingAsset(
                f"prices[{self.assets[len(values)]!r}]",
                f"missing: expected {n} prices in the order {list(self.assets)}, got {len(values)}",
            )
        if len(values) > n:
            raise InvalidPrice(
                "prices", f"expected {n} prices in the order {list(self.assets)}, got {len(values)}"
            )
        for j, value in enumerate(values):
            field = f"prices[{self.assets[j]!r}]"
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise InvalidPrice(field, f"expected a number, got {type(value).__name__}")
            value = float(value)
            problem = price_problem(value)
            if problem is not None:
                raise InvalidPrice(field, problem)
            values[j] = value
        self._apply_marks(now_ns, values)

    def _apply_marks(self, now_ns: int, values: list[float]) -> None:
        # Valid: from here on nothing raises.
        self._roll_day(now_ns)
        self._clock_ns = now_ns
        self._last_price = list(values)
        self._valuation_price = list(values)
        for j in range(len(values)):
            self._refresh(j)

    def mark_batch(self, times_ns: Any, prices: Any) -> tuple[Any, Any]:
        """:meth:`mark` for T rows at once (the engine's replay): equity and start-of-day equity.

        The same arithmetic as ``mark`` in a loop (equity is summed asset by
        asset in the same order), vectorised over time; the account ends in the
        state the loop would leave. ``prices`` (T, N) must be finite and > 0
        and ``times_ns`` non-decreasing.

        Returns
        -------
        equity : ndarray (T,)
            Equity after each row.
        start_equity : ndarray (T,)
            The start-of-day equity each row's daily P&L is measured from.
        """
        import numpy as np  # only the batch path needs numpy

        times = check_nanosecond_array(times_ns, field="timestamps")
        matrix = np.asarray(prices, dtype=np.float64)
        n = len(self.assets)
        if matrix.ndim != 2 or matrix.shape != (times.size, n) or times.size == 0:
            raise InvalidPrice("prices", f"expected shape ({times.size}, {n}), got {matrix.shape}")
        # Checked here too, so that this path keeps the module's promise: bad input
        # raises before anything changes (a NaN mark would silently disable the loss limit).
        usable = np.isfinite(matrix) & (matrix >= MIN_PRICE)
        if not usable.all():
            row, column = (int(k) for k in np.argwhere(~usable)[0])
            raise InvalidPrice(
                f"prices[{self.assets[column]!r}]",
                f"row {row}: {price_problem(float(matrix[row, column]))}",
            )
        self._clock_time(int(times[0]))
        if np.any(np.diff(times) < 0):
            raise InvalidTimestamp("timestamp", "times must not go backwards")
        equity = np.full(times.size, self._cash)
        for j, position in enumerate(self._position):
            if position:
                equity = equity + position * matrix[:, j]
        before = np.concatenate([[self._equity()], equity[:-1]])  # equity before each row
        days = times // (86_400 * 10**9)
        previous_days = np.concatenate([[-1 if self._day is None else self._day], days[:-1]])
        rolls = days != previous_days
        if self._day is None:
            rolls[0] = True
        last_roll = np.maximum.accumulate(np.where(rolls, np.arange(times.size), -1))
        start = np.where(last_roll >= 0, before[np.maximum(last_roll, 0)], self._start_equity)
        # The final state, as the loop leaves it.
        self._start_equity = float(start[-1])
        self._day = int(days[-1])
        self._clock_ns = int(times[-1])
        self._last_price = matrix[-1].tolist()
        self._valuation_price = matrix[-1].tolist()
        for j in range(n):
            self._refresh(j)
        return equity, start

    def fill_target(self, fill: Fill) -> tuple[int, float | None]:
        """Check ``fill`` against the book: ``(asset index, limit price of its order or None)``.

        The checks :meth:`on_fill` runs before it changes anything: a
        :class:`~riskengine.risk.orders.Fill` of a known asset; with an
        ``order_id``, a working order of the same asset and side with at least
        the fill's quantity left (up to rounding). ``None`` for a manual fill
        (no ``order_id``). Raises :class:`~riskengine.errors.InvalidFill`.

        >>> account = Account(["SPX"])
        >>> account.mark(0, [100.0])
        >>> account.reserve("A", 0, "buy", 10.0, 101.0)
        'A'
        >>> account.fill_target(Fill("SPX", "buy", 4, 100.5, order_id="A"))
        (0, 101.0)
        >>> account.fill_target(Fill("SPX", "sell", 4, 100.5, order_id="A"))
        Traceback (most recent call last):
        riskengine.errors.InvalidFill: order_id: 'A' is a buy order for SPX, not a sell of SPX
        """
        if not isinstance(fill, Fill):
            raise InvalidFill("fill", f"expected a Fill, got {type(fill).__name__}")
        index = self._index.get(fill.asset)
        if index is None:
            raise InvalidFill("asset", f"unknown asset {fill.asset!r}; known: {list(self.assets)}")
        order_id = fill.order_id
        if order_id is None:
            return index, None
        working = self._working.get(order_id)
        if working is None:
            raise InvalidFill("order_id", f"{order_id!r} is not a working order")
        if working[0] != index or working[1] != fill.side:
            raise InvalidFill(
                "order_id",
                f"{order_id!r} is a {working[1]} order for {self.assets[working[0]]}, "
                f"not a {fill.side} of {fill.asset}",
            )
        if fill.quantity > working[2] * (1.0 + ROUNDING_TOLERANCE):
            raise InvalidFill(
                "quantity",
                f"{fill.quantity} exceeds the {working[2]} still working on order {order_id!r}",
            )
        return index, working[3]

    def on_fill(self, fill: Fill, now_ns: int) -> None:
        """Book an execution: position, cash, the order's reservation; rolls the P&L day.

        The account books the price it is given; the gate's
        :meth:`~riskengine.risk.pretrade.PreTradeGate.check_fill` is what bounds
        it (the order's limit, the price collar), and
        :class:`~riskengine.risk.controls.PreTradeControls` runs it first.

        Parameters
        ----------
        fill : Fill
            The execution. With an ``order_id`` it must belong to a working order of the
            same asset and side and may not exceed its remaining quantity; without one
            (a manual trade) it moves the position but no reservation.
        now_ns : int
            Time of the fill, nanoseconds since the epoch; not before the last mark or fill.
        """
        index, _ = self.fill_target(fill)
        now_ns = self._clock_time(now_ns)
        quantity = fill.quantity
        order_id = fill.order_id
        # Valid: from here on nothing raises.
        self._roll_day(now_ns)
        self._clock_ns = now_ns
        signed = quantity if fill.side == "buy" else -quantity
        self._position[index] += signed
        self._cash -= signed * fill.price
        if self._last_price[index] != self._last_price[index]:  # never marked
            self._valuation_price[index] = fill.price
        if order_id is not None:
            working = self._working[order_id]
            remaining = working[2] - quantity
            if remaining <= working[2] * ROUNDING_TOLERANCE:  # filled, up to rounding
                del self._working[order_id]
            else:
                working[2] = remaining
            self._release(index, fill.side)
        self._refresh(index)

    def cancel(self, order_id: str) -> None:
        """Release what is left of a working order's reservation.

        >>> Account(["SPX"]).cancel("O9")
        Traceback (most recent call last):
        riskengine.errors.InvalidOrder: order_id: 'O9' is not a working order
        """
        if not isinstance(order_id, str) or order_id not in self._working:
            raise InvalidOrder("order_id", f"{order_id!r} is not a working order")
        index, side = self._working.pop(order_id)[:2]
        self._release(index, side)
        self._refresh(index)

    def check_new_order_id(self, order_id: str | None) -> None:
        """Refuse an empty order id or one already working (:class:`InvalidOrder`)."""
        if order_id is not None:
            if not order_id:
                raise InvalidOrder("order_id", "must be a non-empty string")
            if order_id in self._working:
                raise InvalidOrder("order_id", f"{order_id!r} is already a working order")

    def reserve(
        self, order_id: str | None, index: int, side: str, quantity: float, price: float
    ) -> str:
        """Reserve an approved order's quantity under its id (``"O1"``, ``"O2"``, ... if None).

        ``price`` is the order's limit price, which its fills are checked
        against. The caller has checked the id (:meth:`check_new_order_id`),
        the asset index and the side; this never raises.
        """
        working_orders = self._working
        if order_id is None:
            number = self._next_order_number
            order_id = f"O{number}"
            while order_id in working_orders:  # a caller may have used the same form
                number += 1
                order_id = f"O{number}"
            self._next_order_number = number + 1
        working_orders[order_id] = [index, side, quantity, price]
        if side == "buy":
            self._working_buy[index] += quantity
        else:
            self._working_sell[index] += quantity
        self._refresh(index)
        return order_id

    # -- worst-case exposure, what the gate reads ------------------------------

    def index(self, asset: str) -> int | None:
        """The asset's position in ``assets``, or None for an unknown asset."""
        return self._index.get(asset)

    def last_price(self, index: int) -> float:
        """The asset's last marked price (NaN until marked)."""
        return self._last_price[index]

    def side_worst_case(self, index: int, buy: bool, quantity: float) -> tuple[float, float, float]:
        """``(position, working, extreme)`` on the order's side of asset ``index``.

        ``working`` is the quantity of the working orders on that side and
        ``extreme`` the position if they and this order of ``quantity`` all
        fill: ``position + working buys + quantity`` for a buy,
        ``position - working sells - quantity`` for a sell.
        """
        position = self._position[index]
        if buy:
            working = self._working_buy[index]
            return position, working, position + working + quantity
        working = self._working_sell[index]
        return position, working, position - working - quantity

    def gross_if(self, index: int, buy: bool, extreme: float, price: float) -> float:
        """Worst-case gross notional if asset ``index``'s side reached ``extreme`` at ``price``.

        The other assets count as they stand; this one at the larger of its
        new worst case and its other side's. NaN when an asset with exposure
        has no price yet.
        """
        position = self._position[index]
        if buy:
            other_side = self._working_sell[index] - position
            worst = extreme if extreme > other_side else other_side
        else:
            other_side = position + self._working_buy[index]
            worst = -extreme if -extreme > other_side else other_side
        gross_list = self._gross_notional
        return sum(gross_list) - gross_list[index] + worst * price

    def net_if(self, index: int, buy: bool, extreme: float, price: float) -> float:
        """Worst-case signed net notional on the order's side, this asset at ``extreme``.

        Every working order on that side filled; NaN when an asset with
        exposure has no price yet.
        """
        net_list = self._long_notional if buy else self._short_notional
        return sum(net_list) - net_list[index] + extreme * price

    def unpriced_exposure(self, excluding: int) -> list[str]:
        """The assets other than ``excluding`` that hold exposure but have no price yet."""
        return [
            asset
            for j, asset in enumerate(self.assets)
            if j != excluding and self._gross_notional[j] != self._gross_notional[j]
        ]

    # -- read-only queries ----------------------------------------------------

    @property
    def positions(self) -> tuple[float, ...]:
        """Filled position per asset, in units."""
        return tuple(self._position)

    @property
    def last_prices(self) -> tuple[float, ...]:
        """Last marked price per asset (NaN until marked)."""
        return tuple(self._last_price)

    @property
    def cash(self) -> float:
        """Cash from fills: minus the cost of buys, plus the proceeds of sells."""
        return self._cash

    @property
    def equity(self) -> float:
        """``cash + sum(position * price)``, at the last marks."""
        return self._equity()

    @property
    def clock_ns(self) -> int | None:
        """Time of the last mark or fill (None before the first): the account's clock."""
        return self._clock_ns

    def order_limit_price(self, order_id: str) -> float:
        """The limit price of working order ``order_id`` (``KeyError`` if it is not working)."""
        return self._working[order_id][3]

    @property
    def start_equity(self) -> float:
        """Equity at the start of the current UTC day."""
        return self._start_equity

    @property
    def daily_pnl(self) -> float:
        """Equity minus the equity at the start of the current UTC day."""
        return self._equity() - self._start_equity

    @property
    def working_orders(self) -> dict[str, tuple[str, str, float]]:
        """A copy: order id -> ``(asset, side, remaining quantity)``."""
        return {
            order_id: (self.assets[index], side, remaining)
            for order_id, (index, side, remaining, _) in self._working.items()
        }

    def position_notional(self) -> tuple[float, ...]:
        """Signed notional of each filled position at the last price (NaN: held but not marked)."""
        return tuple(
            position * price if position else 0.0
            for position, price in zip(self._position, self._last_price, strict=True)
        )

    def gross_notional(self) -> float:
        """Sum of the absolute filled position notionals (working orders not included)."""
        return sum(abs(value) for value in self.position_notional())

    def net_notional(self) -> float:
        """Sum of the signed filled position notionals (working orders not included)."""
        return sum(self.position_notional())

    def state_problem(self) -> tuple[str, str] | None:
        """``(attribute, problem)`` if the state is not one this class could reach, else None.

        For state that did not come through the constructor (a snapshot): the
        per-asset lists, the cash, the clock and the working orders must fit
        ``assets``, so that the next call cannot fail half-way.

        >>> account = Account(["SPX", "NDX"])
        >>> account.state_problem() is None
        True
        >>> account._position = [0.0]
        >>> account.state_problem()
        ('position', 'expected a list of 2 floats, got [0.0]')
        """
        n = len(self.assets)
        if self._index != {name: j for j, name in enumerate(self.assets)}:
            return "index", f"does not match the assets {list(self.assets)}"
        for name in (
            "_position",
            "_last_price",
            "_valuation_price",
            "_working_buy",
            "_working_sell",
            "_long_notional",
            "_short_notional",
            "_gross_notional",
        ):
            values = getattr(self, name)
            if (
                type(values) is not list
                or len(values) != n
                or any(type(v) is not float for v in values)
            ):
                return name[1:], f"expected a list of {n} floats, got {values!r}"
        for j, price in enumerate(self._last_price):
            problem = None if price != price else price_problem(price)  # NaN: not marked yet
            if problem is not None:
                return f"last_price[{j}]", problem
        for name in ("_cash", "_start_equity"):
            value = getattr(self, name)
            if type(value) is not float or not math.isfinite(value):
                return name[1:], f"expected a finite float, got {value!r}"
        clock, day = self._clock_ns, self._day
        if clock is not None and (type(clock) is not int or not MIN_NS <= clock <= MAX_NS):
            return "clock_ns", f"expected None or int nanoseconds in range, got {clock!r}"
        if (clock is None) != (day is None) or (clock is not None and day != day_of(clock)):
            return "day", f"{day!r} is not the day of the clock {clock!r}"
        if type(self._next_order_number) is not int or self._next_order_number < 1:
            return "next_order_number", f"expected an int >= 1, got {self._next_order_number!r}"
        if type(self._working) is not dict:
            return "working", f"expected a dict, got {type(self._working).__name__}"
        totals = {"buy": [0.0] * n, "sell": [0.0] * n}
        for order_id, record in self._working.items():
            if (
                type(order_id) is not str
                or not order_id
                or type(record) is not list
                or len(record) != 4
                or type(record[0]) is not int
                or not 0 <= record[0] < n
                or record[1] not in totals
                or any(type(v) is not float or not 0.0 < v < math.inf for v in record[2:])
            ):
                return (
                    f"working[{order_id!r}]",
                    f"expected [asset index, side, remaining > 0, limit price > 0], got {record!r}",
                )
            totals[record[1]][record[0]] += record[2]
        for side, name in (("buy", "_working_buy"), ("sell", "_working_sell")):
            for j, (total, kept) in enumerate(zip(totals[side], getattr(self, name), strict=True)):
                if abs(total - kept) > ROUNDING_TOLERANCE * max(total, 1.0):
                    return f"{name[1:]}[{j}]", f"{kept} is not the {total} the working orders hold"
        return None

    # -- internals ------------------------------------------------------------

    def _clock_time(self, now_ns: Any) -> int:
        now_ns = as_nanoseconds(now_ns)
        if self._clock_ns is not None and now_ns < self._clock_ns:
            raise InvalidTimestamp(
                "timestamp", f"{now_ns} is before the last mark or fill at {self._clock_ns}"
            )
        return now_ns

    def _roll_day(self, now_ns: int) -> None:
        day = day_of(now_ns)
        if day != self._day:
            # At the previous prices, before this event applies: the move from the
            # previous day's last mark to this one belongs to the new day.
            self._start_equity = self._equity()
            self._day = day

    def _equity(self) -> float:
        equity = self._cash
        for position, price in zip(self._position, self._valuation_price, strict=True):
            if position:
                equity += position * price
        return equity

    def _release(self, index: int, side: str) -> None:
        # Re-summed from the working orders, so released reservations leave no float residue.
        total = 0.0
        for asset_index, order_side, remaining, _ in self._working.values():
            if asset_index == index and order_side == side:
                total += remaining
        (self._working_buy if side == "buy" else self._working_sell)[index] = total

    def _refresh(self, index: int) -> None:
        position = self._position[index]
        longest = position + self._working_buy[index]
        shortest = position - self._working_sell[index]
        price = self._last_price[index]
        # Zero exposure is worth zero even before the asset has a price (0 * NaN is NaN).
        self._long_notional[index] = longest * price if longest else 0.0
        self._short_notional[index] = shortest * price if shortest else 0.0
        worst = longest if longest > -shortest else -shortest
        self._gross_notional[index] = worst * price if worst else 0.0
