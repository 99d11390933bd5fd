r"""DCC(1,1)-GARCH covariance: per-asset online GARCH, dynamic conditional correlation.

Engle (2002) splits a covariance forecast into volatilities and correlations:

.. math::

    \Sigma_{t+1} = D_{t+1} R_{t+1} D_{t+1}, \qquad D = \operatorname{diag}(\sqrt{h_{i}}),

where each :math:`h_{i,t+1}` is an :class:`~riskengine.forecast.OnlineGARCH`
forecast and the correlation follows the standardised residuals
:math:`z_{i,t} = (r_{i,t} - \mu_i) / \sqrt{h_{i,t}}`:

.. math::

    Q_{t+1} = (1 - a - b)\,\bar Q + a\, z_t z_t^\top + b\, Q_t, \qquad
    R_{t+1} = \operatorname{diag}(Q_{t+1})^{-1/2}\, Q_{t+1}\, \operatorname{diag}(Q_{t+1})^{-1/2}.

:math:`\bar Q` is the correlation of the fitted residuals, shrunk towards
constant correlation (Ledoit and Wolf 2003). It is positive definite and
:math:`a + b < 1`, so every :math:`Q_t`, and therefore every forecast, is
positive definite by construction. ``a`` and ``b`` maximise the correlation
part of the Gaussian quasi-likelihood (Engle 2002, the second stage),
:math:`-\tfrac12 \sum_t \log|R_t| + z_t^\top R_t^{-1} z_t`, with scipy's
optimiser. One update costs O(N^2); no step refits from scratch.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Literal

import numpy as np
from scipy.optimize import minimize
from scipy.signal import lfilter

from riskengine._validation import as_float, as_int
from riskengine.base import OnlineModel, check_vector
from riskengine.forecast.garch import OnlineGARCH, RefitReport
from riskengine.forecast.shrinkage import constant_correlation_shrinkage

__all__ = ["DCCParams", "OnlineDCC"]

# Time steps per block of the batch Q filter: (block, N, N) doubles stay in cache.
_BLOCK = 2048
# a + b stays below this, so the correlation process mean-reverts and a
# forecast never sits on the boundary of positive definiteness.
_MAX_PERSISTENCE = 0.999


@dataclasses.dataclass(frozen=True, eq=False)
class DCCParams:
    """Correlation dynamics: news weight ``a``, decay ``b``, target ``q_bar``, its shrinkage.

    ``q_bar`` is read-only, so parameters shared between a model and its
    caller cannot be changed behind the model's back.
    """

    a: float
    b: float
    q_bar: np.ndarray
    shrinkage: float

    def __post_init__(self) -> None:
        q_bar = np.array(self.q_bar, dtype=np.float64)
        q_bar.setflags(write=False)
        object.__setattr__(self, "q_bar", q_bar)

    @property
    def persistence(self) -> float:
        return self.a + self.b


class OnlineDCC(OnlineModel):
    """Covariance forecasts from N online GARCH filters and a DCC(1,1) correlation.

    Parameters
    ----------
    vol, mean : str
        The per-asset :class:`~riskengine.forecast.OnlineGARCH` specification
        (``dist`` too, the last argument).
    refit_every : int or None
        Refit every GARCH with arch and the DCC parameters after this many
        updates, warm-started, keeping the filtered state (None: only on
        :meth:`refit`).
    history : int
        Most recent observations kept for refits.
    min_obs : int
        Fewest observations :meth:`fit` accepts.
    shrinkage : float or "ledoit_wolf"
        Intensity of the shrinkage of ``q_bar`` towards constant correlation,
        or the Ledoit-Wolf estimate of it.
    dist : {"t", "skewt"}
        The per-asset GARCH innovations (the correlation step is Gaussian QML
        whatever this is).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> returns = 0.01 * rng.standard_t(8, size=(600, 3)) @ np.linalg.cholesky(
    ...     0.5 + 0.5 * np.eye(3)).T
    >>> model = OnlineDCC().fit(returns)
    >>> model.update(np.array([-0.03, -0.025, -0.02]))
    >>> cov = model.covariance()
    >>> cov.shape, bool(np.all(np.linalg.eigvalsh(cov) > 0))
    ((3, 3), True)
    >>> bool(np.all(np.abs(model.correlation()) <= 1))
    True
    """

    def __init__(
        self,
        vol: Literal["GARCH", "GJR"] = "GARCH",
        mean: Literal["zero", "constant"] = "zero",
        refit_every: int | None = None,
        history: int = 2520,
        min_obs: int = 250,
        shrinkage: float | Literal["ledoit_wolf"] = "ledoit_wolf",
        dist: Literal["t", "skewt"] = "t",
    ) -> None:
        # The per-asset template validates vol, mean, dist, refit_every, history and min_obs.
        self._template = OnlineGARCH(
            vol=vol,
            mean=mean,
            dist=dist,
            refit_every=refit_every,
            history=history,
            min_obs=min_obs,
        )
        self.vol = vol
        self.mean = mean
        self.dist = dist
        self.refit_every = refit_every
        self.history = history
        self.min_obs = min_obs
        if shrinkage != "ledoit_wolf":
            shrinkage = as_float(shrinkage, field="shrinkage", low=0.0, high=1.0)
        self.shrinkage = shrinkage
        self._garch: list[OnlineGARCH] = []
        self._params: DCCParams | None = None
        self._q = np.empty((0, 0))  # Q_{t+1}: the next step's quasi-correlation
        self._mu = np.empty(0)
        self._since_refit = 0
        self._n_updates = 0
        self._last_refit: RefitReport | None = None

    # ------------------------------------------------------------------ fitting
    def fit(self, returns: np.ndarray) -> OnlineDCC:
        """Fit each asset's GARCH with arch, then the DCC by quasi-likelihood; filter to the end.

        ``returns`` is (T, N): decimal log returns, oldest first, N >= 2.
        Raises ``ValueError`` naming ``returns`` for too few rows, a bad shape
        or non-finite values, and ``RuntimeError`` if an estimation fails (the
        model stays as it was).
        """
        returns = self._check_returns(returns)
        garch = [self._template.clone().fit(column) for column in returns.T]
        z = _standardised_residuals(garch, returns)
        params, report = self._estimate(z, start=None)
        if params is None:
            raise RuntimeError(f"returns: {report.message}")
        self._garch, self._params = garch, params
        self._mu = np.array([g.params.mu for g in garch])
        self._q = self._filter_q(z, params, params.q_bar)[-1]
        self._since_refit = 0
        self._last_refit = report
        return self

    def refit(self) -> RefitReport:
        """Refit every GARCH and the DCC parameters on the kept history, warm-started.

        The filtered state is kept: the next forecast continues from the
        current :math:`h` and :math:`Q`. A failed estimation keeps the previous
        parameters and says so in the report.
        """
        self._require_fitted()
        for garch in self._garch:
            garch.refit()
        self._refit_correlation()
        return self._last_refit

    def adapt(self) -> RefitReport:
        """A change was detected: refit every GARCH and the correlation now."""
        return self.refit()

    # ------------------------------------------------------------------ online
    def update(self, x: np.ndarray) -> None:
        """Learn from one vector of returns: N GARCH steps and one DCC step, then refits if due."""
        self._require_fitted()
        returns = check_vector(x, self._mu.size)
        scale = np.sqrt([garch._variance for garch in self._garch])
        z = (returns - self._mu) / scale
        params = self._params
        for garch, value in zip(self._garch, returns.tolist(), strict=True):
            garch._learn(value)  # validated above; each refits itself on the shared schedule
        self._q = self._q_intercept + params.a * np.outer(z, z) + params.b * self._q
        self._n_updates += 1
        self._since_refit += 1
        if self.refit_every is not None and self._since_refit >= self.refit_every:
            self._refit_correlation()

    def replay(
        self, returns: np.ndarray, forecasts: Literal["before", "after"] = "before"
    ) -> np.ndarray:
        """Feed many observations at once; return the covariance forecasts, (T, N, N).

        ``forecasts="before"``: the forecast made before each observation (what
        was known when it arrived); ``"after"``: the one made after it (what
        :meth:`covariance` says once it is learnt). The same numbers as
        :meth:`update` in a loop (to 1e-10), refits included: each stretch
        between refits is one vectorised GARCH filter per asset and one linear
        filter for :math:`Q`.
        """
        if forecasts not in ("before", "after"):
            raise ValueError(f"forecasts: expected 'before' or 'after', got {forecasts!r}")
        self._require_fitted()
        returns = self._check_returns(returns, minimum=0)
        pieces = []
        done = 0
        while done < returns.shape[0]:
            stretch = returns.shape[0] - done
            if self.refit_every is not None:
                stretch = min(stretch, self.refit_every - self._since_refit)
            chunk = returns[done : done + stretch]
            variances = np.column_stack(
                [garch.replay(column) for garch, column in zip(self._garch, chunk.T, strict=True)]
            )
            z = (chunk - self._mu) / np.sqrt(variances)
            q_path = self._filter_q(z, self._params, self._q)
            self._q = q_path[-1].copy()
            if forecasts == "before":
                pieces.append(_covariance(q_path[:-1], variances))
            else:
                latest = np.array([garch._variance for garch in self._garch])
                following = np.concatenate([variances[1:], latest[None]])
                pieces.append(_covariance(q_path[1:], following))
            self._n_updates += stretch
            self._since_refit += stretch
            done += stretch
            if self.refit_every is not None and self._since_refit >= self.refit_every:
                self._refit_correlation()
        if not pieces:
            return np.empty((0, self._mu.size, self._mu.size))
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    # ------------------------------------------------------------------ queries
    @property
    def params(self) -> DCCParams:
        self._require_fitted()
        return self._params

    @property
    def garch(self) -> tuple[OnlineGARCH, ...]:
        """The per-asset volatility filters (read them, do not update them directly)."""
        return tuple(self._garch)

    @property
    def last_refit(self) -> RefitReport | None:
        """The latest DCC (re)estimation; each GARCH's own report is on :attr:`garch`."""
        return self._last_refit

    def variance(self) -> np.ndarray:
        """Each asset's next-step variance forecast, (N,)."""
        self._require_fitted()
        return np.array([garch.variance() for garch in self._garch])

    def correlation(self) -> np.ndarray:
        """Next-step correlation forecast :math:`R_{t+1}`, (N, N)."""
        self._require_fitted()
        scale = 1.0 / np.sqrt(np.diag(self._q))
        correlation = self._q * np.outer(scale, scale)
        np.fill_diagonal(correlation, 1.0)  # exactly, not 1 +- rounding
        return correlation

    def covariance(self) -> np.ndarray:
        """Next-step covariance forecast :math:`\\Sigma_{t+1}`, (N, N)."""
        self._require_fitted()
        variance = np.array([garch._variance for garch in self._garch])
        # D R D with R = Q / sqrt(q_ii q_jj): one scale vector, then the exact variances.
        scale = np.sqrt(variance / np.diag(self._q))
        covariance = self._q * np.outer(scale, scale)
        np.fill_diagonal(covariance, variance)
        return covariance

    def forecast(self, horizon: int) -> np.ndarray:
        """Covariance forecasts for 1..``horizon`` steps ahead, (horizon, N, N).

        Correlations revert to ``q_bar``'s by Engle and Sheppard's (2001)
        approximation, :math:`R_{t+k} = \\bar R + (a+b)^{k-1} (R_{t+1} - \\bar R)`;
        variances follow each GARCH's forecast.
        """
        horizon = as_int(horizon, field="horizon", low=1)
        params = self.params
        q_bar_scale = 1.0 / np.sqrt(np.diag(params.q_bar))
        r_bar = params.q_bar * np.outer(q_bar_scale, q_bar_scale)
        decay = params.persistence ** np.arange(horizon)
        correlations = r_bar + decay[:, None, None] * (self.correlation() - r_bar)
        variances = np.column_stack([garch.forecast(horizon) for garch in self._garch])
        sd = np.sqrt(variances)
        return correlations * sd[:, :, None] * sd[:, None, :]

    def portfolio_variance(self, weights: np.ndarray) -> float:
        """Next-step variance of the portfolio with these ``weights``, ``w' Sigma w``."""
        w = check_vector(weights, self._mu.size, field="weights")
        return float(w @ self.covariance() @ w)

    # ------------------------------------------------------------------ internals
    @property
    def _q_intercept(self) -> np.ndarray:
        params = self._params
        return (1.0 - params.a - params.b) * params.q_bar

    def _require_fitted(self) -> None:
        if self._params is None:
            raise RuntimeError("OnlineDCC: call fit(returns) before update or forecasts")

    def _check_returns(self, returns: np.ndarray, minimum: int | None = None) -> np.ndarray:
        try:
            array = np.asarray(returns, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError("returns: expected a (T, N) array of numbers") from None
        if array.ndim != 2 or array.shape[1] < 2:
            raise ValueError(f"returns: expected shape (T, N >= 2), got {array.shape}")
        if self._params is not None and array.shape[1] != self._mu.size:
            raise ValueError(f"returns: expected {self._mu.size} columns, got {array.shape[1]}")
        needed = self.min_obs if minimum is None else minimum
        if array.shape[0] < needed:
            raise ValueError(f"returns: need at least {needed} rows, got {array.shape[0]}")
        if not np.all(np.isfinite(array)):
            raise ValueError("returns: must all be finite (found NaN or inf)")
        return array

    def _refit_correlation(self) -> None:
        # Engle's second stage: the kept returns standardised by the (refitted)
        # first-stage GARCH parameters, not the residuals of the moment.
        kept = np.column_stack([garch.kept_returns() for garch in self._garch])
        z = _standardised_residuals(self._garch, kept)
        self._mu = np.array([g.params.mu for g in self._garch])
        params, report = self._estimate(z, start=self._params)
        if params is not None:
            self._params = params
        self._since_refit = 0
        self._last_refit = report

    def _estimate(
        self, z: np.ndarray, start: DCCParams | None
    ) -> tuple[DCCParams | None, RefitReport]:
        intensity = None if self.shrinkage == "ledoit_wolf" else self.shrinkage
        # Residuals have mean zero by construction; demeaning would bias q_bar.
        shrunk = constant_correlation_shrinkage(z, demean=False, intensity=intensity)
        scale = 1.0 / np.sqrt(np.diag(shrunk.covariance))
        q_bar = shrunk.covariance * np.outer(scale, scale)

        def negative_log_likelihood(ab: np.ndarray) -> float:
            trial = DCCParams(float(ab[0]), float(ab[1]), q_bar, shrunk.intensity)
            q_path = self._filter_q(z, trial, q_bar)[:-1]
            return -_correlation_log_likelihood(q_path, z)

        x0 = np.array([0.02, 0.95]) if start is None else np.array([start.a, start.b])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence is judged from the flag below
                result = minimize(
                    negative_log_likelihood,
                    x0,
                    method="SLSQP",
                    bounds=[(0.0, 0.5), (0.0, _MAX_PERSISTENCE)],
                    constraints=[{"type": "ineq", "fun": lambda ab: _MAX_PERSISTENCE - ab.sum()}],
                )
        except (ValueError, np.linalg.LinAlgError) as error:
            return None, RefitReport(z.shape[0], self._n_updates, False, f"DCC failed: {error}")
        if not result.success or not np.isfinite(result.fun):
            message = f"DCC did not converge ({result.message}); kept parameters"
            return None, RefitReport(z.shape[0], self._n_updates, False, message)
        a, b = (float(v) for v in np.clip(result.x, 0.0, None))
        params = DCCParams(a, b, q_bar, shrunk.intensity)
        return params, RefitReport(z.shape[0], self._n_updates, True, "converged")

    @staticmethod
    def _filter_q(z: np.ndarray, params: DCCParams, q: np.ndarray) -> np.ndarray:
        """``Q`` before each residual and after the last one: (T + 1, N, N).

        Every entry of ``Q`` is a first-order linear filter with the known
        input ``(1 - a - b) q_bar + a z z'``, so scipy's lfilter runs all of
        them at once.
        """
        n, n_steps = z.shape[1], z.shape[0]
        # Q is symmetric: filter the upper triangle only, each entry's series
        # contiguous in time (lfilter along the last axis is the fast one), in
        # blocks of time so that the scatter into (T, N, N) stays in cache.
        rows, cols = np.triu_indices(n)
        intercept = (1.0 - params.a - params.b) * params.q_bar[rows, cols][:, None]
        full = np.empty((n_steps + 1, n, n))
        full[0] = q
        flat = full.reshape(n_steps + 1, n * n)
        upper, lower = rows * n + cols, cols * n + rows
        state = (params.b * q[rows, cols])[:, None]
        zt = np.ascontiguousarray(z.T)
        for start in range(0, n_steps, _BLOCK):
            stop = min(start + _BLOCK, n_steps)
            drive = intercept + params.a * (zt[rows, start:stop] * zt[cols, start:stop])
            path, state = lfilter([1.0], [1.0, -params.b], drive, axis=-1, zi=state)
            block = np.ascontiguousarray(path.T)
            flat[start + 1 : stop + 1, upper] = block
            flat[start + 1 : stop + 1, lower] = block
        return full


def _standardised_residuals(garch: list[OnlineGARCH], returns: np.ndarray) -> np.ndarray:
    """In-sample ``(r - mu) / sqrt(h)`` of each column under its GARCH's parameters."""
    columns = [
        (column - g.params.mu) / np.sqrt(g.conditional_variance(column))
        for g, column in zip(garch, returns.T, strict=True)
    ]
    return np.column_stack(columns)


def _correlation_log_likelihood(q_path: np.ndarray, z: np.ndarray) -> float:
    """Engle's second-stage log-likelihood, up to constants, of residuals ``z`` under ``q_path``."""
    scale = 1.0 / np.sqrt(np.einsum("tii->ti", q_path))
    r = q_path * scale[:, :, None] * scale[:, None, :]
    sign, logdet = np.linalg.slogdet(r)
    if np.any(sign <= 0):
        return -np.inf
    quadratic = np.einsum("ti,ti->t", z, np.linalg.solve(r, z[:, :, None])[:, :, 0])
    return float(-0.5 * np.sum(logdet + quadratic - np.einsum("ti,ti->t", z, z)))


def _covariance(q_path: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """Covariances ``D R D`` for each row of a ``Q`` path and a variance path, in place.

    ``q_path`` is overwritten (the caller's temporary): the same arithmetic as
    :meth:`OnlineDCC.covariance`, a scale vector, then the exact variances.
    """
    n = q_path.shape[1]
    diagonal = np.arange(n)
    for start in range(0, q_path.shape[0], _BLOCK):
        block = q_path[start : start + _BLOCK]
        var = variances[start : start + _BLOCK]
        scale = np.sqrt(var / block[:, diagonal, diagonal])
        block *= scale[:, :, None]
        block *= scale[:, None, :]
        block[:, diagonal, diagonal] = var
    return q_path
