"""The engine's model configuration: which models run, and their hyper-parameters.

One frozen :class:`ModelConfig` builds the models (:meth:`ModelConfig.build`)
and says how they refit; :mod:`riskengine.engine.model_stack` runs them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from riskengine._config import config_from_mapping
from riskengine.errors import InvalidConfig
from riskengine.forecast import OnlineDCC, OnlineGARCH
from riskengine.regime import CorrelationAlarm, DriftDetector, OnlineRegimeHMM

__all__ = ["ModelConfig"]

_RUNNERS = ("process", "inline")
_WHEN_LATE = ("wait", "defer")
# A model's argument -> the config field that sets it, for error messages.
_MODEL_ARGUMENTS = {
    "blend": "correlation_blend",
    "blend_halflife": "correlation_halflife",
    "threshold": "correlation_alarm_threshold",
    "baseline_halflife": "correlation_alarm_halflife",
}


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
        Launch a refit of every model after this many updates (None: no
        schedule). Monthly by default: the parameters then follow a changing
        market without refitting on every tick.
    refit_on_changepoint : bool
        Also launch a refit when the change detector raises an alarm (and no
        refit is already running).
    refit_lag : int
        Updates between launching a refit and adopting its parameters (0: fit
        inside ``update``, blocking it). With 1 or more the fit runs while the
        engine goes on with the old parameters, and is adopted between two
        updates; the filtered state (variances, correlation, regime
        probabilities) is kept, so nothing jumps.
    refit_runner : {"process", "inline"}
        Where a launched refit runs: a background worker process
        (:mod:`riskengine.engine.refit_runner`), or inside the update that
        launches it. Batch replays always fit inline, at the launching step.
    refit_when_late : {"wait", "defer"}
        What the due update does if the worker has not finished: wait for it
        (the default: a live run then gives exactly the numbers of a replay,
        whatever the machine's speed; pick ``refit_lag`` so that a fit, a few
        seconds, fits inside it: 1 for daily bars, the ticks of a minute or
        two intraday), or go on with the old parameters and adopt the fit on
        the first update after it finishes (``update`` never blocks, but the
        adoption step then depends on timing; :attr:`RiskModels.refit_log`
        records how late it was).
    correlation_blend, correlation_halflife : float
        Weight and half-life of the fast equicorrelation blended into the DCC
        correlation (:class:`~riskengine.forecast.OnlineDCC`'s ``blend`` and
        ``blend_halflife``): 0.5 and 10 days, chosen on the 20 S&P 500 stocks,
        1995-2007 (docs/models.md).
    correlation_alarm_threshold, correlation_alarm_halflife : float
        The correlation breakdown alarm (:class:`~riskengine.regime.CorrelationAlarm`)
        on the forecast's average pairwise correlation: 0.06 above its 125-day
        baseline, chosen on the same stocks, 1995-2007 (docs/models.md).
    n_regimes, stressed_regime : int
        HMM regimes, and the first regime counted as stressed (None: the most
        volatile one).
    detector_threshold, detector_delta : float
        Page-Hinkley's alarm threshold and tolerance on ``|z|``.
    seed : int
        hmmlearn's random state.
    fit_fallback : bool
        When a model's first fit fails on real data (a stale price, a short
        window), adopt its documented fallback parameters and report it
        (:attr:`RiskModels.fit_reports`) instead of refusing the warm-up; the
        next refit replaces them once the data allow an estimate.
    """

    vol: str = "GJR"
    dist: str = "skewt"
    history: int = 2520
    min_obs: int = 250
    refit_every: int | None = 21
    refit_on_changepoint: bool = True
    refit_lag: int = 1
    refit_runner: Literal["process", "inline"] = "process"
    refit_when_late: Literal["wait", "defer"] = "wait"
    correlation_blend: float = 0.5
    correlation_halflife: float = 10.0
    correlation_alarm_threshold: float = 0.06
    correlation_alarm_halflife: float = 125.0
    n_regimes: int = 3
    stressed_regime: int | None = None
    detector_threshold: float = 8.0
    detector_delta: float = 0.1
    seed: int = 0
    fit_fallback: bool = True

    def __post_init__(self) -> None:
        try:
            self.build(2)  # the models validate their own hyper-parameters
            self.correlation_alarm()
        except (TypeError, ValueError) as error:
            field, _, problem = str(error).partition(": ")
            field = _MODEL_ARGUMENTS.get(field, field)
            raise InvalidConfig(f"models.{field}", problem or str(error)) from None
        every = self.refit_every
        if every is not None and (type(every) is not int or every < 1):
            raise InvalidConfig(
                "models.refit_every", f"expected an int >= 1 or None, got {every!r}"
            )
        if type(self.refit_lag) is not int or self.refit_lag < 0:
            raise InvalidConfig("models.refit_lag", f"expected an int >= 0, got {self.refit_lag!r}")
        if type(self.refit_on_changepoint) is not bool:
            raise InvalidConfig(
                "models.refit_on_changepoint", f"expected a bool, got {self.refit_on_changepoint!r}"
            )
        if self.refit_runner not in _RUNNERS:
            raise InvalidConfig(
                "models.refit_runner",
                f"expected one of {list(_RUNNERS)}, got {self.refit_runner!r}",
            )
        if self.refit_when_late not in _WHEN_LATE:
            raise InvalidConfig(
                "models.refit_when_late",
                f"expected one of {list(_WHEN_LATE)}, got {self.refit_when_late!r}",
            )
        last = self.n_regimes - 1
        if self.stressed_regime is not None and not 1 <= self.stressed_regime <= last:
            raise InvalidConfig(
                "models.stressed_regime", f"must be in 1..{last}, got {self.stressed_regime}"
            )

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], field: str = "models") -> ModelConfig:
        return config_from_mapping(cls, table, field)

    def correlation_alarm(self) -> CorrelationAlarm:
        """An unfitted correlation breakdown alarm."""
        return CorrelationAlarm(
            threshold=self.correlation_alarm_threshold,
            baseline_halflife=self.correlation_alarm_halflife,
        )

    def build(self, n_assets: int) -> tuple[OnlineDCC, OnlineRegimeHMM, DriftDetector, OnlineGARCH]:
        """Unfitted models for ``n_assets`` assets."""
        # Refits are scheduled by RiskModels, so that every model (and the
        # portfolio's innovation law) refits on the same step.
        dcc = OnlineDCC(
            vol=self.vol,
            dist=self.dist,
            history=self.history,
            min_obs=self.min_obs,
            blend=self.correlation_blend,
            blend_halflife=self.correlation_halflife,
            fallback=self.fit_fallback,
        )
        hmm = OnlineRegimeHMM(
            n_regimes=self.n_regimes,
            history=self.history,
            min_obs=self.min_obs,
            seed=self.seed,
            fallback=self.fit_fallback,
        )
        detector = DriftDetector(
            "page_hinkley",
            direction="up",
            options={"threshold": self.detector_threshold, "delta": self.detector_delta},
        )
        market = OnlineGARCH(
            vol=self.vol,
            dist=self.dist,
            history=self.history,
            min_obs=self.min_obs,
            fallback=self.fit_fallback,
        )
        return dcc, hmm, detector, market
