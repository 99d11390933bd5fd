r"""Filtered Gaussian HMM over return features: hmmlearn fits it, ``update`` filters it.

**Feature map.** An observation is the returns :math:`x_t` of :math:`N \ge 1`
assets (a float when :math:`N = 1`). With :math:`s` the root mean square
return of the data given to :meth:`OnlineRegimeHMM.fit` (kept through refits,
so features stay comparable) and ``floor`` a small constant,

.. math::

    v_t = \log\Bigl(\frac{1}{N} \sum_i (x_{t,i} / s)^2 + \text{floor}\Bigr), \qquad
    m_t = \frac{1}{N} \sum_i x_{t,i} / s,

and the feature vector is :math:`f_t = (v_t)` (``features="log_square"``) or
:math:`f_t = (m_t, v_t)` (``"return_and_log_square"``). The log makes the
emission of a fat-tailed return roughly Gaussian, and the cross-sectional
mean square uses every asset of the step, so a regime shows up sooner.

**Filter** (Hamilton 1989). With transition matrix :math:`A`, Gaussian
emission densities :math:`b_k(f) = N(f; \mu_k, \Sigma_k)` and the filtered
probabilities :math:`\alpha_{t-1} = P(s_{t-1} \mid f_1, \dots, f_{t-1})`,

.. math::

    \pi_{t \mid t-1} = \alpha_{t-1} A, \qquad
    \alpha_{t,k} = \frac{\pi_{t \mid t-1, k}\, b_k(f_t)}{\sum_j \pi_{t \mid t-1, j}\, b_j(f_t)},

so :math:`\alpha_t` uses data up to :math:`t` only (never the smoothed
posterior, which looks ahead). The first fitted row uses ``startprob`` as its
prediction. The update costs :math:`O(K^2)` and runs in plain Python on
precomputed constants (a handful of numpy calls would cost more than the
arithmetic for :math:`K \le 4`).

**Labels.** After every (re)fit the states are sorted by the mean of
:math:`v` (their volatility), so state 0 is the calmest. A refit starts EM from
the current parameters, re-sorts, and carries the filtered probabilities over
to the new labels, so the filter continues without a jump.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections import deque
from typing import Any, Literal

import numpy as np
from hmmlearn.hmm import GaussianHMM
from scipy.linalg import solve_triangular
from scipy.signal import lfilter

from riskengine._validation import as_float, as_int, check_seed
from riskengine.base import OnlineModel, check_observation, check_vector
from riskengine.forecast.garch import RefitReport

__all__ = ["HMMParams", "HMMRefit", "OnlineRegimeHMM"]

_FEATURES = ("log_square", "return_and_log_square")
_COVARIANCES = ("full", "diag")
_OUTPUTS = ("predicted", "filtered")
# EM starts from a volatility-sorted split of the history: rows ranked by an
# exponentially smoothed log mean square (smoothing 0.9, about a ten-day memory)
# and cut into K equal groups; the starting transition matrix is persistent.
_INIT_SMOOTHING = 0.9
_INIT_PERSISTENCE = 0.95
# A transition EM never saw would get probability 0 and make a regime
# unreachable from the others; this floor keeps every regime reachable.
_MIN_TRANSITION = 1e-8
_LOG_2PI = math.log(2.0 * math.pi)
# Emission likelihood ratios are capped at exp(600): no decision hinges on odds
# beyond that, and with the transition floor it keeps every filtered
# probability a normal float (above ~1e-270), never a subnormal or zero.
_LOG_RATIO_CAP = 600.0
# Rows per block of the batch filter's prefix scan (see _forward).
_BLOCK = 32


@dataclasses.dataclass(frozen=True, eq=False)
class HMMParams:
    """Fitted parameters, states sorted by volatility (read-only arrays).

    Attributes
    ----------
    startprob : ndarray (K,)
    transmat : ndarray (K, K)
        ``transmat[i, j] = P(s_{t+1} = j | s_t = i)``.
    means : ndarray (K, d)
        Emission means of the features.
    covars : ndarray (K, d, d)
        Emission covariances of the features (diagonal for ``covariance_type="diag"``).
    scale : float
        Root mean square return of the fit data; features use ``x / scale``.
    """

    startprob: np.ndarray
    transmat: np.ndarray
    means: np.ndarray
    covars: np.ndarray
    scale: float

    def __post_init__(self) -> None:
        for name in ("startprob", "transmat", "means", "covars"):
            array = np.array(getattr(self, name), dtype=np.float64)
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @property
    def volatility(self) -> np.ndarray:
        """``scale * exp(mean of v / 2)`` per state, increasing: a typical return size.

        It is a geometric mean, so it sits below the standard deviation
        (``E[log z^2] < log E[z^2]``); it is meant for ordering and reading.
        """
        return self.scale * np.exp(self.means[:, -1] / 2.0)


@dataclasses.dataclass(frozen=True, eq=False)
class HMMRefit:
    """The outcome of :meth:`OnlineRegimeHMM.estimate_refit`.

    ``params`` is None where EM was not adopted; ``order`` maps the new
    (volatility-sorted) labels to the old ones.
    """

    params: HMMParams | None
    report: RefitReport
    order: tuple[int, ...]


class OnlineRegimeHMM(OnlineModel):
    """Gaussian HMM over return features, fitted by hmmlearn, filtered one step at a time.

    Parameters
    ----------
    n_regimes : int
        Number of hidden regimes K (2 to 8); state 0 is the calmest.
    features : {"log_square", "return_and_log_square"}
        The feature map (module docstring): ``(v)`` or ``(m, v)``.
    covariance_type : {"full", "diag"}
        Emission covariance of the features (the same for one feature).
    refit_every : int or None
        Refit with hmmlearn after this many updates (None: only on :meth:`refit`).
    history : int
        Most recent feature rows kept for refits (bounded memory).
    min_obs : int
        Fewest rows :meth:`fit` accepts (at least ``20 * n_regimes``).
    n_iter, tol : int, float
        EM iteration cap and convergence tolerance on the log-likelihood gain.
        EM that stops at ``n_iter`` without a gain below ``tol`` has not converged.
    floor : float
        Added to the scaled mean square before the log, so a zero return gives
        a finite feature.
    seed : int
        hmmlearn's ``random_state``.
    fallback : bool
        When EM fails in :meth:`fit`: raise ``RuntimeError`` (False), or adopt
        its starting point, the history split into K volatility bands (True),
        reported in :attr:`last_refit`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sigma = np.repeat([0.01, 0.03, 0.01, 0.03], 150)
    >>> returns = rng.standard_normal((600, 2)) * sigma[:, None]
    >>> model = OnlineRegimeHMM(n_regimes=2).fit(returns)
    >>> model.params.volatility.round(3).tolist()  # geometric-mean return size per state
    [0.007, 0.023]
    >>> model.regime()
    1
    >>> for x in rng.standard_normal((10, 2)) * 0.01:
    ...     model.update(x)
    >>> model.regime(), model.regime_proba().round(3).tolist()
    (0, [0.999, 0.001])
    >>> model.forecast(2).round(3).tolist()
    [[0.981, 0.019], [0.964, 0.036]]
    """

    def __init__(
        self,
        n_regimes: int = 3,
        features: Literal["log_square", "return_and_log_square"] = "log_square",
        covariance_type: Literal["full", "diag"] = "full",
        refit_every: int | None = None,
        history: int = 2520,
        min_obs: int = 250,
        n_iter: int = 500,
        tol: float = 1e-3,
        floor: float = 1e-4,
        seed: int = 0,
        fallback: bool = False,
    ) -> None:
        if features not in _FEATURES:
            raise ValueError(f"features: expected one of {list(_FEATURES)}, got {features!r}")
        if covariance_type not in _COVARIANCES:
            raise ValueError(
                f"covariance_type: expected one of {list(_COVARIANCES)}, got {covariance_type!r}"
            )
        self.n_regimes = as_int(n_regimes, field="n_regimes", low=2, high=8)
        self.features = features
        self.covariance_type = covariance_type
        self.refit_every = (
            None if refit_every is None else as_int(refit_every, field="refit_every", low=1)
        )
        self.min_obs = as_int(min_obs, field="min_obs", low=20 * self.n_regimes)
        self.history = as_int(history, field="history", low=self.min_obs)
        self.n_iter = as_int(n_iter, field="n_iter", low=1)
        self.tol = as_float(tol, field="tol", low=0, low_open=True)
        self.floor = as_float(floor, field="floor", low=0, low_open=True)
        self.seed = check_seed(seed)
        if type(fallback) is not bool:
            raise TypeError(f"fallback: expected a bool, got {fallback!r}")
        self.fallback = fallback
        self._params: HMMParams | None = None
        self._n_assets = 0  # 0: fitted on a 1-d series, observations are floats
        self._alpha: list[float] = []  # P(s_t | data up to t)
        # Hot-path constants, rebuilt from _params by _adopt():
        self._columns: tuple[tuple[float, ...], ...] = ()  # columns of the transition matrix
        self._emission: tuple[tuple[float, ...], ...] = ()  # per state: const, means, W
        self._inv_n_scale = 0.0  # 1 / (N s)
        self._inv_n_scale2 = 0.0  # 1 / (N s^2)
        self._history: deque[tuple[float, ...]] = deque(maxlen=self.history)
        self._since_refit = 0
        self._n_updates = 0
        self._last_refit: RefitReport | None = None

    # ------------------------------------------------------------------ fitting
    def fit(self, data: np.ndarray) -> OnlineRegimeHMM:
        """Estimate the HMM with hmmlearn on ``data`` and filter to its end.

        ``data`` holds returns as decimals, oldest first: a 1-d series (the
        model then takes floats) or a ``(n, N)`` array (the model then takes
        vectors of N returns). Raises ``ValueError`` naming ``data`` for fewer
        than ``min_obs`` rows or non-finite values, and ``RuntimeError`` if EM
        fails or does not converge (the model stays as it was).
        """
        rows = self._check_data(data, minimum=self.min_obs, field="data")
        scale = math.sqrt(float(np.mean(rows**2)))
        if scale == 0.0:
            raise ValueError("data: every return is zero; the features need a scale")
        n_assets = rows.shape[1]
        features = self._feature_matrix(rows, scale)
        guess = self._initial_guess(features)
        params, report, _ = self._estimate(features, guess, scale, self._n_updates)
        if params is None and self.fallback:
            # EM's own starting point: the history split into K volatility bands.
            params = HMMParams(*guess, scale=scale)
            message = f"fallback parameters (the starting split) after: {report.message}"
            report = RefitReport(report.n_obs, report.at_update, False, message)
        if params is None:
            raise RuntimeError(f"data: {report.message}")
        self._n_assets = n_assets if np.ndim(data) == 2 else 0
        self._adopt(params)
        filtered = _forward(params.startprob, self._log_emission(features), params.transmat)
        self._alpha = filtered[-1].tolist()
        self._history.clear()
        self._history.extend(map(tuple, features.tolist()))
        self._since_refit = 0
        self._last_refit = report
        return self

    def refit(self) -> RefitReport:
        """Re-estimate on the kept features, warm-started; keep the filtered probabilities.

        EM starts from the current parameters; the states are then re-sorted by
        volatility and the filtered probabilities follow their state to its new
        label. If hmmlearn raises, does not converge, or returns degenerate
        parameters, the previous parameters stay and the report says so.
        """
        params = self._require_fitted()
        features = np.array(self._history, dtype=np.float64)
        refit = self._estimate_features(features, params, self._n_updates)
        self.adopt_refit(refit)
        return refit.report

    def estimate_refit(
        self, data: np.ndarray, start: HMMParams, at_update: int | None = None
    ) -> HMMRefit:
        """Run EM on ``data`` (returns, as :meth:`fit` takes them) from ``start``; no change here.

        The slow half of :meth:`refit`, a function of this model's
        specification and its arguments only, so a background refit can run
        it on a copy (:meth:`adopt_refit` is the fast half). The features use
        ``start.scale``, so on the kept returns they equal the kept features
        exactly. Failures are reported, never raised.
        """
        rows = self._check_data(data, minimum=1, field="data")
        at = self._n_updates if at_update is None else at_update
        return self._estimate_features(self._feature_matrix(rows, start.scale), start, at)

    def adopt_refit(self, refit: HMMRefit) -> None:
        """Take the outcome of :meth:`estimate_refit`; the probabilities follow their states."""
        self._require_fitted()
        if refit.params is not None:
            if refit.params.means.shape != self._params.means.shape:
                raise ValueError(
                    f"refit: parameters of shape {refit.params.means.shape}, "
                    f"the model's are {self._params.means.shape}"
                )
            self._adopt(refit.params)
            self._alpha = [self._alpha[int(k)] for k in refit.order]
        self._since_refit = 0
        self._last_refit = refit.report

    def _estimate_features(self, features: np.ndarray, start: HMMParams, at: int) -> HMMRefit:
        guess = (start.startprob, start.transmat, start.means, start.covars)
        new, report, order = self._estimate(features, guess, start.scale, at)
        return HMMRefit(new, report, tuple(int(k) for k in order))

    # ------------------------------------------------------------------ online
    def update(self, x: Any) -> None:
        """Learn from one observation: one forward-filter step, then a scheduled refit if due.

        ``x`` is a float (model fitted on a 1-d series) or N returns. NaN, inf,
        non-numbers or a wrong shape raise ``ValueError``/``TypeError`` naming
        ``x`` and leave the model unchanged.
        """
        self._require_fitted()
        self._learn(self._features_of(x))

    def replay(
        self, data: np.ndarray, output: Literal["predicted", "filtered"] = "predicted"
    ) -> np.ndarray:
        """Feed many observations at once; return one row of K probabilities per observation.

        ``output="predicted"`` (the house convention for ``replay``: what was
        known before each observation) gives :math:`P(s_t \\mid x_1..x_{t-1})`,
        which is ``forecast(1)[0]`` read just before the update;
        ``"filtered"`` gives :math:`P(s_t \\mid x_1..x_t)`, which is
        :meth:`regime_proba` read just after it. Either way the model ends in the
        state a loop of :meth:`update` would leave, refits included, to 1e-10.

        Each stretch between scheduled refits is filtered at once: the forward
        recursion is a product of K x K matrices, run as a blocked parallel
        prefix scan (vectorised numpy, one carry per 32 rows) instead of a
        Python loop per row.
        """
        if output not in _OUTPUTS:
            raise ValueError(f"output: expected one of {list(_OUTPUTS)}, got {output!r}")
        params = self._require_fitted()
        rows = self._check_data(data, minimum=0, field="data", n_assets=self._n_assets)
        features = self._feature_matrix(rows, params.scale)
        out = np.empty((features.shape[0], self.n_regimes))
        done = 0
        while done < features.shape[0]:
            stretch = features.shape[0] - done
            if self.refit_every is not None:
                stretch = min(stretch, self.refit_every - self._since_refit)
            chunk = features[done : done + stretch]
            params = self._params
            alpha = np.array(self._alpha)
            predicted = alpha @ params.transmat
            filtered = _forward(predicted, self._log_emission(chunk), params.transmat)
            if output == "filtered":
                out[done : done + stretch] = filtered
            else:
                before = np.vstack([alpha, filtered[:-1]])
                out[done : done + stretch] = before @ params.transmat
            self._alpha = filtered[-1].tolist()
            self._history.extend(map(tuple, chunk.tolist()))
            self._n_updates += stretch
            self._since_refit += stretch
            done += stretch
            if self.refit_every is not None and self._since_refit >= self.refit_every:
                self.refit()
        return out

    # ------------------------------------------------------------------ queries
    @property
    def params(self) -> HMMParams:
        return self._require_fitted()

    @property
    def last_refit(self) -> RefitReport | None:
        return self._last_refit

    def regime_proba(self) -> np.ndarray:
        """Filtered probabilities :math:`P(s_t = k \\mid x_1..x_t)`, shape (K,), calmest first."""
        self._require_fitted()
        return np.array(self._alpha)

    def regime(self) -> int:
        """The most probable current regime (0 = calmest)."""
        self._require_fitted()
        return max(range(self.n_regimes), key=self._alpha.__getitem__)

    def forecast(self, horizon: int) -> np.ndarray:
        """Regime probabilities 1..``horizon`` steps ahead, shape (horizon, K): ``alpha A^h``."""
        horizon = as_int(horizon, field="horizon", low=1)
        params = self._require_fitted()
        out = np.empty((horizon, self.n_regimes))
        proba = np.array(self._alpha)
        for step in range(horizon):
            proba = proba @ params.transmat
            out[step] = proba
        return out

    # ------------------------------------------------------------------ internals
    def _require_fitted(self) -> HMMParams:
        if self._params is None:
            raise RuntimeError("OnlineRegimeHMM: call fit(data) before update or queries")
        return self._params

    def _learn(self, feature: tuple[float, ...]) -> None:
        """One forward step on a validated feature row (shared by the detectors)."""
        alpha = self._alpha
        predicted = [sum(map(float.__mul__, alpha, column)) for column in self._columns]
        if len(feature) == 1:
            v = feature[0]
            log_b = [c - 0.5 * ((v - mu) * w) ** 2 for c, mu, w in self._emission]
        else:
            m, v = feature
            log_b = []
            for c, mu_m, mu_v, w_mm, w_vm, w_vv in self._emission:
                dm, dv = m - mu_m, v - mu_v
                y_m, y_v = dm * w_mm, dm * w_vm + dv * w_vv
                log_b.append(c - 0.5 * (y_m * y_m + y_v * y_v))
        # Scaling by the largest emission keeps exp() in range; the state that has
        # it keeps its predicted probability (>= the transition floor), so the
        # total is never zero.
        top = max(log_b)
        weights = [
            p * math.exp(gap if (gap := lb - top) > -_LOG_RATIO_CAP else -_LOG_RATIO_CAP)
            for p, lb in zip(predicted, log_b, strict=True)
        ]
        norm = 1.0 / sum(weights)
        self._alpha = [w * norm for w in weights]
        self._history.append(feature)
        self._n_updates += 1
        self._since_refit += 1
        if self.refit_every is not None and self._since_refit >= self.refit_every:
            self.refit()

    def _values_of(self, x: Any) -> list[float]:
        """Validate one observation; return its returns as floats (nothing is mutated)."""
        if self._n_assets == 0:
            return [check_observation(x)]
        if type(x) is np.ndarray and x.dtype == np.float64 and x.shape == (self._n_assets,):
            values = x.tolist()  # fast path: the engine feeds float64 rows
            if math.isfinite(sum(values)):  # NaN and inf propagate into the sum
                return values
        return check_vector(x, self._n_assets).tolist()

    def _features_of(self, x: Any) -> tuple[float, ...]:
        return self._feature_row(self._values_of(x))

    def _feature_row(self, values: list[float]) -> tuple[float, ...]:
        """The feature map of one validated observation (overflow raises naming ``x``)."""
        square = sum([value * value for value in values])
        if not square < math.inf:
            raise ValueError("x: too large to square (overflow)")
        v = math.log(square * self._inv_n_scale2 + self.floor)
        if self.features == "log_square":
            return (v,)
        return (sum(values) * self._inv_n_scale, v)

    def _feature_matrix(self, rows: np.ndarray, scale: float) -> np.ndarray:
        n_assets = rows.shape[1]
        scaled = np.sum(rows * rows, axis=1) * (1.0 / (n_assets * scale * scale)) + self.floor
        # math.log, not np.log: numpy's vectorised log may differ from libm's in
        # the last bit, and the kept features must equal the streaming path's
        # exactly, or a refit's EM can stop one iteration earlier or later.
        v = np.array([math.log(value) for value in scaled.tolist()])
        if self.features == "log_square":
            return v[:, None]
        return np.column_stack([np.sum(rows, axis=1) * (1.0 / (n_assets * scale)), v])

    def _check_data(
        self, data: Any, *, minimum: int, field: str, n_assets: int | None = None
    ) -> np.ndarray:
        """Validated ``(n, N)`` float64 copy of a 1-d series or a 2-d array of returns."""
        try:
            array = np.array(data, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{field}: expected an array of numbers") from None
        if array.ndim == 1:
            array = array[:, None]
            expected = 0
        elif array.ndim == 2:
            expected = array.shape[1]
        else:
            raise ValueError(f"{field}: expected a 1-d or 2-d array, got shape {array.shape}")
        if n_assets is not None and expected != n_assets:
            want = "a 1-d series" if n_assets == 0 else f"rows of {n_assets} returns"
            raise ValueError(f"{field}: the model was fitted on {want}, got shape {np.shape(data)}")
        if array.shape[0] < minimum:
            raise ValueError(f"{field}: need at least {minimum} rows, got {array.shape[0]}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{field}: must all be finite (found NaN or inf)")
        return array

    def _initial_guess(self, features: np.ndarray) -> tuple[np.ndarray, ...]:
        k, d = self.n_regimes, features.shape[1]
        level = features[:, -1]
        smoothed, _ = lfilter(
            [1.0 - _INIT_SMOOTHING], [1.0, -_INIT_SMOOTHING], level, zi=[_INIT_SMOOTHING * level[0]]
        )
        groups = np.array_split(np.argsort(smoothed, kind="stable"), k)
        means = np.array([features[g].mean(axis=0) for g in groups])
        covars = np.array(
            [np.cov(features[g].T, bias=True).reshape(d, d) + 1e-3 * np.eye(d) for g in groups]
        )
        transmat = np.full((k, k), (1.0 - _INIT_PERSISTENCE) / (k - 1))
        np.fill_diagonal(transmat, _INIT_PERSISTENCE)
        return np.full(k, 1.0 / k), transmat, means, covars

    def _estimate(
        self, features: np.ndarray, start: tuple[np.ndarray, ...], scale: float, at: int
    ) -> tuple[HMMParams | None, RefitReport, np.ndarray]:
        """EM from ``start``; returns sorted parameters (or None), a report, the sort order."""
        n = features.shape[0]
        startprob, transmat, means, covars = start
        model = GaussianHMM(
            n_components=self.n_regimes,
            covariance_type=self.covariance_type,
            n_iter=self.n_iter,
            tol=self.tol,
            random_state=self.seed,
            init_params="",
            params="stmc",
        )
        model.startprob_ = np.array(startprob)
        model.transmat_ = np.array(transmat)
        model.means_ = np.array(means)
        model.covars_ = (
            np.array(covars)
            if self.covariance_type == "full"
            else np.diagonal(covars, axis1=1, axis2=2).copy()
        )
        identity = np.arange(self.n_regimes)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence is judged from the history below
                model.fit(features)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as error:
            report = RefitReport(n, at, False, f"hmmlearn failed: {error}")
            return None, report, identity
        # hmmlearn's monitor_.converged is also True when EM merely ran out of
        # iterations, so the last log-likelihood gain is checked directly.
        gains = np.diff(list(model.monitor_.history))
        if gains.size == 0 or not gains[-1] < self.tol:
            message = (
                f"hmmlearn EM did not converge in {self.n_iter} iterations "
                f"(last gain {gains[-1] if gains.size else float('nan'):.3g}); kept parameters"
            )
            return None, RefitReport(n, at, False, message), identity
        fitted = [model.startprob_, model.transmat_, model.means_, model.covars_]
        problem = _degeneracy(*fitted)
        if problem:
            message = f"hmmlearn returned degenerate parameters ({problem}); kept parameters"
            return None, RefitReport(n, at, False, message), identity
        order = np.argsort(model.means_[:, -1], kind="stable")
        transmat = np.maximum(model.transmat_[np.ix_(order, order)], _MIN_TRANSITION)
        startprob = np.maximum(model.startprob_[order], _MIN_TRANSITION)
        params = HMMParams(
            startprob=startprob / startprob.sum(),
            transmat=transmat / transmat.sum(axis=1, keepdims=True),
            means=model.means_[order],
            covars=model.covars_[order],
            scale=scale,
        )
        return params, RefitReport(n, at, True, "converged"), order

    def _adopt(self, params: HMMParams) -> None:
        """Take new parameters and precompute the hot path's constants."""
        self._params = params
        n_assets = max(self._n_assets, 1)
        self._inv_n_scale = 1.0 / (n_assets * params.scale)
        self._inv_n_scale2 = 1.0 / (n_assets * params.scale * params.scale)
        self._columns = tuple(tuple(column) for column in params.transmat.T.tolist())
        emission = []
        for mean, covar in zip(params.means, params.covars, strict=True):
            chol = np.linalg.cholesky(covar)
            whiten = solve_triangular(chol, np.eye(chol.shape[0]), lower=True)
            const = -0.5 * chol.shape[0] * _LOG_2PI - float(np.sum(np.log(np.diag(chol))))
            if chol.shape[0] == 1:
                emission.append((const, float(mean[0]), float(whiten[0, 0])))
            else:
                emission.append((const, *map(float, mean), *map(float, whiten[np.tril_indices(2)])))
        self._emission = tuple(emission)

    def _log_emission(self, features: np.ndarray) -> np.ndarray:
        """``log b_k(f_t)`` for every row, (n, K), ratios capped as in the hot path."""
        out = np.empty((features.shape[0], self.n_regimes))
        for k, state in enumerate(self._emission):
            if features.shape[1] == 1:
                c, mu, w = state
                out[:, k] = c - 0.5 * ((features[:, 0] - mu) * w) ** 2
            else:
                c, mu_m, mu_v, w_mm, w_vm, w_vv = state
                dm, dv = features[:, 0] - mu_m, features[:, 1] - mu_v
                y_m, y_v = dm * w_mm, dm * w_vm + dv * w_vv
                out[:, k] = c - 0.5 * (y_m * y_m + y_v * y_v)
        return np.maximum(out, out.max(axis=1, keepdims=True) - _LOG_RATIO_CAP)


