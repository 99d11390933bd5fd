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
  from a GARCH fitted to the equally weighted portfolio;
- a :class:`~riskengine.regime.CorrelationAlarm` on the forecast's average
  pairwise correlation, for correlation breakdowns.

Refits are launched on a schedule and on change-point alarms, estimated off
the hot path (:mod:`riskengine.engine.refit`, :mod:`riskengine.engine.refit_runner`)
and adopted between two updates; the configuration is
:class:`~riskengine.engine.model_config.ModelConfig`.

:meth:`RiskModels.update` advances all of them by one vector of returns;
:meth:`RiskModels.replay` does the same for a whole history with each model's
batch path and gives the same numbers to 1e-10.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from typing import Any, NamedTuple

import numpy as np

from riskengine.engine import refit_runner
from riskengine.engine.model_config import ModelConfig
from riskengine.engine.refit import (
    PendingRefit,
    RefitJob,
    RefitOutcome,
    RefitProposal,
    propose_refit,
)
from riskengine.engine.return_window import ReturnWindow
from riskengine.forecast import GARCHParams
from riskengine.forecast.dcc import DCCParams
from riskengine.forecast.garch import RefitReport
from riskengine.forecast.innovations import Innovations
from riskengine.regime import CorrelationAlarm
from riskengine.regime.hmm import HMMParams

__all__ = [
    "ModelConfig",
    "ModelPath",
    "PendingRefit",
    "RefitJob",
    "RefitOutcome",
    "RefitProposal",
    "RiskModels",
    "average_correlation",
    "propose_refit",
]

_REFIT_LOG = 64  # outcomes kept for reading; older ones are in the store's run records


def average_correlation(covariance: np.ndarray) -> Any:
    """The average pairwise correlation of a covariance matrix, or of each in a (T, N, N) path.

    1 for a single asset (its correlation with itself).

    >>> average_correlation(np.array([[4.0, 1.0], [1.0, 1.0]]))
    0.5
    """
    covariance = np.asarray(covariance, dtype=np.float64)
    n = covariance.shape[-1]
    if n == 1:
        return 1.0 if covariance.ndim == 2 else np.ones(covariance.shape[0])
    if covariance.ndim == 2:  # the hot path: one matrix, two small products
        scale = 1.0 / np.sqrt(covariance.diagonal())
        return (float(scale @ covariance @ scale) - n) / (n * (n - 1))
    scale = 1.0 / np.sqrt(np.diagonal(covariance, axis1=-2, axis2=-1))
    total = np.einsum("...i,...ij,...j->...", scale, covariance, scale)
    result = (total - n) / (n * (n - 1))
    return float(result) if covariance.ndim == 2 else result


class ModelPath(NamedTuple):
    """What the models said after each step of a replay (time first).

    The fitted quantities (``mean`` to ``long_run_variance``) are those in
    force after the step: they change only when a refit is adopted, which
    happens inside the step it is due at.
    """

    covariance: np.ndarray  # (T, N, N): forecasts for the next period
    regime_proba: np.ndarray  # (T, K): filtered
    changepoint: np.ndarray  # (T,) bool
    mean: np.ndarray  # (T, N)
    stressed_regime: np.ndarray  # (T,) int
    innovations: tuple[Innovations, ...]  # (T,)
    long_run_variance: np.ndarray  # (T,) of the equally weighted portfolio
    correlation_alarm: np.ndarray  # (T,) bool


