"""DriftDetector: river's ADWIN and Page-Hinkley on transformed standardised residuals."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from river import drift as river_drift

from riskengine.regime import DriftDetector

RNG = np.random.default_rng(7)
CALM, STORM = RNG.normal(0, 1, 400), RNG.normal(0, 3, 100)


def _alarms(detector: DriftDetector, residuals: np.ndarray) -> list[int]:
    hits = []
    for t, z in enumerate(residuals):
        detector.update(float(z))
        if detector.drift_detected:
            hits.append(t)
    return hits


@pytest.mark.parametrize("method", ["adwin", "page_hinkley"])
@pytest.mark.parametrize("transform", ["abs", "log_square"])
def test_a_variance_increase_is_detected_soon_after_it_happens(method: str, transform: str) -> None:
    # log z^2 has a standard deviation of about 2.2, so Page-Hinkley needs a
    # larger threshold there than the |z| defaults.
    log_page_hinkley = method == "page_hinkley" and transform == "log_square"
    options = {"threshold": 40.0, "delta": 0.3} if log_page_hinkley else None
    hits = _alarms(DriftDetector(method, transform, options=options), np.r_[CALM, STORM])
    assert any(400 <= t <= 430 for t in hits), hits
    assert not any(t < 400 for t in hits), hits


@pytest.mark.parametrize("method", ["adwin", "page_hinkley"])
def test_direction_up_ignores_a_variance_decrease(method: str) -> None:
    down = np.r_[CALM[:300], CALM[300:] * 0.2]  # the variance falls 25-fold at 300
    assert _alarms(DriftDetector(method, direction="up"), down) == []
    assert any(300 <= t <= 340 for t in _alarms(DriftDetector(method, direction="both"), down))


def test_the_wrapper_feeds_river_the_transformed_residual() -> None:
    # Same stream through river directly: the wrapper adds nothing but the transform.
    stream = np.r_[CALM, STORM]
    ours = DriftDetector("page_hinkley", direction="both")
    theirs = river_drift.PageHinkley(min_instances=30, delta=0.1, threshold=8.0, alpha=0.999)
    for z in stream:
        ours.update(float(z))
        theirs.update(abs(float(z)))
        assert ours.drift_detected == theirs.drift_detected
    assert ours.statistic == abs(float(stream[-1]))
    log_detector = DriftDetector(transform="log_square")
    log_detector.update(0.5)
    assert log_detector.statistic == pytest.approx(math.log(0.25 + 1e-8))


def test_variance_standardises_the_return() -> None:
    a, b = DriftDetector("adwin"), DriftDetector("adwin")
    for z in np.r_[CALM, STORM]:
        a.update(float(z) * 0.02, variance=0.02**2)
        b.update(float(z))
        assert a.statistic == pytest.approx(b.statistic, rel=1e-12)
        assert a.drift_detected == b.drift_detected
    assert a.n_detections == b.n_detections >= 1


def test_bad_input_names_its_field_and_changes_nothing() -> None:
    detector = DriftDetector()
    for z in CALM[:20]:
        detector.update(float(z))
    before = pickle.dumps(detector)
    with pytest.raises(ValueError, match=r"^variance: must be > 0, got 0.0$"):
        detector.update(0.1, variance=0.0)
    with pytest.raises(ValueError, match=r"^x: must be finite, got inf$"):
        detector.update(float("inf"))
    with pytest.raises(ValueError, match=r"^x: the standardised residual overflows"):
        detector.update(1e300, variance=1e-300)
    assert pickle.dumps(detector) == before


def test_options_go_to_river_and_are_checked() -> None:
    detector = DriftDetector("adwin", options={"delta": 0.1, "grace_period": 5})
    assert detector._detector.delta == 0.1
    assert detector._detector.clock == 1  # this module's default stays
    assert repr(detector).endswith("options={'delta': 0.1, 'grace_period': 5})")
    with pytest.raises(ValueError, match=r"^options: "):
        DriftDetector("adwin", options={"lambda": 3})
    with pytest.raises(ValueError, match=r"^options: set Page-Hinkley's mode"):
        DriftDetector("page_hinkley", options={"mode": "down"})
    with pytest.raises(ValueError, match=r"^method: expected one of"):
        DriftDetector("kswin")
    with pytest.raises(ValueError, match=r"^transform: expected one of"):
        DriftDetector(transform="square")


@pytest.mark.parametrize("method", ["adwin", "page_hinkley"])
def test_update_many_equals_update_in_a_loop(method: str) -> None:
    rng = np.random.default_rng(5)
    residuals = np.concatenate([rng.standard_normal(400), 3 * rng.standard_normal(100)])
    looped, batch = DriftDetector(method), DriftDetector(method)
    alarms = []
    for z in residuals.tolist():
        looped.update(z)
        alarms.append(looped.drift_detected)
    np.testing.assert_array_equal(batch.update_many(residuals), alarms)
    assert (batch.statistic, batch.n_detections, batch.drift_detected) == (
        looped.statistic,
        looped.n_detections,
        looped.drift_detected,
    )
    with pytest.raises(ValueError, match=r"^x"):
        batch.update_many([0.1, float("nan")])
