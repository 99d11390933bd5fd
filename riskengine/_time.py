"""Timestamps as int64 nanoseconds since the Unix epoch (UTC), from what callers pass.

The engine never reads the wall clock: every time comes from the data, so a
replay and a live run take the same path.

Every time must lie in the range int64 nanoseconds can hold from the epoch
on: 1970-01-01T00:00:00 (0) to 2262-04-11T23:47:16.854775807 (``2**63 - 1``).
Anything else (NaT, which pandas and numpy store as ``-2**63``; ``2**70``; a
date before 1970 or after 2262) is refused naming the field, so one absurd
timestamp can neither pass as a real one nor move a clock that refuses every
later time as "backwards".
"""

from __future__ import annotations

import datetime as dt
import numbers
from typing import Any

import numpy as np

from riskengine.errors import InvalidTimestamp

__all__ = [
    "MAX_NS",
    "MIN_NS",
    "NS_PER_DAY",
    "check_nanosecond_array",
    "check_nanoseconds",
    "day_of",
    "to_nanoseconds",
]

NS_PER_DAY = 86_400 * 10**9
MIN_NS = 0  # 1970-01-01T00:00:00 UTC
MAX_NS = 2**63 - 1  # 2262-04-11T23:47:16.854775807 UTC, the last int64 nanosecond
_RANGE = "1970-01-01 .. 2262-04-11 (int64 nanoseconds since the epoch, UTC)"


def check_nanoseconds(value: int, *, field: str = "timestamp") -> int:
    """``value`` if it lies in ``[MIN_NS, MAX_NS]``, else :class:`InvalidTimestamp` naming it.

    >>> check_nanoseconds(1577923200000000000)
    1577923200000000000
    >>> check_nanoseconds(2**70)
    Traceback (most recent call last):
    riskengine.errors.InvalidTimestamp: timestamp: 1180591620717411303424 is outside 1970-01-01 ...
    """
    if not MIN_NS <= value <= MAX_NS:
        raise InvalidTimestamp(field, f"{value} is outside {_RANGE}")
    return value


def check_nanosecond_array(values: Any, *, field: str = "timestamps") -> np.ndarray:
    """An int64 array of times from a datetime64 or integer array, every one in range.

    NaT and out-of-range values are refused naming ``field[i]`` of the first;
    integers are checked before the cast, so ``2**64 - 1`` cannot wrap to -1.

    >>> check_nanosecond_array(np.array(["2020-01-02", "NaT"], dtype="datetime64[ns]"))
    Traceback (most recent call last):
    riskengine.errors.InvalidTimestamp: timestamps[1]: is NaT
    >>> check_nanosecond_array(np.array([0, 2**63], dtype=np.uint64))
    Traceback (most recent call last):
    riskengine.errors.InvalidTimestamp: timestamps[1]: 9223372036854775808 is outside 1970-01-01 ...
    """
    raw = np.asarray(values)
    if raw.dtype.kind == "f" and not isinstance(values, np.ndarray):
        raw = np.array(values, dtype=object)  # numpy made floats of ints past int64: check them
    if raw.size == 0:
        return np.zeros(raw.shape, dtype=np.int64)
    if raw.dtype.kind == "M":
        nat = np.isnat(raw)
        if nat.any():
            raise InvalidTimestamp(f"{field}[{int(np.argmax(nat))}]", "is NaT")
        # Out-of-range datetime64 values of a coarser unit overflow the cast to ns.
        coarse = raw.astype("datetime64[s]").astype(np.int64)
        bad = (coarse < MIN_NS) | (coarse > MAX_NS // 10**9)
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidTimestamp(f"{field}[{i}]", f"{raw[i]} is outside {_RANGE}")
        times = raw.astype("datetime64[ns]").astype(np.int64)
    elif raw.dtype.kind in "iu":
        bad = (raw < MIN_NS) | (raw > MAX_NS)
        if bad.any():
            i = int(np.argmax(bad))
            raise InvalidTimestamp(f"{field}[{i}]", f"{int(raw[i])} is outside {_RANGE}")
        times = raw.astype(np.int64)
    elif raw.dtype.kind == "O" and raw.ndim == 1:  # Python ints too large for int64
        for i, value in enumerate(raw.tolist()):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise InvalidTimestamp(f"{field}[{i}]", f"expected an int, got {value!r}")
            check_nanoseconds(int(value), field=f"{field}[{i}]")
        times = raw.astype(np.int64)
    else:
        raise InvalidTimestamp(field, f"expected datetime64 or integer times, got {raw.dtype}")
    bad = times < MIN_NS  # the last seconds before the bound can still round past it
    if bad.any():
        i = int(np.argmax(bad))
        raise InvalidTimestamp(f"{field}[{i}]", f"{raw[i]} is outside {_RANGE}")
    return times


def to_nanoseconds(value: Any, *, field: str = "timestamp") -> int:
    """Nanoseconds since the epoch from a datetime, numpy/pandas timestamp or int.

    Naive datetimes are taken as UTC. NaT and times outside 1970-01-01 ..
    2262-04-11 are refused.

    >>> to_nanoseconds(np.datetime64("2020-01-02T00:00:00"))
    1577923200000000000
    >>> to_nanoseconds(dt.datetime(2020, 1, 2, tzinfo=dt.UTC))
    1577923200000000000
    >>> to_nanoseconds("2020-01-02")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    riskengine.errors.InvalidTimestamp: timestamp: expected a datetime, ... got str
    >>> to_nanoseconds(np.datetime64("NaT"))
    Traceback (most recent call last):
    riskengine.errors.InvalidTimestamp: timestamp: is NaT
    >>> to_nanoseconds(dt.datetime(1969, 12, 31))
    Traceback (most recent call last):
    riskengine.errors.InvalidTimestamp: timestamp: -86400000000000 is outside 1970-01-01 ...
    """
    if isinstance(value, bool):
        raise InvalidTimestamp(field, "expected a time, got bool")
    if isinstance(value, numbers.Integral):
        return check_nanoseconds(int(value), field=field)
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise InvalidTimestamp(field, "is NaT")
        return int(check_nanosecond_array(value[None], field=field)[0])
    if isinstance(value, dt.datetime):  # pandas.Timestamp (and NaT) are datetime subclasses
        if value != value:  # pandas.NaT, the one datetime unequal to itself
            raise InvalidTimestamp(field, "is NaT")
        if getattr(value, "value", None) is not None and hasattr(value, "tz_localize"):
            stamp = value if value.tzinfo is None else value.tz_convert("UTC").tz_localize(None)
            return check_nanoseconds(int(stamp.value), field=field)
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        delta = aware - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        ns = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
        return check_nanoseconds(ns, field=field)
    raise InvalidTimestamp(
        field,
        f"expected a datetime, numpy.datetime64 or int nanoseconds, got {type(value).__name__}",
    )


def day_of(nanoseconds: int) -> int:
    """The UTC calendar day (days since the epoch) of a timestamp; daily limits reset on it."""
    return nanoseconds // NS_PER_DAY
