"""What the engine accepts as input: ticks, replays and warm-up histories, checked.

Each check returns the input in the engine's form (nanoseconds, prices in
config order, missing days carried forward per ``EngineConfig.missing_prices``)
or raises an :class:`~riskengine.errors.InvalidInput` subclass naming the field,
before the engine changes anything. The engine's clock and last prices are
passed in: the checks hold no state.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from riskengine._time import check_nanosecond_array, to_nanoseconds
from riskengine._validation import carry_forward, check_price_matrix, price_problem
from riskengine.engine.config import EngineConfig
from riskengine.errors import (
    InvalidInput,
    InvalidPrice,
    InvalidTimestamp,
    MissingAsset,
    UnknownAsset,
)

__all__ = ["InputChecks"]

_NO_EARLIER_PRICE = "no price (NaN) and no earlier price to carry forward"


class InputChecks:
    """The engine's input checks for one configuration (its assets, jump filter, NaN rule)."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._assets = config.assets
        self._index = {asset: i for i, asset in enumerate(config.assets)}

    def time(self, timestamp: Any, last_ns: int | None) -> int:
        """The tick's time in nanoseconds, after ``last_ns`` (the engine's clock)."""
        ns = to_nanoseconds(timestamp, field="timestamp")
        if last_ns is not None and ns <= last_ns:
            what = "repeats" if ns == last_ns else "goes backwards from"
            raise InvalidTimestamp("timestamp", f"{ns} {what} the last update at {last_ns}")
        return ns

    def log_returns(
        self, prices: np.ndarray, name: Callable[[int, str], tuple[str, str]]
    ) -> np.ndarray:
        """Log returns of (T, N) usable prices, or InvalidPrice for the first unusable one.

        Usable prices can still be too far apart for their ratio to be a float
        (``1e300 / 1e-300`` overflows), or jump beyond ``max_abs_log_return``
        (bad data): such a return is refused here, before the models see it, so
        that no update stops half-applied. A non-finite return is reported
        before any jump. ``name(row, asset)`` gives the error's field and a
        suffix for the price at ``row``.
        """
        with np.errstate(over="ignore", divide="ignore", under="ignore"):  # refused below
            returns = np.log(prices[1:] / prices[:-1])
        finite = np.isfinite(returns)
        jump = self.config.max_abs_log_return
        if not finite.all():
            bad = ~finite
        elif jump is not None:
            bad = np.abs(returns) > jump
        else:
            return returns
        if not bad.any():
            return returns
        row, column = (int(k) for k in np.argwhere(bad)[0])
        field, where = name(row + 1, self._assets[column])
        before, after = float(prices[row, column]), float(prices[row + 1, column])
        if finite[row, column]:
            message = (
                f"{after!r}{where} after {before!r} is a log return of "
                f"{float(returns[row, column]):+.4g}, beyond the jump filter "
                f"(max_abs_log_return {jump:.4g}): refused as bad data, the engine is unchanged"
            )
        else:
            message = f"the log return from {before!r} to {after!r} is not a finite number{where}"
        raise InvalidPrice(field, message)

    def prices(self, prices: Mapping[str, float], last_prices: np.ndarray) -> np.ndarray:
        """A tick's prices in config order; NaN/None carried from ``last_prices`` (config)."""
        if not isinstance(prices, Mapping):
            raise InvalidPrice(
                "prices", f"expected a mapping asset -> price, got {type(prices).__name__}"
            )
        for asset in prices:
            if asset not in self._index:
                raise UnknownAsset(f"prices[{asset!r}]", f"not one of {list(self._assets)}")
        values = np.empty(len(self._assets))
        carried = 0
        for i, asset in enumerate(self._assets):
            if asset not in prices:
                raise MissingAsset(f"prices[{asset!r}]", "missing: every asset needs a price")
            value = prices[asset]
            no_price = value is None or (isinstance(value, float | np.floating) and value != value)
            if no_price and self.config.missing_prices == "carry_forward":
                # No price today (a holiday on its exchange): the last price carries forward.
                if np.isnan(last_prices[i]):
                    raise InvalidPrice(f"prices[{asset!r}]", _NO_EARLIER_PRICE)
                values[i] = last_prices[i]
                carried += 1
                continue
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise InvalidPrice(
                    f"prices[{asset!r}]", f"expected a number, got {type(value).__name__}"
                )
            value = float(value)
            problem = price_problem(value)
            if problem is not None:
                raise InvalidPrice(f"prices[{asset!r}]", problem)
            values[i] = value
        if carried == len(self._assets):
            raise InvalidPrice("prices", "no asset has a price (NaN or None for every one)")
        return values

    def history(self, history: Any, last_ns: int | None) -> tuple[np.ndarray, np.ndarray]:
        """A warm-up frame's times and prices (config order, missing days carried)."""
        columns = getattr(history, "columns", None)
        if columns is None or not hasattr(history, "index"):
            raise InvalidInput(
                "history", f"expected a DataFrame (timestamp index), got {type(history).__name__}"
            )
        for name in columns:
            if name not in self._index:
                raise UnknownAsset(f"history[{name!r}]", f"not one of {list(self._assets)}")
        for asset in self._assets:
            if asset not in columns:
                raise MissingAsset(f"history[{asset!r}]", "missing column")
        times = self.times(history.index, "history.index")
        frame = history[list(self._assets)]
        for asset in self._assets:
            self._check_numeric_column(frame[asset], history.index, asset)
        matrix = frame.to_numpy(dtype=np.float64, na_value=np.nan)
        dates = list(history.index)
        matrix = self._fill_missing(matrix, None, "history", dates)
        check_price_matrix(matrix, self._assets, field="history", dates=dates)
        return self.replay(times, matrix, last_ns, None, field="history")

    @staticmethod
    def _check_numeric_column(column: Any, index: Any, asset: str) -> None:
        """Refuse a column holding text or booleans, naming its first such cell.

        A numeric column passes at once; only one of another dtype (object,
        string, bool) is read cell by cell, so that ``"abc"`` (which no float
        conversion accepts) and ``"3000"`` (which one would) are both refused,
        as :meth:`update` refuses them.
        """
        if column.dtype.kind in "fiu":
            return
        for row, value in enumerate(column.tolist()):
            if value is None:
                continue  # missing: NaN, refused with its date by check_price_matrix
            if isinstance(value, str | bytes | bool) or not isinstance(value, numbers.Real):
                raise InvalidPrice(
                    f"history[{asset!r}]",
                    f"expected a number, got {type(value).__name__} {value!r} on "
                    f"{index[row]} (row {row})",
                )

    @staticmethod
    def times(timestamps: Any, field: str) -> np.ndarray:
        """Int64 nanoseconds of a sequence of times, each in range, naming ``field[i]``."""
        raw = np.asarray(timestamps)
        if raw.dtype.kind in "Miu":  # numpy datetimes (a DatetimeIndex's values) or ints
            return check_nanosecond_array(raw, field=field)
        return np.array(
            [to_nanoseconds(t, field=f"{field}[{i}]") for i, t in enumerate(timestamps)],
            dtype=np.int64,
        )

    def _fill_missing(
        self, matrix: np.ndarray, previous: np.ndarray | None, field: str, dates: Any
    ) -> np.ndarray:
        """Carry each asset's last price over its NaN days; refuse what cannot be filled."""
        missing = np.isnan(matrix)
        if not missing.any() or self.config.missing_prices == "refuse":
            return matrix  # the price check refuses the NaN, naming it
        empty = np.flatnonzero(missing.all(axis=1))
        if empty.size:
            row = int(empty[0])
            where = f"{field}[{row}]" if dates is None else field
            when = "" if dates is None else f" on {dates[row]} (row {row})"
            raise InvalidPrice(where, f"no asset has a price (NaN for every one){when}")
        filled = carry_forward(matrix, previous)
        left = np.argwhere(np.isnan(filled))
        if left.size:
            row, column = (int(v) for v in left[0])
            asset = self._assets[column]
            if dates is None:
                raise InvalidPrice(f"{field}[{row}][{asset!r}]", _NO_EARLIER_PRICE)
            raise InvalidPrice(f"{field}[{asset!r}]", f"{_NO_EARLIER_PRICE} on {dates[row]}")
        return filled

    def replay(
        self,
        timestamps: Any,
        prices: Any,
        last_ns: int | None,
        last_prices: np.ndarray | None,
        field: str = "prices",
    ) -> tuple[np.ndarray, np.ndarray]:
        """A replay's times and (T, N) prices after ``last_ns``; NaN from ``last_prices``."""
        times = self.times(timestamps, "timestamps")
        try:
            matrix = np.asarray(prices, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidPrice(field, "expected a (T, N) array of numbers") from None
        n = len(self._assets)
        if matrix.ndim != 2 or matrix.shape[1] != n or matrix.shape[0] != times.size:
            raise InvalidPrice(
                field, f"expected shape ({times.size}, {n}) in config order, got {matrix.shape}"
            )
        if times.size == 0:
            raise InvalidTimestamp("timestamps", "empty")
        usable = last_prices is not None and not np.isnan(last_prices[0])
        previous = last_prices if usable else None
        matrix = self._fill_missing(matrix, previous, field, None)
        check_price_matrix(matrix, self._assets, field=field)
        steps = np.diff(times)
        if np.any(steps <= 0):
            t = int(np.argmax(steps <= 0)) + 1
            raise InvalidTimestamp(f"timestamps[{t}]", "must be strictly after the previous one")
        if last_ns is not None and times[0] <= last_ns:
            raise InvalidTimestamp("timestamps[0]", f"must be after the last update {last_ns}")
        return times, matrix
