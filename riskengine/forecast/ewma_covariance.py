r"""EWMA covariance (RiskMetrics), with optional shrinkage: river's estimator, our protocol.

river's ``covariance.ShrunkCovariance`` keeps the exponentially weighted mean
:math:`m` and second moment :math:`M`, with fading factor :math:`f = 1 - \lambda`,

.. math::

    m_{t+1} = \lambda m_t + f r_t, \qquad M_{t+1} = \lambda M_t + f r_t r_t^\top,
    \qquad S_{t+1} = M_{t+1} - m_{t+1} m_{t+1}^\top,

and shrinks :math:`S` on read towards the constant-correlation target
:math:`F` by a fixed intensity :math:`\delta`: :math:`(1 - \delta) S + \delta F`.
With :math:`\delta = 0` it is river's ``EwaCovariance``. This class adds what
the engine needs around it: array input validated before anything changes,
array output, the multi-step forecast and the portfolio variance.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from river import covariance as river_covariance

from riskengine._validation import as_float, as_int
from riskengine.base import OnlineModel, check_vector

__all__ = ["EWMACovariance"]


class EWMACovariance(OnlineModel):
    """Exponentially weighted covariance of N assets, shrunk towards constant correlation.

    Parameters
    ----------
    lam : float
        Decay in (0, 1); river's ``fading_factor`` is ``1 - lam``. 0.94 is
        RiskMetrics' daily value.
    shrinkage : float
        Fixed shrinkage intensity in [0, 1] towards the constant-correlation
        target (0: plain EWMA).
    target : {"constant_correlation", "identity"}
        The shrinkage target, as river names it.
    min_obs : int
        Fewest observations :meth:`fit` accepts (at least 2).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> model = EWMACovariance(shrinkage=0.2).fit(0.01 * rng.standard_normal((100, 3)))
    >>> model.update(np.array([0.01, -0.02, 0.005]))
    >>> model.covariance().shape
    (3, 3)
    >>> bool(np.all(np.linalg.eigvalsh(model.covariance()) > 0))
    True
    """

    def __init__(
        self,
        lam: float = 0.94,
        shrinkage: float = 0.0,
        target: Literal["constant_correlation", "identity"] = "constant_correlation",
        min_obs: int = 30,
    ) -> None:
        self.lam = as_float(lam, field="lam", low=0, high=1, low_open=True, high_open=True)
        self.shrinkage = as_float(shrinkage, field="shrinkage", low=0.0, high=1.0)
        if target not in ("constant_correlation", "identity"):
            raise ValueError(
                f"target: expected 'constant_correlation' or 'identity', got {target!r}"
            )
        self.target = target
        self.min_obs = as_int(min_obs, field="min_obs", low=2)
        self._estimator: river_covariance.ShrunkCovariance | None = None
        self._n_assets = 0

    def fit(self, returns: np.ndarray) -> EWMACovariance:
        """Start afresh and learn from ``returns`` (T, N), oldest first."""
        array = np.asarray(returns, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] < 2:
            raise ValueError(f"returns: expected shape (T, N >= 2), got {array.shape}")
        if array.shape[0] < self.min_obs:
            raise ValueError(f"returns: need at least {self.min_obs} rows, got {array.shape[0]}")
        if not np.all(np.isfinite(array)):
            raise ValueError("returns: must all be finite (found NaN or inf)")
        estimator = river_covariance.ShrunkCovariance(
            fading_factor=1.0 - self.lam, delta=self.shrinkage, target=self.target
        )
        for row in array:
            estimator.update(dict(enumerate(row.tolist())))
        self._estimator, self._n_assets = estimator, array.shape[1]
        return self

    def update(self, x: np.ndarray) -> None:
        """Learn from one vector of returns."""
        self._require_fitted()
        returns = check_vector(x, self._n_assets)
        self._estimator.update(dict(enumerate(returns.tolist())))

    def covariance(self) -> np.ndarray:
        """Next-step covariance forecast, (N, N)."""
        self._require_fitted()
        out = np.empty((self._n_assets, self._n_assets))
        for (i, j), value in self._estimator.matrix.items():
            out[i, j] = out[j, i] = value
        return out

    def variance(self) -> np.ndarray:
        """Each asset's next-step variance forecast, (N,)."""
        return np.diag(self.covariance()).copy()

    def correlation(self) -> np.ndarray:
        """Next-step correlation forecast, (N, N)."""
        cov = self.covariance()
        scale = 1.0 / np.sqrt(np.diag(cov))
        correlation = cov * np.outer(scale, scale)
        np.fill_diagonal(correlation, 1.0)
        return correlation

    def forecast(self, horizon: int) -> np.ndarray:
        """Flat: every horizon gets the one-step covariance, (horizon, N, N)."""
        horizon = as_int(horizon, field="horizon", low=1)
        return np.broadcast_to(self.covariance(), (horizon, self._n_assets, self._n_assets)).copy()

    def portfolio_variance(self, weights: np.ndarray) -> float:
        """Next-step variance of the portfolio with these ``weights``, ``w' Sigma w``."""
        w = check_vector(weights, self._n_assets, field="weights")
        return float(w @ self.covariance() @ w)

    def _require_fitted(self) -> None:
        if self._estimator is None:
            raise RuntimeError("EWMACovariance: call fit(returns) before update or forecasts")
