"""Argument checks shared by the limit transforms, the chain and the standard chain's config.

Every check raises :class:`~riskengine.errors.InvalidConfig` naming the
argument, so a bad limit rule fails where it is built, not on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from riskengine.errors import InvalidConfig
from riskengine.risk.limits.types import Limits

__all__ = ["config_value", "hard_limits", "stage_name"]


def config_value(check: Callable[..., Any], value: Any, field: str, **bounds: Any) -> Any:
    """Run a :mod:`riskengine._validation` check, re-raising as :class:`InvalidConfig`.

    >>> from riskengine._validation import as_float
    >>> config_value(as_float, 0.0, "risk_budget", low=0, low_open=True)
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: risk_budget: must be > 0, got 0.0
    """
    try:
        return check(value, field=field, **bounds)
    except (TypeError, ValueError) as error:
        raise InvalidConfig(field, str(error).removeprefix(f"{field}: ")) from None


def stage_name(name: Any) -> str:
    """A stage's name: a non-empty string."""
    if not isinstance(name, str) or not name:
        raise InvalidConfig("name", f"expected a non-empty string, got {name!r}")
    return name


def hard_limits(hard: Any, field: str = "hard") -> Limits:
    """Hard limits as float :class:`Limits`: every value > 0 (``inf`` allowed), (N,) per asset.

    A scalar ``order`` applies to every asset. Errors name ``field.position``,
    ``field.gross``, ...

    >>> hard_limits(Limits(np.array([1e6, 2e6]), 3e6, 1e6, 2e5)).order.tolist()
    [200000.0, 200000.0]
    >>> hard_limits(Limits(np.array([1e6]), 0.0, 1e6, 2e5))
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: hard.gross: every value must be > 0, got 0.0
    """
    if not isinstance(hard, Limits):
        raise InvalidConfig(field, f"expected Limits, got {type(hard).__name__}")

    def positive(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
        label = f"{field}.{name}"
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidConfig(label, f"expected numbers, got {type(value).__name__}") from None
        if isinstance(value, bool) or array.shape != shape:
            raise InvalidConfig(label, f"expected shape {shape}, got {array.shape}")
        if np.any(np.isnan(array)) or np.any(array <= 0.0):
            raise InvalidConfig(label, f"every value must be > 0, got {array.tolist()}")
        return array

    position = np.asarray(hard.position)
    if position.ndim != 1 or position.size == 0:
        raise InvalidConfig(
            f"{field}.position", f"expected one value per asset, got {hard.position!r}"
        )
    n_assets = position.size
    order = hard.order if np.ndim(hard.order) else np.full(n_assets, hard.order)
    return Limits(
        positive(hard.position, "position", (n_assets,)),
        float(positive(hard.gross, "gross", ())),
        float(positive(hard.net, "net", ())),
        positive(order, "order", (n_assets,)),
    )
