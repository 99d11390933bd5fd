"""Field-naming validation helpers shared by the spec parsers, the engine and the nightly run.

Every helper takes the dotted ``field`` path of the value it checks
(``"market.regimes[1].alpha"``) and raises :class:`ValueError` or
:class:`TypeError` with that path in the message, so a user editing a TOML
spec knows exactly which line to fix. :func:`check_price_matrix` raises
:class:`~riskengine.errors.InvalidPrice` (a ``ValueError``), as the engine's
boundary does.

A usable price is finite and at least :data:`MIN_PRICE`, the smallest normal
float (``2.2e-308``): a subnormal price such as ``1e-310`` is positive, but
the ratio of the next price to it overflows to ``inf``, so its log return is
not a number any model can learn from.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from riskengine.errors import InvalidPrice

__all__ = [
    "MIN_PRICE",
    "as_array",
    "as_float",
    "as_int",
    "check_correlation",
    "check_keys",
    "check_price_matrix",
    "check_seed",
    "check_stochastic_matrix",
    "price_problem",
]

#: The smallest usable price: the smallest normal float64.
MIN_PRICE = sys.float_info.min


def price_problem(value: float) -> str | None:
    """What is wrong with a price (a float), or None if it is finite and >= :data:`MIN_PRICE`.

    >>> price_problem(101.5) is None
    True
    >>> price_problem(-1.0)
    'must be finite and > 0, got -1.0'
    >>> price_problem(1e-310)
    'must be a normal float (>= 2.2250738585072014e-308), got the subnormal 1e-310'
    """
    if MIN_PRICE <= value < math.inf:
        return None
    if not (math.isfinite(value) and value > 0):
        return f"must be finite and > 0, got {value}"
    return f"must be a normal float (>= {MIN_PRICE!r}), got the subnormal {value!r}"


def check_keys(
    table: Mapping[str, Any],
    *,
    field: str,
    required: Iterable[str] = (),
    optional: Iterable[str] = (),
) -> None:
    """Reject unknown keys and report missing ones, naming the table.

    >>> check_keys({"a": 1}, field="spec", required=["a"])
    >>> check_keys({"a": 1, "b": 2}, field="spec", required=["a"])
    Traceback (most recent call last):
    ValueError: spec: unknown key(s) ['b']; allowed: ['a']
    """
    if not isinstance(table, Mapping):
        raise TypeError(f"{field}: expected a table, got {type(table).__name__}")
    required = list(required)
    allowed = required + list(optional)
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ValueError(f"{field}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = [key for key in required if key not in table]
    if missing:
        raise ValueError(f"{field}: missing required key(s) {missing}")


def as_float(
    value: Any,
    *,
    field: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float inside the given bounds.

    >>> as_float(0.5, field="p", low=0, high=1)
    0.5
    >>> as_float(float("nan"), field="p")
    Traceback (most recent call last):
    ValueError: p: must be finite, got nan
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{field}: expected a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{field}: must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        bound = ">" if low_open else ">="
        raise ValueError(f"{field}: must be {bound} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        bound = "<" if high_open else "<="
        raise ValueError(f"{field}: must be {bound} {high}, got {value}")
    return value


def as_int(value: Any, *, field: str, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int inside ``[low, high]``; floats and bools are refused.

    >>> as_int(3, field="n", low=1)
    3
    >>> as_int(0, field="n_paths", low=1)
    Traceback (most recent call last):
    ValueError: n_paths: must be >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{field}: expected an integer, got {type(value).__name__}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{field}: must be >= {low}, got {value}")
    if high is not None and value > high:
        raise ValueError(f"{field}: must be <= {high}, got {value}")
    return value


def check_seed(seed: Any, *, field: str = "seed") -> int:
    """Validate a seed: a non-negative integer below 2**32 (what ``jax.random.key`` accepts).

    >>> check_seed(7)
    7
    >>> check_seed(1.5)
    Traceback (most recent call last):
    TypeError: seed: expected an integer, got float
    """
    return as_int(seed, field=field, low=0, high=2**32 - 1)


def as_array(
    value: Any,
    *,
    field: str,
    shape: tuple[int, ...],
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> np.ndarray:
    """Return ``value`` as a finite float64 array of exactly ``shape``.

    A scalar is broadcast to ``shape`` (so ``alpha = 0.05`` applies to every
    asset); a list must match the shape exactly, never silently broadcast.

    >>> as_array(0.1, field="alpha", shape=(2,)).tolist()
    [0.1, 0.1]
    >>> as_array([0.1, 0.2, 0.3], field="alpha", shape=(2,))
    Traceback (most recent call last):
    ValueError: alpha: expected shape (2,), got (3,)
    """
    if isinstance(value, bool):
        raise TypeError(f"{field}: expected numbers, got bool")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{field}: expected numbers of shape {shape} ({error})") from None
    if array.ndim == 0:
        array = np.full(shape, float(array))
    elif array.shape != shape:
        raise ValueError(f"{field}: expected shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{field}: must be finite, got {array.tolist()}")
    if low is not None:
        bad = array <= low if low_open else array < low
        if np.any(bad):
            bound = ">" if low_open else ">="
            raise ValueError(f"{field}: every value must be {bound} {low}, got {array.tolist()}")
    if high is not None:
        bad = array >= high if high_open else array > high
        if np.any(bad):
            bound = "<" if high_open else "<="
            raise ValueError(f"{field}: every value must be {bound} {high}, got {array.tolist()}")
    return array


def check_stochastic_matrix(matrix: np.ndarray, *, field: str, atol: float = 1e-9) -> None:
    """Require a square matrix of probabilities whose rows sum to one.

    >>> check_stochastic_matrix(np.array([[0.9, 0.1], [0.2, 0.8]]), field="transition")
    >>> check_stochastic_matrix(np.array([[0.9, 0.2], [0.2, 0.8]]), field="transition")
    Traceback (most recent call last):
    ValueError: transition: row 0 sums to 1.1, not 1
    """
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{field}: expected a square matrix, got shape {matrix.shape}")
    if np.any(matrix < 0) or np.any(matrix > 1):
        raise ValueError(f"{field}: entries must be probabilities in [0, 1]")
    sums = matrix.sum(axis=1)
    for row, total in enumerate(sums):
        if abs(total - 1.0) > atol:
            raise ValueError(f"{field}: row {row} sums to {total:.12g}, not 1")


def check_correlation(matrix: np.ndarray, *, field: str) -> np.ndarray:
    """Require a symmetric positive-definite unit-diagonal matrix; return its Cholesky factor.

    >>> check_correlation(np.array([[1.0, 0.5], [0.5, 1.0]]), field="corr").round(3).tolist()
    [[1.0, 0.0], [0.5, 0.866]]
    >>> check_correlation(np.array([[1.0, 1.2], [1.2, 1.0]]), field="corr")
    Traceback (most recent call last):
    ValueError: corr: not positive definite (smallest eigenvalue -0.2)
    """
    n = matrix.shape[0]
    if matrix.shape != (n, n):
        raise ValueError(f"{field}: expected a square matrix, got shape {matrix.shape}")
    if not np.allclose(np.diag(matrix), 1.0, atol=1e-12):
        raise ValueError(f"{field}: diagonal must be 1, got {np.diag(matrix).tolist()}")
    if not np.allclose(matrix, matrix.T, atol=1e-12):
        raise ValueError(f"{field}: must be symmetric")
    smallest = float(np.linalg.eigvalsh(matrix)[0])
    if smallest <= 1e-10:
        raise ValueError(f"{field}: not positive definite (smallest eigenvalue {smallest:.3g})")
    return np.linalg.cholesky(matrix)


def carry_forward(matrix: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """``matrix`` with each NaN ("no price that day") replaced by the asset's last price.

    The last price is the row above, or ``previous`` for the first row (None:
    no earlier prices, so a NaN there stays NaN and the price check names it).
    Only NaN means "no price": infinities, zeros and negatives are left for the
    check to refuse. A new array when anything was filled, else ``matrix``.

    >>> carry_forward(np.array([[1.0, np.nan], [np.nan, np.nan], [3.0, 4.0]]), np.array([9.0, 8.0]))
    array([[1., 8.],
           [1., 8.],
           [3., 4.]])
    """
    missing = np.isnan(matrix)
    if not missing.any():
        return matrix
    if previous is not None:
        matrix = np.vstack([previous[None], matrix])
        missing = np.isnan(matrix)
    rows = np.where(missing, -1, np.arange(matrix.shape[0])[:, None])
    last = np.maximum.accumulate(rows, axis=0)
    filled = np.where(last >= 0, matrix[np.maximum(last, 0), np.arange(matrix.shape[1])], np.nan)
    return filled if previous is None else filled[1:]


def check_price_matrix(
    matrix: np.ndarray, assets: Sequence[str], *, field: str, dates: Sequence[Any] | None = None
) -> None:
    """Require every price of a (T, N) matrix (columns in ``assets`` order) to be usable.

    Usable: finite and at least :data:`MIN_PRICE` (:func:`price_problem`). Raises
    :class:`~riskengine.errors.InvalidPrice` naming the first bad price
    in row order: ``field[row][asset]`` for a bare matrix, or ``field[asset]``
    with the row's date when the rows have ``dates`` (a frame's index).

    >>> prices, assets = np.array([[100.0, 50.0], [101.0, 0.0]]), ("SPX", "NDX")
    >>> check_price_matrix(prices[:1], assets, field="prices")
    >>> check_price_matrix(prices, assets, field="prices")
    Traceback (most recent call last):
    riskengine.errors.InvalidPrice: prices[1]['NDX']: must be finite and > 0, got 0.0
    >>> check_price_matrix(prices, assets, field="p", dates=["2024-01-02", "2024-01-03"])
    Traceback (most recent call last):
    riskengine.errors.InvalidPrice: p['NDX']: must be finite and > 0, got 0.0 on 2024-01-03 (row 1)
    """
    bad = ~(np.isfinite(matrix) & (matrix >= MIN_PRICE))
    if not bad.any():
        return
    row, column = np.argwhere(bad)[0]
    problem = price_problem(float(matrix[row, column]))
    if dates is None:
        raise InvalidPrice(f"{field}[{int(row)}][{assets[column]!r}]", problem)
    raise InvalidPrice(f"{field}[{assets[column]!r}]", f"{problem} on {dates[row]} (row {row})")
