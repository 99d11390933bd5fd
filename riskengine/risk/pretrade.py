"""Hard pre-trade controls: the checks that hold whatever the models say.

:class:`PreTradeControls` is the last gate before an order leaves the desk, in
the shape of nautilus_trader's risk engine: explicit inputs (``mark`` prices,
``check`` orders, ``on_fill`` fills, ``cancel``, ``halt`` / ``resume``) and one
output per order, a :class:`~riskengine.risk.orders.Decision` that is either an
approval or a denial with a :class:`~riskengine.risk.orders.ReasonCode` and a
human message with the numbers. It uses no model: when the models output NaN or
are not warmed up, the engine sets ``models_ok = False`` and the controls fail
closed to ``REDUCING`` (only risk-reducing orders pass). The model-driven limits
(:class:`DynamicCaps`) can only tighten the hard ones (:class:`HardLimits`):
the effective limit is ``min(hard, dynamic)``, and a NaN or missing dynamic
value means "the hard limit".

Conventions
-----------
Worst case
    Exposure counts every working order as if it filled: an asset's long worst
    case is ``position + working buys`` and its short worst case is
    ``position - working sells``. An approved order reserves its quantity under
    its order id until it is filled or cancelled.
Price for exposure
    The order's own asset is valued at ``max(last price, order price)`` and
    every other asset at its last price. The limit price is the most a buy may
    pay, and the higher of the two prices gives the larger notional for a
    position of either sign, so the check overstates rather than understates
    the exposure the order can create (fail closed); the price collar bounds
    the difference to ``price_collar``. An asset that holds a position but has
    no price yet makes the gross and net exposure unknown, which denies.
Risk-reducing
    A buy is risk-reducing when the position is short and stays short or flat
    even if this buy and every working buy fill (``position + working buys +
    quantity <= 0``, up to a rounding tolerance of 1e-9 of the position); a
    sell mirrors it. Such an order cannot make its asset's worst-case position
    or the gross exposure larger, so it passes the HALTED and REDUCING gates and
    skips the exposure checks. It can still raise the absolute *net* exposure
    (buying back one leg of a hedge does), which a kill switch must allow.
Daily P&L
    ``equity = cash + sum(position * price)`` and the daily P&L is equity minus
    the equity at the start of the UTC day. At a day roll the start-of-day
    equity is the equity at the *previous* day's last prices, taken before the
    new day's first prices or fills apply, so an overnight gap counts against
    the new day: every price move lands in exactly one day. A loss above
    ``max_daily_loss`` halts with reason ``"DAILY_LOSS"``. The halt persists,
    across days too, until :meth:`PreTradeControls.resume`, and ``resume``
    cannot override a loss that is still above the limit today. Before an asset
    has been marked, its position is valued at its latest fill price.
Time
    ``check`` times feed the order-rate throttle and may not go back before the
    last approved order; ``mark`` and ``on_fill`` times drive the P&L day and
    may not go backwards either. Both are int nanoseconds since the epoch (UTC).

Every call validates its input before it changes anything, so a call that
raises :class:`~riskengine.errors.InvalidInput` leaves the state exactly as it
was; a denial changes nothing either. The object is not thread-safe: the
engine calls it from one thread.

Examples
--------
>>> from riskengine.risk.orders import Fill, Order
>>> limits = HardLimits(max_order_quantity=100, max_position_notional=20_000)
>>> controls = PreTradeControls(["SPX", "NDX"], limits)
>>> controls.mark(0, [100.0, 200.0])
>>> controls.check(Order("SPX", "buy", 150, 100.0), 1)
Decision(approved=False, reason=<ReasonCode.ORDER_QUANTITY: 'ORDER_QUANTITY'>,
         message='quantity 150 exceeds the max order quantity 100', order_id=None)
>>> controls.check(Order("SPX", "buy", 100, 100.0), 2).order_id
'O1'
>>> controls.on_fill(Fill("SPX", "buy", 100, 100.0, order_id="O1"), 3)
>>> controls.positions
(100.0, 0.0)

The models tighten SPX's position limit; their NaN for NDX leaves the hard one:

>>> caps = DynamicCaps(position_notional=(15_000.0, float("nan")))
>>> controls.check(Order("SPX", "buy", 60, 100.0), 4, caps).message
'SPX position notional 16,000 would exceed the limit 15,000 (hard 20,000, dynamic 15,000)'
>>> controls.check(Order("NDX", "buy", 100, 200.0), 5, caps).approved
True

The kill switch lets only risk-reducing orders through:

>>> controls.halt("desk head")
>>> controls.check(Order("SPX", "buy", 1, 100.0), 6).reason
<ReasonCode.HALTED: 'HALTED'>
>>> controls.check(Order("SPX", "sell", 100, 100.0), 7).approved
True
>>> controls.resume()
>>> controls.trading_state
<TradingState.ACTIVE: 'ACTIVE'>
"""

