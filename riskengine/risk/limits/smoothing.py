r"""The smoothing transform, :func:`smooth`: limits that do not flap between updates.

Its step path is an EMA per limit; its batch path (the engine's ``replay``)
solves the recursion in closed form over blocks of time steps, or, for the
asymmetric smoother over values of a wide span, with an exact prefix scan.
Both equal the step loop to about 1e-12.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Literal

import numpy as np

from riskengine._validation import as_float
from riskengine.errors import InvalidConfig
from riskengine.risk.limits.types import LimitInputs, Limits, LimitTransform, SmoothState
from riskengine.risk.limits.validation import config_value, stage_name

__all__ = ["SMOOTHING_MODES", "smooth"]

SMOOTHING_MODES = ("asymmetric", "symmetric")
# The batch smoother scales by a**-j inside blocks; 1e100 keeps that far from overflow.
_LOG10_BLOCK_RANGE = 100.0
_MAX_BLOCK = 4096  # rows of (T, 2N + 2) smoothed at once: stays in cache
# Above this ratio of largest to smallest value, the asymmetric batch smoother takes its
# exact path: the closed form's relative error is about eps x this ratio.
_EXACT_SPAN = 1e4


def _smooth_init(n_assets: int) -> SmoothState:
    return SmoothState(Limits.unbounded(n_assets))


def _smooth_update(
    decay: np.ndarray,
    weight: np.ndarray,
    decay_float: float,
    weight_float: float,
    asymmetric: bool,
    inputs: LimitInputs,
    limits: Limits,
    state: Any,
) -> tuple[Limits, Any]:
    previous = state.smoothed
    a, b = decay_float, weight_float
    if asymmetric:
        # min(raw, EMA) == raw when raw < previous (tighten at once), else the EMA (loosen slowly).
        # An inf previous (no value yet) makes the EMA inf, so the first value passes unchanged.
        position = np.minimum(limits.position, previous.position * decay + limits.position * weight)
        order = np.minimum(limits.order, previous.order * decay + limits.order * weight)
        gross, net = limits.gross, limits.net
        ema = a * previous.gross + b * gross
        gross = gross if gross <= ema else ema  # NaN-propagating, like np.minimum
        ema = a * previous.net + b * net
        net = net if net <= ema else ema
    else:
        position = np.where(
            previous.position == np.inf,
            limits.position,
            previous.position * decay + limits.position * weight,
        )
        order = np.where(
            previous.order == np.inf, limits.order, previous.order * decay + limits.order * weight
        )
        gross = (
            limits.gross if previous.gross == math.inf else a * previous.gross + b * limits.gross
        )
        net = limits.net if previous.net == math.inf else a * previous.net + b * limits.net
    smoothed = Limits(position, gross, net, order)
    return smoothed, SmoothState(smoothed)


def _smooth_finite(
    raw: np.ndarray, start: np.ndarray, decay: float, asymmetric: bool
) -> np.ndarray:
    r"""The smoother over finite ``raw`` (T, M) >= 0 from ``start`` (M,) (finite or +inf).

    Both modes have a closed form in blocks of time steps (:func:`_smooth_blocks`).
    The symmetric one only adds and multiplies non-negative numbers, so it is
    as exact as the step loop. The asymmetric one subtracts, and loses about
    eps x (largest / smallest value) relative, so columns whose values span
    more than ``_EXACT_SPAN`` go through :func:`_asymmetric_scan` instead:
    exact whatever the span, but about 5x slower. The engine's chain clamps
    before it smooths, so its span is at most ceiling / floor (10 by default).
    """
    if not asymmetric:
        return _smooth_blocks(raw, start, decay, asymmetric=False)
    lower = np.minimum(start, raw.min(axis=0))
    largest = np.maximum(np.where(start < np.inf, start, 0.0), raw.max(axis=0))
    smallest = lower
    if np.any(lower == 0.0):  # zeros are exact; after one, the smallest value is ~ b x r
        positive = np.where(raw > 0.0, raw, np.inf).min(axis=0)
        smallest = np.where(lower > 0.0, lower, (1.0 - decay) * positive)
    fast = largest <= _EXACT_SPAN * smallest
    if fast.all():
        return _smooth_blocks(raw, start, decay, asymmetric=True, lower=lower)
    smoothed = np.empty_like(raw)
    if fast.any():
        smoothed[:, fast] = _smooth_blocks(
            raw[:, fast], start[fast], decay, asymmetric=True, lower=lower[fast]
        )
    smoothed[:, ~fast] = _asymmetric_scan(raw[:, ~fast], start[~fast], decay)
    return smoothed


def _smooth_blocks(
    raw: np.ndarray,
    start: np.ndarray,
    decay: float,
    *,
    asymmetric: bool,
    lower: np.ndarray | None = None,
) -> np.ndarray:
    r"""Both smoothers in closed form, block by block of time steps.

    Within a block :math:`j = 0, 1, \dots` counts steps from its start,
    :math:`p` is the smoothed value before it, :math:`R_j = a^{-j} r_j` (the
    block is short enough that :math:`a^{-j}` stays below 1e100) and
    :math:`C_j = \sum_{i \le j} R_i` (``np.cumsum``). The symmetric EMA is
    :math:`s_j = a^j (b C_j + a p)`. The asymmetric one,
    :math:`s_j = \min(r_j, a s_{j-1} + b r_j)`, unrolls (:math:`\min`
    distributes over the positively weighted sum) to

    .. math::

        s_j = a^j \Bigl(b C_j + \min\bigl(a p,\; \min_{k \le j} (R_k - b C_k)\bigr)\Bigr),

    a running minimum (``np.minimum.accumulate``). Only :math:`p` crosses
    blocks: a Python loop over T / block (>= 333 steps a block for a halflife
    >= 1). The asymmetric :math:`s_j` is a convex combination of :math:`p,
    r_0, \dots, r_j` and at most :math:`r_j`, so it is clipped to
    ``[min(start, r), r_j]``: a tightening to the current value and a run at
    the batch's lowest value (a limit held at 0 or at its floor) come out
    exact.
    """
    weight = 1.0 - decay
    n_steps, n_columns = raw.shape
    block = int(min(n_steps, _MAX_BLOCK, max(1, _LOG10_BLOCK_RANGE // -math.log10(decay))))
    powers = np.arange(block)
    up, down = (decay**-powers)[:, None], (decay**powers)[:, None]
    smoothed = np.empty_like(raw)
    work = np.empty((block, n_columns))
    first = start == np.inf
    previous = np.where(first, raw[0], start) if not asymmetric else start
    if asymmetric and lower is None:
        lower = np.minimum(start, raw.min(axis=0))
    for begin in range(0, n_steps, block):
        end = min(begin + block, n_steps)
        size = end - begin
        values, out, scaled = raw[begin:end], smoothed[begin:end], work[:size]
        # In place and block by block, so the block stays in cache.
        np.multiply(values, up[:size], out=scaled)
        np.cumsum(scaled, axis=0, out=out)
        np.multiply(out, weight, out=out)
        if asymmetric:
            np.subtract(scaled, out, out=scaled)
            np.minimum.accumulate(scaled, axis=0, out=scaled)
            np.minimum(scaled, decay * previous, out=scaled)
            np.add(out, scaled, out=out)
        else:
            np.add(out, decay * previous, out=out)
        np.multiply(out, down[:size], out=out)
        if asymmetric:
            np.maximum(out, lower, out=out)
            np.minimum(out, values, out=out)
        previous = out[-1].copy()
    if not asymmetric:  # the first value passes unchanged, exactly as in the step path
        smoothed[0] = np.where(first, raw[0], smoothed[0])
    return smoothed


def _asymmetric_scan(raw: np.ndarray, start: np.ndarray, decay: float) -> np.ndarray:
    r"""The asymmetric smoother as a parallel prefix scan: exact, :math:`O(T \log T)`.

    Each step is the map :math:`x \mapsto \min(P, A x + Q)` with
    :math:`(P, A, Q) = (r_t, a, b r_t)`, and such maps compose into one of
    the same form, :math:`(P_2, A_2, Q_2) \circ (P_1, A_1, Q_1) =
    (\min(P_2, A_2 P_1 + Q_2),\, A_2 A_1,\, A_2 Q_1 + Q_2)`, using only
    min, + and x of non-negative numbers: no cancellation, so a relative
    error of a few eps x log2(T) whatever the span of the values. A
    Hillis-Steele scan composes all prefixes in log2(T) vectorised rounds;
    :math:`A` after :math:`t + 1` maps is :math:`a^{t+1}`, the same for every
    column.
    """
    ceiling, offset = raw.copy(), (1.0 - decay) * raw  # P and Q of each prefix
    shift = 1
    while shift < raw.shape[0]:
        factor = decay**shift
        ceiling[shift:] = np.minimum(ceiling[shift:], factor * ceiling[:-shift] + offset[shift:])
        offset[shift:] = factor * offset[:-shift] + offset[shift:]
        shift *= 2
    carried = (decay ** np.arange(1, raw.shape[0] + 1))[:, None] * np.where(
        start < np.inf, start, 0.0
    )
    # An unbounded start (no value yet) leaves the first value, hence every prefix, unchanged.
    return np.where(start < np.inf, np.minimum(ceiling, carried + offset), ceiling)


def _smooth_matrix(
    raw: np.ndarray, start: np.ndarray, decay: float, asymmetric: bool
) -> np.ndarray:
    """The smoother over any ``raw`` (T, M): inf resets (as in the step path), NaN sticks."""
    clean = np.isfinite(raw).all(axis=0) & ~np.isnan(start)
    if clean.all():  # the usual case: no gather / scatter of columns
        return _smooth_finite(raw, start, decay, asymmetric)
    smoothed = np.empty_like(raw)
    if clean.any():
        smoothed[:, clean] = _smooth_finite(raw[:, clean], start[clean], decay, asymmetric)
    # Rare columns with an unbounded or NaN value: solve each finite run from the state the
    # step path reaches there (inf after an unbounded value); NaN propagates to the end.
    for column in np.flatnonzero(~clean):
        values, out = raw[:, column], smoothed[:, column]
        bad = np.flatnonzero(np.isnan(values))
        stop = bad[0] if bad.size else values.size
        if np.isnan(start[column]):
            stop = 0
        out[stop:] = np.nan
        state = start[column : column + 1]
        begin = 0
        while begin < stop:
            if values[begin] == np.inf:
                out[begin] = np.inf
                state = np.array([np.inf])
                begin += 1
                continue
            finite = np.flatnonzero(~np.isfinite(values[begin:stop]))
            end = begin + finite[0] if finite.size else stop
            run = _smooth_finite(values[begin:end, None], state, decay, asymmetric)
            out[begin:end] = run[:, 0]
            state = run[-1]
            begin = end
    return smoothed


def _smooth_batch(
    decay: np.ndarray,
    weight: np.ndarray,
    asymmetric: bool,
    inputs: LimitInputs,
    limits: Limits,
    state: Any,
) -> tuple[Limits, Any]:
    raw = limits.columns()
    if raw.shape[0] == 0:
        return limits, state
    n_assets = np.shape(limits.position)[-1]
    matrix = _smooth_matrix(raw, state.smoothed.columns(), float(decay), asymmetric)
    smoothed = Limits.from_columns(matrix, n_assets)
    last = Limits(
        smoothed.position[-1].copy(),
        float(smoothed.gross[-1]),
        float(smoothed.net[-1]),
        smoothed.order[-1].copy(),
    )
    return smoothed, SmoothState(last)


def _smooth_describe(halflife: float, asymmetric: bool, inputs: LimitInputs, state: Any) -> str:
    how = "tightening at once, loosening smoothed" if asymmetric else "both ways"
    return f"EMA, halflife {halflife:g} steps, {how}"


def smooth(
    halflife_steps: float,
    *,
    mode: Literal["asymmetric", "symmetric"] = "asymmetric",
    name: str = "smooth",
) -> LimitTransform:
    r"""Exponential smoothing of every limit, so limits do not flap between updates.

    With :math:`a = 2^{-1/\text{halflife}}`, :math:`b = 1 - a` and :math:`r_t`
    the incoming limit:

    - ``"asymmetric"`` (default): :math:`s_t = \min(r_t,\; a s_{t-1} + b r_t)`.
      A tightening (:math:`r_t < s_{t-1}`) applies at once; a loosening is
      smoothed. The smoothed limit is never above what current information
      supports (:math:`s_t \le r_t`), so a rise in risk is never answered
      late; what is damped is the rebound after a spike, which is what makes
      traders rebuild a position only to be cut again.
    - ``"symmetric"``: :math:`s_t = a s_{t-1} + b r_t`, a plain EMA: tightening
      is delayed too (the limit lags a volatility spike by about a halflife).

    The first value initialises the state; an unbounded (``inf``) value
    passes through and the next finite value starts afresh; a NaN sticks (no
    transform here emits NaN). The batch path loops over blocks of >= 333
    steps, not over steps: a closed form per block, or, for asymmetric
    smoothing of values spanning more than 1e4 (e.g. 1e6 -> 0 -> 1), an exact
    prefix scan about 5x slower (see ``_smooth_finite``); either equals the
    step loop to about 1e-12.

    Parameters
    ----------
    halflife_steps : float
        Steps for the weight of a past value to halve, >= 1 (shorter is no
        smoothing: leave the transform out).
    mode : {"asymmetric", "symmetric"}
    name : str
        The stage's name in a derivation.

    Examples
    --------
    >>> transform = smooth(halflife_steps=1.0)
    >>> state, path = transform.init(1), []
    >>> for value in (100.0, 200.0, 200.0, 50.0, 200.0):
    ...     limits = Limits(np.array([value]), value, value, np.array([value]))
    ...     limits, state = transform.update(None, limits, state)
    ...     path.append(limits.gross)
    >>> path
    [100.0, 150.0, 175.0, 50.0, 125.0]
    >>> smooth(2.0, mode="fast")
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: mode: expected one of ('asymmetric', 'symmetric'), got 'fast'
    """
    halflife = config_value(as_float, halflife_steps, "halflife_steps", low=1)
    if mode not in SMOOTHING_MODES:
        raise InvalidConfig("mode", f"expected one of {SMOOTHING_MODES}, got {mode!r}")
    decay = 0.5 ** (1.0 / halflife)
    asymmetric = mode == "asymmetric"
    decay_0d, weight_0d = np.array(decay), np.array(1.0 - decay)
    return LimitTransform(
        stage_name(name),
        _smooth_init,
        functools.partial(_smooth_update, decay_0d, weight_0d, decay, 1.0 - decay, asymmetric),
        functools.partial(_smooth_batch, decay_0d, weight_0d, asymmetric),
        functools.partial(_smooth_describe, halflife, asymmetric),
    )
