r"""Forecast scores used by tests, benchmarks and the nightly job.

Variance forecasts are scored against a proxy of the realised variance (the
squared return for daily data). QLIKE is robust to noise in that proxy: it
ranks forecasters as their true-variance losses do (Patton 2011). MSE is not
robust in that sense and is reported beside it.

.. math::

    \mathrm{QLIKE}(\hat h, r^2) = \frac{1}{T} \sum_t \left( \frac{r_t^2}{\hat h_t}
        - \log \frac{r_t^2}{\hat h_t} - 1 \right)

(zero for a perfect forecast, positive otherwise, so ratios between
forecasters are meaningful). It is undefined when the realised variance is
zero (a day with an unchanged close), so such observations are left out of
every forecaster's score alike.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mse", "qlike"]


def _pair(forecast: np.ndarray, realised: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    forecast = np.asarray(forecast, dtype=np.float64)
    realised = np.asarray(realised, dtype=np.float64)
    if forecast.shape != realised.shape:
        raise ValueError(
            f"forecast, realised: shapes differ ({forecast.shape} vs {realised.shape})"
        )
    if forecast.size == 0:
        raise ValueError("forecast: empty")
    if not (np.all(np.isfinite(forecast)) and np.all(forecast > 0)):
        raise ValueError("forecast: variances must be finite and > 0")
    if not (np.all(np.isfinite(realised)) and np.all(realised >= 0)):
        raise ValueError("realised: variances must be finite and >= 0")
    return forecast, realised


def qlike(forecast: np.ndarray, realised: np.ndarray) -> float:
    """Mean normalised QLIKE loss of variance ``forecast`` against ``realised``.

    Observations with ``realised == 0`` are left out (the loss is undefined
    there); all-zero ``realised`` raises ``ValueError``.

    >>> r2 = np.array([1e-4, 4e-4, 0.0])
    >>> h = np.array([1e-4, 4e-4, 2e-4])
    >>> qlike(h, r2)  # perfect where defined; the zero day is left out
    0.0
    >>> qlike(h * 1.1, r2) < qlike(np.full(3, 5e-4), r2)
    True
    """
    forecast, realised = _pair(forecast, realised)
    keep = realised > 0
    if not keep.any():
        raise ValueError("realised: every value is zero; QLIKE is undefined")
    ratio = realised[keep] / forecast[keep]
    return float(np.mean(ratio - np.log(ratio) - 1.0))


def mse(forecast: np.ndarray, realised: np.ndarray) -> float:
    """Mean squared error of variance forecasts.

    >>> mse(np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    2.0
    """
    forecast, realised = _pair(forecast, realised)
    return float(np.mean((forecast - realised) ** 2))
