"""Detection scores: the matching rule at every boundary, pooling, regime switches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskengine.scoring import (
    DetectionScores,
    detection_scores,
    pool_detection_scores,
    switches_into,
)


def test_an_alarm_at_the_change_point_has_delay_zero() -> None:
    scores = detection_scores([50], [50], n_steps=100, max_delay=10)
    assert scores.delays == (0,)
    assert scores.n_false_alarms == 0
    assert scores.missed_rate == 0.0


def test_window_ends_at_max_delay() -> None:
    inside = detection_scores([50], [60], n_steps=100, max_delay=10)
    outside = detection_scores([50], [61], n_steps=100, max_delay=10)
    assert inside.delays == (10,) and inside.n_false_alarms == 0
    assert outside.delays == () and outside.n_false_alarms == 1 and outside.missed_rate == 1.0


def test_window_ends_before_the_next_change_point() -> None:
    # The alarm at 55 is the first in the second window, not a late detection of 50.
    scores = detection_scores([50, 55], [55], n_steps=100, max_delay=10)
    assert scores.delays == (0,)
    assert scores.n_missed == 1
    scores = detection_scores([50, 55], [54, 58], n_steps=100, max_delay=10)
    assert scores.delays == (4, 3)


def test_window_ends_at_the_last_step() -> None:
    scores = detection_scores([95], [99], n_steps=100, max_delay=10)
    assert scores.delays == (4,)


def test_alarms_before_between_and_repeated_are_false() -> None:
    scores = detection_scores([20, 60], [5, 21, 22, 45, 63], n_steps=100, max_delay=10)
    assert scores.delays == (1, 3)
    assert scores.n_false_alarms == 3  # 5 (before), 22 (second in window), 45 (between)
    assert scores.n_alarms == 5
    assert scores.false_alarms_per_500 == pytest.approx(15.0)


def test_summary_statistics() -> None:
    scores = detection_scores([10, 40, 70, 90], [12, 46, 71], n_steps=100, max_delay=5)
    assert scores.delays == (2, 1)  # 46 is 6 after 40: too late, and false
    assert scores.median_delay == 1.5
    assert scores.mean_delay == 1.5
    assert scores.missed_rate == 0.5
    assert scores.detected_within(1) == 0.25
    assert scores.detected_within(2) == 0.5
    assert scores.as_dict()["detected_within_5"] == 0.5


def test_no_change_points_or_no_detections() -> None:
    quiet = detection_scores([], [3, 7], n_steps=100, max_delay=5)
    assert quiet.n_change_points == 0 and quiet.n_false_alarms == 2
    assert math.isnan(quiet.missed_rate) and math.isnan(quiet.median_delay)
    assert quiet.as_dict()["median_delay"] is None
    blind = detection_scores([10], [], n_steps=100, max_delay=5)
    assert blind.missed_rate == 1.0 and blind.n_false_alarms == 0
    assert math.isnan(blind.mean_delay)


def test_pooling_adds_counts_and_steps() -> None:
    a = detection_scores([10], [12, 50], n_steps=100, max_delay=5)
    b = detection_scores([30, 60], [61], n_steps=300, max_delay=5)
    pooled = pool_detection_scores([a, b])
    assert pooled == DetectionScores(
        n_steps=400, max_delay=5, n_change_points=3, n_alarms=3, delays=(2, 1), n_false_alarms=1
    )
    assert pooled.false_alarms_per_500 == pytest.approx(1.25)
    with pytest.raises(ValueError, match=r"^scores: max_delay differs"):
        pool_detection_scores([a, detection_scores([10], [], n_steps=100, max_delay=6)])
    with pytest.raises(ValueError, match=r"^scores: need at least one"):
        pool_detection_scores([])


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match=r"^alarms: indices must lie in \[0, 99\]"):
        detection_scores([10], [100], n_steps=100, max_delay=5)
    with pytest.raises(ValueError, match=r"^true_change_points: indices must be distinct"):
        detection_scores([10, 10], [], n_steps=100, max_delay=5)
    with pytest.raises(TypeError, match=r"^alarms: expected a 1-d sequence of integer"):
        detection_scores([10], [1.5], n_steps=100, max_delay=5)
    with pytest.raises(ValueError, match=r"^max_delay: must be >= 0"):
        detection_scores([10], [], n_steps=100, max_delay=-1)
    # Unsorted input is fine: indices are sorted first.
    assert detection_scores([60, 10], [61, 11], n_steps=100, max_delay=5).delays == (1, 1)


def test_switches_into_a_regime() -> None:
    regime = np.array([2, 2, 0, 1, 2, 2, 1, 2, 0, 0])
    assert switches_into(regime, 2).tolist() == [4, 7]  # starting in 2 is not a switch
    assert switches_into(regime, 0).tolist() == [2, 8]
    assert switches_into(np.zeros(0, dtype=int), 2).tolist() == []
    with pytest.raises(TypeError, match=r"^regime: expected a 1-d sequence of integer"):
        switches_into([0.0, 1.0], 1)
