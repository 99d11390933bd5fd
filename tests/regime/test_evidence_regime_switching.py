"""Issue 3's regime evidence: filtering and crisis-switch detection on ``regime_switching``.

Thresholds are calibrated on one seed and every figure is measured on
another (``scripts/evidence_regime_detection.py``); the figures are in
``docs/models.md``, "Evidence", "Regimes and change detection: simulated
``regime_switching``".

What is asserted is what the evidence supports. The false-alarm target
(< 1 per 500 steps) is met. The delay target (median <= 5 steps) is met only
in the conventional sense, over the detected switches, at the price of about
two thirds of the switches missed; counted over all switches it is not met,
and not even by the simulator's own model filtered with its true parameters,
so it is not asserted.
"""

from __future__ import annotations

import pytest

from scripts.evidence_regime_detection import run


@pytest.fixture(scope="module")
def report() -> dict:
    return run()


def test_thresholds_come_from_a_separate_seed_and_the_classes_follow_the_rules(
    report: dict,
) -> None:
    seeds = report["seeds"]
    assert len({seeds["training"], seeds["calibration"], seeds["evaluation"]}) == 3
    assert report["offline_rule_matches_classes"]
    for name, detector in report["detectors"].items():
        assert detector["calibration"]["false_alarms_per_500"] <= 0.8, name
    assert report["detectors"]["combined"]["n_change_points"] > 500


def test_the_hmm_filter_tracks_every_regime(report: dict) -> None:
    volatility = report["hmm"]["volatility_annualised"]
    assert volatility == sorted(volatility)
    assert min(report["filtered_recall_per_regime"]) > 0.4  # chance: 1/3 each
    assert report["filtered_balanced_accuracy"] > 0.5
    # The true-model filter is the ceiling the learned HMM is measured against.
    assert report["oracle_filtered_accuracy"] > report["filtered_accuracy"]


def test_the_engine_detector_meets_the_false_alarm_target(report: dict) -> None:
    combined = report["detectors"]["combined"]
    assert combined["false_alarms_per_500"] < 1.0, combined


def test_the_combination_detects_more_switches_quickly_than_its_parts_and_river(
    report: dict,
) -> None:
    detectors = report["detectors"]
    combined = detectors["combined"]["detected_within_5"]
    for alone in ("hmm", "adwin", "page_hinkley"):
        assert combined > detectors[alone]["detected_within_5"], (alone, detectors[alone])
    assert combined >= 0.95 * detectors["bocpd"]["detected_within_5"]


def test_half_the_switches_within_5_steps_is_beyond_even_the_true_model(report: dict) -> None:
    # Why the delay target is not asserted: no detector, not even the Bayes
    # filter of the true model, detects half the crisis switches within 5 steps
    # at this false-alarm rate.
    for name, detector in report["detectors"].items():
        assert detector["detected_within_5"] < 0.5, name
        assert not detector["meets_median_delay_counting_misses"], name
