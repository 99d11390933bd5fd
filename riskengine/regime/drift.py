r"""river's ADWIN and Page-Hinkley detectors on standardised residuals.

The engine feeds each return :math:`r_t` with the variance forecast
:math:`h_t` made before it. A forecaster that is right makes the standardised
residual :math:`z_t = r_t / \sqrt{h_t}` have unit variance; when the variance
jumps, :math:`z_t^2` grows by the same factor. river's detectors look for
changes in the *mean* of a stream, so the residual goes through a transform
that turns a variance increase into a mean increase:

- ``"abs"``: :math:`y_t = |z_t|` (mean :math:`\sqrt{2/\pi}\, \sigma` for a
  normal :math:`z`, so a variance factor :math:`c` scales it by :math:`\sqrt c`);
- ``"log_square"``: :math:`y_t = \log(z_t^2 + 10^{-8})`, which shifts by
  :math:`\log c` and damps single outliers.

- **ADWIN** (Bifet and Gavalda 2007) keeps an adaptive window and drops its
  older part when the two parts' means differ by more than a bound set by
  ``delta``. With ``direction="up"`` only a drop after which the window's mean
  is higher is reported.
- **Page-Hinkley** (Page 1954) is a cumulative-sum test of the deviations from
  the running mean, less ``delta``, against ``threshold``; river's ``mode``
  follows ``direction``.

As in river, ``drift_detected`` is True on the update that detected the
change, and the detector restarts on the next update.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from river import drift as river_drift

from riskengine._validation import as_float
from riskengine.base import OnlineModel, check_observation

__all__ = ["DriftDetector"]

_METHODS = ("adwin", "page_hinkley")
_TRANSFORMS = ("abs", "log_square")
_DIRECTIONS = ("both", "up")
_LOG_FLOOR = 1e-8
# clock=1 checks for a change at every observation (river's default of 32
# would add up to 32 steps of delay); the Page-Hinkley defaults are for a
# |z| stream with unit-variance residuals (mean about 0.8).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "adwin": {"delta": 0.002, "clock": 1},
    "page_hinkley": {"min_instances": 30, "delta": 0.1, "threshold": 8.0, "alpha": 0.999},
}


class DriftDetector(OnlineModel):
    """A river drift detector on a transform of standardised residuals.

    Parameters
    ----------
    method : {"adwin", "page_hinkley"}
        ``river.drift.ADWIN`` or ``river.drift.PageHinkley``.
    transform : {"abs", "log_square"}
        What the detector sees: :math:`|z|` or :math:`\\log(z^2 + 10^{-8})`.
    direction : {"both", "up"}
        Report every change, or only increases of the variance.
    options : mapping or None
        Keyword arguments for the river detector, over this module's defaults
        (ADWIN: ``delta=0.002, clock=1``; Page-Hinkley: ``min_instances=30,
        delta=0.1, threshold=8, alpha=0.999``). Page-Hinkley's ``mode`` comes
        from ``direction``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> returns = np.concatenate([rng.normal(0, 0.01, 300), rng.normal(0, 0.03, 50)])
    >>> detector = DriftDetector("page_hinkley", direction="up")
    >>> alarms = []
    >>> for t, r in enumerate(returns):
    ...     detector.update(r, variance=0.01**2)  # the forecast made before r
    ...     if detector.drift_detected:
    ...         alarms.append(t)
    >>> alarms  # the variance triples at t = 300
    [303, 339]
    """

    def __init__(
        self,
        method: Literal["adwin", "page_hinkley"] = "adwin",
        transform: Literal["abs", "log_square"] = "abs",
        direction: Literal["both", "up"] = "up",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if method not in _METHODS:
            raise ValueError(f"method: expected one of {list(_METHODS)}, got {method!r}")
        if transform not in _TRANSFORMS:
            raise ValueError(f"transform: expected one of {list(_TRANSFORMS)}, got {transform!r}")
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction: expected one of {list(_DIRECTIONS)}, got {direction!r}")
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(f"options: expected a mapping, got {type(options).__name__}")
        self.method = method
        self.transform = transform
        self.direction = direction
        self.options = None if options is None else dict(options)
        arguments = {**_DEFAULTS[method], **(self.options or {})}
        if method == "page_hinkley":
            if "mode" in arguments:
                raise ValueError("options: set Page-Hinkley's mode with direction=, not mode")
            arguments["mode"] = direction
        detector_class = river_drift.ADWIN if method == "adwin" else river_drift.PageHinkley
        try:
            self._detector = detector_class(**arguments)
        except TypeError as error:
            raise ValueError(f"options: {error}") from None
        self._statistic = float("nan")
        self._drift = False
        self._n_detections = 0

    def update(self, x: float, variance: float = 1.0) -> None:
        """Learn from one return ``x`` and the forecast ``variance`` made before it.

        With the default ``variance=1``, ``x`` is taken as the standardised
        residual itself.
        """
        value = check_observation(x)
        variance = as_float(variance, field="variance", low=0, low_open=True)
        z = value / math.sqrt(variance)
        if not abs(z) < math.inf:
            raise ValueError("x: the standardised residual overflows (variance too small)")
        statistic = abs(z) if self.transform == "abs" else math.log(z * z + _LOG_FLOOR)
        detector = self._detector
        before = detector.estimation if self.method == "adwin" else 0.0
        detector.update(statistic)
        detected = detector.drift_detected
        if detected and self.method == "adwin" and self.direction == "up":
            # ADWIN has just dropped the older part of its window: the mean of
            # what is left is higher if the change was an increase.
            detected = detector.estimation > before
        self._statistic = statistic
        self._drift = bool(detected)
        self._n_detections += self._drift

    def update_many(self, residuals: Any) -> Any:
        """:meth:`update` for many standardised residuals (``variance=1``): the alarms, (T,) bool.

        The same steps as the loop, with the checks done once for the batch.
        """
        import numpy as np

        values = np.asarray(residuals, dtype=np.float64)
        if values.ndim != 1 or not np.all(np.isfinite(values)):
            raise ValueError("x: expected a 1-d array of finite residuals")
        detector = self._detector
        adwin_up = self.method == "adwin" and self.direction == "up"
        log_square = self.transform == "log_square"
        alarms = np.zeros(values.size, dtype=bool)
        statistic = self._statistic
        for t, z in enumerate(values.tolist()):
            statistic = math.log(z * z + _LOG_FLOOR) if log_square else abs(z)
            before = detector.estimation if adwin_up else 0.0
            detector.update(statistic)
            detected = detector.drift_detected
            if detected and adwin_up:
                detected = detector.estimation > before
            alarms[t] = detected
        if values.size:
            self._statistic = statistic
            self._drift = bool(alarms[-1])
            self._n_detections += int(alarms.sum())
        return alarms

    @property
    def drift_detected(self) -> bool:
        """True on the update that detected a change (in ``direction``)."""
        return self._drift

    @property
    def statistic(self) -> float:
        """The transformed residual last fed to the river detector."""
        return self._statistic

    @property
    def n_detections(self) -> int:
        """Changes reported so far."""
        return self._n_detections
