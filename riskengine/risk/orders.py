"""What crosses the engine's boundary: orders and fills in, decisions out.

As in nautilus_trader's risk engine, a decision is either an approval or a
denial with a reason from a closed set of codes (:class:`ReasonCode`), plus a
human message. The trading state gate (:class:`TradingState`) is checked first.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import numbers
from typing import Any

from riskengine.errors import InvalidFill, InvalidInput, InvalidOrder

__all__ = ["Decision", "Fill", "Order", "ReasonCode", "TradingState", "signed_quantity"]

_SIDES = ("buy", "sell")


class TradingState(enum.StrEnum):
    """The gate every order passes first.

    - ``ACTIVE``: every check applies as usual.
    - ``REDUCING``: only orders that reduce an existing position pass (the
      models are unusable, e.g. not warmed up or NaN).
    - ``HALTED``: the kill switch or the daily loss limit; only risk-reducing
      orders pass, until :meth:`Engine.resume`.
    """

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class ReasonCode(enum.StrEnum):
    """Why an order was denied: a closed set, one per control."""

    HALTED = "HALTED"  # kill switch or daily loss: only risk-reducing orders
    REDUCING_ONLY = "REDUCING_ONLY"  # models unusable: only risk-reducing orders
    NO_PRICE = "NO_PRICE"  # no last price for the asset yet
    PRICE_COLLAR = "PRICE_COLLAR"  # limit price too far from the last price
    ORDER_QUANTITY = "ORDER_QUANTITY"  # above the max order quantity
    ORDER_NOTIONAL = "ORDER_NOTIONAL"  # above the max order notional
    ORDER_RATE = "ORDER_RATE"  # too many orders in the rolling window
    POSITION_LIMIT = "POSITION_LIMIT"  # position notional would exceed its limit
    GROSS_EXPOSURE = "GROSS_EXPOSURE"  # gross notional would exceed its limit
    NET_EXPOSURE = "NET_EXPOSURE"  # net notional would exceed its limit


def _positive_finite(value: Any, field: str, error: type[InvalidInput]) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(field, f"expected a number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise error(field, f"must be finite and > 0, got {value}")
    return value


def _side(value: Any, error: type[InvalidInput]) -> str:
    if value not in _SIDES:
        raise error("side", f"expected 'buy' or 'sell', got {value!r}")
    return value


@dataclasses.dataclass(frozen=True, slots=True)
class Order:
    """An order to check: ``quantity`` units of ``asset`` at limit ``price``.

    ``order_id`` links later fills to it (assigned by the engine when None);
    ``timestamp`` is when it was sent (default: the engine's clock, the last
    update's time); one more than ``hard.order_time_tolerance_seconds`` from
    that clock is refused.

    >>> Order("SPX", "buy", 10, 4500.0).side
    'buy'
    >>> Order("SPX", "hold", 10, 4500.0)
    Traceback (most recent call last):
    riskengine.errors.InvalidOrder: side: expected 'buy' or 'sell', got 'hold'
    """

    asset: str
    side: str
    quantity: float
    price: float
    order_id: str | None = None
    timestamp: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.asset, str):
            raise InvalidOrder("asset", f"expected a string, got {type(self.asset).__name__}")
        _side(self.side, InvalidOrder)
        object.__setattr__(
            self, "quantity", _positive_finite(self.quantity, "quantity", InvalidOrder)
        )
        object.__setattr__(self, "price", _positive_finite(self.price, "price", InvalidOrder))
        if self.order_id is not None and not isinstance(self.order_id, str):
            raise InvalidOrder("order_id", f"expected a string, got {type(self.order_id).__name__}")


@dataclasses.dataclass(frozen=True, slots=True)
class Fill:
    """An execution: ``quantity`` units of ``asset`` bought or sold at ``price``.

    ``order_id`` releases that much of the order's reserved exposure. The
    controls check the price before they book it: no worse than the order's
    limit, and inside the price collar around the last price on the other
    side (on both sides for a manual fill, one without ``order_id``).

    >>> Fill("SPX", "sell", 5, 4501.0).quantity
    5.0
    """

    asset: str
    side: str
    quantity: float
    price: float
    order_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.asset, str):
            raise InvalidFill("asset", f"expected a string, got {type(self.asset).__name__}")
        _side(self.side, InvalidFill)
        object.__setattr__(
            self, "quantity", _positive_finite(self.quantity, "quantity", InvalidFill)
        )
        object.__setattr__(self, "price", _positive_finite(self.price, "price", InvalidFill))
        if self.order_id is not None and not isinstance(self.order_id, str):
            raise InvalidFill("order_id", f"expected a string, got {type(self.order_id).__name__}")


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """The answer to :meth:`Engine.check`: approved, or denied with a reason code and message."""

    approved: bool
    reason: ReasonCode | None = None
    message: str | None = None
    order_id: str | None = None

    def __bool__(self) -> bool:
        return self.approved


def signed_quantity(side: str, quantity: float) -> float:
    """``+quantity`` for a buy, ``-quantity`` for a sell.

    >>> signed_quantity("sell", 3.0)
    -3.0
    """
    return quantity if side == "buy" else -quantity
