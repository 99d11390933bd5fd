"""Timestamps as int64 nanoseconds since the Unix epoch (UTC), from what callers pass.

The engine never reads the wall clock: every time comes from the data, so a
replay and a live run take the same path.
"""

from __future__ import annotations

import datetime as dt
import numbers
from typing import Any

import numpy as np

from riskengine.errors import InvalidTimestamp

__all__ = ["NS_PER_DAY", "day_of", "to_nanoseconds"]

NS_PER_DAY = 86_400 * 10**9


def to_nanoseconds(value: Any, *, field: str = "timestamp") -> int:
    """Nanoseconds since the epoch from a datetime, numpy/pandas timestamp or int.

    Naive datetimes are taken as UTC.

    >>> to_nanoseconds(np.datetime64("2020-01-02T00:00:00"))
    1577923200000000000
    >>> to_nanoseconds(dt.datetime(2020, 1, 2, tzinfo=dt.UTC))
    1577923200000000000
    >>> to_nanoseconds("2020-01-02")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    riskengine.errors.InvalidTimestamp: timestamp: expected a datetime, ... got str
    """
    if isinstance(value, bool):
        raise InvalidTimestamp(field, "expected a time, got bool")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise InvalidTimestamp(field, "is NaT")
        return int(value.astype("datetime64[ns]").astype(np.int64))
    if isinstance(value, dt.datetime):  # pandas.Timestamp is a datetime subclass
        if getattr(value, "value", None) is not None and hasattr(value, "tz_localize"):
            stamp = value if value.tzinfo is None else value.tz_convert("UTC").tz_localize(None)
            return int(stamp.value)
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        delta = aware - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    raise InvalidTimestamp(
        field,
        f"expected a datetime, numpy.datetime64 or int nanoseconds, got {type(value).__name__}",
    )


def day_of(nanoseconds: int) -> int:
    """The UTC calendar day (days since the epoch) of a timestamp; daily limits reset on it."""
    return nanoseconds // NS_PER_DAY
