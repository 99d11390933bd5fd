r"""The nightly backtest's baselines: RiskMetrics EWMA and historical simulation.

The engine's VaR and ES are scored beside two textbook forecasters on the same
book and days (:mod:`riskengine.nightly.backtest`):

- **'ewma'**: RiskMetrics, :math:`S_{t+1} = \lambda S_t + (1-\lambda) r_t r_t^\top`
  with :math:`\lambda` = :data:`EWMA_LAMBDA` and zero mean, seeded with the
  second moment of the warm-up returns (:func:`ewma_covariance_forecasts`);
  normal VaR and ES of :math:`w_t^\top S w_t`. The plain recursion, not
  :class:`~riskengine.forecast.EWMACovariance` (river's, mean-corrected): this
  is the textbook baseline, and it runs in one ``lfilter`` call.
- **'historical'**: the quantile and tail mean of the book's *current*
  weights applied to the last :data:`HISTORICAL_DAYS` days of asset returns,
  unfiltered (:func:`historical_var_es`).

Both use only returns before the day they forecast.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

__all__ = ["EWMA_LAMBDA", "HISTORICAL_DAYS", "ewma_covariance_forecasts", "historical_var_es"]

#: RiskMetrics' daily decay of the 'ewma' baseline.
EWMA_LAMBDA = 0.94
#: Days of past returns in the 'historical' baseline (one trading year).
HISTORICAL_DAYS = 250


def ewma_covariance_forecasts(
    returns: np.ndarray, *, seed_rows: int, lam: float = EWMA_LAMBDA
) -> np.ndarray:
    r"""RiskMetrics covariance forecasts: ``out[k]`` is the forecast of ``returns[k]``.

    .. math::

        S_0 = \frac{1}{m} \sum_{k < m} r_k r_k^\top, \qquad
        S_{k+1} = \lambda S_k + (1 - \lambda) r_k r_k^\top,

    with ``m = seed_rows`` and zero mean. ``out[k]`` uses ``returns[:k]`` and
    the seed, so it is out of sample for ``k >= seed_rows``; ``out[K]`` (one
    past the data) is the forecast for the day after the last return.

    Parameters
    ----------
    returns : numpy.ndarray, shape (K, N)
        Log returns, oldest first.
    seed_rows : int
        Leading returns whose second moment seeds the recursion.
    lam : float
        Decay in (0, 1).

    Returns
    -------
    numpy.ndarray, shape (K + 1, N, N)

    Examples
    --------
    >>> r = np.array([[0.01, 0.0], [0.02, -0.01], [-0.01, 0.01]])
    >>> out = ewma_covariance_forecasts(r, seed_rows=1)
    >>> out.shape, float(out[0, 0, 0])  # the seed: r_0 r_0'
    ((4, 2, 2), 0.0001)
    >>> bool(np.isclose(out[2, 0, 0], 0.94 * out[1, 0, 0] + 0.06 * 0.02**2))
    True
    """
    returns = np.asarray(returns, dtype=np.float64)
    k, n = returns.shape
    outer = (returns[:, :, None] * returns[:, None, :]).reshape(k, n * n)
    seed = outer[:seed_rows].mean(axis=0)
    # y_k = (1 - lam) x_k + lam y_{k-1} with y_{-1} = seed: lfilter's state starts at lam * seed.
    filtered, _ = lfilter([1.0 - lam], [1.0, -lam], outer, axis=0, zi=(lam * seed)[None, :])
    return np.concatenate([seed[None], filtered]).reshape(k + 1, n, n)


def historical_var_es(
    returns: np.ndarray,
    weights: np.ndarray,
    *,
    first: int,
    tail: float,
    days: int = HISTORICAL_DAYS,
) -> tuple[np.ndarray, np.ndarray]:
    """Historical-simulation VaR and ES of today's weights over the last ``days`` returns.

    Forecast ``t`` is for ``returns[first + t]`` (which may be one past the
    data); it applies ``weights[t]`` to ``returns[first + t - days : first + t]``
    and takes minus the ``tail`` quantile (numpy's linear interpolation) and
    minus the mean of the scenarios at or below it.

    Parameters
    ----------
    returns : numpy.ndarray, shape (K, N)
    weights : numpy.ndarray, shape (T, N)
    first : int
        Index of the first forecast's target, ``>= days``, with
        ``first + T - 1 <= K``.
    tail : float
        Tail probability (0.01 for the 99 % VaR).
    days : int
        Scenarios per forecast.

    Returns
    -------
    var, es : numpy.ndarray, shape (T,)
        Positive loss fractions.

    Examples
    --------
    >>> r = np.arange(-5, 5, dtype=float)[:, None] / 100  # -5 % .. +4 %
    >>> var, es = historical_var_es(r, np.ones((1, 1)), first=10, tail=0.1, days=10)
    >>> np.round([var[0], es[0]], 4).tolist()  # 10 % quantile -4.1 %; mean of -5 %
    [0.041, 0.05]
    """
    returns = np.asarray(returns, dtype=np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(returns, days, axis=0)  # (K-days+1, N, d)
    steps = weights.shape[0]
    scenarios = np.einsum("tn,tnd->td", weights, windows[first - days : first - days + steps])
    quantile = np.quantile(scenarios, tail, axis=1)
    below = scenarios <= quantile[:, None]
    tail_mean = np.sum(scenarios * below, axis=1) / np.sum(below, axis=1)
    return -quantile, -tail_mean
