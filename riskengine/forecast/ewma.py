r"""EWMA (RiskMetrics 1996) variance: the baseline every other forecaster must beat.

.. math::

    h_{t+1} = \lambda h_t + (1 - \lambda) r_t^2,

with zero mean and :math:`\lambda = 0.94` for daily data by default. The
forecast is flat in the horizon (an integrated process has no mean reversion).

After a detected change (:meth:`EWMAVol.adapt`, called by
:class:`~riskengine.regime.DriftAdaptedForecaster`) the next ``fast_steps``
updates use the shorter memory ``fast_lam``, so the estimate moves to the new
level within days instead of weeks, and then the usual decay returns.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from riskengine._validation import as_float, as_int
from riskengine.base import OnlineModel, check_history, check_observation

__all__ = ["EWMAVol"]


class EWMAVol(OnlineModel):
    """RiskMetrics exponentially weighted variance.

    Parameters
    ----------
    lam : float
        Decay in (0, 1); 0.94 is RiskMetrics' daily value.
    warmup : int
        Observations whose mean square starts the recursion when no history
        is given to :meth:`fit`; until then :meth:`variance` is NaN.
    fast_lam, fast_steps : float, int
        The decay used for the ``fast_steps`` updates after :meth:`adapt`.

    Examples
    --------
    >>> model = EWMAVol(lam=0.9, warmup=2)
    >>> for r in (0.01, -0.01, 0.02):
    ...     model.update(r)
    >>> round(model.variance(), 8)
    0.00013
    """

    def __init__(
        self, lam: float = 0.94, warmup: int = 30, fast_lam: float = 0.8, fast_steps: int = 10
    ) -> None:
        self.lam = as_float(lam, field="lam", low=0, high=1, low_open=True, high_open=True)
        self.warmup = as_int(warmup, field="warmup", low=1)
        self.fast_lam = as_float(fast_lam, field="fast_lam", low=0, high=self.lam, low_open=True)
        self.fast_steps = as_int(fast_steps, field="fast_steps", low=0)
        self._variance = float("nan")
        self._warm_sum = 0.0
        self._n = 0
        self._fast_left = 0

    def fit(self, returns: np.ndarray) -> EWMAVol:
        """Start from the mean square of the first ``warmup`` returns and filter the rest."""
        returns = check_history(returns, self.warmup)
        self._variance, self._warm_sum, self._n, self._fast_left = float("nan"), 0.0, 0, 0
        self.replay(returns)
        return self

    def update(self, x: float) -> None:
        value = check_observation(x)
        self._n += 1
        if self._n <= self.warmup:
            self._warm_sum += value * value
            if self._n == self.warmup:
                self._variance = self._warm_sum / self.warmup
            return
        lam = self.lam
        if self._fast_left:
            lam = self.fast_lam
            self._fast_left -= 1
        self._variance = lam * self._variance + (1.0 - lam) * value * value

    def adapt(self) -> None:
        """A change was detected: use ``fast_lam`` for the next ``fast_steps`` updates."""
        self._fast_left = self.fast_steps

    def replay(self, returns: np.ndarray) -> np.ndarray:
        """Feed many returns; the forecast made before each (NaN during warm-up).

        Same numbers as :meth:`update` in a loop (to 1e-10), as one linear filter.
        """
        returns = np.asarray(returns, dtype=np.float64)
        if not np.all(np.isfinite(returns)):
            raise ValueError("returns: must all be finite (found NaN or inf)")
        forecasts = np.full(returns.size, np.nan)
        head = min(max(self.warmup - self._n, 0) + self._fast_left, returns.size)
        for i in range(head):  # at most `warmup + fast_steps`: warm-up and fast steps
            forecasts[i] = self._variance
            self.update(float(returns[i]))
        rest = returns[head:]
        if rest.size:
            drive = (1.0 - self.lam) * rest**2
            path, _ = lfilter([1.0], [1.0, -self.lam], drive, zi=[self.lam * self._variance])
            forecasts[head:] = np.concatenate([[self._variance], path[:-1]])
            self._variance = float(path[-1])
            self._n += rest.size
        return forecasts

    def variance(self) -> float:
        """Forecast of the next return's variance (NaN until warmed up)."""
        return self._variance

    def forecast(self, horizon: int) -> np.ndarray:
        """Flat: every horizon gets the one-step forecast."""
        return np.full(as_int(horizon, field="horizon", low=1), self._variance)
