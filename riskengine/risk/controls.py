"""The hard pre-trade controls a trading stack drives: an account and the gate in front of it.

:class:`PreTradeControls` routes marks and fills to the
:class:`~riskengine.risk.account.Account` (positions, cash, working orders,
the P&L day), after which the :class:`~riskengine.risk.pretrade.PreTradeGate`
applies the daily loss limit; orders go to the gate, whose small named checks
decide, and which reserves an approved order in the account. The conventions
(worst case, price for exposure, risk-reducing orders, daily loss, time) are
in :mod:`riskengine.risk.pretrade` and :mod:`riskengine.risk.account`.

Examples
--------
>>> import numpy as np
>>> from riskengine.risk.limits import Limits
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

>>> nan, inf = float("nan"), float("inf")
>>> dynamic = Limits(np.array([15_000.0, nan]), inf, inf, np.array([inf, inf]))
>>> controls.check(Order("SPX", "buy", 60, 100.0), 4, dynamic).message
'SPX position notional 16,000 would exceed the limit 15,000 (hard 20,000, dynamic 15,000)'
>>> controls.check(Order("NDX", "buy", 100, 200.0), 5, dynamic).approved
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

from collections.abc import Sequence
from typing import Any

from riskengine.risk.account import Account
from riskengine.risk.limits import Limits
from riskengine.risk.orders import Decision, Fill, Order, TradingState
from riskengine.risk.pretrade import HardLimits, PreTradeGate

__all__ = ["PreTradeControls"]


class PreTradeControls:
    """Stateful hard pre-trade controls for a fixed list of assets: an account and its gate.

    Marks and fills go to the :attr:`account`, which then lets the
    :attr:`gate` apply the daily loss limit; orders go to the gate, which
    reserves approved ones in the account.

    Parameters
    ----------
    assets : sequence of str
        The tradable assets; prices passed to :meth:`mark` follow this order.
    limits : HardLimits
        The hard limits.
    cash : float
        Starting cash: equity is cash plus positions at their prices.

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
        self.account = Account(assets, cash)
        self.gate = PreTradeGate(self.account, limits)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(assets={list(self.assets)!r}, limits={self.limits!r})"

    @property
    def assets(self) -> tuple[str, ...]:
        return self.account.assets

    @property
    def limits(self) -> HardLimits:
        return self.gate.limits

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
        self.account.mark(now_ns, prices)
        self.gate.apply_daily_loss_limit()

    def mark_batch(self, times_ns: Any, prices: Any) -> tuple[Any, Any]:
        """:meth:`mark` for T rows at once (the engine's replay): equity and halted flags per row.

        The same arithmetic as ``mark`` in a loop, vectorised over time; the
        controls end in the state the loop would leave. ``prices`` (T, N) must
        be finite and > 0 and ``times_ns`` non-decreasing.

        Returns
        -------
        equity : ndarray (T,)
        halted : ndarray (T,) of bool
        """
        equity, start_equity = self.account.mark_batch(times_ns, prices)
        return equity, self.gate.apply_daily_loss_limit_batch(equity, start_equity)

    def check(self, order: Order, now_ns: int, dynamic: Limits | None = None) -> Decision:
        """Approve or deny ``order`` at ``now_ns`` against ``min(hard, dynamic)``.

        See :meth:`PreTradeGate.check <riskengine.risk.pretrade.PreTradeGate.check>`.
        """
        return self.gate.check(order, now_ns, dynamic)

    def on_fill(self, fill: Fill, now_ns: int) -> None:
        """Book an execution: position, cash, the order's reservation, and the daily loss.

        Parameters
        ----------
        fill : Fill
            The execution. With an ``order_id`` it must belong to a working order of the
            same asset and side and may not exceed its remaining quantity; without one
            (a manual trade) it moves the position but no reservation. Its price
            is bounded first (:meth:`PreTradeGate.check_fill
            <riskengine.risk.pretrade.PreTradeGate.check_fill>`): no worse than
            the order's limit, inside the price collar around the last price on
            the other side (both sides for a manual fill), and the asset must
            have a last price.
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
        self.gate.check_fill(fill)
        self.account.on_fill(fill, now_ns)
        self.gate.apply_daily_loss_limit()

    def cancel(self, order_id: str) -> None:
        """Release what is left of a working order's reservation.

        >>> PreTradeControls(["SPX"], HardLimits()).cancel("O9")
        Traceback (most recent call last):
        riskengine.errors.InvalidOrder: order_id: 'O9' is not a working order
        """
        self.account.cancel(order_id)

    def halt(self, reason: str) -> None:
        """Kill switch: deny every order that is not risk-reducing until :meth:`resume`.

        Halting while halted keeps the first reason.
        """
        self.gate.halt(reason)

    def resume(self) -> None:
        """Lift the halt, unless today's loss is still above ``max_daily_loss``.

        The daily loss limit is hard: while it is breached the controls stay
        ``HALTED`` (reason ``"DAILY_LOSS"``) and only risk-reducing orders pass;
        the next UTC day starts a new budget, and then ``resume`` lifts the halt.
        """
        self.gate.resume()

    @property
    def models_ok(self) -> bool:
        """False when the engine's models are unusable: only risk-reducing orders pass."""
        return self.gate.models_ok

    @models_ok.setter
    def models_ok(self, value: bool) -> None:
        self.gate.models_ok = value

    # -- read-only queries ----------------------------------------------------

    @property
    def trading_state(self) -> TradingState:
        """HALTED if halted, else REDUCING if the models are unusable, else ACTIVE."""
        return self.gate.trading_state

    @property
    def halt_reason(self) -> str | None:
        """Why the controls are halted (``"DAILY_LOSS"`` or the kill switch's reason), or None."""
        return self.gate.halt_reason

    @property
    def positions(self) -> tuple[float, ...]:
        """Filled position per asset, in units."""
        return self.account.positions

    @property
    def last_prices(self) -> tuple[float, ...]:
        """Last marked price per asset (NaN until marked)."""
        return self.account.last_prices

    @property
    def cash(self) -> float:
        """Cash from fills: minus the cost of buys, plus the proceeds of sells."""
        return self.account.cash

    @property
    def equity(self) -> float:
        """``cash + sum(position * price)``, at the last marks."""
        return self.account.equity

    @property
    def daily_pnl(self) -> float:
        """Equity minus the equity at the start of the current UTC day."""
        return self.account.daily_pnl

    @property
    def working_orders(self) -> dict[str, tuple[str, str, float]]:
        """A copy: order id -> ``(asset, side, remaining quantity)``."""
        return self.account.working_orders
