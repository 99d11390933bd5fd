r"""A forecaster that adapts when a change detector fires on its own residuals.

Each return :math:`r_t` is standardised by the forecast made before it,
:math:`z_t = r_t / \sqrt{h_t}`, and fed to the detector: a forecaster that is
right keeps :math:`z` at unit variance, so a change of regime shows up as a
change of :math:`z^2`. When the detector fires, the forecaster's ``adapt()``
runs:

- :class:`~riskengine.forecast.OnlineGARCH` and
  :class:`~riskengine.forecast.OnlineDCC` refit at once (warm-started, filtered
  state kept) instead of waiting for the schedule;
- :class:`~riskengine.forecast.EWMAVol` shortens its memory for a few steps.

The forecaster must be fitted; the composite works on copies of the
forecaster and detector it is given, which stay untouched.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from riskengine.base import OnlineModel, check_observation
from riskengine.regime.bocpd import BOCPD
from riskengine.regime.drift import DriftDetector

__all__ = ["DriftAdaptedForecaster"]


class DriftAdaptedForecaster(OnlineModel):
    """Run a univariate forecaster, watch its residuals, adapt it on a detected change.

    Parameters
    ----------
    forecaster : OnlineGARCH or EWMAVol (fitted)
        Anything with ``variance()``, ``forecast(h)``, ``update(x)`` and ``adapt()``.
    detector : DriftDetector or BOCPD
        Fed the standardised residual :math:`z_t` (a BOCPD should therefore
        have ``prior_variance=1``).

    Examples
    --------
    >>> from riskengine.forecast import EWMAVol
    >>> rng = np.random.default_rng(0)
    >>> calm, stressed = rng.normal(0, 0.01, 500), rng.normal(0, 0.03, 30)
    >>> model = DriftAdaptedForecaster(
    ...     EWMAVol().fit(calm[:300]), BOCPD(prior_variance=1.0, direction="up"))
    >>> for r in np.concatenate([calm[300:], stressed]):  # the variance is 9x from t = 200
    ...     model.update(r)
    >>> model.adaptations
    [202]
    """

    def __init__(self, forecaster: Any, detector: DriftDetector | BOCPD) -> None:
        for method in ("variance", "forecast", "update", "adapt"):
            if not callable(getattr(forecaster, method, None)):
                raise TypeError(
                    f"forecaster: {type(forecaster).__name__} has no {method}() "
                    "(OnlineGARCH and EWMAVol can adapt)"
                )
        if not isinstance(detector, (DriftDetector, BOCPD)):
            raise TypeError(
                f"detector: expected a DriftDetector or BOCPD, got {type(detector).__name__}"
            )
        variance = forecaster.variance()
        if not (isinstance(variance, float) and variance > 0):
            raise ValueError("forecaster: must be fitted, with a positive variance forecast")
        self.forecaster = forecaster
        self.detector = detector
        self._forecaster = copy.deepcopy(forecaster)
        self._detector = copy.deepcopy(detector)
        self._n_updates = 0
        self._adaptations: list[int] = []

    def update(self, x: float) -> None:
        """Score the residual, learn from ``x``, and adapt if the detector fired."""
        value = check_observation(x)
        z = value / math.sqrt(self._forecaster.variance())
        if not abs(z) < math.inf:
            raise ValueError("x: the standardised residual overflows (variance too small)")
        self._detector.update(z)
        self._forecaster.update(value)
        if self._detector.drift_detected:
            self._forecaster.adapt()
            self._adaptations.append(self._n_updates)
        self._n_updates += 1

    def variance(self) -> float:
        """The forecaster's next-step variance."""
        return self._forecaster.variance()

    def forecast(self, horizon: int) -> np.ndarray:
        """The forecaster's variance path for 1..``horizon`` steps."""
        return self._forecaster.forecast(horizon)

    @property
    def drift_detected(self) -> bool:
        """True on the update where the detector fired (and the forecaster adapted)."""
        return self._detector.drift_detected

    @property
    def adaptations(self) -> list[int]:
        """Update indices (0 = the first update) at which the forecaster adapted."""
        return list(self._adaptations)
