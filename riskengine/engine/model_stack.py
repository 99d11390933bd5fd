"""The engine's online models, driven together: covariance, regimes, change detection.

One :class:`RiskModels` holds

- an :class:`~riskengine.forecast.OnlineDCC` (per-asset GARCH, GJR with skewed-t
  innovations by default, and a DCC correlation) for the next period's
  covariance;
- an :class:`~riskengine.regime.OnlineRegimeHMM` on the cross-section of
  returns for the filtered regime probabilities;
- a :class:`~riskengine.regime.DriftDetector` (river's Page-Hinkley) on the
  equally weighted portfolio's standardised residual, for change points;
- the innovation law of portfolio returns (:class:`~riskengine.forecast.innovations.Innovations`)
  from a GARCH fitted to the equally weighted portfolio.

:meth:`RiskModels.update` advances all of them by one vector of returns;
:meth:`RiskModels.replay` does the same for a whole history with each model's
batch path and gives the same numbers to 1e-10.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from riskengine._config import config_from_mapping
from riskengine.errors import InvalidConfig
from riskengine.forecast import GARCHParams, OnlineDCC, OnlineGARCH
from riskengine.forecast.innovations import Innovations
from riskengine.regime import DriftDetector, OnlineRegimeHMM
from riskengine.regime.hmm import HMMParams

__all__ = ["ModelConfig", "ModelPath", "RiskModels"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Which models the engine runs, and their hyper-parameters.

    Parameters
    ----------
    vol, dist : str
        Per-asset GARCH: ``"GJR"``/``"GARCH"`` and ``"skewt"``/``"t"``. GJR with
        skewed-t innovations passed the S&P 500 VaR backtests (docs/scoring.md).
    history, min_obs : int
        Returns kept for refits, and the fewest :meth:`RiskModels.fit` accepts.
    refit_every : int or None
        Refit every model after this many updates, inside ``update`` (None: only
        on an explicit ``refit()``, e.g. by the nightly job, off the hot path).
    n_regimes, stressed_regime : int
        HMM regimes, and the first regime counted as stressed (None: the most
        volatile one).
    detector_threshold, detector_delta : float
        Page-Hinkley's alarm threshold and tolerance on ``|z|``.
    seed : int
        hmmlearn's random state.
    """

    vol: str = "GJR"
    dist: str = "skewt"
    history: int = 2520
    min_obs: int = 250
    refit_every: int | None = None
    n_regimes: int = 3
    stressed_regime: int | None = None
    detector_threshold: float = 8.0
    detector_delta: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        try:
            self.build(2)  # the models validate their own hyper-parameters
        except (TypeError, ValueError) as error:
            field, _, problem = str(error).partition(": ")
            raise InvalidConfig(f"models.{field}", problem or str(error)) from None
        last = self.n_regimes - 1
        if self.stressed_regime is not None and not 1 <= self.stressed_regime <= last:
            raise InvalidConfig(
                "models.stressed_regime", f"must be in 1..{last}, got {self.stressed_regime}"
            )

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], field: str = "models") -> ModelConfig:
        return config_from_mapping(cls, table, field)

    def build(self, n_assets: int) -> tuple[OnlineDCC, OnlineRegimeHMM, DriftDetector, OnlineGARCH]:
        """Unfitted models for ``n_assets`` assets."""
        # Refits are scheduled by RiskModels, so that every model (and the
        # portfolio's innovation law) refits on the same step.
        dcc = OnlineDCC(vol=self.vol, dist=self.dist, history=self.history, min_obs=self.min_obs)
        hmm = OnlineRegimeHMM(
            n_regimes=self.n_regimes,
            history=self.history,
            min_obs=self.min_obs,
            seed=self.seed,
        )
        detector = DriftDetector(
            "page_hinkley",
            direction="up",
            options={"threshold": self.detector_threshold, "delta": self.detector_delta},
        )
        market = OnlineGARCH(
            vol=self.vol, dist=self.dist, history=self.history, min_obs=self.min_obs
        )
        return dcc, hmm, detector, market


class ModelPath(NamedTuple):
    """What the models said after each step of a replay (time first).

    The fitted quantities (``mean`` to ``long_run_variance``) are those in
    force after the step: they change only at a refit, which happens inside
    the step that triggers it.
    """

    covariance: np.ndarray  # (T, N, N): forecasts for the next period
    regime_proba: np.ndarray  # (T, K): filtered
    changepoint: np.ndarray  # (T,) bool
    mean: np.ndarray  # (T, N)
    stressed_regime: np.ndarray  # (T,) int
    innovations: tuple[Innovations, ...]  # (T,)
    long_run_variance: np.ndarray  # (T,) of the equally weighted portfolio


