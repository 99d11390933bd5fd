"""The data of the limit chain: inputs, limits, transform states and the transform type.

:class:`Limits` is the one limits type of the package: the chain builds it,
:class:`~riskengine.engine.state.RiskState` holds it, and the pre-trade gate
takes it as its dynamic caps. Its fields are currency notionals; ``inf`` is
unbounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "ChangepointState",
    "EmptyState",
    "LimitInputs",
    "LimitTransform",
    "Limits",
    "SmoothState",
    "format_notional",
]


class LimitInputs(NamedTuple):
    """The model outputs one step of the limit chain reads.

    Batch form: the same fields with a leading time axis, shapes (T, N), (T,),
    (T,), (T,).

    Attributes
    ----------
    volatility : ndarray (N,)
        Forecast per-period standard deviation of each asset's return (decimal).
    var_per_gross : float
        One-period VaR at the configured level of a unit-gross portfolio in the
        current direction (see :func:`~riskengine.risk.limits.unit_gross_var`);
        rises with correlations.
    stressed_proba : float
        Filtered probability of the stressed regime.
    changepoint : bool
        A change was detected on this step.
    correlation_alarm : bool
        A correlation breakdown was detected on this step
        (:class:`~riskengine.regime.CorrelationAlarm`); False when not given.
    """

    volatility: np.ndarray
    var_per_gross: float
    stressed_proba: float
    changepoint: bool
    correlation_alarm: bool = False


class Limits(NamedTuple):
    """Limit notionals; ``inf`` is unbounded. Batch form: a leading time axis on every field.

    The same type flows from the limit chain through the engine's
    :class:`~riskengine.engine.state.RiskState` to the pre-trade gate, where
    each field caps its hard limit (``min(hard, dynamic)``; NaN or ``inf``
    leaves the hard limit).

    Attributes
    ----------
    position : ndarray (N,)
        Maximum absolute position notional per asset.
    gross : float
        Maximum gross notional (sum of absolute positions).
    net : float
        Maximum absolute net notional (absolute sum of signed positions).
    order : ndarray (N,)
        Maximum notional of one order per asset.

    Examples
    --------
    >>> Limits.unbounded(2)
    Limits(position=array([inf, inf]), gross=inf, net=inf, order=array([inf, inf]))
    >>> Limits.unbounded(2, n_steps=3).gross.shape
    (3,)
    >>> Limits(np.array([2.0]), 4.0, 3.0, np.array([1.0])).scaled(0.5)
    Limits(position=array([1.]), gross=2.0, net=1.5, order=array([0.5]))
    """

    position: np.ndarray
    gross: float
    net: float
    order: np.ndarray

    @classmethod
    def unbounded(cls, n_assets: int, n_steps: int | None = None) -> Limits:
        """All-``inf`` limits: the usual input of a chain's first (building) transform."""
        if n_steps is None:
            return cls(np.full(n_assets, np.inf), math.inf, math.inf, np.full(n_assets, np.inf))
        return cls(
            np.full((n_steps, n_assets), np.inf),
            np.full(n_steps, np.inf),
            np.full(n_steps, np.inf),
            np.full((n_steps, n_assets), np.inf),
        )

    def scaled(self, factor: Any) -> Limits:
        """Every limit times ``factor``, a number (step form)."""
        return Limits(
            self.position * factor, self.gross * factor, self.net * factor, self.order * factor
        )

    def scaled_per_step(self, factors: np.ndarray) -> Limits:
        """Batch form: step ``t``'s limits times ``factors[t]``."""
        column = factors[:, None]
        return Limits(
            self.position * column, self.gross * factors, self.net * factors, self.order * column
        )

    def columns(self) -> np.ndarray:
        """The limits as columns ``[position..., gross, net, order...]`` (step or batch form)."""
        position = np.asarray(self.position, dtype=np.float64)
        gross = np.asarray(self.gross, dtype=np.float64)[..., None]
        net = np.asarray(self.net, dtype=np.float64)[..., None]
        order = np.asarray(self.order, dtype=np.float64)
        return np.concatenate([position, gross, net, order], -1)

    @classmethod
    def from_columns(cls, matrix: np.ndarray, n_assets: int) -> Limits:
        """The inverse of :meth:`columns` (copies, so the fields do not share memory)."""
        n = n_assets
        return cls(
            matrix[..., :n].copy(),
            matrix[..., n].copy(),
            matrix[..., n + 1].copy(),
            matrix[..., n + 2 :],
        )


class EmptyState(NamedTuple):
    """State of a stateless transform."""


class ChangepointState(NamedTuple):
    """State of :func:`~riskengine.risk.limits.changepoint_tighten`.

    ``steps_since_change`` is 0 on the step of a change point and saturates at
    ``recovery_steps`` (fully recovered; also the initial value).
    """

    steps_since_change: int


class SmoothState(NamedTuple):
    """State of :func:`~riskengine.risk.limits.smooth`: the smoothed limits so far.

    ``inf`` until a first value.
    """

    smoothed: Limits


class LimitTransform(NamedTuple):
    """A limit rule: a name and pure functions; the state lives outside, in the caller.

    Attributes
    ----------
    name : str
        The stage's name in a derivation (unique within a chain).
    init : callable
        ``init(n_assets) -> state``, a NamedTuple.
    update : callable
        ``update(inputs, limits, state) -> (limits, state)`` for one step.
    update_batch : callable
        ``update_batch(inputs, limits, state) -> (limits, state)`` over a leading
        time axis; equals ``update`` in a loop to 1e-10.
    describe : callable
        ``describe(inputs, state) -> str``: why the stage did what it did, from
        the step's inputs and the state after it (for the derivation's summary).
    """

    name: str
    init: Callable[[int], Any]
    update: Callable[[LimitInputs, Limits, Any], tuple[Limits, Any]]
    update_batch: Callable[[LimitInputs, Limits, Any], tuple[Limits, Any]]
    describe: Callable[[LimitInputs, Any], str]


def format_notional(value: float) -> str:
    """A limit for people: 1.2M, 984k, inf.

    >>> format_notional(1_234_567.0), format_notional(984_000.0), format_notional(float("inf"))
    ('1.23M', '984k', 'inf')
    """
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"
