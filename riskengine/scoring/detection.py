"""Change-detection scores against known change points: delay, false alarms, misses.

Time is counted in observations, from 0. An alarm at ``t`` means the detector
reported a change on the update with observation ``t``; a change point at
``c`` means observation ``c`` is the first one after the change, so an alarm
at ``c`` itself has delay 0.

**Matching.** With the true change points sorted, ``c_1 < c_2 < ...``, the
detection window of ``c_j`` is

    W_j = [c_j, min(c_j + max_delay, c_{j+1} - 1, n_steps - 1)],

so windows never overlap. ``c_j`` is detected by the first alarm in
``W_j``, with delay ``alarm - c_j``; if ``W_j`` holds no alarm, ``c_j`` is
missed. Every other alarm is false: before the first change point, after a
window closes, or a second alarm in the same window.

Scores (as in the change-detection literature, e.g. Basseville and Nikiforov
1993): the median and mean delay over detected change points, the
missed-detection rate ``missed / change points``, the false-alarm rate per
500 observations, and the fraction detected within ``k`` steps. The median
over detected points alone rewards a detector that only catches easy changes;
read it with the missed rate, or use :meth:`DetectionScores.detected_within`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from riskengine._validation import as_int

__all__ = ["DetectionScores", "detection_scores", "pool_detection_scores", "switches_into"]


@dataclasses.dataclass(frozen=True)
class DetectionScores:
    """Counts and delays of one or more scored paths (see the module docstring)."""

    n_steps: int
    max_delay: int
    n_change_points: int
    n_alarms: int
    delays: tuple[int, ...]
    n_false_alarms: int

    @property
    def n_detected(self) -> int:
        return len(self.delays)

    @property
    def n_missed(self) -> int:
        return self.n_change_points - self.n_detected

    @property
    def median_delay(self) -> float:
        """Median delay over detected change points (NaN if none)."""
        return float(np.median(self.delays)) if self.delays else float("nan")

    @property
    def mean_delay(self) -> float:
        """Mean delay over detected change points (NaN if none)."""
        return float(np.mean(self.delays)) if self.delays else float("nan")

    @property
    def missed_rate(self) -> float:
        """Missed change points over all change points (NaN if there are none)."""
        return self.n_missed / self.n_change_points if self.n_change_points else float("nan")

    @property
    def false_alarms_per_500(self) -> float:
        """False alarms per 500 observations."""
        return 500.0 * self.n_false_alarms / self.n_steps

    def detected_within(self, steps: int) -> float:
        """Fraction of all change points detected with a delay of at most ``steps``.

        At least one half means the median delay, counting a miss as never
        detected, is at most ``steps``.
        """
        steps = as_int(steps, field="steps", low=0)
        if not self.n_change_points:
            return float("nan")
        return sum(delay <= steps for delay in self.delays) / self.n_change_points

    def summary(self) -> str:
        return (
            f"{self.n_change_points} change points, {self.n_detected} detected "
            f"(median delay {self.median_delay:g}, mean {self.mean_delay:.2f}), "
            f"missed {self.missed_rate:.1%},\n"
            f"{self.n_false_alarms} false alarms ({self.false_alarms_per_500:.2f} per 500 steps)"
        )

    def as_dict(self) -> dict[str, Any]:
        """The headline numbers, JSON-ready (NaN becomes None)."""

        def clean(value: float) -> float | None:
            return None if math.isnan(value) else value

        return {
            "n_change_points": self.n_change_points,
            "n_detected": self.n_detected,
            "median_delay": clean(self.median_delay),
            "mean_delay": clean(self.mean_delay),
            "missed_rate": clean(self.missed_rate),
            "n_false_alarms": self.n_false_alarms,
            "false_alarms_per_500": self.false_alarms_per_500,
            "detected_within_5": clean(self.detected_within(5)),
            "n_steps": self.n_steps,
            "max_delay": self.max_delay,
        }


def _indices(values: Any, *, field: str, n_steps: int) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise TypeError(f"{field}: expected a 1-d sequence of integer step indices")
    array = np.sort(array.astype(np.int64))
    if array[0] < 0 or array[-1] >= n_steps:
        raise ValueError(f"{field}: indices must lie in [0, {n_steps - 1}]")
    if np.any(np.diff(array) == 0):
        raise ValueError(f"{field}: indices must be distinct")
    return array


def detection_scores(
    true_change_points: Sequence[int] | np.ndarray,
    alarms: Sequence[int] | np.ndarray,
    n_steps: int,
    max_delay: int,
) -> DetectionScores:
    """Score the ``alarms`` of one path against its ``true_change_points``.

    Examples
    --------
    >>> scores = detection_scores([100, 300], [40, 103, 104, 330], n_steps=500, max_delay=20)
    >>> scores.delays, scores.n_false_alarms, scores.missed_rate
    ((3,), 3, 0.5)
    >>> print(scores.summary())
    2 change points, 1 detected (median delay 3, mean 3.00), missed 50.0%,
    3 false alarms (3.00 per 500 steps)
    """
    n_steps = as_int(n_steps, field="n_steps", low=1)
    max_delay = as_int(max_delay, field="max_delay", low=0)
    points = _indices(true_change_points, field="true_change_points", n_steps=n_steps)
    alarm_steps = _indices(alarms, field="alarms", n_steps=n_steps)
    delays = []
    ends = np.append(points[1:] - 1, n_steps - 1)[: points.size]
    for point, end in zip(points.tolist(), ends.tolist(), strict=True):
        last = min(point + max_delay, end)
        first = int(np.searchsorted(alarm_steps, point))
        if first < alarm_steps.size and alarm_steps[first] <= last:
            delays.append(int(alarm_steps[first]) - point)
    return DetectionScores(
        n_steps=n_steps,
        max_delay=max_delay,
        n_change_points=int(points.size),
        n_alarms=int(alarm_steps.size),
        delays=tuple(delays),
        n_false_alarms=int(alarm_steps.size) - len(delays),
    )


def pool_detection_scores(scores: Iterable[DetectionScores]) -> DetectionScores:
    """Pool several paths' scores: counts and steps add up, delays are concatenated.

    >>> a = detection_scores([10], [12], n_steps=100, max_delay=5)
    >>> b = detection_scores([50], [20], n_steps=100, max_delay=5)
    >>> pooled = pool_detection_scores([a, b])
    >>> pooled.delays, pooled.missed_rate, pooled.false_alarms_per_500
    ((2,), 0.5, 2.5)
    """
    scores = list(scores)
    if not scores:
        raise ValueError("scores: need at least one DetectionScores")
    max_delays = {s.max_delay for s in scores}
    if len(max_delays) != 1:
        raise ValueError(f"scores: max_delay differs between paths ({sorted(max_delays)})")
    return DetectionScores(
        n_steps=sum(s.n_steps for s in scores),
        max_delay=max_delays.pop(),
        n_change_points=sum(s.n_change_points for s in scores),
        n_alarms=sum(s.n_alarms for s in scores),
        delays=tuple(d for s in scores for d in s.delays),
        n_false_alarms=sum(s.n_false_alarms for s in scores),
    )


def switches_into(regime: Sequence[int] | np.ndarray, target: int) -> np.ndarray:
    """Steps ``t >= 1`` where the regime path enters ``target`` (``s_t = target != s_{t-1}``).

    A path that starts in ``target`` has no switch at 0: nothing was observed
    before it.

    >>> switches_into([0, 0, 2, 2, 1, 2, 0, 2], target=2).tolist()
    [2, 5, 7]
    """
    path = np.asarray(regime)
    if path.ndim != 1 or path.dtype.kind not in "iu":
        raise TypeError("regime: expected a 1-d sequence of integer regime ids")
    target = as_int(target, field="target", low=0)
    inside = path == target
    return np.flatnonzero(inside[1:] & ~inside[:-1]) + 1
