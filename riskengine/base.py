"""The small protocol every online model follows, in the spirit of river.

- Constructor arguments are hyper-parameters, stored under the same names.
- Learned state lives in ``_private`` attributes.
- ``update(x)`` learns from one observation and returns nothing.
- Query methods read forecasts.

That is what makes :meth:`OnlineModel.clone` and a readable ``repr`` free, and
lets one generic test suite (``tests/test_protocol.py``) check every
model for pickling, cloning, determinism, no look-ahead and bad input.
"""

from __future__ import annotations

import inspect
from typing import Any, Self

import numpy as np

from riskengine._validation import as_float

__all__ = ["OnlineModel", "check_history", "check_observation", "check_vector"]


def check_observation(x: Any, *, field: str = "x") -> float:
    """Return ``x`` as a finite float, or raise naming ``field``.

    >>> check_observation(0.01)
    0.01
    >>> check_observation(float("nan"))
    Traceback (most recent call last):
    ValueError: x: must be finite, got nan
    >>> check_observation("0.1")
    Traceback (most recent call last):
    TypeError: x: expected a number, got str
    """
    return as_float(x, field=field)


def check_history(returns: Any, minimum: int, *, field: str = "returns") -> np.ndarray:
    """``returns`` as a finite 1-d float64 array of at least ``minimum`` values, or raise.

    >>> check_history([0.01, -0.02], 2).tolist()
    [0.01, -0.02]
    >>> check_history([0.01], 2)
    Traceback (most recent call last):
    ValueError: returns: need a 1-d array of at least 2 observations
    """
    array = np.asarray(returns, dtype=np.float64)
    if array.ndim != 1 or array.size < minimum:
        raise ValueError(f"{field}: need a 1-d array of at least {minimum} observations")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{field}: must all be finite (found NaN or inf)")
    return array


def check_vector(x: Any, size: int, *, field: str = "x") -> np.ndarray:
    """Return ``x`` as a finite float64 vector of ``size`` values, or raise naming ``field``.

    The result is a new array: the caller's input is never kept or mutated.

    >>> check_vector([0.01, -0.02], 2)
    array([ 0.01, -0.02])
    >>> check_vector([0.01, float("inf")], 2)
    Traceback (most recent call last):
    ValueError: x[1]: must be finite, got inf
    >>> check_vector([0.01], 2)
    Traceback (most recent call last):
    ValueError: x: expected shape (2,), got (1,)
    """
    try:
        source = np.asarray(x)
    except (TypeError, ValueError):
        raise TypeError(f"{field}: expected {size} numbers, got {type(x).__name__}") from None
    # Numeric strings and booleans would convert silently; a feed sending them is broken.
    if source.dtype.kind not in "fiu":
        raise TypeError(
            f"{field}: expected {size} numbers, got {type(x).__name__} of {source.dtype}"
        )
    if source.shape != (size,):
        raise ValueError(f"{field}: expected shape ({size},), got {source.shape}")
    vector = source.astype(np.float64)  # always a copy: the caller's array is never kept
    finite = np.isfinite(vector)
    if not finite.all():
        bad = int(np.argmin(finite))
        raise ValueError(f"{field}[{bad}]: must be finite, got {vector[bad]}")
    return vector


class OnlineModel:
    """Base class: hyper-parameters from the constructor, ``clone`` and ``repr`` from them."""

    def _hyper_parameters(self) -> dict[str, Any]:
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    def clone(self) -> Self:
        """A new, unfitted model with the same hyper-parameters."""
        return type(self)(**self._hyper_parameters())

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in self._hyper_parameters().items())
        return f"{type(self).__name__}({arguments})"
