r"""Alarm on a switch into the high-volatility regime: HMM level, BOCPD abruptness.

The filtered HMM answers "is the market in a crisis-like regime now?" with
:math:`q_t = \sum_{k \ge \kappa} P(s_t = k \mid x_{1:t})` (``target``
:math:`\kappa`, by default the most volatile regime). On its own it also
fires when a long turbulent spell drifts up to crisis-like levels through
volatility clustering. A switch of regime is abrupt, so the alarm asks the
change-point detector to agree: :class:`~riskengine.regime.bocpd.BOCPD` on the
equally weighted return :math:`\bar x_t = \frac1N \sum_i x_{t,i}` must put at
least its ``threshold`` of probability on a change within its ``window``
(and have seen ``2 * window`` observations, before which that is certain).

.. math::

    \text{signal}_t = [\, q_t \ge \theta \,] \wedge
        [\, P(r_t < w \mid \bar x_{1:t}) \ge \gamma \,].

``drift_detected`` is True on the update where the signal appears while the
detector is armed; it re-arms once :math:`q_t < \theta / 2`, so one switch
gives one alarm. Without a change-point detector the signal is the HMM
condition alone.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from riskengine._validation import as_float, as_int
from riskengine.base import OnlineModel
from riskengine.regime.bocpd import BOCPD
from riskengine.regime.hmm import OnlineRegimeHMM

__all__ = ["RegimeSwitchDetector"]


class RegimeSwitchDetector(OnlineModel):
    """Switch into a high-volatility regime: the HMM's filtered probability gated by BOCPD.

    Parameters
    ----------
    hmm : OnlineRegimeHMM
        A fitted HMM. The detector works on its own copy, so the instance
        passed in is never changed (and :meth:`clone` starts from it again).
    changepoint : BOCPD or None
        The gate, fed the equally weighted return of each observation (its
        ``prior_variance`` is in those units); its ``threshold`` is
        :math:`\\gamma` and its ``window`` is :math:`w`. None: no gate.
    target : int or None
        Regimes ``>= target`` count as high volatility (None: the most volatile one).
    threshold : float
        :math:`\\theta`, the level of the filtered probability that signals.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> sigma = np.repeat([0.01, 0.04, 0.01, 0.04, 0.01], 200)
    >>> hmm = OnlineRegimeHMM(n_regimes=2).fit(rng.standard_normal((1000, 4)) * sigma[:, None])
    >>> gate = BOCPD(hazard=0.01, prior_variance=0.01**2 / 4)  # the mean of 4 returns
    >>> detector = RegimeSwitchDetector(hmm, gate)
    >>> calm, crisis = rng.normal(0, 0.01, (100, 4)), rng.normal(0, 0.04, (20, 4))
    >>> alarms = []
    >>> for t, x in enumerate(np.vstack([calm, crisis])):  # the switch is at t = 100
    ...     detector.update(x)
    ...     if detector.drift_detected:
    ...         alarms.append(t)
    >>> alarms
    [101]
    >>> round(detector.high_volatility_proba(), 3)
    1.0
    """

    def __init__(
        self,
        hmm: OnlineRegimeHMM,
        changepoint: BOCPD | None = None,
        target: int | None = None,
        threshold: float = 0.5,
    ) -> None:
        if not isinstance(hmm, OnlineRegimeHMM):
            raise TypeError(f"hmm: expected an OnlineRegimeHMM, got {type(hmm).__name__}")
        if hmm.last_refit is None:
            raise ValueError("hmm: must be fitted (call hmm.fit(data) first)")
        if changepoint is not None and not isinstance(changepoint, BOCPD):
            raise TypeError(f"changepoint: expected a BOCPD or None, got {type(changepoint)}")
        self.hmm = hmm
        self.changepoint = changepoint
        last = hmm.n_regimes - 1
        self.target = None if target is None else as_int(target, field="target", low=1, high=last)
        self.threshold = as_float(threshold, field="threshold", low=0, high=1, low_open=True)
        self._hmm = copy.deepcopy(hmm)
        self._changepoint = copy.deepcopy(changepoint)
        self._first_target = last if target is None else self.target
        self._drift = False
        self._armed = True

    def update(self, x: Any) -> None:
        """Learn from one observation (N returns, or a float for a 1-d HMM)."""
        hmm = self._hmm
        values = hmm._values_of(x)
        feature = hmm._feature_row(values)  # validates before anything changes
        hmm._learn(feature)
        gate = True
        if self._changepoint is not None:
            self._changepoint.update(sum(values) / len(values))
            changepoint = self._changepoint
            gate = changepoint.ready and changepoint.changepoint_proba() >= changepoint.threshold
        level = self.high_volatility_proba()
        self._drift = self._armed and gate and level >= self.threshold
        if self._drift:
            self._armed = False
        elif not self._armed and level < self.threshold / 2.0:
            self._armed = True

    @property
    def drift_detected(self) -> bool:
        """True on the update that signalled a switch into the high-volatility regime."""
        return self._drift

    def high_volatility_proba(self) -> float:
        """Filtered probability of the target regime(s), :math:`q_t`."""
        return float(sum(self._hmm._alpha[self._first_target :]))

    def regime_proba(self) -> np.ndarray:
        """The HMM's filtered regime probabilities."""
        return self._hmm.regime_proba()

    def changepoint_proba(self) -> float:
        """The gate's probability of a change within its window (NaN without a gate)."""
        return float("nan") if self._changepoint is None else self._changepoint.changepoint_proba()
