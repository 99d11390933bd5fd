r"""Scores for covariance forecasts: portfolio QLIKE and the Mahalanobis calibration ratio.

A covariance forecast :math:`\Sigma_t` is scored through what a risk manager
uses it for.

- **Portfolio QLIKE**: the QLIKE of the portfolio variance forecast
  :math:`w^\top \Sigma_t w` against the squared portfolio return
  :math:`(w^\top r_t)^2` (see :func:`~riskengine.scoring.qlike`). Robust to the
  noise of the squared-return proxy, so it ranks forecasters as their
  true-covariance losses do (Patton and Sheppard 2009).
- **Mahalanobis ratio**: :math:`\frac{1}{T N} \sum_t r_t^\top \Sigma_t^{-1} r_t`.
  Each term has expectation :math:`N` when :math:`\Sigma_t` is the true
  conditional covariance of zero-mean returns, so the ratio is 1 for a
  calibrated forecast, above 1 when risk is under-forecast (in some
  direction, not only along one portfolio) and below 1 when over-forecast.
"""

from __future__ import annotations

import numpy as np

from riskengine.scoring.forecast_loss import qlike

__all__ = ["mahalanobis_ratio", "portfolio_qlike"]


def _check(forecasts: np.ndarray, returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    forecasts = np.asarray(forecasts, dtype=np.float64)
    returns = np.asarray(returns, dtype=np.float64)
    if returns.ndim != 2 or returns.shape[0] == 0:
        raise ValueError(f"returns: expected shape (T >= 1, N), got {returns.shape}")
    n_obs, n_assets = returns.shape
    if forecasts.shape != (n_obs, n_assets, n_assets):
        raise ValueError(
            f"forecasts: expected shape {(n_obs, n_assets, n_assets)}, got {forecasts.shape}"
        )
    if not np.all(np.isfinite(forecasts)):
        raise ValueError("forecasts: must all be finite")
    if not np.all(np.isfinite(returns)):
        raise ValueError("returns: must all be finite")
    return forecasts, returns


def portfolio_qlike(forecasts: np.ndarray, returns: np.ndarray, weights: np.ndarray) -> float:
    """QLIKE of the portfolio variance implied by covariance ``forecasts`` (T, N, N).

    ``returns`` (T, N) are the realised returns each forecast was made for;
    ``weights`` (N,) the portfolio.

    >>> cov = np.array([[[1e-4, 0.0], [0.0, 4e-4]]] * 2)
    >>> r = np.array([[0.01, 0.0], [0.01, 0.04]])
    >>> portfolio_qlike(cov, r, np.array([1.0, 0.0]))  # realised as forecast: no loss
    0.0
    >>> portfolio_qlike(cov, r, np.array([0.0, 1.0])) > 0  # the first day is left out (r = 0)
    True
    """
    forecasts, returns = _check(forecasts, returns)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (returns.shape[1],) or not np.all(np.isfinite(weights)):
        raise ValueError(f"weights: expected {returns.shape[1]} finite values, got {weights!r}")
    variance = np.einsum("i,tij,j->t", weights, forecasts, weights)
    return qlike(variance, (returns @ weights) ** 2)


def mahalanobis_ratio(forecasts: np.ndarray, returns: np.ndarray) -> float:
    """Mean of ``r' Sigma^-1 r / N``: 1 when calibrated, > 1 when risk is under-forecast.

    >>> cov = np.array([np.diag([1e-4, 4e-4])] * 2)
    >>> r = np.array([[0.01, 0.02], [-0.01, -0.02]])
    >>> mahalanobis_ratio(cov, r)
    1.0
    """
    forecasts, returns = _check(forecasts, returns)
    try:
        solved = np.linalg.solve(forecasts, returns[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        raise ValueError("forecasts: a covariance matrix is singular") from None
    return float(np.mean(np.einsum("ti,ti->t", returns, solved)) / returns.shape[1])
