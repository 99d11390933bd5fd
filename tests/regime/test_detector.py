"""RegimeSwitchDetector: the HMM level gated by BOCPD, one alarm per switch."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from riskengine.regime import BOCPD, OnlineRegimeHMM, RegimeSwitchDetector

RNG = np.random.default_rng(11)
# Ends calm, so a fresh detector starts with the HMM in the calm state.
_SIGMA = np.repeat([0.01, 0.04, 0.01, 0.04, 0.01, 0.04, 0.01], 200)
HMM = OnlineRegimeHMM(n_regimes=2).fit(RNG.standard_normal((1400, 4)) * _SIGMA[:, None])
GATE = BOCPD(hazard=0.01, prior_variance=0.01**2 / 4, direction="up")


def _alarms(detector: RegimeSwitchDetector, returns: np.ndarray) -> list[int]:
    hits = []
    for t, x in enumerate(returns):
        detector.update(x)
        if detector.drift_detected:
            hits.append(t)
    return hits


def test_an_abrupt_switch_raises_one_alarm() -> None:
    rng = np.random.default_rng(12)
    returns = np.vstack([rng.normal(0, 0.01, (150, 4)), rng.normal(0, 0.04, (40, 4))])
    for gate in (None, GATE):
        hits = _alarms(RegimeSwitchDetector(HMM, gate), returns)
        assert len(hits) == 1 and 150 <= hits[0] <= 155, hits


def test_the_gate_suppresses_a_gradual_rise_the_hmm_alone_flags() -> None:
    rng = np.random.default_rng(13)
    sigma = np.r_[np.full(100, 0.01), np.geomspace(0.01, 0.04, 300)]
    returns = rng.standard_normal((400, 4)) * sigma[:, None]
    assert len(_alarms(RegimeSwitchDetector(HMM), returns)) >= 1
    assert _alarms(RegimeSwitchDetector(HMM, GATE), returns) == []


def test_re_arms_only_after_the_probability_halves() -> None:
    rng = np.random.default_rng(14)
    calm, storm = rng.normal(0, 0.01, (100, 4)), rng.normal(0, 0.04, (30, 4))
    returns = np.vstack([calm, storm, calm, storm])
    detector = RegimeSwitchDetector(HMM, threshold=0.5)
    hits = _alarms(detector, returns)
    assert len(hits) == 2 and 100 <= hits[0] <= 103 and 230 <= hits[1] <= 233, hits


def test_the_models_passed_in_are_never_changed() -> None:
    hmm_before, gate_before = pickle.dumps(HMM), pickle.dumps(GATE)
    detector = RegimeSwitchDetector(HMM, GATE)
    _alarms(detector, RNG.normal(0, 0.02, (50, 4)))
    assert pickle.dumps(HMM) == hmm_before
    assert pickle.dumps(GATE) == gate_before
    np.testing.assert_allclose(detector.regime_proba().sum(), 1.0)
    assert 0.0 <= detector.changepoint_proba() <= 1.0
    assert np.isnan(RegimeSwitchDetector(HMM).changepoint_proba())


def test_target_regimes_are_summed() -> None:
    sigma = np.repeat([0.01, 0.02, 0.04, 0.01], 300)
    hmm = OnlineRegimeHMM(n_regimes=3).fit(RNG.standard_normal((1200, 4)) * sigma[:, None])
    detector = RegimeSwitchDetector(hmm, target=1)
    detector.update(np.full(4, 0.02))
    assert detector.high_volatility_proba() == pytest.approx(detector.regime_proba()[1:].sum())


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"^hmm: must be fitted"):
        RegimeSwitchDetector(OnlineRegimeHMM())
    with pytest.raises(TypeError, match=r"^hmm: expected an OnlineRegimeHMM"):
        RegimeSwitchDetector(BOCPD())
    with pytest.raises(ValueError, match=r"^target: must be <= 1"):
        RegimeSwitchDetector(HMM, target=2)
    with pytest.raises(ValueError, match=r"^threshold: must be > 0"):
        RegimeSwitchDetector(HMM, threshold=0.0)
    detector = RegimeSwitchDetector(HMM, GATE)
    before = pickle.dumps(detector)
    with pytest.raises(ValueError, match=r"^x\[2\]: must be finite, got nan$"):
        detector.update(np.array([0.0, 0.0, np.nan, 0.0]))
    assert pickle.dumps(detector) == before