from __future__ import annotations

import collections
import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from riskengine._config import config_from_mapping
from riskengine._time import day_of
from riskengine.errors import (
    InvalidConfig,
    InvalidFill,
    InvalidInput,
    InvalidOrder,
    InvalidPrice,
    InvalidTimestamp,
    MissingAsset,
)
from riskengine.risk.orders import Decision, Fill, Order, ReasonCode, TradingState

__all__ = ["DynamicCaps", "HardLimits", "PreTradeControls"]

# Relative rounding tolerance: an order that closes a position exactly must count
# as risk-reducing even when the position carries float residue (0.1 + 0.2), and
# the last partial fill of an order must be allowed to match its remaining size.
_EPSILON = 1e-9
_HALT_DAILY_LOSS = "DAILY_LOSS"


def _number(value: float) -> str:
    """Format a quantity, price or notional for a message: ``1,250,000``, ``105.0001``."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.4g}"
    # Six decimals show a price or quantity just past a limit; trailing zeros go.
    return f"{value:,.6f}".rstrip("0").rstrip(".")


def _nanoseconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTimestamp(
            "timestamp", f"expected int nanoseconds since the epoch, got {type(value).__name__}"
        )
    return int(value)


def _cap(hard: float, dynamic: float | None) -> float:
    """``min(hard, dynamic)``; a missing or NaN dynamic limit never loosens (NaN < x is False)."""
    return dynamic if dynamic is not None and dynamic < hard else hard


def _limit_text(cap: float, hard: float, dynamic: float | None) -> str:
    if dynamic is None:
        return f"the hard limit {_number(hard)}"
    return f"the limit {_number(cap)} (hard {_number(hard)}, dynamic {_number(dynamic)})"


@dataclasses.dataclass(frozen=True, kw_only=True)
class HardLimits:
    """The hard limits: plain data, frozen, every value finite and > 0.

    Parameters
    ----------
    max_order_quantity : float
        Units in one order.
    max_order_notional : float
        ``quantity * price`` of one order, in currency.
    max_position_notional : float
        Absolute worst-case position notional per asset, working orders included.
    max_gross_notional : float
        Sum over assets of the absolute worst-case position notional.
    max_net_notional : float
        Absolute worst-case net notional in the direction of the order.
    max_orders_per_window : int
        Approved orders in any rolling ``order_window_seconds``; more are denied, not queued.
    order_window_seconds : float
        Length of the order-rate window.
    price_collar : float
        Largest allowed ``|price / last price - 1|``, a fraction below 1 (0.05 is 5%).
    max_daily_loss : float
        Loss in currency (a positive number) since the start of the UTC day that halts trading.

    Examples
    --------
    >>> HardLimits(max_daily_loss=50_000).max_daily_loss
    50000.0
    >>> HardLimits(price_collar=5)
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: price_collar: must be < 1 (a fraction of the last price: ...
    >>> HardLimits(max_orders_per_window=2.5)
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: max_orders_per_window: expected an integer, got float
    """

    max_order_quantity: float = 10_000.0
    max_order_notional: float = 1_000_000.0
    max_position_notional: float = 5_000_000.0
    max_gross_notional: float = 20_000_000.0
    max_net_notional: float = 10_000_000.0
    max_orders_per_window: int = 100
    order_window_seconds: float = 1.0
    price_collar: float = 0.05
    max_daily_loss: float = 250_000.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            name, value = field.name, getattr(self, field.name)
            if name == "max_orders_per_window":
                if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                    raise InvalidConfig(name, f"expected an integer, got {type(value).__name__}")
                value = int(value)
                if value < 1:
                    raise InvalidConfig(name, f"must be >= 1, got {value}")
            else:
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise InvalidConfig(name, f"expected a number, got {type(value).__name__}")
                value = float(value)
                if not (math.isfinite(value) and value > 0):
                    raise InvalidConfig(name, f"must be finite and > 0, got {value}")
            object.__setattr__(self, name, value)
        # A collar of 5 is almost surely "5%" in the wrong unit, and one of 1 or
        # more no longer bounds the price from below.
        if self.price_collar >= 1:
            raise InvalidConfig(
                "price_collar",
                f"must be < 1 (a fraction of the last price: 0.05 is 5%), got {self.price_collar}",
            )
        if round(self.order_window_seconds * 1e9) < 1:
            raise InvalidConfig(
                "order_window_seconds",
                f"must be at least one nanosecond, got {self.order_window_seconds}",
            )

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], field: str = "hard") -> HardLimits:
        """Limits from a configuration table (the ``[hard]`` table of the engine's TOML).

        Unknown keys are refused, so a typo never leaves a limit at its default;
        errors name the key under ``field``.

        >>> HardLimits.from_mapping({"max_daily_loss": 1e5}).max_daily_loss
        100000.0
        >>> HardLimits.from_mapping({"max_dialy_loss": 1e5})
        Traceback (most recent call last):
        riskengine.errors.InvalidConfig: hard: unknown key(s) ['max_dialy_loss']; allowed: [...]
        >>> HardLimits.from_mapping({"max_gross_notional": -1})
        Traceback (most recent call last):
        riskengine.errors.InvalidConfig: hard.max_gross_notional: must be finite and > 0, got -1.0
        """
        return config_from_mapping(cls, table, field)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DynamicCaps:
    """Model-driven limits the engine passes to :meth:`PreTradeControls.check`.

    They can only tighten: each effective limit is ``min(hard, dynamic)``. A NaN,
    ``inf`` or missing value (an empty tuple) leaves the hard limit; a value of
    zero or below allows no new exposure. Per-asset tuples are in the asset
    order of the controls. Build one per model update and reuse it for every
    order until the next: the conversion happens here, not in ``check``.

    Parameters
    ----------
    position_notional : tuple of float
        Per-asset cap on the absolute worst-case position notional.
    gross_notional : float
        Cap on the gross worst-case notional.
    net_notional : float
        Cap on the absolute worst-case net notional.
    order_notional : tuple of float
        Per-asset cap on one order's notional.

    Examples
    --------
    >>> DynamicCaps(position_notional=[1e6, float("nan")], gross_notional=3e6)
    DynamicCaps(position_notional=(1000000.0, nan), gross_notional=3000000.0,
                net_notional=inf, order_notional=())
    >>> DynamicCaps(gross_notional="3e6")
    Traceback (most recent call last):
    riskengine.errors.InvalidInput: dynamic.gross_notional: expected a number, got str
    """

    position_notional: tuple[float, ...] = ()
    gross_notional: float = math.inf
    net_notional: float = math.inf
    order_notional: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("position_notional", "order_notional"):
            values = getattr(self, name)
            if isinstance(values, str | bytes | Mapping):
                raise InvalidInput(f"dynamic.{name}", "expected a sequence of numbers")
            try:
                values = tuple(values)
            except TypeError:
                raise InvalidInput(
                    f"dynamic.{name}",
                    f"expected a sequence of numbers, got {type(values).__name__}",
                ) from None
            object.__setattr__(
                self,
                name,
                tuple(_cap_value(value, f"dynamic.{name}[{j}]") for j, value in enumerate(values)),
            )
        for name in ("gross_notional", "net_notional"):
            object.__setattr__(self, name, _cap_value(getattr(self, name), f"dynamic.{name}"))


def _cap_value(value: Any, field: str) -> float:
    # NaN is allowed: it is how a model says "no opinion", and it means the hard limit.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(field, f"expected a number, got {type(value).__name__}")
    return float(value)


class PreTradeControls:
    """Stateful hard pre-trade controls for a fixed list of assets.

    Parameters
    ----------
    assets : sequence of str
        The tradable assets; prices passed to :meth:`mark` follow this order.
    limits : HardLimits
        The hard limits.
    cash : float
        Starting cash: equity is cash plus positions at their prices.

    Notes
    -----
    :meth:`check` evaluates, and the first failing control decides the reason:

    1. trading-state gate: ``HALTED`` then ``REDUCING_ONLY`` (only risk-reducing
       orders pass either);
    2. ``NO_PRICE``: the asset has not been marked yet;
    3. ``PRICE_COLLAR``: the price is outside ``last * (1 -/+ price_collar)``;
    4. ``ORDER_QUANTITY``: quantity above ``max_order_quantity``;
    5. ``ORDER_NOTIONAL``: ``quantity * price`` above ``min(hard, dynamic)``;
    6. ``ORDER_RATE``: ``max_orders_per_window`` orders already approved in the
       window ``(now - order_window_seconds, now]``; denied orders use no
       capacity and nothing is queued;
    7. ``POSITION_LIMIT``: the asset's worst-case position notional on the
       order's side (``position + working buys + quantity`` for a buy,
       ``position - working sells - quantity`` for a sell);
    8. ``GROSS_EXPOSURE``: the sum over assets of the worst-case absolute
       notional, this order included;
    9. ``NET_EXPOSURE``: the worst-case net notional in the order's direction
       (every working order on the order's side filled, this one included).

    Risk-reducing orders skip 7-9. A limit equal to the value passes; only a
    larger value is denied. An approval records the time in the throttle window
    and reserves the quantity under the order id; a denial changes nothing.

    The state is plain attributes (floats, ints, lists, dicts, a deque, strs,
    bools, None) so snapshot codecs and ``pickle`` can walk it.

    Examples
    --------
    >>> from riskengine.risk.orders import Order
    >>> limits = HardLimits(max_orders_per_window=2, order_window_seconds=1.0)
    >>> controls = PreTradeControls(["SPX"], limits)
    >>> controls.check(Order("SPX", "buy", 1, 100.0), 0).reason  # not marked yet
    <ReasonCode.NO_PRICE: 'NO_PRICE'>
    >>> controls.mark(0, [100.0])
    >>> [controls.check(Order("SPX", "buy", 1, 100.0), t).approved for t in (1, 2, 3)]
    [True, True, False]
    >>> controls.check(Order("SPX", "buy", 1, 100.0), 1_000_000_001).approved  # window slid
    True
    >>> controls.check(Order("SPX", "buy", 1, 106.0), 1_000_000_002).message
    'price 106 is outside the collar [95, 105] around the last price 100 (5%)'
    >>> sorted(controls.working_orders)
    ['O1', 'O2', 'O3']
    >>> controls.cancel("O2")
    >>> controls.working_orders["O3"]
    ('SPX', 'buy', 1.0)
    """

    def __init__(self, assets: Sequence[str], limits: HardLimits, cash: float = 0.0) -> None:
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
        if not isinstance(limits, HardLimits):
            raise InvalidConfig("limits", f"expected HardLimits, got {type(limits).__name__}")
        self.assets = names
        self.limits = limits
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
        self._working: dict[str, list] = {}  # order id -> [asset index, side, remaining quantity]
        self._working_buy = [0.0] * n
        self._working_sell = [0.0] * n
        # Worst-case notionals at the last price, per asset, kept current on every
        # change so check() sums lists instead of looping over assets.
        self._long_notional = [0.0] * n  # (position + working buys) * last price
        self._short_notional = [0.0] * n  # (position - working sells) * last price
        self._gross_notional = [0.0] * n  # the larger absolute value of the two
        self._throttle: collections.deque[int] = collections.deque(
            maxlen=limits.max_orders_per_window
        )
        self._window_ns = round(limits.order_window_seconds * 1e9)
        self._clock_ns: int | None = None  # time of the last mark or fill
        self._day: int | None = None  # UTC day of the last mark or fill
        self._start_equity = cash
        self._halted = False
        self._halt_reason: str | None = None
        self._models_ok = True
        self._next_order_number = 1

    def __repr__(self) -> str:
        return f"{type(self).__name__}(assets={list(self.assets)!r}, limits={self.limits!r})"

    # -- inputs ---------------------------------------------------------------

    def mark(self, now_ns: int, prices: Sequence[float]) -> None:
        """New last prices, in asset order; rolls the day and applies the daily loss limit.

        Parameters
        ----------
        now_ns : int
            Time of the prices, nanoseconds since the epoch; not before the last mark or fill.
        prices : sequence of float
            One finite price > 0 per asset, in the order of ``assets``.

        Examples
        --------
        >>> from riskengine.risk.orders import Fill
        >>> controls = PreTradeControls(["SPX"], HardLimits(max_daily_loss=1_000))
        >>> controls.mark(0, [100.0])
        >>> controls.on_fill(Fill("SPX", "buy", 100, 100.0), 1)
        >>> controls.mark(2, [90.0])
        >>> controls.daily_pnl, controls.trading_state, controls.halt_reason
        (-1000.0, <TradingState.ACTIVE: 'ACTIVE'>, None)
        >>> controls.mark(3, [89.99])
        >>> controls.trading_state, controls.halt_reason
        (<TradingState.HALTED: 'HALTED'>, 'DAILY_LOSS')
        """
        now_ns = self._clock_time(now_ns)
        n = len(self.assets)
        if (
            type(prices) is list
            and len(prices) == n
            and all(type(value) is float and 0.0 < value < math.inf for value in prices)
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
            if not (math.isfinite(value) and value > 0):
                raise InvalidPrice(field, f"must be finite and > 0, got {value}")
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
        self._apply_daily_loss_limit()

    def check(self, order: Order, now_ns: int, dynamic: DynamicCaps | None = None) -> Decision:
        """Approve or deny ``order`` at time ``now_ns``; see the class notes for the checks' order.

        Parameters
        ----------
        order : Order
            The order; ``order.timestamp`` is not read, ``now_ns`` is its time.
        now_ns : int
            Nanoseconds since the epoch; not before the last approved order.
        dynamic : DynamicCaps or None
            Model-driven caps that tighten the hard limits; None for the hard limits alone.

        Returns
        -------
        Decision
            ``approved`` with the order id (``"O1"``, ``"O2"``, ... when the order had
            none), or a denial with its reason code and a message with the numbers.

        Raises
        ------
        InvalidOrder
            Unknown asset (field ``asset``), or an empty or already working order id
            (``order_id``).
        InvalidTimestamp
            ``now_ns`` is not an int or is before the last approved order.
        InvalidInput
            ``dynamic`` is not a DynamicCaps, or a per-asset tuple has the wrong length.
        """
        # Validation first: nothing changes state until the approval at the end.
        if not isinstance(order, Order):
            raise InvalidOrder("order", f"expected an Order, got {type(order).__name__}")
        index = self._index.get(order.asset)
        if index is None:
            raise InvalidOrder(
                "asset", f"unknown asset {order.asset!r}; known: {list(self.assets)}"
            )
        if type(now_ns) is not int:
            now_ns = _nanoseconds(now_ns)
        throttle = self._throttle
        if throttle and now_ns < throttle[-1]:
            raise InvalidTimestamp(
                "timestamp", f"{now_ns} is before the last approved order at {throttle[-1]}"
            )
        order_id = order.order_id
        if order_id is not None:
            if not order_id:
                raise InvalidOrder("order_id", "must be a non-empty string")
            if order_id in self._working:
                raise InvalidOrder("order_id", f"{order_id!r} is already a working order")
        if dynamic is not None:
            if not isinstance(dynamic, DynamicCaps):
                raise InvalidInput(
                    "dynamic", f"expected DynamicCaps or None, got {type(dynamic).__name__}"
                )
            n = len(self.assets)
            if len(dynamic.position_notional) not in (0, n):
                raise InvalidInput(
                    "dynamic.position_notional",
                    f"expected {n} values or none, got {len(dynamic.position_notional)}",
                )
            if len(dynamic.order_notional) not in (0, n):
                raise InvalidInput(
                    "dynamic.order_notional",
                    f"expected {n} values or none, got {len(dynamic.order_notional)}",
                )

        limits = self.limits
        buy = order.side == "buy"
        quantity = order.quantity
        position = self._position[index]
        # The order's side at its worst: every working order on that side and this one filled.
        if buy:
            extreme = position + self._working_buy[index] + quantity
            reducing = position < 0.0 and extreme <= -position * _EPSILON
        else:
            extreme = position - self._working_sell[index] - quantity
            reducing = position > 0.0 and extreme >= -position * _EPSILON

        if not reducing and (self._halted or not self._models_ok):
            why = (
                f"trading halted ({self._halt_reason})"
                if self._halted
                else "models unusable (REDUCING)"
            )
            working = self._working_buy[index] if buy else self._working_sell[index]
            return Decision(
                False,
                ReasonCode.HALTED if self._halted else ReasonCode.REDUCING_ONLY,
                f"{why}: only risk-reducing orders pass; {order.side} {_number(quantity)} "
                f"{order.asset} would take the position {_number(position)} to "
                f"{_number(extreme)} (with {_number(working)} working {order.side}s)",
                order_id,
            )
        last = self._last_price[index]
        if last != last:  # NaN: never marked
            return Decision(
                False,
                ReasonCode.NO_PRICE,
                f"no last price for {order.asset} yet: mark() it first",
                order_id,
            )
        price = order.price
        collar = limits.price_collar
        # The band, not |price / last - 1|, so a price exactly on the edge passes.
        low, high = last * (1.0 - collar), last * (1.0 + collar)
        if price > high or price < low:
            return Decision(
                False,
                ReasonCode.PRICE_COLLAR,
                f"price {_number(price)} is outside the collar [{_number(low)}, {_number(high)}] "
                f"around the last price {_number(last)} ({collar * 100:.4g}%)",
                order_id,
            )
        if quantity > limits.max_order_quantity:
            return Decision(
                False,
                ReasonCode.ORDER_QUANTITY,
                f"quantity {_number(quantity)} exceeds the max order quantity "
                f"{_number(limits.max_order_quantity)}",
                order_id,
            )
        notional = quantity * price
        hard = limits.max_order_notional
        dynamic_value = (
            dynamic.order_notional[index]
            if dynamic is not None and dynamic.order_notional
            else None
        )
        cap = _cap(hard, dynamic_value)
        if notional > cap:
            return Decision(
                False,
                ReasonCode.ORDER_NOTIONAL,
                f"order notional {_number(notional)} would exceed "
                + _limit_text(cap, hard, dynamic_value),
                order_id,
            )
        window_ns = self._window_ns
        if len(throttle) == throttle.maxlen and throttle[0] > now_ns - window_ns:
            return Decision(
                False,
                ReasonCode.ORDER_RATE,
                f"{throttle.maxlen} orders approved in the last "
                f"{limits.order_window_seconds:g}s (limit {throttle.maxlen}); denied, not "
                f"queued; capacity frees at {throttle[0] + window_ns}",
                order_id,
            )

        if not reducing:
            value_price = price if price > last else last
            # The asset's worst case on the order's side, as a positive notional.
            position_notional = (extreme if buy else -extreme) * value_price
            hard = limits.max_position_notional
            dynamic_value = (
                dynamic.position_notional[index]
                if dynamic is not None and dynamic.position_notional
                else None
            )
            cap = _cap(hard, dynamic_value)
            if position_notional > cap:
                return Decision(
                    False,
                    ReasonCode.POSITION_LIMIT,
                    f"{order.asset} position notional {_number(position_notional)} would exceed "
                    + _limit_text(cap, hard, dynamic_value),
                    order_id,
                )
            # Gross: the other assets as they stand, this one at its new worst case.
            if buy:
                other_side = self._working_sell[index] - position
                worst = extreme if extreme > other_side else other_side
            else:
                other_side = position + self._working_buy[index]
                worst = -extreme if -extreme > other_side else other_side
            gross_list = self._gross_notional
            gross = sum(gross_list) - gross_list[index] + worst * value_price
            hard = limits.max_gross_notional
            dynamic_value = None if dynamic is None else dynamic.gross_notional
            cap = _cap(hard, dynamic_value)
            if not gross <= cap:  # written so that an unknown (NaN) gross denies
                return Decision(
                    False,
                    ReasonCode.GROSS_EXPOSURE,
                    self._unknown_exposure("gross", index)
                    if gross != gross
                    else f"gross notional {_number(gross)} would exceed "
                    + _limit_text(cap, hard, dynamic_value),
                    order_id,
                )
            # Net in the order's direction: every working order on this side filled.
            net_list = self._long_notional if buy else self._short_notional
            net = sum(net_list) - net_list[index] + extreme * value_price
            hard = limits.max_net_notional
            dynamic_value = None if dynamic is None else dynamic.net_notional
            cap = _cap(hard, dynamic_value)
            if not (net if buy else -net) <= cap:
                return Decision(
                    False,
                    ReasonCode.NET_EXPOSURE,
                    self._unknown_exposure("net", index)
                    if net != net
                    else f"net {'long' if buy else 'short'} notional {_number(abs(net))} would "
                    "exceed " + _limit_text(cap, hard, dynamic_value),
                    order_id,
                )

        # Approved: reserve the quantity and use one unit of order-rate capacity.
        working_orders = self._working
        if order_id is None:
            number = self._next_order_number
            order_id = f"O{number}"
            while order_id in working_orders:  # a caller may have used the same form
                number += 1
                order_id = f"O{number}"
            self._next_order_number = number + 1
        working_orders[order_id] = [index, order.side, quantity]
        if buy:
            self._working_buy[index] += quantity
        else:
            self._working_sell[index] += quantity
        throttle.append(now_ns)
        self._refresh(index)
        return Decision(True, None, None, order_id)

    def mark_batch(self, times_ns: Any, prices: Any) -> tuple[Any, Any]:
        """:meth:`mark` for T rows at once (the engine's replay): equity and halted flags per row.

        The same arithmetic as ``mark`` in a loop (equity is summed asset by
        asset in the same order), vectorised over time; the controls end in the
        state the loop would leave. ``prices`` (T, N) must be finite and > 0
        (the engine has checked them) and ``times_ns`` non-decreasing.

        Returns
        -------
        equity : ndarray (T,)
        halted : ndarray (T,) of bool
        """
        import numpy as np  # only the batch path needs numpy

        times = np.asarray(times_ns, dtype=np.int64)
        matrix = np.asarray(prices, dtype=np.float64)
        n = len(self.assets)
        if matrix.ndim != 2 or matrix.shape != (times.size, n) or times.size == 0:
            raise InvalidPrice("prices", f"expected shape ({times.size}, {n}), got {matrix.shape}")
        # Checked here too, so that this path keeps the module's promise: bad input
        # raises before anything changes (a NaN mark would silently disable the loss limit).
        usable = np.isfinite(matrix) & (matrix > 0)
        if not usable.all():
            row, column = (int(k) for k in np.argwhere(~usable)[0])
            raise InvalidPrice(
                f"prices[{self.assets[column]!r}]",
                f"row {row}: must be finite and > 0, got {matrix[row, column]}",
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
        breached = (start - equity) > self.limits.max_daily_loss
        halted = np.logical_or.accumulate(breached | self._halted)
        # The final state, as the loop leaves it.
        if not self._halted and breached.any():
            self._halt_reason = _HALT_DAILY_LOSS
        self._halted = bool(halted[-1])
        self._start_equity = float(start[-1])
        self._day = int(days[-1])
        self._clock_ns = int(times[-1])
        self._last_price = matrix[-1].tolist()
        self._valuation_price = matrix[-1].tolist()
        for j in range(n):
            self._refresh(j)
        return equity, halted

    def on_fill(self, fill: Fill, now_ns: int) -> None:
        """Book an execution: position, cash, the order's reservation, and the daily loss.

        Parameters
        ----------
        fill : Fill
            The execution. With an ``order_id`` it must belong to a working order of the
            same asset and side and may not exceed its remaining quantity; without one
            (a manual trade) it moves the position but no reservation.
        now_ns : int
            Time of the fill, nanoseconds since the epoch; not before the last mark or fill.

        Examples
        --------
        >>> from riskengine.risk.orders import Fill, Order
        >>> controls = PreTradeControls(["SPX"], HardLimits())
        >>> controls.mark(0, [100.0])
        >>> controls.check(Order("SPX", "sell", 10, 100.0, order_id="A"), 1).approved
        True
        >>> controls.on_fill(Fill("SPX", "sell", 4, 101.0, order_id="A"), 2)
        >>> controls.positions, controls.working_orders, controls.daily_pnl
        ((-4.0,), {'A': ('SPX', 'sell', 6.0)}, 4.0)
        >>> controls.on_fill(Fill("SPX", "sell", 7, 101.0, order_id="A"), 3)
        Traceback (most recent call last):
        riskengine.errors.InvalidFill: quantity: 7.0 exceeds the 6.0 still working on order 'A'
        """
        if not isinstance(fill, Fill):
            raise InvalidFill("fill", f"expected a Fill, got {type(fill).__name__}")
        index = self._index.get(fill.asset)
        if index is None:
            raise InvalidFill("asset", f"unknown asset {fill.asset!r}; known: {list(self.assets)}")
        now_ns = self._clock_time(now_ns)
        quantity = fill.quantity
        order_id = fill.order_id
        working = None
        if order_id is not None:
            working = self._working.get(order_id)
            if working is None:
                raise InvalidFill("order_id", f"{order_id!r} is not a working order")
            if working[0] != index or working[1] != fill.side:
                raise InvalidFill(
                    "order_id",
                    f"{order_id!r} is a {working[1]} order for {self.assets[working[0]]}, "
                    f"not a {fill.side} of {fill.asset}",
                )
            if quantity > working[2] * (1.0 + _EPSILON):
                raise InvalidFill(
                    "quantity",
                    f"{quantity} exceeds the {working[2]} still working on order {order_id!r}",
                )
        # Valid: from here on nothing raises.
        self._roll_day(now_ns)
        self._clock_ns = now_ns
        signed = quantity if fill.side == "buy" else -quantity
        self._position[index] += signed
        self._cash -= signed * fill.price
        if self._last_price[index] != self._last_price[index]:  # never marked
            self._valuation_price[index] = fill.price
        if working is not None:
            remaining = working[2] - quantity
            if remaining <= working[2] * _EPSILON:  # filled, up to rounding
                del self._working[order_id]
            else:
                working[2] = remaining
            self._release(index, fill.side)
        self._refresh(index)
        self._apply_daily_loss_limit()

    def cancel(self, order_id: str) -> None:
        """Release what is left of a working order's reservation.

        >>> PreTradeControls(["SPX"], HardLimits()).cancel("O9")
        Traceback (most recent call last):
        riskengine.errors.InvalidOrder: order_id: 'O9' is not a working order
        """
        if not isinstance(order_id, str) or order_id not in self._working:
            raise InvalidOrder("order_id", f"{order_id!r} is not a working order")
        index, side, _ = self._working.pop(order_id)
        self._release(index, side)
        self._refresh(index)

    def halt(self, reason: str) -> None:
        """Kill switch: deny every order that is not risk-reducing until :meth:`resume`.

        Halting while halted keeps the first reason.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("reason", f"expected a non-empty string, got {reason!r}")
        if not self._halted:
            self._halted = True
            self._halt_reason = reason

    def resume(self) -> None:
        """Lift the halt, unless today's loss is still above ``max_daily_loss``.

        The daily loss limit is hard: while it is breached the controls stay
        ``HALTED`` (reason ``"DAILY_LOSS"``) and only risk-reducing orders pass;
        the next UTC day starts a new budget, and then ``resume`` lifts the halt.
        """
        self._halted = False
        self._halt_reason = None
        self._apply_daily_loss_limit()

    @property
    def models_ok(self) -> bool:
        """False when the engine's models are unusable: only risk-reducing orders pass."""
        return self._models_ok

    @models_ok.setter
    def models_ok(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise InvalidInput("models_ok", f"expected a bool, got {type(value).__name__}")
        self._models_ok = value

    # -- read-only queries ----------------------------------------------------

    @property
    def trading_state(self) -> TradingState:
        """HALTED if halted, else REDUCING if the models are unusable, else ACTIVE."""
        if self._halted:
            return TradingState.HALTED
        return TradingState.ACTIVE if self._models_ok else TradingState.REDUCING

    @property
    def halt_reason(self) -> str | None:
        """Why the controls are halted (``"DAILY_LOSS"`` or the kill switch's reason), or None."""
        return self._halt_reason

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
    def daily_pnl(self) -> float:
        """Equity minus the equity at the start of the current UTC day."""
        return self._equity() - self._start_equity

    @property
    def working_orders(self) -> dict[str, tuple[str, str, float]]:
        """A copy: order id -> ``(asset, side, remaining quantity)``."""
        return {
            order_id: (self.assets[index], side, remaining)
            for order_id, (index, side, remaining) in self._working.items()
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

    # -- internals ------------------------------------------------------------

    def _clock_time(self, now_ns: Any) -> int:
        now_ns = _nanoseconds(now_ns)
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

    def _apply_daily_loss_limit(self) -> None:
        loss = self._start_equity - self._equity()
        if loss > self.limits.max_daily_loss and not self._halted:
            self._halted = True
            self._halt_reason = _HALT_DAILY_LOSS

    def _release(self, index: int, side: str) -> None:
        # Re-summed from the working orders, so released reservations leave no float residue.
        total = 0.0
        for asset_index, order_side, remaining in self._working.values():
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

    def _unknown_exposure(self, kind: str, index: int) -> str:
        unpriced = [
            asset
            for j, asset in enumerate(self.assets)
            if j != index and self._gross_notional[j] != self._gross_notional[j]
        ]
        return f"{kind} notional is unknown: no last price yet for {unpriced}, which have exposure"
