r"""Online GARCH(1,1) / GJR-GARCH(1,1) with Student-t innovations.

arch estimates the parameters by maximum likelihood; this module runs the
variance recursion one observation at a time, in O(1):

.. math::

    \varepsilon_t = r_t - \mu, \qquad
    h_{t+1} = \omega + (\alpha + \gamma\, 1[\varepsilon_t < 0])\, \varepsilon_t^2 + \beta h_t,

where :math:`h_t` is the forecast of :math:`\operatorname{Var}(r_t)` made at
:math:`t-1` (``gamma = 0`` for plain GARCH). A refit schedule re-estimates the
parameters with arch on the bounded history, warm-started from the current
ones, and keeps the filtered variance: the next forecast continues from the
current :math:`h`, so a refit never causes a jump or a replay.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import deque
from typing import Literal

import numpy as np
from arch import arch_model
from scipy.signal import lfilter

from riskengine._validation import as_int
from riskengine.base import OnlineModel, check_observation

__all__ = ["GARCHParams", "OnlineGARCH", "RefitReport"]

# arch is fitted on percent returns: its optimiser and variance floor are tuned
# for O(1) numbers, and decimal daily returns would be O(0.01).
_SCALE = 100.0


@dataclasses.dataclass(frozen=True)
class GARCHParams:
    """Parameters in decimal-return units (``omega`` in return**2, ``mu`` per period)."""

    mu: float
    omega: float
    alpha: float
    gamma: float
    beta: float
    nu: float

    @property
    def persistence(self) -> float:
        """``alpha + gamma / 2 + beta``: decay of the forecast towards the long-run variance."""
        return self.alpha + self.gamma / 2.0 + self.beta

    @property
    def long_run_variance(self) -> float:
        return self.omega / (1.0 - self.persistence)


@dataclasses.dataclass(frozen=True)
class RefitReport:
    """Outcome of the latest (re)fit: adopted or kept, and why."""

    n_obs: int
    at_update: int
    converged: bool
    message: str


class OnlineGARCH(OnlineModel):
    """GARCH(1,1) or GJR-GARCH(1,1)-t: arch fits it, ``update`` filters it in O(1).

    Parameters
    ----------
    vol : {"GARCH", "GJR"}
        Symmetric GARCH(1,1), or GJR with a leverage term ``gamma``.
    mean : {"zero", "constant"}
        Mean model of the returns.
    refit_every : int or None
        Refit with arch after this many updates (None: only on :meth:`refit`).
    history : int
        Most recent returns kept for refits (bounded memory).
    min_obs : int
        Fewest returns :meth:`fit` accepts; fewer raise ``ValueError``.

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
    """

    def __init__(
        self,
        vol: Literal["GARCH", "GJR"] = "GARCH",
        mean: Literal["zero", "constant"] = "zero",
        refit_every: int | None = None,
        history: int = 2520,
        min_obs: int = 250,
    ) -> None:
        if vol not in ("GARCH", "GJR"):
            raise ValueError(f"vol: expected 'GARCH' or 'GJR', got {vol!r}")
        if mean not in ("zero", "constant"):
            raise ValueError(f"mean: expected 'zero' or 'constant', got {mean!r}")
        self.vol = vol
        self.mean = mean
        self.refit_every = (
            None if refit_every is None else as_int(refit_every, field="refit_every", low=1)
        )
        self.min_obs = as_int(min_obs, field="min_obs", low=50)
        self.history = as_int(history, field="history", low=self.min_obs)
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
        ``ValueError`` naming ``returns`` for fewer than ``min_obs`` values or
        non-finite values, and ``RuntimeError`` if arch does not converge (the
        model stays as it was).
        """
        returns = self._check_returns(returns)
        params, report = self._estimate(returns, start=None)
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
        returns = np.fromiter(self._history, dtype=np.float64)
        params, report = self._estimate(returns, start=self._params)
        if params is not None:
            self._params = params
        self._since_refit = 0
        self._last_refit = report
        return report

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

    def kept_returns(self) -> np.ndarray:
        """The returns kept for refits (at most ``history``), oldest first, as a new array."""
        return np.fromiter(self._history, dtype=np.float64, count=len(self._history))

    def conditional_variance(self, returns: np.ndarray) -> np.ndarray:
        """In-sample conditional variances of ``returns`` under the current parameters.

        Starts from arch's backcast, so on the fitting sample it equals arch's
        ``conditional_volatility**2``. A pure query: the model is unchanged.
        """
        returns = self._check_returns(returns, minimum=1)
        params = self.params
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
        ``persistence = alpha + gamma / 2 + beta`` (symmetric innovations).
        """
        horizon = as_int(horizon, field="horizon", low=1)
        params = self.params
        steps = np.arange(horizon)
        long_run = params.long_run_variance
        return long_run + (self._variance - long_run) * params.persistence**steps

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
        self, returns: np.ndarray, start: GARCHParams | None
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
                dist="t",
                rescale=False,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence is judged from the flag below
                result = model.fit(disp="off", starting_values=starting, show_warning=False)
        except (ValueError, np.linalg.LinAlgError, RuntimeError) as error:
            return None, RefitReport(returns.size, self._n_updates, False, f"arch failed: {error}")
        if result.convergence_flag != 0:
            message = f"arch did not converge (flag {result.convergence_flag}); kept parameters"
            return None, RefitReport(returns.size, self._n_updates, False, message)
        p = result.params
        params = GARCHParams(
            mu=float(p.get("mu", 0.0)) / _SCALE,
            omega=float(p["omega"]) / _SCALE**2,
            alpha=float(p["alpha[1]"]),
            gamma=float(p.get("gamma[1]", 0.0)),
            beta=float(p["beta[1]"]),
            nu=float(p["nu"]),
        )
        return params, RefitReport(returns.size, self._n_updates, True, "converged")

    def _to_arch(self, params: GARCHParams) -> np.ndarray:
        values = [params.mu * _SCALE] if self.mean == "constant" else []
        values += [params.omega * _SCALE**2, params.alpha]
        values += [params.gamma] if self.vol == "GJR" else []
        return np.array([*values, params.beta, params.nu])

    @staticmethod
    def _initial_variance(returns: np.ndarray, params: GARCHParams) -> float:
        """The first variance as arch starts its filter, so both give the same path.

        arch's backcast is an exponentially weighted mean of the first squared
        residuals, used for both the lagged shock and the lagged variance.
        """
        eps = returns[: min(75, returns.size)] - params.mu
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
