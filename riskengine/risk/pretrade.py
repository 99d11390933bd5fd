"""Hard pre-trade controls: the checks that hold whatever the models say.

The last gate before an order leaves the desk, in the shape of
nautilus_trader's risk engine: explicit inputs (``mark`` prices, ``check``
orders, ``on_fill`` fills, ``cancel``, ``halt`` / ``resume``) and one output per
order, a :class:`~riskengine.risk.orders.Decision` that is either an approval
or a denial with a :class:`~riskengine.risk.orders.ReasonCode` and a human
message with the numbers. Three pieces:

- :class:`HardLimits`: the hard limits, plain frozen data;
- :class:`PreTradeGate`: the trading state (halt, kill switch, models usable)
  and ``check``, a sequence of small named checks, each returning a denial or
  None; it reads the account's worst-case exposure and reserves an approved
  order there;
- :class:`~riskengine.risk.controls.PreTradeControls`: an
  :class:`~riskengine.risk.account.Account` and the gate in front of it, the
  object the engine drives.

The gate uses no model: when the models output NaN or are not warmed up, the
engine sets ``models_ok = False`` and the gate fails closed to ``REDUCING``
(only risk-reducing orders pass). The model-driven limits, a
:class:`~riskengine.risk.limits.Limits` passed to ``check``, can only tighten
the hard ones: the effective limit is ``min(hard, dynamic)``, and a NaN or
``inf`` dynamic value means "the hard limit".

Conventions
-----------
Worst case
    Exposure counts every working order as if it filled (see
    :mod:`riskengine.risk.account`).
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
    sell mirrors it. Such an order passes the HALTED and REDUCING gates. It
    cannot make its asset's worst-case position or the gross exposure larger,
    so those checks cannot deny it and are skipped; but it always moves the
    *net* exposure in its own direction (selling the long leg of a hedge leaves
    the short leg), so the net check applies to it as to any order. A
    risk-reducing order is thus one after which every measure (position, gross,
    net, each against ``min(hard, dynamic)``) is within its limit or, if it
    was already past it, no further past: no measure crosses its limit and no
    breached one moves away from it.
Daily loss
    A daily P&L (:attr:`Account.daily_pnl <riskengine.risk.account.Account.daily_pnl>`)
    below ``-max_daily_loss`` halts with reason ``"DAILY_LOSS"``. The halt
    persists, across days too, until :meth:`PreTradeGate.resume`, and
    ``resume`` cannot override a loss that is still above the limit today.
Fill prices
    :meth:`PreTradeGate.check_fill` bounds what a fill may book, so a
    mistyped or hostile price cannot inflate the daily P&L: a fill of a
    working order may not be worse than the order's limit price (a buy may not
    pay more, a sell may not receive less) nor better than the price collar
    around the asset's last price; a manual fill (no order id) must lie inside
    the collar; and a fill of an asset with no last price has nothing to be
    checked against and is refused.
Time
    ``check``, ``mark`` and ``on_fill`` times are int nanoseconds since the
    epoch (UTC), 1970-01-01 to 2262-04-11. The account's clock is the time of
    its last mark or fill; an order time more than
    ``order_time_tolerance_seconds`` away from it (either way) is refused, so
    no order can claim a time far from the data's. The order-rate window is
    kept in approval order: an order stamped before the last approved one
    counts at that approval's time, which can only make the throttle stricter,
    and an order never raises for its time's order, so no single order can
    wedge the gate. ``mark`` and ``on_fill`` times may not go backwards.

Every call validates its input before it changes anything, so a call that
raises :class:`~riskengine.errors.InvalidInput` leaves the state exactly as it
was; a denial changes nothing either. The objects are not thread-safe: the
engine calls them from one thread.

Examples
--------
>>> from riskengine.risk.account import Account
>>> from riskengine.risk.limits import Limits
>>> from riskengine.risk.orders import Order
>>> account = Account(["SPX", "NDX"])
>>> gate = PreTradeGate(account, HardLimits(max_position_notional=20_000))
>>> account.mark(0, [100.0, 200.0])
>>> gate.check(Order("SPX", "buy", 100, 100.0), 1).order_id
'O1'
>>> account.working_orders
{'O1': ('SPX', 'buy', 100.0)}

The models tighten SPX's position limit; their NaN for NDX leaves the hard one:

>>> nan, inf = float("nan"), float("inf")
>>> dynamic = Limits(np.array([15_000.0, nan]), inf, inf, np.array([inf, inf]))
>>> gate.check(Order("SPX", "buy", 60, 100.0), 2, dynamic).message
'SPX position notional 16,000 would exceed the limit 15,000 (hard 20,000, dynamic 15,000)'
>>> gate.check(Order("NDX", "buy", 100, 200.0), 3, dynamic).approved
True
"""

