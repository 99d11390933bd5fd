r"""Bayesian online change-point detection (Adams and MacKay 2007) for variance changes.

The observations are near-zero-mean returns :math:`x_t` whose variance may
change at unknown times. Within a segment, :math:`x_t \sim N(0, 1/\lambda)`
with a Gamma prior on the precision, :math:`\lambda \sim \Gamma(a_0, b_0)`,
:math:`a_0 = \nu_0 / 2`, :math:`b_0 = \nu_0 \sigma_0^2 / 2` (``prior_dof``
:math:`\nu_0` pseudo-observations of variance ``prior_variance``
:math:`\sigma_0^2`). After :math:`n` observations with sum of squares :math:`S`
the posterior is :math:`\Gamma(a_0 + n/2,\; b_0 + S/2)` and the next
observation's predictive density is a Student-t,

.. math::

    p(x \mid a, b) = \frac{\Gamma(a + \tfrac12)}{\Gamma(a) \sqrt{2 \pi b}}
        \Bigl(1 + \frac{x^2}{2b}\Bigr)^{-(a + 1/2)}.

**Run length.** :math:`r_t` is the number of observations before :math:`x_t`
in its segment (:math:`r_t = 0`: a change point at :math:`t`, so :math:`x_t`
is scored under the prior). With a constant hazard :math:`H` and
:math:`p_t^{(r)}` the predictive of :math:`x_t` given the :math:`r` observations
before it,

.. math::

    P(r_t = 0, x_{1:t}) &= H \, p_t^{(0)} \sum_r P(r_{t-1} = r, x_{1:t-1}), \\
    P(r_t = r + 1, x_{1:t}) &= (1 - H)\, p_t^{(r+1)}\, P(r_{t-1} = r, x_{1:t-1}),

then normalised over :math:`r`. **Truncation**: the support is bounded to
:math:`r < R` (``max_run_length``). The mass that would grow past :math:`R - 1`
is folded into the top bin, whose statistics are those of the last :math:`R`
observations (a sliding window): dropping that mass instead and renormalising
would, after a long quiet spell whose posterior sits at the cap, hand all the
probability to short runs and raise a spurious alarm. Memory and time per
update are :math:`O(R)`.

**Alarm.** :meth:`BOCPD.changepoint_proba` is :math:`P(r_t < w \mid x_{1:t})`,
the probability of a change within the last :math:`w` (``window``)
observations. ``drift_detected`` is True on the update where it rises to
``threshold`` (for ``direction="up"``, only if the observations after the
most probable recent change have a larger mean square than those before it,
:meth:`BOCPD.variance_ratio`); it is then
re-armed once the probability falls below ``threshold / 2``, so one change
gives one alarm.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy.special import gammaln

from riskengine._validation import as_float, as_int
from riskengine.base import OnlineModel, check_observation

__all__ = ["BOCPD"]

_DIRECTIONS = ("both", "up")


class BOCPD(OnlineModel):
    """Adams-MacKay change-point detector for the variance of zero-mean returns.

    Parameters
    ----------
    hazard : float
        Prior probability of a change at each step (1 / expected segment length).
    max_run_length : int
        Run lengths kept, R (at least ``2 * window``); longer runs share the top bin.
    window : int
        A change "within the last ``window`` observations" is what
        :meth:`changepoint_proba` measures.
    threshold : float
        ``changepoint_proba()`` level that raises ``drift_detected``.
    prior_variance, prior_dof : float
        The variance prior: ``prior_dof`` pseudo-observations of variance
        ``prior_variance`` (in the units of ``x`` squared).
    direction : {"both", "up"}
        Report every change, or only variance increases.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> x = np.concatenate([rng.normal(0, 1, 100), rng.normal(0, 3, 20)])  # change at 100
    >>> detector = BOCPD(hazard=0.01)
    >>> alarms = []
    >>> for t, value in enumerate(x):
    ...     detector.update(value)
    ...     if detector.drift_detected:
    ...         alarms.append(t)
    >>> alarms
    [100]
    >>> detector.map_run_length, round(detector.changepoint_proba(), 3)
    (19, 0.046)
    """

    def __init__(
        self,
        hazard: float = 0.01,
        max_run_length: int = 200,
        window: int = 10,
        threshold: float = 0.5,
        prior_variance: float = 1.0,
        prior_dof: float = 4.0,
        direction: Literal["both", "up"] = "both",
    ) -> None:
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction: expected one of {list(_DIRECTIONS)}, got {direction!r}")
        self.hazard = as_float(hazard, field="hazard", low=0, high=1, low_open=True, high_open=True)
        self.window = as_int(window, field="window", low=1)
        self.max_run_length = as_int(max_run_length, field="max_run_length", low=2 * self.window)
        self.threshold = as_float(threshold, field="threshold", low=0, high=1, low_open=True)
        self.prior_variance = as_float(prior_variance, field="prior_variance", low=0, low_open=True)
        self.prior_dof = as_float(prior_dof, field="prior_dof", low=0, low_open=True)
        self.direction = direction
        # Bin j holds the hypothesis "j observations before the latest in its
        # segment"; its posterior shape is a0 + (j + 1) / 2 whatever the data.
        a0 = self.prior_dof / 2.0
        self._a0 = a0
        self._b0 = self.prior_dof * self.prior_variance / 2.0
        shape = a0 + np.arange(1, self.max_run_length + 1) / 2.0
        self._shape = shape
        self._shape_half = shape + 0.5
        self._log_norm = gammaln(shape + 0.5) - gammaln(shape) - 0.5 * math.log(2.0 * math.pi)
        self._prior_log_norm = (
            math.lgamma(a0 + 0.5) - math.lgamma(a0) - 0.5 * math.log(2.0 * math.pi)
        ) + a0 * math.log(self._b0)
        self._proba = np.zeros(self.max_run_length)
        self._rate = np.full(self.max_run_length, self._b0)  # b_0 + S_j / 2 per bin
        self._log_rate = np.log(self._rate)
        self._n_obs = 0
        self._changepoint = 1.0
        self._drift = False
        self._armed = True

    def update(self, x: float) -> None:
        """Learn from one return: the run-length recursion, then the alarm rule."""
        value = check_observation(x)
        half = 0.5 * value * value
        if not half < math.inf:
            raise ValueError("x: too large to square (overflow)")
        b0 = self._b0
        fresh_rate = b0 + half
        fresh_log_rate = math.log(fresh_rate)
        if self._n_obs == 0:
            self._proba[0] = 1.0
        else:
            grown = self._rate + half  # each run's rate after adding x
            log_grown = np.log(grown)
            # log p(x | a, b) = log_norm + a log b - (a + 1/2) log(b + x^2 / 2)
            log_pred = self._log_norm + self._shape * self._log_rate - self._shape_half * log_grown
            log_prior = self._prior_log_norm - (self._a0 + 0.5) * fresh_log_rate
            top = max(float(log_pred.max()), log_prior)
            growth = self._proba * np.exp(log_pred - top)
            proba = np.empty_like(growth)
            proba[1:] = growth[:-1]
            proba[-1] += growth[-1]  # runs past the cap stay in the top bin
            proba[1:] *= 1.0 - self.hazard
            proba[0] = self.hazard * math.exp(log_prior - top)
            proba /= proba.sum()
            self._proba = proba
            self._rate[1:] = grown[:-1]
            self._log_rate[1:] = log_grown[:-1]
        self._rate[0] = fresh_rate
        self._log_rate[0] = fresh_log_rate
        self._n_obs += 1
        self._changepoint = float(self._proba[: self.window].sum())
        signal = self.ready and self._changepoint >= self.threshold
        if signal and self.direction == "up":
            signal = self.variance_ratio() > 1.0
        self._drift = signal and self._armed
        if self._drift:
            self._armed = False
        elif not self._armed and self._changepoint < self.threshold / 2.0:
            self._armed = True

    # ------------------------------------------------------------------ queries
    @property
    def drift_detected(self) -> bool:
        """True on the update that raised an alarm (see the module docstring)."""
        return self._drift

    @property
    def ready(self) -> bool:
        """True once ``2 * window`` observations are in: before, a change within the
        window is certain by construction and no alarm is raised."""
        return self._n_obs >= 2 * self.window

    @property
    def map_run_length(self) -> int:
        """The most probable run length (0 = the latest observation started a segment)."""
        return int(np.argmax(self._proba))

    def run_length_proba(self) -> np.ndarray:
        """:math:`P(r_t = r \\mid x_{1:t})` for ``r = 0 .. max_run_length - 1``."""
        return self._proba.copy()

    def changepoint_proba(self) -> float:
        """:math:`P(r_t < w \\mid x_{1:t})`: a change within the last ``window`` observations.

        It is 1 until more than ``window`` observations have been seen.
        """
        return self._changepoint

    def variance_ratio(self) -> float:
        """Mean square after the most probable recent change over that before it.

        The change is placed at the most probable run length below ``window``,
        ``r*``: the last ``r* + 1`` observations are compared with the older
        ones kept (at most ``max_run_length`` in all). NaN until there are older ones.
        """
        kept = min(self._n_obs, self.max_run_length)
        after = int(np.argmax(self._proba[: self.window])) + 1
        if kept <= after:
            return float("nan")
        b0, rate = self._b0, self._rate
        recent = 2.0 * (rate[after - 1] - b0) / after
        older = 2.0 * (rate[kept - 1] - rate[after - 1]) / (kept - after)
        return recent / older if older > 0.0 else float("inf")
