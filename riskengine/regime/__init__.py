"""Regime models and change detectors: one observation in, no look-ahead.

- :class:`OnlineRegimeHMM`: Gaussian HMM over return features, fitted by
  hmmlearn, run as a forward filter (filtered regime probabilities only).
- :class:`BOCPD`: Bayesian online change-point detection (Adams and MacKay
  2007) for the variance of zero-mean returns, with a bounded run length.
- :class:`DriftDetector`: river's ADWIN or Page-Hinkley on a transform of
  standardised residuals.
- :class:`DriftAdaptedForecaster`: a volatility forecaster that refits or
  shortens its memory when a detector fires on its own residuals.
- :class:`CorrelationAlarm`: a correlation breakdown, the forecast average
  correlation jumping above its own recent level.
- :class:`RegimeSwitchDetector`: the engine's alarm for a switch into the
  high-volatility regime (HMM filtered probability gated by BOCPD).
"""

from riskengine.regime.adaptation import DriftAdaptedForecaster
from riskengine.regime.bocpd import BOCPD
from riskengine.regime.correlation_alarm import CorrelationAlarm
from riskengine.regime.detector import RegimeSwitchDetector
from riskengine.regime.drift import DriftDetector
from riskengine.regime.hmm import HMMParams, OnlineRegimeHMM

__all__ = [
    "BOCPD",
    "CorrelationAlarm",
    "DriftAdaptedForecaster",
    "DriftDetector",
    "HMMParams",
    "OnlineRegimeHMM",
    "RegimeSwitchDetector",
]
