r"""Online GARCH(1,1) / GJR-GARCH(1,1) with Student-t or skewed-t innovations.

arch estimates the parameters by maximum likelihood; this module runs the
variance recursion one observation at a time, in O(1):

.. math::

    r_t = \mu + \sqrt{h_t}\, z_t, \qquad
    \varepsilon_t = r_t - \mu, \qquad
    h_{t+1} = \omega + (\alpha + \gamma\, 1[\varepsilon_t < 0])\, \varepsilon_t^2 + \beta h_t,

where :math:`h_t` is the forecast of :math:`\operatorname{Var}(r_t)` made at
:math:`t-1` (``gamma = 0`` for plain GARCH) and the innovations :math:`z_t` are
i.i.d. with mean 0 and variance 1: a standardised Student-t with
:math:`\nu` degrees of freedom (``dist="t"``), or Hansen's (1994) skewed t
with tail parameter :math:`\nu` and skewness :math:`\lambda \in (-1, 1)`
(``dist="skewt"``; :math:`\lambda < 0` puts more mass in the left tail,
:math:`\lambda = 0` is the symmetric t). A refit schedule re-estimates the
parameters with arch on the bounded history, warm-started from the current
ones, and keeps the filtered variance: the next forecast continues from the
current :math:`h`, so a refit never causes a jump or a replay.

One-step risk follows from the innovation's quantile :math:`q_a = F_z^{-1}(a)`
and tail mean :math:`\bar z_a = E[z \mid z \le q_a] = a^{-1}\int_0^a F_z^{-1}(u)\,du`,
both taken from arch's own distribution objects (:class:`arch.univariate.StudentsT`,
:class:`arch.univariate.SkewStudent`) by :mod:`riskengine.forecast.innovations`:

.. math::

    \mathrm{VaR}_a = -(\mu + \sqrt{h_{t+1}}\, q_a), \qquad
    \mathrm{ES}_a = -(\mu + \sqrt{h_{t+1}}\, \bar z_a).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import deque
from typing import Literal

import numpy as np
from arch import arch_model
from scipy.signal import lfilter

from riskengine._validation import as_float, as_int
from riskengine.base import OnlineModel, check_observation
from riskengine.forecast.innovations import (
    arch_shape,
    innovation_quantile,
    innovation_tail_mean,
)

__all__ = ["GARCHParams", "OnlineGARCH", "RefitReport"]

# arch is fitted on percent returns: its optimiser and variance floor are tuned
# for O(1) numbers, and decimal daily returns would be O(0.01).
_SCALE = 100.0
_BOUNDARY = 1e-9  # persistence this close to 1 is the stationarity boundary itself
_MIN_NU = 2.05 + 1e-6  # arch's lower bound on the tail parameter (t and skewed t)
_ROUNDING = 1e-8  # alpha, alpha + gamma above -1e-8: arch's constraints met to rounding


def _check_tail(tail: float) -> float:
    return as_float(tail, field="tail", low=0, high=0.5, low_open=True, high_open=True)


@dataclasses.dataclass(frozen=True)
class GARCHParams:
    r"""Parameters in decimal-return units (``omega`` in return**2, ``mu`` per period).

    ``nu`` is the innovation's tail parameter (arch's ``nu`` for the t, ``eta``
    for the skewed t) and ``lam`` Hansen's skewness :math:`\lambda` (arch's
    ``lambda``; 0 for the symmetric t).
    """

    mu: float
    omega: float
    alpha: float
    gamma: float
    beta: float
    nu: float
    lam: float = 0.0

    @property
    def persistence(self) -> float:
        """``alpha + gamma / 2 + beta``: decay of the forecast towards the long-run variance."""
        return self.alpha + self.gamma / 2.0 + self.beta

    @property
    def long_run_variance(self) -> float:
        """``omega / (1 - persistence)``; ``inf`` for an integrated process (persistence >= 1).

        :meth:`OnlineGARCH.fit` never adopts such parameters, but they can be
        built by hand or come from elsewhere, and no formula divides by zero.
        """
        gap = 1.0 - self.persistence
        return self.omega / gap if gap > 0.0 else math.inf


@dataclasses.dataclass(frozen=True)
class RefitReport:
    """Outcome of the latest (re)fit: adopted or kept, and why."""

    n_obs: int
    at_update: int
    converged: bool
    message: str


class OnlineGARCH(OnlineModel):
    """GARCH(1,1) or GJR-GARCH(1,1), t or skewed t: arch fits it, ``update`` filters it in O(1).

    Parameters
    ----------
    vol : {"GARCH", "GJR"}
        Symmetric GARCH(1,1), or GJR with a leverage term ``gamma``.
    mean : {"zero", "constant"}
        Mean model of the returns.
    dist : {"t", "skewt"}
        Innovation distribution: arch's standardised Student-t (``nu``), or
        Hansen's (1994) skewed t (tail ``nu`` and skewness ``lam``).
    refit_every : int or None
        Refit with arch after this many updates (None: only on :meth:`refit`).
    history : int
        Most recent returns kept for refits (bounded memory).
    min_obs : int
        Fewest returns :meth:`fit` accepts; fewer raise ``ValueError``.
    fallback : bool
        What :meth:`fit` does when arch fails, does not converge or lands on
        the stationarity boundary (real data: a stale price, a short window):
        raise ``RuntimeError`` (False), or try two other starting points and
        then adopt fallback parameters (True; below), reported in
        :attr:`last_refit`. Refits always keep the old parameters instead.

    Notes
    -----
    The fallback parameters are a persistent GARCH whose long-run variance
    is the sample variance: ``alpha = 0.05``, ``gamma = 0.05`` (GJR; else 0),
    ``beta = 0.90``, persistence 0.975 (a half-life of about 27 days, as
    RiskMetrics' lambda 0.94-0.97 implies), ``omega = s^2 (1 - 0.975)``, and a
    Student-t tail with ``nu = 8`` and no skew. Not estimated: a safe start
    that the next refit replaces once the data allow an estimate.

    Examples
    --------
    >>> from arch.data import sp500
    >>> returns = np.log(sp500.load()["Adj Close"]).diff().dropna().to_numpy()
    >>> model = OnlineGARCH(vol="GJR").fit(returns[:1000])
    >>> before = model.variance()
    >>> model.update(-0.03)  # a 3 % fall raises the next forecast
    >>> model.variance() > before
    True
    >>> model.forecast(3).shape
    (3,)

    With skewed-t innovations the left tail is fatter than the right one:

    >>> skewed = OnlineGARCH(vol="GJR", dist="skewt").fit(returns[:1000])
    >>> skewed.params.lam < 0
    True
    >>> var, es = skewed.value_at_risk(0.01), skewed.expected_shortfall(0.01)
    >>> bool(0 < var < es)
    True
    """

    def __init__(
        self,
        vol: Literal["GARCH", "GJR"] = "GARCH",
        mean: Literal["zero", "constant"] = "zero",
        dist: Literal["t", "skewt"] = "t",
        refit_every: int | None = None,
        history: int = 2520,
        min_obs: int = 250,
        fallback: bool = False,
    ) -> None:
        if vol not in ("GARCH", "GJR"):
            raise ValueError(f"vol: expected 'GARCH' or 'GJR', got {vol!r}")
        if mean not in ("zero", "constant"):
            raise ValueError(f"mean: expected 'zero' or 'constant', got {mean!r}")
        if dist not in ("t", "skewt"):
            raise ValueError(f"dist: expected 't' or 'skewt', got {dist!r}")
        self.vol = vol
        self.mean = mean
        self.dist = dist
        self.refit_every = (
            None if refit_every is None else as_int(refit_every, field="refit_every", low=1)
        )
        self.min_obs = as_int(min_obs, field="min_obs", low=50)
        self.history = as_int(history, field="history", low=self.min_obs)
        if type(fallback) is not bool:
            raise TypeError(f"fallback: expected a bool, got {fallback!r}")
        self.fallback = fallback
        self._params: GARCHParams | None = None
        self._variance = float("nan")  # forecast of the next observation's variance
        self._history: deque[float] = deque(maxlen=self.history)
        self._since_refit = 0
        self._n_updates = 0
        self._last_refit: RefitReport | None = None

    # ------------------------------------------------------------------ fitting
    def fit(self, returns: np.ndarray) -> OnlineGARCH:
        """Estimate the parameters with arch on ``returns`` and filter to their end.

        ``returns`` are decimal log returns, oldest first. Raises
        ``ValueError`` naming ``returns`` for fewer than ``min_obs`` values,
        non-finite values or no variation at all (a constant price), and,
        without ``fallback``, ``RuntimeError`` if arch does not converge (the
        model stays as it was).
        """
        returns = self._check_returns(returns)
        if not np.any(returns != returns[0]):
            raise ValueError(
                "returns: every return is the same (a constant price?): no volatility to estimate"
            )
        params, report = self.estimate(returns)
        if params is None and self.fallback:
            params, report = self._fallback(returns, report)
        if params is None:
            raise RuntimeError(f"returns: {report.message}")
        self._params = params
        initial = self._initial_variance(returns, params)
        self._variance = float(self._filter(returns, params, initial)[-1])
        self._history.clear()
        self._history.extend(returns.tolist())
        self._since_refit = 0
        self._last_refit = report
        return self

    def refit(self) -> RefitReport:
        """Re-estimate on the kept history, warm-started; keep the filtered variance.

        If arch fails or does not converge, the previous parameters stay and
        the report says so.
        """
        self._require_fitted()
        params, report = self.estimate(self.kept_returns(), start=self._params)
        self.adopt(params, report)
        return report

    def estimate(
        self,
        returns: np.ndarray,
        start: GARCHParams | None = None,
        at_update: int | None = None,
    ) -> tuple[GARCHParams | None, RefitReport]:
        """Estimate the parameters on ``returns`` with arch; the model is not changed.

        The half of a refit that takes time, and needs nothing but this
        model's specification, the data and a warm start: a background refit
        runs it on a copy (:meth:`adopt` is the other half). Returns ``None``
        and a report saying why when arch fails, does not converge, or lands
        on the stationarity boundary; never raises for those.

        ``returns`` must be finite decimal returns (validated by the caller),
        ``start`` the warm start (None: arch's own starting values), and
        ``at_update`` the update count the report records (default: now).
        """
        at = self._n_updates if at_update is None else at_update
        return self._estimate(np.asarray(returns, dtype=np.float64), start, at)

    def adopt(self, params: GARCHParams | None, report: RefitReport) -> None:
        """Take the outcome of :meth:`estimate`: new parameters, or None to keep the old ones.

        The filtered variance is kept, so the next forecast continues from it;
        the refit schedule restarts and :attr:`last_refit` is ``report``.
        """
        self._require_fitted()
        if params is not None:
            self._params = params
        self._since_refit = 0
        self._last_refit = report

    def adapt(self) -> RefitReport:
        """A change was detected: refit now (warm-started, filtered state kept)."""
        return self.refit()

    # ------------------------------------------------------------------ online
    def update(self, x: float) -> None:
        """Learn from one return: O(1) variance update, then a scheduled refit if due."""
        value = check_observation(x)
        self._require_fitted()
        self._learn(value)

    def _learn(self, value: float) -> None:
        """:meth:`update` for a value already validated (the multi-asset models' hot path)."""
        self._variance = self._next_variance(value, self._variance, self._params)
        self._history.append(value)
        self._n_updates += 1
        self._since_refit += 1
        if self.refit_every is not None and self._since_refit >= self.refit_every:
            self.refit()

    def replay(self, returns: np.ndarray) -> np.ndarray:
        """Feed many returns at once; return the variance forecast made before each one.

        Gives the same numbers as calling :meth:`update` in a loop (to 1e-10),
        refits included, but each stretch between refits is one vectorised
        linear filter instead of a Python loop.
        """
        self._require_fitted()
        returns = self._check_returns(returns, minimum=0)
        forecasts = np.empty(returns.size + 1)
        forecasts[0] = self._variance
        done = 0
        while done < returns.size:
            if self.refit_every is None:
                stretch = returns.size - done
            else:
                stretch = min(returns.size - done, self.refit_every - self._since_refit)
            chunk = returns[done : done + stretch]
            path = self._filter(chunk, self._params, self._variance)
            forecasts[done + 1 : done + stretch + 1] = path[1:]
            self._variance = float(path[-1])
            self._history.extend(chunk.tolist())
            self._n_updates += stretch
            self._since_refit += stretch
            done += stretch
            if self.refit_every is not None and self._since_refit >= self.refit_every:
                self.refit()
        return forecasts[:-1]

    def variance_path(self, returns: np.ndarray) -> np.ndarray:
        """The forecasts :meth:`replay` would make, without learning anything: length ``n + 1``.

        Element ``t`` is the forecast made before ``returns[t]``, the last one
        the forecast after them all, under the current parameters (no refit
        inside). ``returns`` must be finite (validated by the caller).
        """
        self._require_fitted()
        return self._filter(np.asarray(returns, dtype=np.float64), self._params, self._variance)

    def kept_returns(self) -> np.ndarray:
        """The returns kept for refits (at most ``history``), oldest first, as a new array."""
        return np.fromiter(self._history, dtype=np.float64, count=len(self._history))

    def conditional_variance(
        self, returns: np.ndarray, params: GARCHParams | None = None
    ) -> np.ndarray:
        """In-sample conditional variances of ``returns`` under ``params`` (default: the fitted).

        Starts from arch's backcast, so on the fitting sample it equals arch's
        ``conditional_volatility**2``. A pure query: the model is unchanged.
        """
        returns = self._check_returns(returns, minimum=1)
        params = self.params if params is None else params
        return self._filter(returns, params, self._initial_variance(returns, params))[:-1]

    # ------------------------------------------------------------------ queries
    @property
    def params(self) -> GARCHParams:
        self._require_fitted()
        return self._params

    @property
    def last_refit(self) -> RefitReport | None:
        return self._last_refit

    def variance(self) -> float:
        """Forecast of the next return's variance (decimal units)."""
        self._require_fitted()
        return self._variance

    def forecast(self, horizon: int) -> np.ndarray:
        """Variance forecasts for 1..``horizon`` steps ahead.

        ``E[h_{t+k}] = omega + persistence * E[h_{t+k-1}]``, with
        ``persistence = alpha + gamma / 2 + beta``: ``gamma`` is weighted by 1/2,
        as arch's own forecasts do for every distribution. That is exact for the
        symmetric t; for the skewed t the exact weight is :math:`E[z^2 1[z < 0]]`,
        so beyond one step it is an approximation. The one-step forecast, which
        VaR and ES use, is exact.
        """
        horizon = as_int(horizon, field="horizon", low=1)
        params = self.params
        steps = np.arange(horizon)
        persistence = params.persistence
        if persistence < 1.0:
            long_run = params.long_run_variance
            return long_run + (self._variance - long_run) * persistence**steps
        # Integrated (or explosive) parameters, which fit never adopts but a caller can
        # build: no long-run level, so sum the recursion E[h_k+1] = omega + p E[h_k] itself.
        powers = persistence**steps
        return self._variance * powers + params.omega * np.concatenate(
            [[0.0], np.cumsum(powers[:-1])]
        )

    def value_at_risk(self, tail: float) -> float:
        r"""One-step Value-at-Risk at tail probability ``tail``, as a positive loss.

        .. math::

            \mathrm{VaR}_a = -(\mu + \sqrt{h_{t+1}}\, q_a), \qquad q_a = F_z^{-1}(a),

        with :math:`F_z^{-1}` the innovation's quantile function, arch's own
        ``ppf`` (:class:`arch.univariate.StudentsT` or
        :class:`arch.univariate.SkewStudent`, both standardised to unit
        variance) at the parameters in force. A loss above it should happen
        with probability ``tail``.

        Parameters
        ----------
        tail : float
            Tail probability in (0, 0.5): 0.01 for the 99 % VaR.

        Returns
        -------
        float
            The loss threshold, in return units (0.02 is a 2 % loss).

        Examples
        --------
        >>> from arch.data import sp500
        >>> returns = np.log(sp500.load()["Adj Close"]).diff().dropna().to_numpy()
        >>> model = OnlineGARCH().fit(returns[:1000])
        >>> round(model.value_at_risk(0.01), 4)  # a 2.94 % loss, exceeded on 1 % of days
        0.0294
        >>> round(model.value_at_risk(0.025), 4)
        0.024
        >>> model.value_at_risk(0.5)
        Traceback (most recent call last):
        ValueError: tail: must be < 0.5, got 0.5
        """
        tail = _check_tail(tail)
        params = self.params
        quantile = innovation_quantile(self.dist, params.nu, params.lam, tail)
        return -(params.mu + math.sqrt(self._variance) * quantile)

    def expected_shortfall(self, tail: float) -> float:
        r"""One-step Expected Shortfall at tail probability ``tail``, as a positive loss.

        .. math::

            \mathrm{ES}_a = -(\mu + \sqrt{h_{t+1}}\, \bar z_a), \qquad
            \bar z_a = E[z \mid z \le q_a] = \frac{1}{a} \int_0^a F_z^{-1}(u)\, du,

        the mean loss beyond the VaR. The integral of arch's quantile function
        is computed by ``scipy.integrate.quad`` (its singularity at 0 removed
        by the substitution :math:`u = a s^8`) once per parameter set and
        tail, and cached, so the hot path does not integrate. For the
        symmetric t it equals the closed form of
        :func:`riskengine.scoring.student_t_var_es`, and for the skewed t arch's
        analytic partial moment, to better than 2e-12 relative.

        Parameters
        ----------
        tail : float
            Tail probability in (0, 0.5): 0.025 for the 97.5 % ES of the FRTB.

        Returns
        -------
        float
            The loss threshold, in return units; always above the VaR.

        Examples
        --------
        >>> from arch.data import sp500
        >>> returns = np.log(sp500.load()["Adj Close"]).diff().dropna().to_numpy()
        >>> model = OnlineGARCH().fit(returns[:1000])
        >>> round(model.expected_shortfall(0.025), 4)  # beyond the 97.5 % VaR of 0.024
        0.0299
        >>> model.expected_shortfall(0.0)
        Traceback (most recent call last):
        ValueError: tail: must be > 0, got 0.0
        """
        tail = _check_tail(tail)
        params = self.params
        tail_mean = innovation_tail_mean(self.dist, params.nu, params.lam, tail)
        return -(params.mu + math.sqrt(self._variance) * tail_mean)

    # ------------------------------------------------------------------ internals
    def _require_fitted(self) -> None:
        if self._params is None:
            raise RuntimeError("OnlineGARCH: call fit(returns) before update or forecasts")

    def _check_returns(self, returns: np.ndarray, minimum: int | None = None) -> np.ndarray:
        try:
            array = np.asarray(returns, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError("returns: expected a 1-d array of numbers") from None
        if array.ndim != 1:
            raise ValueError(f"returns: expected a 1-d array, got shape {array.shape}")
        needed = self.min_obs if minimum is None else minimum
        if array.size < needed:
            raise ValueError(f"returns: need at least {needed} observations, got {array.size}")
        if not np.all(np.isfinite(array)):
            raise ValueError("returns: must all be finite (found NaN or inf)")
        return array

    def _estimate(
        self, returns: np.ndarray, start: GARCHParams | None, at_update: int
    ) -> tuple[GARCHParams | None, RefitReport]:
        starting = None if start is None else self._to_arch(start)
        try:
            model = arch_model(
                returns * _SCALE,
                mean="Zero" if self.mean == "zero" else "Constant",
                vol="GARCH",
                p=1,
                o=1 if self.vol == "GJR" else 0,
                q=1,
                dist=self.dist,
                rescale=False,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence is judged from the flag below
                result = model.fit(disp="off", starting_values=starting, show_warning=False)
        except (ValueError, np.linalg.LinAlgError, RuntimeError) as error:
            return None, RefitReport(returns.size, at_update, False, f"arch failed: {error}")
        if result.convergence_flag != 0:
            message = f"arch did not converge (flag {result.convergence_flag}); kept parameters"
            return None, RefitReport(returns.size, at_update, False, message)
        p = result.params
        params = GARCHParams(
            mu=float(p.get("mu", 0.0)) / _SCALE,
            omega=float(p["omega"]) / _SCALE**2,
            alpha=float(p["alpha[1]"]),
            gamma=float(p.get("gamma[1]", 0.0)),
            beta=float(p["beta[1]"]),
            nu=float(p["nu"] if self.dist == "t" else p["eta"]),
            lam=float(p["lambda"]) if self.dist == "skewt" else 0.0,
        )
        if (
            not params.omega > 0.0
            or min(params.alpha, params.beta, params.alpha + params.gamma) < -_ROUNDING
            or params.nu <= _MIN_NU
        ):
            # arch's constraint alpha + gamma >= 0 holds to rounding (-1e-17 on the boundary,
            # harmless); far below it the variance can turn negative. On a stale price (mostly
            # zero returns) arch's optimum can sit there, with nu on its lower bound (tails
            # without a finite fourth moment).
            message = (
                f"degenerate fit (omega {params.omega:.3g}, alpha {params.alpha:.3g}, "
                f"gamma {params.gamma:.3g}, beta {params.beta:.3g}, nu {params.nu:.3g}); "
                "kept parameters"
            )
            return None, RefitReport(returns.size, at_update, False, message)
        if params.persistence >= 1.0 - _BOUNDARY:
            # arch's stationarity constraint is alpha + gamma / 2 + beta <= 1, and on real
            # data it can bind: the fit then has no long-run variance (omega / 0), which
            # the forecasts and the engine's limit scaling divide by. Not adopted.
            message = (
                f"boundary fit (persistence {params.persistence:.12f} >= 1 - {_BOUNDARY:g}: "
                "no long-run variance); kept parameters"
            )
            return None, RefitReport(returns.size, at_update, False, message)
        return params, RefitReport(returns.size, at_update, True, "converged")

    def _fallback(
        self, returns: np.ndarray, failed: RefitReport
    ) -> tuple[GARCHParams, RefitReport]:
        """Two other starting points, then the fallback parameters (class docstring)."""
        mu = float(returns.mean()) if self.mean == "constant" else 0.0
        variance = float(np.mean((returns - mu) ** 2))
        gamma = 0.05 if self.vol == "GJR" else 0.0
        for alpha, beta in ((0.05, 0.90), (0.10, 0.80)):
            persistence = alpha + gamma / 2.0 + beta
            start = GARCHParams(mu, variance * (1.0 - persistence), alpha, gamma, beta, 8.0, 0.0)
            params, report = self.estimate(returns, start=start)
            if params is not None:
                message = f"converged from another start after: {failed.message}"
                return params, RefitReport(report.n_obs, report.at_update, True, message)
        persistence = 0.05 + gamma / 2.0 + 0.90
        params = GARCHParams(mu, variance * (1.0 - persistence), 0.05, gamma, 0.90, 8.0, 0.0)
        message = f"fallback parameters (persistence {persistence:g}) after: {failed.message}"
        return params, RefitReport(returns.size, failed.at_update, False, message)

    def _to_arch(self, params: GARCHParams) -> np.ndarray:
        values = [params.mu * _SCALE] if self.mean == "constant" else []
        values += [params.omega * _SCALE**2, params.alpha]
        values += [params.gamma] if self.vol == "GJR" else []
        return np.array([*values, params.beta, *arch_shape(self.dist, params.nu, params.lam)])

    def _initial_variance(self, returns: np.ndarray, params: GARCHParams) -> float:
        """The first variance as arch starts its filter, so both give the same path.

        arch's backcast is an exponentially weighted mean of the first squared
        residuals, used for both the lagged shock and the lagged variance. arch
        takes those residuals at its mean model's starting values, not at the
        estimates: about the sample mean of ``returns`` for a constant mean.
        """
        centre = float(returns.mean()) if self.mean == "constant" else 0.0
        eps = returns[: min(75, returns.size)] - centre
        weights = 0.94 ** np.arange(eps.size)
        backcast = float(weights @ eps**2 / weights.sum())
        return params.omega + params.persistence * backcast

    @staticmethod
    def _next_variance(value: float, variance: float, params: GARCHParams) -> float:
        eps = value - params.mu
        alpha = params.alpha + (params.gamma if eps < 0 else 0.0)
        return params.omega + alpha * eps * eps + params.beta * variance

    @staticmethod
    def _filter(returns: np.ndarray, params: GARCHParams, variance: float) -> np.ndarray:
        """``h`` before each return and after the last one: length ``n + 1``.

        ``h_{t+1} = beta h_t + u_t`` with the known input ``u_t = omega + a_t eps_t^2``
        is a first-order linear filter, so scipy's lfilter runs it in C.
        """
        eps = returns - params.mu
        drive = params.omega + (params.alpha + params.gamma * (eps < 0)) * eps**2
        path, _ = lfilter([1.0], [1.0, -params.beta], drive, zi=[params.beta * variance])
        return np.concatenate([[variance], path])