from __future__ import annotations

import collections
import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from riskengine._config import config_from_mapping
from riskengine._time import MAX_NS, MIN_NS
from riskengine.errors import (
    InvalidConfig,
    InvalidFill,
    InvalidInput,
    InvalidOrder,
    InvalidTimestamp,
)
from riskengine.risk.account import ROUNDING_TOLERANCE, Account, as_nanoseconds
from riskengine.risk.limits import Limits
from riskengine.risk.orders import Decision, Fill, Order, ReasonCode, TradingState

__all__ = ["HardLimits", "PreTradeGate"]

_HALT_DAILY_LOSS = "DAILY_LOSS"


def _number(value: float) -> str:
    """Format a quantity, price or notional for a message: ``1,250,000``, ``105.0001``."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 1e-4:
        return f"{value:.4g}"
    # Six decimals show a price or quantity just past a limit; trailing zeros go.
    return f"{value:,.6f}".rstrip("0").rstrip(".")


def _exceeded(value: float, hard: float, dynamic: float | None) -> str | None:
    """None if ``value`` is within ``min(hard, dynamic)``, else that limit as a denial names it.

    A missing or NaN dynamic limit never loosens (NaN < x is False), and an
    unknown (NaN) value exceeds every limit: the check fails closed.

    >>> _exceeded(90.0, 100.0, None) is None
    True
    >>> _exceeded(110.0, 100.0, None)
    'the hard limit 100'
    >>> _exceeded(60.0, 100.0, 50.0)
    'the limit 50 (hard 100, dynamic 50)'
    >>> _exceeded(110.0, 100.0, float("nan"))
    'the limit 100 (hard 100, dynamic nan)'
    """
    cap = dynamic if dynamic is not None and dynamic < hard else hard
    if value <= cap:
        return None
    if dynamic is None:
        return f"the hard limit {_number(hard)}"
    return f"the limit {_number(cap)} (hard {_number(hard)}, dynamic {_number(dynamic)})"


def _dynamic_value(value: Any, field: str) -> float:
    # NaN is allowed: it is how a model says "no opinion", and it means the hard limit.
    if type(value) is float or isinstance(value, np.floating):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(field, f"expected a number, got {type(value).__name__}")
    return float(value)


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
    order_time_tolerance_seconds : float
        Largest allowed distance, either way, between an order's time and the
        account's clock (its last mark or fill); a farther one is refused.

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
    order_time_tolerance_seconds: float = 60.0

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
        for name in ("order_window_seconds", "order_time_tolerance_seconds"):
            seconds = getattr(self, name)
            if round(seconds * 1e9) < 1:
                raise InvalidConfig(name, f"must be at least one nanosecond, got {seconds}")
            if seconds * 1e9 > MAX_NS:
                raise InvalidConfig(name, f"must be at most {MAX_NS / 1e9:.0f} s, got {seconds}")

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

    def notional_limits(self, n_assets: int) -> Limits:
        """The notional limits as :class:`~riskengine.risk.limits.Limits` for ``n_assets`` assets.

        What the dynamic limit chain clamps to (its ``hard_limits`` stage).

        >>> HardLimits(max_position_notional=2e6).notional_limits(2)
        Limits(position=array([2000000., 2000000.]), gross=20000000.0, net=10000000.0,
               order=array([1000000., 1000000.]))
        """
        return Limits(
            np.asarray([self.max_position_notional] * n_assets, dtype=np.float64),
            self.max_gross_notional,
            self.max_net_notional,
            np.asarray([self.max_order_notional] * n_assets, dtype=np.float64),
        )


class PreTradeGate:
    """The trading-state gate and the order checks, in front of an :class:`Account`.

    Parameters
    ----------
    account : Account
        The book the gate guards: it reads its worst-case exposure and
        reserves every approved order there.
    limits : HardLimits
        The hard limits.

    Notes
    -----
    :meth:`check` runs these checks in order, and the first that denies decides
    the reason:

    1. :meth:`check_trading_state`: ``HALTED`` then ``REDUCING_ONLY`` (only
       risk-reducing orders pass either);
    2. :meth:`check_price_known`, ``NO_PRICE``: the asset has not been marked yet;
    3. :meth:`check_price_collar`, ``PRICE_COLLAR``: the price is outside
       ``last * (1 -/+ price_collar)``;
    4. :meth:`check_quantity`, ``ORDER_QUANTITY``: quantity above ``max_order_quantity``;
    5. :meth:`check_order_notional`, ``ORDER_NOTIONAL``: ``quantity * price``
       above ``min(hard, dynamic)``;
    6. :meth:`check_order_rate`, ``ORDER_RATE``: ``max_orders_per_window``
       orders already approved in the window ``(now - order_window_seconds,
       now]``, where ``now`` is the order's time or, if that is earlier, the
       last approval's; denied orders use no capacity and nothing is queued;
    7. :meth:`check_position`, ``POSITION_LIMIT``: the asset's worst-case
       position notional on the order's side (``position + working buys +
       quantity`` for a buy, ``position - working sells - quantity`` for a sell);
    8. :meth:`check_gross`, ``GROSS_EXPOSURE``: the sum over assets of the
       worst-case absolute notional, this order included;
    9. :meth:`check_net`, ``NET_EXPOSURE``: the worst-case net notional in the
       order's direction (every working order on the order's side filled, this
       one included).

    Risk-reducing orders skip 7 and 8, which cannot deny them, but not 9. A
    limit equal to the value passes; only a larger value is denied. An
    approval records the time in the throttle window and reserves the
    quantity and limit price under the order id; a denial changes nothing.

    Before any of them, the order's time is checked: in range, and within
    ``order_time_tolerance_seconds`` of the account's clock (else
    :class:`~riskengine.errors.InvalidTimestamp`).
    """

    def __init__(self, account: Account, limits: HardLimits) -> None:
        if not isinstance(account, Account):
            raise InvalidConfig("account", f"expected an Account, got {type(account).__name__}")
        if not isinstance(limits, HardLimits):
            raise InvalidConfig("limits", f"expected HardLimits, got {type(limits).__name__}")
        self.account = account
        self.limits = limits
        self._throttle: collections.deque[int] = collections.deque(
            maxlen=limits.max_orders_per_window
        )
        self._window_ns = round(limits.order_window_seconds * 1e9)
        self._tolerance_ns = round(limits.order_time_tolerance_seconds * 1e9)
        self._halted = False
        self._halt_reason: str | None = None
        self._models_ok = True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(account={self.account!r}, limits={self.limits!r})"

    # -- the trading state ------------------------------------------------------

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
        """Lift the halt, unless today's loss is still above ``max_daily_loss``."""
        self._halted = False
        self._halt_reason = None
        self.apply_daily_loss_limit()

    def apply_daily_loss_limit(self) -> None:
        """Halt with reason ``"DAILY_LOSS"`` if the account lost more than ``max_daily_loss`` today.

        Called after every mark and fill: the limit is a level, not an event.
        """
        account = self.account
        loss = account.start_equity - account.equity
        if loss > self.limits.max_daily_loss and not self._halted:
            self._halted = True
            self._halt_reason = _HALT_DAILY_LOSS

    def apply_daily_loss_limit_batch(self, equity: Any, start_equity: Any) -> Any:
        """The daily loss limit over the rows of an :meth:`Account.mark_batch`: halted per row.

        Leaves the gate as :meth:`apply_daily_loss_limit` after each row would.
        """
        breached = (start_equity - equity) > self.limits.max_daily_loss
        halted = np.logical_or.accumulate(breached | self._halted)
        if not self._halted and breached.any():
            self._halt_reason = _HALT_DAILY_LOSS
        self._halted = bool(halted[-1])
        return halted

    @property
    def models_ok(self) -> bool:
        """False when the engine's models are unusable: only risk-reducing orders pass."""
        return self._models_ok

    @models_ok.setter
    def models_ok(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise InvalidInput("models_ok", f"expected a bool, got {type(value).__name__}")
        self._models_ok = value

    @property
    def trading_state(self) -> TradingState:
        """HALTED if halted, else REDUCING if the models are unusable, else ACTIVE."""
        if self._halted:
            return TradingState.HALTED
        return TradingState.ACTIVE if self._models_ok else TradingState.REDUCING

    @property
    def halt_reason(self) -> str | None:
        """Why the gate is halted (``"DAILY_LOSS"`` or the kill switch's reason), or None."""
        return self._halt_reason

    def state_problem(self) -> tuple[str, str] | None:
        """``(attribute, problem)`` if the state does not fit :attr:`limits`, else None.

        For state that did not come through the constructor (a snapshot): the
        throttle window, its length and the tolerance must be the limits', and
        the trading state well formed. The account is checked on its own
        (:meth:`Account.state_problem <riskengine.risk.account.Account.state_problem>`).

        >>> gate = PreTradeGate(Account(["SPX"]), HardLimits())
        >>> gate.state_problem() is None
        True
        >>> gate.limits = HardLimits(max_orders_per_window=5)
        >>> gate.state_problem()
        ('throttle', 'holds up to 100 approvals, the limits allow 5 per window')
        """
        limits, throttle = self.limits, self._throttle
        if not isinstance(limits, HardLimits):
            return "limits", f"expected HardLimits, got {type(limits).__name__}"
        if not isinstance(self.account, Account):
            return "account", f"expected an Account, got {type(self.account).__name__}"
        if type(throttle) is not collections.deque:
            return "throttle", f"expected a deque, got {type(throttle).__name__}"
        if throttle.maxlen != limits.max_orders_per_window:
            return (
                "throttle",
                f"holds up to {throttle.maxlen} approvals, the limits allow "
                f"{limits.max_orders_per_window} per window",
            )
        times = list(throttle)
        if any(type(t) is not int or not MIN_NS <= t <= MAX_NS for t in times) or times != sorted(
            times
        ):
            return "throttle", f"expected approval times in order, got {times!r}"
        if self._window_ns != round(limits.order_window_seconds * 1e9):
            return "window_ns", f"{self._window_ns!r} is not order_window_seconds in ns"
        if self._tolerance_ns != round(limits.order_time_tolerance_seconds * 1e9):
            return "tolerance_ns", f"{self._tolerance_ns!r} is not order_time_tolerance_seconds"
        if type(self._halted) is not bool or type(self._models_ok) is not bool:
            return "halted", "the trading state flags must be bools"
        reason = self._halt_reason
        if (reason is None) == self._halted or (reason is not None and type(reason) is not str):
            return "halt_reason", f"{reason!r} does not fit halted={self._halted}"
        return None

    # -- the checks -------------------------------------------------------------

    def check(self, order: Order, now_ns: int, dynamic: Limits | None = None) -> Decision:
        """Approve or deny ``order`` at time ``now_ns``; see the class notes for the checks' order.

        Parameters
        ----------
        order : Order
            The order; ``order.timestamp`` is not read, ``now_ns`` is its time.
        now_ns : int
            Nanoseconds since the epoch, within ``order_time_tolerance_seconds``
            of the account's clock (its last mark or fill).
        dynamic : Limits or None
            Model-driven limits that tighten the hard ones (per-asset fields in
            the account's asset order; NaN or ``inf`` leaves the hard limit);
            None for the hard limits alone. The engine passes its
            :attr:`RiskState.limits <riskengine.engine.state.RiskState.limits>`:
            the same object for every order until the next model update, read
            as it is (no conversion per order).

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
            ``now_ns`` is not an int, is outside 1970..2262, or is more than
            ``order_time_tolerance_seconds`` from the account's clock.
        InvalidInput
            ``dynamic`` is not a Limits, a per-asset field has the wrong length,
            or a value this order is checked against is not a number.
        """
        # Validation first: nothing changes state until the approval at the end.
        account = self.account
        if not isinstance(order, Order):
            raise InvalidOrder("order", f"expected an Order, got {type(order).__name__}")
        index = account.index(order.asset)
        if index is None:
            raise InvalidOrder(
                "asset", f"unknown asset {order.asset!r}; known: {list(account.assets)}"
            )
        if type(now_ns) is not int or not MIN_NS <= now_ns <= MAX_NS:
            now_ns = as_nanoseconds(now_ns)
        clock = account.clock_ns
        if clock is not None and not -self._tolerance_ns <= now_ns - clock <= self._tolerance_ns:
            raise InvalidTimestamp(
                "timestamp",
                f"{now_ns} is {(now_ns - clock) / 1e9:+,.9g} s from the clock {clock} (the last "
                f"mark or fill); hard.order_time_tolerance_seconds allows "
                f"{self.limits.order_time_tolerance_seconds:g}",
            )
        throttle = self._throttle
        # Approvals stay in time order: an earlier-stamped order counts at the last
        # approval's time (a stricter window), instead of being refused.
        if throttle and now_ns < throttle[-1]:
            now_ns = throttle[-1]
        order_id = order.order_id
        account.check_new_order_id(order_id)
        caps = None if dynamic is None else self._caps(dynamic, index)

        buy = order.side == "buy"
        quantity = order.quantity
        position, working, extreme = account.side_worst_case(index, buy, quantity)
        if buy:
            reducing = position < 0.0 and extreme <= -position * ROUNDING_TOLERANCE
        else:
            reducing = position > 0.0 and extreme >= -position * ROUNDING_TOLERANCE
        last = account.last_price(index)
        # The checks in order: the first denial decides. (A denied Decision is falsy,
        # so each result is compared with None, not chained with `or`.)
        denial = self.check_trading_state(order, reducing, position, working, extreme)
        if denial is not None:
            return denial
        if (denial := self.check_price_known(order, last)) is not None:
            return denial
        if (denial := self.check_price_collar(order, last)) is not None:
            return denial
        if (denial := self.check_quantity(order)) is not None:
            return denial
        dynamic_order = None if caps is None else caps[0]
        if (denial := self.check_order_notional(order, dynamic_order)) is not None:
            return denial
        if (denial := self.check_order_rate(order, now_ns)) is not None:
            return denial
        price = order.price
        value_price = price if price > last else last
        position_cap, gross_cap, net_cap = (None, None, None) if caps is None else caps[1:]
        if not reducing:  # a risk-reducing order cannot raise these two: they cannot deny it
            denial = self.check_position(order, extreme, value_price, position_cap)
            if denial is not None:
                return denial
            denial = self.check_gross(order, index, extreme, value_price, gross_cap)
            if denial is not None:
                return denial
        # Every order, risk-reducing or not, moves the net in its own direction.
        denial = self.check_net(order, index, extreme, value_price, net_cap)
        if denial is not None:
            return denial
        # Approved: reserve the quantity and use one unit of order-rate capacity.
        order_id = account.reserve(order_id, index, order.side, quantity, price)
        throttle.append(now_ns)
        return Decision(True, None, None, order_id)

    def check_fill(self, fill: Fill) -> None:
        """Refuse a fill whose price the book cannot trust: :class:`~riskengine.errors.InvalidFill`.

        Everything :meth:`Account.fill_target
        <riskengine.risk.account.Account.fill_target>` checks, then the price
        (field ``price``): the asset has a last price; a manual fill lies
        inside the collar ``last * (1 -/+ price_collar)``; a fill of a working
        order is no worse than the order's limit price and no better than the
        collar's far edge (a buy within ``[last * (1 - price_collar), limit]``,
        a sell within ``[limit, last * (1 + price_collar)]``). Changes nothing.

        Examples
        --------
        >>> account = Account(["SPX"])
        >>> gate = PreTradeGate(account, HardLimits())
        >>> account.mark(0, [100.0])
        >>> gate.check(Order("SPX", "buy", 10, 101.0), 1).order_id
        'O1'
        >>> gate.check_fill(Fill("SPX", "buy", 10, 100.5, order_id="O1"))
        >>> gate.check_fill(Fill("SPX", "buy", 10, 10_100.0, order_id="O1"))
        Traceback (most recent call last):
        riskengine.errors.InvalidFill: price: 10,100 is worse than the limit 101 of buy order 'O1'
        >>> gate.check_fill(Fill("SPX", "sell", 1, 100_000.0))
        Traceback (most recent call last):
        riskengine.errors.InvalidFill: price: 100,000 is outside the collar [95, 105] around the ...
        """
        index, limit = self.account.fill_target(fill)
        last = self.account.last_price(index)
        price = fill.price
        if last != last:
            raise InvalidFill(
                "price", f"no last price for {fill.asset} to check the fill against: mark it first"
            )
        if limit is not None and (price > limit if fill.side == "buy" else price < limit):
            raise InvalidFill(
                "price",
                f"{_number(price)} is worse than the limit {_number(limit)} of "
                f"{fill.side} order {fill.order_id!r}",
            )
        collar = self.limits.price_collar
        low, high = last * (1.0 - collar), last * (1.0 + collar)
        # A working order's adverse side is bounded by its limit (checked above),
        # which the market may have left behind: only the favourable side is collared.
        if limit is not None:
            outside = price < low if fill.side == "buy" else price > high
        else:
            outside = price < low or price > high
        if outside:
            raise InvalidFill(
                "price",
                f"{_number(price)} is outside the collar [{_number(low)}, {_number(high)}] around "
                f"the last price {_number(last)} ({collar * 100:.4g}%)",
            )

    def _caps(self, dynamic: Any, index: int) -> tuple[float, float, float, float]:
        """``(order, position, gross, net)`` of ``dynamic`` for asset ``index``, checked."""
        if not isinstance(dynamic, Limits):
            raise InvalidInput("dynamic", f"expected Limits or None, got {type(dynamic).__name__}")
        n = len(self.account.assets)
        for name, values in (("position", dynamic.position), ("order", dynamic.order)):
            if not hasattr(values, "__len__") or len(values) != n:
                raise InvalidInput(f"dynamic.{name}", f"expected {n} values, got {values!r}")
        return (
            _dynamic_value(dynamic.order[index], f"dynamic.order[{index}]"),
            _dynamic_value(dynamic.position[index], f"dynamic.position[{index}]"),
            _dynamic_value(dynamic.gross, "dynamic.gross"),
            _dynamic_value(dynamic.net, "dynamic.net"),
        )

    def check_trading_state(
        self, order: Order, reducing: bool, position: float, working: float, extreme: float
    ) -> Decision | None:
        """HALTED or REDUCING_ONLY: a closed gate passes only risk-reducing orders."""
        if reducing or not (self._halted or not self._models_ok):
            return None
        why = (
            f"trading halted ({self._halt_reason})"
            if self._halted
            else "models unusable (REDUCING)"
        )
        return Decision(
            False,
            ReasonCode.HALTED if self._halted else ReasonCode.REDUCING_ONLY,
            f"{why}: only risk-reducing orders pass; {order.side} {_number(order.quantity)} "
            f"{order.asset} would take the position {_number(position)} to "
            f"{_number(extreme)} (with {_number(working)} working {order.side}s)",
            order.order_id,
        )

    def check_price_known(self, order: Order, last: float) -> Decision | None:
        """NO_PRICE: the asset has no last price yet."""
        if last == last:
            return None
        return Decision(
            False,
            ReasonCode.NO_PRICE,
            f"no last price for {order.asset} yet: mark() it first",
            order.order_id,
        )

    def check_price_collar(self, order: Order, last: float) -> Decision | None:
        """PRICE_COLLAR: the price is outside ``last * (1 -/+ price_collar)``."""
        price = order.price
        collar = self.limits.price_collar
        # The band, not |price / last - 1|, so a price exactly on the edge passes.
        low, high = last * (1.0 - collar), last * (1.0 + collar)
        if not (price > high or price < low):
            return None
        return Decision(
            False,
            ReasonCode.PRICE_COLLAR,
            f"price {_number(price)} is outside the collar [{_number(low)}, {_number(high)}] "
            f"around the last price {_number(last)} ({collar * 100:.4g}%)",
            order.order_id,
        )

    def check_quantity(self, order: Order) -> Decision | None:
        """ORDER_QUANTITY: quantity above ``max_order_quantity``."""
        limit = self.limits.max_order_quantity
        if not order.quantity > limit:
            return None
        return Decision(
            False,
            ReasonCode.ORDER_QUANTITY,
            f"quantity {_number(order.quantity)} exceeds the max order quantity {_number(limit)}",
            order.order_id,
        )

    def check_order_notional(self, order: Order, dynamic: float | None) -> Decision | None:
        """ORDER_NOTIONAL: ``quantity * price`` above ``min(hard, dynamic)``."""
        notional = order.quantity * order.price
        limit = _exceeded(notional, self.limits.max_order_notional, dynamic)
        if limit is None:
            return None
        return Decision(
            False,
            ReasonCode.ORDER_NOTIONAL,
            f"order notional {_number(notional)} would exceed {limit}",
            order.order_id,
        )

    def check_order_rate(self, order: Order, now_ns: int) -> Decision | None:
        """ORDER_RATE: the window already holds ``max_orders_per_window`` approvals."""
        throttle, window_ns = self._throttle, self._window_ns
        if not (len(throttle) == throttle.maxlen and throttle[0] > now_ns - window_ns):
            return None
        return Decision(
            False,
            ReasonCode.ORDER_RATE,
            f"{throttle.maxlen} orders approved in the last "
            f"{self.limits.order_window_seconds:g}s (limit {throttle.maxlen}); denied, not "
            f"queued; capacity frees at {throttle[0] + window_ns}",
            order.order_id,
        )

    def check_position(
        self, order: Order, extreme: float, value_price: float, dynamic: float | None
    ) -> Decision | None:
        """POSITION_LIMIT: the asset's worst case on the order's side, as a positive notional."""
        notional = (extreme if order.side == "buy" else -extreme) * value_price
        limit = _exceeded(notional, self.limits.max_position_notional, dynamic)
        if limit is None:
            return None
        return Decision(
            False,
            ReasonCode.POSITION_LIMIT,
            f"{order.asset} position notional {_number(notional)} would exceed {limit}",
            order.order_id,
        )

    def check_gross(
        self, order: Order, index: int, extreme: float, value_price: float, dynamic: float | None
    ) -> Decision | None:
        """GROSS_EXPOSURE: the other assets as they stand, this one at its new worst case."""
        gross = self.account.gross_if(index, order.side == "buy", extreme, value_price)
        limit = _exceeded(gross, self.limits.max_gross_notional, dynamic)
        if limit is None:
            return None
        return Decision(
            False,
            ReasonCode.GROSS_EXPOSURE,
            self._unknown_exposure("gross", index)
            if gross != gross
            else f"gross notional {_number(gross)} would exceed {limit}",
            order.order_id,
        )

    def check_net(
        self, order: Order, index: int, extreme: float, value_price: float, dynamic: float | None
    ) -> Decision | None:
        """NET_EXPOSURE: in the order's direction, every working order on its side filled."""
        buy = order.side == "buy"
        net = self.account.net_if(index, buy, extreme, value_price)
        limit = _exceeded(net if buy else -net, self.limits.max_net_notional, dynamic)
        if limit is None:
            return None
        return Decision(
            False,
            ReasonCode.NET_EXPOSURE,
            self._unknown_exposure("net", index)
            if net != net
            else f"net {'long' if buy else 'short'} notional {_number(abs(net))} would exceed "
            + limit,
            order.order_id,
        )

    def _unknown_exposure(self, kind: str, index: int) -> str:
        unpriced = self.account.unpriced_exposure(index)
        return f"{kind} notional is unknown: no last price yet for {unpriced}, which have exposure"
