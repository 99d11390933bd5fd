"""LearnedVolForecaster: the QLIKE loss, features, learning and bad input."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from arch.data import sp500
from hypothesis import given
from hypothesis import strategies as st

from riskengine.forecast import LearnedVolForecaster, QLIKELoss

RETURNS = np.log(sp500.load()["Adj Close"]).diff().dropna().to_numpy()


@given(
    y=st.floats(1e-3, 50.0),
    eta=st.floats(-5.0, 5.0),
)
def test_qlike_gradient_is_the_derivative_of_the_loss(y: float, eta: float) -> None:
    loss, step = QLIKELoss(), 1e-6
    numeric = (loss(y, eta + step) - loss(y, eta - step)) / (2 * step)
    assert loss.gradient(y, eta) == pytest.approx(numeric, rel=1e-5, abs=1e-6)
    assert loss(y, eta) >= -1e-12
    assert loss(y, math.log(y)) == pytest.approx(0.0, abs=1e-12)  # minimised at eta = log y


def test_learns_the_scale_of_iid_returns() -> None:
    # With iid returns of variance 1e-4 the best forecast is 1e-4 every day.
    rng = np.random.default_rng(0)
    model = LearnedVolForecaster(learning_rate=0.003).fit(0.01 * rng.standard_normal(20_000))
    assert model.variance() == pytest.approx(1e-4, rel=0.1)


def test_learns_volatility_clustering() -> None:
    # A high-variance day in a GARCH world raises the learned forecast.
    model = LearnedVolForecaster().fit(RETURNS[:3000])
    weights = model.weights
    assert weights["log_rv_5_vs_22"] > 0
    assert weights["leverage"] < 0  # falls raise volatility more than rises


def test_extra_features_enter_the_regression() -> None:
    model = LearnedVolForecaster().fit(RETURNS[:300])
    for t, value in enumerate(RETURNS[300:600].tolist()):
        model.update(value, features={"p_crisis": float(t % 2)})
    assert "p_crisis" in model.weights


def test_warm_up_gives_nan_then_a_forecast() -> None:
    model = LearnedVolForecaster(windows=(1, 5), min_obs=6)
    for value in RETURNS[:4].tolist():
        model.update(value)
        assert math.isnan(model.variance())
    model.update(float(RETURNS[4]))
    assert model.variance() > 0


@pytest.mark.parametrize(
    ("features", "error", "message"),
    [
        ({"spread": float("nan")}, ValueError, r"^features\['spread'\]: must be finite"),
        ({"spread": "wide"}, TypeError, r"^features\['spread'\]: expected a number"),
        ([0.1], TypeError, r"^features: expected a mapping"),
    ],
)
def test_bad_features_raise_and_leave_state_unchanged(
    features: object, error: type, message: str
) -> None:
    model = LearnedVolForecaster().fit(RETURNS[:300])
    before = pickle.dumps(model)
    with pytest.raises(error, match=message):
        model.update(0.01, features=features)  # type: ignore[arg-type]
    assert pickle.dumps(model) == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"windows": (5, 1)}, r"^windows: need two or more increasing"),
        ({"windows": (22,)}, r"^windows: need two or more increasing"),
        ({"learning_rate": 0.0}, r"^learning_rate"),
        ({"min_obs": 10}, r"^min_obs: must be >= 23"),
    ],
)
def test_bad_hyper_parameters_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LearnedVolForecaster(**kwargs)


def test_fit_needs_min_obs_finite_returns() -> None:
    with pytest.raises(ValueError, match=r"^returns: need a 1-d array of at least 250"):
        LearnedVolForecaster().fit(RETURNS[:100])
    with pytest.raises(ValueError, match=r"^returns: must all be finite"):
        LearnedVolForecaster().fit(np.r_[RETURNS[:300], np.nan])