class RiskModels:
    """The engine's models, fitted together and advanced together.

    ``n_assets >= 2``: the covariance model is multivariate. Learned state
    only; constructed unfitted, :meth:`fit` makes it usable.
    """

    def __init__(self, n_assets: int, config: ModelConfig) -> None:
        self.n_assets = n_assets
        self.config = config
        self._dcc, self._hmm, self._detector, self._market = config.build(n_assets)
        self._weights = np.full(n_assets, 1.0 / n_assets)
        self._innovations = Innovations("normal")
        self._mean = np.zeros(n_assets)
        self._stressed = 0
        self._fitted = False
        self._changepoint = False
        self._since_refit = 0
        self._covariance = np.full((n_assets, n_assets), np.nan)

    # ------------------------------------------------------------------ fitting
    def fit(self, returns: np.ndarray) -> None:
        """Fit every model on ``returns`` (T, N) and filter to their end.

        Raises ``ValueError``/``RuntimeError`` (from the models) and leaves the
        previous models in place if any fit fails.
        """
        dcc, hmm, detector, market = self.config.build(self.n_assets)
        dcc.fit(returns)
        hmm.fit(returns)
        market.fit(returns @ self._weights)
        self._dcc, self._hmm, self._detector, self._market = dcc, hmm, detector, market
        self._after_fit()
        self._changepoint = False
        self._since_refit = 0
        self._fitted = True
        self._covariance = self._dcc.covariance()

    def refit(self) -> None:
        """Refit every model on its kept history (warm-started; filtered state kept)."""
        self._dcc.refit()
        self._hmm.refit()
        market_history = np.column_stack([g.kept_returns() for g in self._dcc.garch])
        self._market.fit(market_history @ self._weights)
        self._after_fit()
        self._since_refit = 0

    def _after_fit(self) -> None:
        params = self._market.params
        self._innovations = Innovations(self.config.dist, params.nu, params.lam)
        self._mean = np.array([g.params.mu for g in self._dcc.garch])
        volatility = self._hmm.params.volatility
        self._stressed = (
            int(np.argmax(volatility))
            if self.config.stressed_regime is None
            else self.config.stressed_regime
        )

    # ------------------------------------------------------------------ online
    def update(self, returns: np.ndarray) -> None:
        """Advance every model by one vector of (validated, finite) returns."""
        w = self._weights
        scale = math.sqrt(float(w @ self._covariance @ w))
        self._dcc.update(returns)
        self._hmm.update(returns)
        self._detector.update(float(w @ returns) / scale)
        self._changepoint = self._detector.drift_detected
        self._since_refit += 1
        if self.config.refit_every is not None and self._since_refit >= self.config.refit_every:
            self.refit()
        self._covariance = self._dcc.covariance()

    def replay(self, returns: np.ndarray) -> ModelPath:
        """Advance by a history of returns (T, N); what the models said after each step.

        Each stretch between scheduled refits runs through the models' batch
        paths; the result equals :meth:`update` in a loop to 1e-10.
        """
        every = self.config.refit_every
        pieces, done = [], 0
        while done < returns.shape[0]:
            stretch = returns.shape[0] - done
            if every is not None:
                stretch = min(stretch, every - self._since_refit)
            piece = self._replay_stretch(returns[done : done + stretch])
            done += stretch
            self._since_refit += stretch
            if every is not None and self._since_refit >= every:
                self.refit()
                # A refit may relabel the regimes (calmest first): the step that
                # triggered it reports the relabelled probabilities, as update does.
                piece.regime_proba[-1] = self._hmm.regime_proba()
                piece = self._with_fitted(piece, last_only=True)
            pieces.append(piece)
        self._covariance = self._dcc.covariance()
        if len(pieces) == 1:
            return pieces[0]
        fields = zip(*pieces, strict=True)
        return ModelPath(
            *(
                sum(parts, ()) if isinstance(parts[0], tuple) else np.concatenate(parts)
                for parts in fields
            )
        )

    def _with_fitted(self, piece: ModelPath, last_only: bool = False) -> ModelPath:
        """Fill the fitted quantities in force now into ``piece`` (all rows, or the last)."""
        t = piece.covariance.shape[0]
        rows = slice(t - 1, t) if last_only else slice(0, t)
        mean, stressed = piece.mean.copy(), piece.stressed_regime.copy()
        innovations = list(piece.innovations)
        long_run = piece.long_run_variance.copy()
        mean[rows] = self._mean
        stressed[rows] = self._stressed
        long_run[rows] = self.long_run_variance
        for i in range(*rows.indices(t)):
            innovations[i] = self._innovations
        return piece._replace(
            mean=mean,
            stressed_regime=stressed,
            innovations=tuple(innovations),
            long_run_variance=long_run,
        )

    def _replay_stretch(self, returns: np.ndarray) -> ModelPath:
        w = self._weights
        first = float(w @ self._covariance @ w)  # the forecast before the first step
        after = self._dcc.replay(returns, forecasts="after")
        regime_proba = self._hmm.replay(returns, output="filtered")
        # The forecast before step t is the one made after step t - 1.
        portfolio = np.concatenate([[first], np.einsum("i,tij,j->t", w, after[:-1], w)])
        z = (returns @ w) / np.sqrt(portfolio)
        changepoint = self._detector.update_many(z)
        self._changepoint = bool(changepoint[-1])
        t = returns.shape[0]
        empty = ModelPath(
            after,
            regime_proba,
            changepoint,
            np.empty((t, self.n_assets)),
            np.empty(t, dtype=np.int64),
            (self._innovations,) * t,
            np.empty(t),
        )
        return self._with_fitted(empty)

    # ------------------------------------------------------------------ restoring
    def state_problem(self, n_assets: int, config: ModelConfig) -> tuple[str, str] | None:
        """``(attribute, problem)`` if these models cannot serve ``n_assets`` with ``config``.

        For models that did not come through the constructor (a snapshot): the
        asset count, the configuration, the shapes of what they hold and, once
        fitted, one trial step on a copy (zero returns), so that the engine's
        next update cannot fail half-way. No trial when the step would refit
        (``refit_every``): a refit costs seconds, and its inputs were checked.
        """
        n = n_assets
        if self.n_assets != n:
            return "n_assets", f"the models are for {self.n_assets} assets, the config has {n}"
        if self.config != config:
            return "config", f"{self.config!r} is not the config's {config!r}"
        for name, shape in (("_weights", (n,)), ("_mean", (n,)), ("_covariance", (n, n))):
            value = getattr(self, name)
            if not isinstance(value, np.ndarray) or value.shape != shape:
                return name[1:], f"expected an array of shape {shape}, got {value!r}"
        if type(self._fitted) is not bool:
            return "fitted", f"expected a bool, got {self._fitted!r}"
        if not self._fitted:
            return None
        try:
            if len(self._dcc.garch) != n:
                return "dcc", f"holds {len(self._dcc.garch)} GARCH models for {n} assets"
            if self._hmm.regime_proba().shape != (config.n_regimes,):
                return "hmm", f"does not have {config.n_regimes} regimes"
            every = config.refit_every
            if every is None or self._since_refit + 1 < every:
                trial = copy.deepcopy(self)
                trial.update(np.zeros(n))
                if trial.covariance().shape != (n, n):
                    return "dcc", f"forecasts a covariance of shape {trial.covariance().shape}"
        except Exception as error:  # whatever a spliced model raises
            return "models", f"cannot take a step ({type(error).__name__}: {error})"
        return None

    # ------------------------------------------------------------------ queries
    @property
    def fitted(self) -> bool:
        return self._fitted

    def covariance(self) -> np.ndarray:
        """The next period's covariance forecast (computed once per update; do not modify)."""
        return self._covariance

    def regime_proba(self) -> np.ndarray:
        return self._hmm.regime_proba()

    @property
    def changepoint(self) -> bool:
        return self._changepoint

    @property
    def stressed_regime(self) -> int:
        return self._stressed

    @property
    def innovations(self) -> Innovations:
        return self._innovations

    @property
    def mean(self) -> np.ndarray:
        return self._mean

    @property
    def long_run_variance(self) -> float:
        """Long-run variance of the equally weighted portfolio (the volatility reference)."""
        return self._market.params.long_run_variance

    @property
    def weights(self) -> np.ndarray:
        """The equally weighted portfolio the change detector and references use."""
        return self._weights

    @property
    def garch_params(self) -> tuple[GARCHParams, ...]:
        """Each asset's fitted GARCH parameters (config order)."""
        return tuple(g.params for g in self._dcc.garch)

    @property
    def hmm_params(self) -> HMMParams:
        """The regime HMM's fitted parameters (states ordered calm to stressed)."""
        return self._hmm.params
