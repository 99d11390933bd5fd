"""The small protocol every online model follows, in the spirit of river.

- Constructor arguments are hyper-parameters, stored under the same names.
- Learned state lives in ``_private`` attributes.
- ``update(x)`` learns from one observation and returns nothing.
- Query methods read forecasts.

That is what makes :meth:`OnlineModel.clone` and a readable ``repr`` free, and
lets one generic test suite (``tests/forecast/test_protocol.py``) check every
model for pickling, cloning, determinism, no look-ahead and bad input.
"""

from __future__ import annotations

import inspect
from typing import Any, Self

from riskengine._validation import as_float

__all__ = ["OnlineModel", "check_observation"]


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
