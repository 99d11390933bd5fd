"""BOCPD: the Adams-MacKay recursion, the bounded run length, the alarm rule."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from riskengine.regime import BOCPD


def _reference_posteriors(x: np.ndarray, hazard: float, a0: float, b0: float) -> list[np.ndarray]:
    """Untruncated BOCPD written from the paper: run lengths 0..t, growing each step."""

    def log_predictive(value: float, n: np.ndarray, squares: np.ndarray) -> np.ndarray:
        a, b = a0 + n / 2.0, b0 + squares / 2.0
        return np.array(
            [
                math.lgamma(ai + 0.5)
                - math.lgamma(ai)
                - 0.5 * math.log(2 * math.pi * bi)
                - (ai + 0.5) * math.log1p(value**2 / (2 * bi))
                for ai, bi in zip(a, b, strict=True)
            ]
        )

    posterior, squares = np.array([1.0]), np.array([x[0] ** 2])
    out = [posterior]
    for value in x[1:]:
        n = np.arange(1, posterior.size + 1)
        growth = (1 - hazard) * posterior * np.exp(log_predictive(value, n, squares))
        change = hazard * np.exp(log_predictive(value, np.zeros(1), np.zeros(1)))[0]
        joint = np.concatenate([[change], growth])
        posterior = joint / joint.sum()
        squares = np.concatenate([[value**2], squares + value**2])
        out.append(posterior)
    return out


def test_run_length_posterior_matches_the_untruncated_recursion() -> None:
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(0, 1, 60), rng.normal(0, 2.5, 40)])
    reference = _reference_posteriors(x, hazard=0.02, a0=1.5, b0=1.5 * 0.8)
    detector = BOCPD(hazard=0.02, max_run_length=120, prior_variance=0.8, prior_dof=3.0)
    for t, value in enumerate(x):
        detector.update(value)
        posterior = detector.run_length_proba()
        np.testing.assert_allclose(posterior[: t + 1], reference[t], rtol=1e-9, atol=1e-15)
        assert np.all(posterior[t + 1 :] == 0)
        assert detector.map_run_length == int(np.argmax(reference[t]))
        assert detector.changepoint_proba() == pytest.approx(reference[t][:10].sum(), rel=1e-9)


def test_bounded_run_length_keeps_the_mass_of_long_runs() -> None:
    # A long quiet spell sits at the cap; folding, not dropping, its mass keeps
    # the posterior there instead of handing it to short runs.
    x = np.random.default_rng(5).normal(0, 1, 600)
    detector = BOCPD(hazard=0.01, max_run_length=40, window=10)
    cps = []
    for value in x:
        detector.update(value)
        cps.append(detector.changepoint_proba())
    posterior = detector.run_length_proba()
    assert posterior.shape == (40,)
    assert posterior.sum() == pytest.approx(1.0)
    assert detector.map_run_length == 39
    assert posterior[-1] > 0.5
    assert np.mean(np.array(cps[100:]) < 0.2) > 0.95


def test_top_bin_scores_the_last_max_run_length_observations() -> None:
    x = np.random.default_rng(6).normal(0, 1, 50)
    detector = BOCPD(max_run_length=20, window=5, prior_variance=1.0, prior_dof=2.0)
    for value in x:
        detector.update(value)
    # Bin j's statistics are the last j + 1 squares, the top bin's the last 20:
    # the variance ratio splits them at the most probable recent change.
    after = int(np.argmax(detector.run_length_proba()[:5])) + 1
    recent, older = np.mean(x[-after:] ** 2), np.mean(x[-20:-after] ** 2)
    assert detector.variance_ratio() == pytest.approx(recent / older, rel=1e-12)


def test_one_alarm_per_variance_increase_and_direction() -> None:
    rng = np.random.default_rng(2)
    up_then_down = np.concatenate(
        [rng.normal(0, 1, 150), rng.normal(0, 4, 60), rng.normal(0, 1, 150)]
    )
    alarms = {}
    for direction in ("both", "up"):
        detector = BOCPD(hazard=0.005, direction=direction)
        hits = []
        for t, value in enumerate(up_then_down):
            detector.update(value)
            if detector.drift_detected:
                hits.append(t)
        alarms[direction] = hits
    assert len(alarms["up"]) == 1 and 150 <= alarms["up"][0] <= 155
    assert alarms["up"][0] in alarms["both"]
    assert any(210 <= t <= 230 for t in alarms["both"])  # the decrease, reported by "both"


def test_no_alarm_during_the_first_two_windows() -> None:
    detector = BOCPD(window=10, threshold=0.1)
    for value in [0.1] * 5 + [50.0] * 14:
        detector.update(value)
        assert not detector.drift_detected
    assert math.isnan(BOCPD().variance_ratio())


def test_bad_input_names_x_and_changes_nothing() -> None:
    detector = BOCPD()
    for value in (0.1, -0.3, 0.2):
        detector.update(value)
    before = pickle.dumps(detector)
    with pytest.raises(ValueError, match=r"^x: must be finite, got nan$"):
        detector.update(float("nan"))
    with pytest.raises(ValueError, match=r"^x: too large to square"):
        detector.update(1e300)
    with pytest.raises(TypeError, match=r"^x: expected a number, got list"):
        detector.update([0.1])
    assert pickle.dumps(detector) == before


def test_hyper_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match=r"^hazard: must be > 0"):
        BOCPD(hazard=0.0)
    with pytest.raises(ValueError, match=r"^max_run_length: must be >= 20"):
        BOCPD(window=10, max_run_length=19)
    with pytest.raises(ValueError, match=r"^prior_variance: must be > 0"):
        BOCPD(prior_variance=-1.0)
    with pytest.raises(ValueError, match=r"^direction: expected one of"):
        BOCPD(direction="down")
