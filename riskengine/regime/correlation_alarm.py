r"""Correlation breakdown: the average correlation jumps above its own recent level.

In a crisis, diversification goes first: stocks that moved apart start moving
together. The alarm watches the average pairwise correlation of the engine's
correlation forecast, :math:`\bar\rho_t` (with the fast equicorrelation blend
of :class:`~riskengine.forecast.OnlineDCC`, it moves within days), against
its own exponentially weighted baseline of the days before,

.. math::

    b_t = \lambda\, b_{t-1} + (1 - \lambda)\, \bar\rho_{t}, \qquad
    g_t = \bar\rho_t - b_{t-1},

and fires on the step where :math:`g_t` first exceeds ``threshold``. It then
stays quiet until :math:`g_t` falls back below 0 (the correlation is back at
its baseline), so one breakdown gives one alarm. The baseline uses only
past values: no look-ahead.

``threshold = 0.06`` and a 125-day half-life were chosen on the 20 S&P 500
stocks of skfolio, 1995-2007 only (docs/models.md): the smallest threshold
with at most one alarm a year in the calm 2004-06 that fired within five
days of the 1998 (LTCM) and 2001 breakdowns; 0.06-0.07 and half-lives of
63-250 days gave the same alarms. A risk manager reads the gap itself,
:meth:`CorrelationAlarm.gap`: "the average correlation is 0.08 above its
half-year level".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from riskengine._validation import as_float
from riskengine.base import OnlineModel, check_history, check_observation

__all__ = ["CorrelationAlarm"]


class CorrelationAlarm(OnlineModel):
    """Fires when the average correlation jumps ``threshold`` above its baseline.

    Parameters
    ----------
    threshold : float
        The jump of :math:`\\bar\\rho` over its baseline that raises the alarm.
    baseline_halflife : float
        Half-life, in observations, of the baseline.

    Examples
    --------
    >>> alarm = CorrelationAlarm(threshold=0.06).fit([0.25] * 50)
    >>> alarm.update(0.27); alarm.alarm
    False
    >>> alarm.update(0.36); alarm.alarm, round(alarm.gap, 3)
    (True, 0.11)
    >>> alarm.update(0.40); alarm.alarm  # the same breakdown: one alarm
    False
    """

    def __init__(self, threshold: float = 0.06, baseline_halflife: float = 125.0) -> None:
        self.threshold = as_float(threshold, field="threshold", low=0.0, low_open=True)
        self.baseline_halflife = as_float(baseline_halflife, field="baseline_halflife", low=1.0)
        self._decay = 0.5 ** (1.0 / self.baseline_halflife)
        self._baseline = math.nan
        self._gap = 0.0
        self._armed = True
        self._alarm = False
        self._n_alarms = 0

    def fit(self, data: Any) -> CorrelationAlarm:
        """Start the baseline from a history of average correlations (oldest first)."""
        values = check_history(data, 1, field="data")
        baseline = float(values[0])
        for value in values[1:].tolist():
            baseline = self._decay * baseline + (1.0 - self._decay) * value
        self._baseline = baseline
        self._gap, self._armed, self._alarm = 0.0, True, False
        return self

    def update(self, x: Any) -> None:
        """Learn the average correlation of one step; :attr:`alarm` says whether it fired."""
        value = check_observation(x)
        if math.isnan(self._baseline):
            raise RuntimeError("CorrelationAlarm: call fit(data) before update")
        self._learn(value)

    def learn(self, value: float) -> None:
        """:meth:`update` for a value already known to be a finite float (the engine's path)."""
        self._learn(value)

    def _learn(self, value: float) -> None:
        gap = value - self._baseline
        fired = self._armed and gap > self.threshold
        if fired:
            self._armed = False
            self._n_alarms += 1
        elif not self._armed and gap < 0.0:
            self._armed = True
        self._alarm = fired
        self._gap = gap
        self._baseline = self._decay * self._baseline + (1.0 - self._decay) * value

    def update_many(self, values: Any) -> np.ndarray:
        """:meth:`update` for many steps; the alarms, (T,) bool."""
        array = check_history(values, 0, field="x")
        if math.isnan(self._baseline):
            raise RuntimeError("CorrelationAlarm: call fit(data) before update")
        alarms = np.zeros(array.size, dtype=bool)
        for t, value in enumerate(array.tolist()):
            self._learn(value)
            alarms[t] = self._alarm
        return alarms

    @property
    def alarm(self) -> bool:
        """True on the step the breakdown was detected."""
        return self._alarm

    @property
    def gap(self) -> float:
        """The latest average correlation minus the baseline before it."""
        return self._gap

    @property
    def baseline(self) -> float:
        return self._baseline

    @property
    def n_alarms(self) -> int:
        return self._n_alarms
