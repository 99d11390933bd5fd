"""DriftAdaptedForecaster: adapts exactly when the detector fires, and nothing else."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from riskengine.forecast import EWMAVol, LearnedVolForecaster, OnlineGARCH
from riskengine.regime import BOCPD, DriftAdaptedForecaster, DriftDetector

RNG = np.random.default_rng(3)
CALM = RNG.normal(0, 0.01, 600)
STRESSED = RNG.normal(0, 0.05, 60)
STREAM = np.concatenate([CALM[300:], STRESSED])


def _variances(model: object, stream: np.ndarray) -> np.ndarray:
    out = []
    for value in stream.tolist():
        model.update(value)
        out.append(model.variance())
    return np.array(out)


def test_ewma_follows_the_plain_path_until_the_alarm_then_speeds_up() -> None:
    plain = EWMAVol().fit(CALM[:300])
    adapted = DriftAdaptedForecaster(EWMAVol().fit(CALM[:300]), BOCPD(prior_variance=1.0))
    base, fast = _variances(plain, STREAM), _variances(adapted, STREAM)
    assert adapted.adaptations, "a 25-fold variance jump must be detected"
    first = adapted.adaptations[0]
    assert 300 <= first <= 310  # the jump is at index 300 of the stream
    np.testing.assert_array_equal(fast[: first + 1], base[: first + 1])
    assert fast[first + 1] > base[first + 1]  # the shorter memory reaches the new level sooner


def test_garch_refits_when_the_detector_fires() -> None:
    model = DriftAdaptedForecaster(
        OnlineGARCH(history=1000).fit(CALM[:300]), DriftDetector("page_hinkley")
    )
    _variances(model, STREAM)
    assert model.adaptations
    last = model._forecaster.last_refit
    assert last.converged and last.at_update == model.adaptations[-1] + 1


def test_the_given_forecaster_and_detector_are_not_touched() -> None:
    garch, detector = EWMAVol().fit(CALM[:300]), BOCPD(prior_variance=1.0)
    before = pickle.dumps((garch, detector))
    model = DriftAdaptedForecaster(garch, detector)
    _variances(model, STREAM)
    assert pickle.dumps((garch, detector)) == before
    assert repr(model.clone()) == repr(model)


def test_constructor_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match=r"^forecaster: LearnedVolForecaster has no adapt\(\)"):
        DriftAdaptedForecaster(LearnedVolForecaster(), BOCPD())
    with pytest.raises(ValueError, match=r"^forecaster: must be fitted"):
        DriftAdaptedForecaster(EWMAVol(), BOCPD())
    with pytest.raises(TypeError, match=r"^detector"):
        DriftAdaptedForecaster(EWMAVol().fit(CALM), object())  # type: ignore[arg-type]