def _degeneracy(
    startprob: np.ndarray, transmat: np.ndarray, means: np.ndarray, covars: np.ndarray
) -> str:
    """Why fitted parameters are unusable, or "" if they are fine."""
    for name, array in (
        ("startprob", startprob),
        ("transmat", transmat),
        ("means", means),
        ("covars", covars),
    ):
        if not np.all(np.isfinite(array)):
            return f"non-finite {name}"
    if np.any(np.abs(transmat.sum(axis=1) - 1.0) > 1e-6):
        return "a transition row does not sum to 1 (an empty state)"
    if np.any(np.linalg.eigvalsh(covars)[:, 0] <= 0.0):
        return "a covariance is not positive definite"
    return ""


def _forward(predicted: np.ndarray, log_b: np.ndarray, transmat: np.ndarray) -> np.ndarray:
    """Filtered probabilities of every row, given the prediction for the first.

    ``alpha_t`` is proportional to ``alpha_1 M_2 ... M_t`` with
    ``M_t = A diag(w_t)`` and ``w_t = exp(log b(f_t) - max log b(f_t))``. The
    prefix products are taken by a Hillis-Steele scan inside blocks of
    ``_BLOCK`` rows (``log2(_BLOCK)`` vectorised rounds), each rescaled to a
    largest entry of 1; one carry per block links the blocks. The emission cap
    and the transition floor bound the entries of any such product within
    ``exp(-640)`` of its largest, so nothing underflows, and sums of positive
    terms keep every probability to full relative precision.
    """
    weights = np.exp(log_b - log_b.max(axis=1, keepdims=True))
    n_rows, k = weights.shape
    out = np.empty((n_rows, k))
    first = predicted * weights[0]
    out[0] = first / first.sum()
    steps = n_rows - 1
    if steps == 0:
        return out
    n_blocks = -(-steps // _BLOCK)
    padding = np.broadcast_to(np.eye(k), (n_blocks * _BLOCK - steps, k, k))
    products = np.concatenate([transmat[None, :, :] * weights[1:, None, :], padding])
    products = products.reshape(n_blocks, _BLOCK, k, k)
    products = products / products.max(axis=(2, 3), keepdims=True)
    shift = 1
    while shift < _BLOCK:
        combined = np.matmul(products[:, :-shift], products[:, shift:])
        products[:, shift:] = combined / combined.max(axis=(2, 3), keepdims=True)
        shift *= 2
    carry = out[0]
    for block in range(n_blocks):
        rows = carry @ products[block]
        rows /= rows.sum(axis=1, keepdims=True)
        begin = 1 + block * _BLOCK
        size = min(_BLOCK, n_rows - begin)
        out[begin : begin + size] = rows[:size]
        carry = rows[size - 1]
    return out