class RiskModels:
    """The engine's models, fitted together and advanced together.

    Learned state only; constructed unfitted, :meth:`fit` makes it usable.
    Refits are launched on the schedule and on change-point alarms
    (:class:`ModelConfig`), estimated off the hot path, and adopted between
    two updates; :attr:`refit_log` says what each did.
    """

    def __init__(self, n_assets: int, config: ModelConfig) -> None:
        self.n_assets = n_assets
        self.config = config
        self._dcc, self._hmm, self._detector, self._market = config.build(n_assets)
        self._correlation_alarm = config.correlation_alarm()
        self._weights = np.full(n_assets, 1.0 / n_assets)
        self._innovations = Innovations("normal")
        self._mean = np.zeros(n_assets)
        self._stressed = 0
        self._fitted = False
        self._changepoint = False
        self._since_refit = 0  # updates since the last refit was launched
        self._n_updates = 0
        self._window = ReturnWindow(config.history, n_assets)
        self._pending: PendingRefit | None = None
        self._refit_log: deque[RefitOutcome] = deque(maxlen=_REFIT_LOG)
        self._covariance = np.full((n_assets, n_assets), np.nan)

    # ------------------------------------------------------------------ fitting
    def fit(self, returns: np.ndarray) -> None:
        """Fit every model on ``returns`` (T, N) and filter to their end.

        Raises ``ValueError``/``RuntimeError`` (from the models) and leaves the
        previous models in place if any fit fails. A refit in flight is dropped.
        """
        dcc, hmm, detector, market = self.config.build(self.n_assets)
        dcc.fit(returns)
        hmm.fit(returns)
        market.fit(returns @ self._weights)
        self._dcc, self._hmm, self._detector, self._market = dcc, hmm, detector, market
        self._correlation_alarm = self.config.correlation_alarm().fit(
            [average_correlation(dcc.covariance())]
        )
        self._after_fit()
        self._changepoint = False
        self._since_refit = 0
        self._pending = None
        self._window.clear()
        self._window.extend(np.asarray(returns, dtype=np.float64))
        self._fitted = True
        self._covariance = self._dcc.covariance()

    def refit(self) -> RefitOutcome:
        """Refit every model on its kept history now (warm-started; filtered state kept).

        Supersedes a refit in flight. Never raises for a failed estimation:
        the models concerned keep their parameters and the outcome says why.
        """
        self._pending = None
        now = self._n_updates
        proposal = propose_refit(self._job())
        self._since_refit = 0
        return self._adopt(PendingRefit(now, now, "explicit", proposal), late=0)

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

    def _job(self) -> RefitJob:
        return RefitJob(
            config=self.config,
            returns=self._window.rows(),
            garch=tuple(g.params for g in self._dcc.garch),
            dcc=self._dcc.params,
            hmm=self._hmm.params,
            weights=self._weights,
            at_update=self._n_updates,
        )

    def _launch(self, trigger: str, inline: bool) -> None:
        """Start a refit on the history up to now, due ``refit_lag`` updates later."""
        job = self._job()
        due = self._n_updates + self.config.refit_lag
        if inline or self.config.refit_runner == "inline" or self.config.refit_lag == 0:
            pending = PendingRefit(job.at_update, due, trigger, proposal=propose_refit(job))
        else:
            try:
                future = refit_runner.submit(propose_refit, job)
                pending = PendingRefit(job.at_update, due, trigger, future=future)
            except RuntimeError as error:
                failed = RefitProposal(None, None, None, f"background refit not started: {error}")
                pending = PendingRefit(job.at_update, due, trigger, proposal=failed)
        self._since_refit = 0
        self._pending = pending

    def _adopt(self, pending: PendingRefit, late: int) -> RefitOutcome:
        """Take a proposal's parameters (filtered state kept) and log what was kept and why."""
        proposal = pending.result()
        adopted: list[str] = []
        kept: list[str] = []
        if proposal.error is not None:
            kept.append(f"all: {proposal.error}")
        else:
            self._dcc.adopt_refit(proposal.dcc)
            self._hmm.adopt_refit(proposal.hmm)
            self._market.adopt(*proposal.market)
            results = [
                *((f"garch[{i}]", p, r) for i, (p, r) in enumerate(proposal.dcc.garch)),
                ("dcc", *proposal.dcc.correlation),
                ("hmm", proposal.hmm.params, proposal.hmm.report),
                ("market", *proposal.market),
            ]
            for name, params, report in results:
                if params is None:
                    kept.append(f"{name}: {report.message}")
                else:
                    adopted.append(name)
            self._after_fit()
        outcome = RefitOutcome(
            pending.launched_at, self._n_updates, pending.trigger, late, tuple(adopted), tuple(kept)
        )
        self._refit_log.append(outcome)
        return outcome

    def _after_step(self, changepoint: bool, wait: bool, inline: bool = False) -> bool:
        """Count one update; adopt a refit that is due, launch one that is called for.

        Returns whether parameters were adopted in this step. ``wait``: a due
        refit is waited for (``refit_when_late="wait"``, and batch replays);
        otherwise one that is not finished is adopted on a later update.
        ``inline``: a refit launched now is fitted here (batch replays).
        """
        self._n_updates += 1
        self._since_refit += 1
        adopted = False
        pending = self._pending
        if pending is not None and self._n_updates >= pending.due and (wait or pending.ready()):
            self._pending = None
            self._adopt(pending, late=self._n_updates - pending.due)
            adopted = True
        if self._pending is None:
            every = self.config.refit_every
            trigger = (
                "schedule"
                if every is not None and self._since_refit >= every
                else "changepoint"
                if changepoint and self.config.refit_on_changepoint
                else None
            )
            if trigger is not None:
                self._launch(trigger, inline=inline)
                if self._pending.due <= self._n_updates:  # refit_lag 0: adopt in this step
                    pending, self._pending = self._pending, None
                    self._adopt(pending, late=0)
                    adopted = True
        return adopted

    def settle(self) -> None:
        """Wait for a refit in flight (before a snapshot); it is still adopted when due."""
        if self._pending is not None:
            self._pending.result()

    # ------------------------------------------------------------------ online
    def update(self, returns: np.ndarray) -> None:
        """Advance every model by one vector of (validated, finite) returns."""
        self._advance(returns)
        self._after_step(self._changepoint, wait=self.config.refit_when_late == "wait")

    def _advance(self, returns: np.ndarray) -> None:
        w = self._weights
        scale = math.sqrt(float(w @ self._covariance @ w))
        self._dcc.update(returns)
        self._hmm.update(returns)
        self._detector.update(float(w @ returns) / scale)
        self._changepoint = self._detector.drift_detected
        self._window.append(returns)
        self._covariance = self._dcc.covariance()
        self._correlation_alarm.learn(average_correlation(self._covariance))

    def replay(self, returns: np.ndarray) -> ModelPath:
        """Advance by a history of returns (T, N); what the models said after each step.

        Each stretch between refit events (a launch, an adoption) runs through
        the models' batch paths; the result equals :meth:`update` in a loop to
        1e-10, with every refit fitted inline and adopted when due.
        """
        every = self.config.refit_every
        pieces, done = [], 0
        while done < returns.shape[0]:
            stretch = returns.shape[0] - done
            if self._pending is not None:
                stretch = min(stretch, max(self._pending.due - self._n_updates, 1))
            elif every is not None:
                stretch = min(stretch, max(every - self._since_refit, 1))
            chunk = returns[done : done + stretch]
            if self._pending is None and self.config.refit_on_changepoint:
                first = self._first_alarm(chunk)
                if first is not None:
                    chunk = chunk[: first + 1]
            stretch = chunk.shape[0]
            piece = self._replay_stretch(chunk)
            done += stretch
            self._n_updates += stretch - 1
            self._since_refit += stretch - 1
            if self._after_step(bool(piece.changepoint[-1]), wait=True, inline=True):
                # An adoption may relabel the regimes (calmest first): the step it
                # happened in reports the relabelled probabilities, as update does.
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

    def _first_alarm(self, returns: np.ndarray) -> int | None:
        """The first step of ``returns`` at which the change detector would alarm (a dry run)."""
        z = self._portfolio_residuals(returns, self._dcc.preview(returns))
        alarms = copy.deepcopy(self._detector).update_many(z)
        hits = np.flatnonzero(alarms)
        return int(hits[0]) if hits.size else None

    def _portfolio_residuals(self, returns: np.ndarray, after: np.ndarray) -> np.ndarray:
        """The equal-weight return over the forecast made before it, for each step."""
        w = self._weights
        first = float(w @ self._covariance @ w)  # the forecast before the first step
        portfolio = np.concatenate([[first], np.einsum("i,tij,j->t", w, after[:-1], w)])
        return (returns @ w) / np.sqrt(portfolio)

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
        after = self._dcc.replay(returns, forecasts="after")
        regime_proba = self._hmm.replay(returns, output="filtered")
        z = self._portfolio_residuals(returns, after)
        changepoint = self._detector.update_many(z)
        self._changepoint = bool(changepoint[-1])
        correlation_alarm = self._correlation_alarm.update_many(average_correlation(after))
        self._window.extend(returns)
        t = returns.shape[0]
        empty = ModelPath(
            after,
            regime_proba,
            changepoint,
            np.empty((t, self.n_assets)),
            np.empty(t, dtype=np.int64),
            (self._innovations,) * t,
            np.empty(t),
            correlation_alarm,
        )
        return self._with_fitted(empty)

    # ------------------------------------------------------------------ restoring
    def state_problem(self, n_assets: int, config: ModelConfig) -> tuple[str, str] | None:
        """``(attribute, problem)`` if these models cannot serve ``n_assets`` with ``config``.

        For models that did not come through the constructor (a snapshot): the
        asset count, the configuration, the shapes of what they hold and, once
        fitted, one trial step on a copy (zero returns), so that the engine's
        next update cannot fail half-way. The trial advances the models and
        adopts the refit the snapshot holds, if any, but never launches one (a
        refit costs seconds, and its inputs were checked).
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
        for name in ("_n_updates", "_since_refit"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                return name[1:], f"expected an int >= 0, got {value!r}"
        if not isinstance(self._correlation_alarm, CorrelationAlarm):
            return (
                "correlation_alarm",
                f"expected a CorrelationAlarm, got {self._correlation_alarm!r}",
            )
        window = self._window
        if not isinstance(window, ReturnWindow) or window.rows().shape[1:] != (n,):
            return "window", f"expected a ReturnWindow of {n} returns, got {window!r}"
        pending = self._pending
        if pending is not None and (
            not isinstance(pending, PendingRefit)
            or not isinstance(pending.proposal, RefitProposal)
            or type(pending.due) is not int
        ):
            return "pending", f"expected None or a PendingRefit with a proposal, got {pending!r}"
        if not self._fitted:
            return None
        try:
            if len(self._dcc.garch) != n:
                return "dcc", f"holds {len(self._dcc.garch)} GARCH models for {n} assets"
            if self._hmm.regime_proba().shape != (config.n_regimes,):
                return "hmm", f"does not have {config.n_regimes} regimes"
            trial = copy.deepcopy(self)
            trial._advance(np.zeros(n))
            if trial._pending is not None:
                trial._adopt(trial._pending, late=0)
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
    def correlation_alarm(self) -> bool:
        """True on the update where a correlation breakdown was detected."""
        return self._correlation_alarm.alarm

    @property
    def correlation_gap(self) -> float:
        """The forecast average correlation minus its baseline (what the alarm compares)."""
        return self._correlation_alarm.gap

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
    def refit_log(self) -> tuple[RefitOutcome, ...]:
        """The latest refits, oldest first: when, why, and which models kept their parameters."""
        return tuple(self._refit_log)

    @property
    def fit_reports(self) -> dict[str, RefitReport | None]:
        """How each model's latest (re)fit went: 'converged', or why it fell back or kept."""
        reports: dict[str, RefitReport | None] = {
            f"garch[{i}]": g.last_refit for i, g in enumerate(self._dcc.garch)
        }
        reports["dcc"] = self._dcc.last_refit
        reports["hmm"] = self._hmm.last_refit
        reports["market"] = self._market.last_refit
        return reports

    @property
    def refit_pending(self) -> bool:
        """Whether a refit has been launched and not adopted yet."""
        return self._pending is not None

    @property
    def dcc_params(self) -> DCCParams:
        """The correlation model's fitted parameters."""
        return self._dcc.params

    @property
    def hmm_params(self) -> HMMParams:
        """The regime HMM's fitted parameters (states ordered calm to stressed)."""
        return self._hmm.params
