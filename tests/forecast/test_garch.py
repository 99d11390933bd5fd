"""OnlineGARCH against arch itself: same parameters, same filtered variances, same forecasts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from arch import arch_model
from arch.data import sp500

from riskengine.forecast import garch as garch_module
from riskengine.forecast.garch import OnlineGARCH

RETURNS = np.log(sp500.load()["Adj Close"]).diff().dropna().to_numpy()
FIT = RETURNS[:1500]


@pytest.fixture(scope="module", params=["GARCH", "GJR"])
def fitted(request: pytest.FixtureRequest) -> tuple[OnlineGARCH, Any]:
    model = OnlineGARCH(vol=request.param).fit(FIT)
    o = 1 if request.param == "GJR" else 0
    result = arch_model(FIT * 100, mean="Zero", vol="GARCH", p=1, o=o, q=1, dist="t").fit(
        disp="off"
    )
    return model, result


def test_parameters_are_archs(fitted: tuple[OnlineGARCH, Any]) -> None:
    model, result = fitted
    p = result.params
    assert model.params.omega == pytest.approx(p["omega"] / 1e4, rel=1e-6)
    assert model.params.alpha == pytest.approx(p["alpha[1]"], rel=1e-6, abs=1e-9)
    assert model.params.beta == pytest.approx(p["beta[1]"], rel=1e-6)
    assert model.params.nu == pytest.approx(p["nu"], rel=1e-6)


def test_filter_reproduces_archs_conditional_variance(fitted: tuple[OnlineGARCH, Any]) -> None:
    model, result = fitted
    initial = OnlineGARCH._initial_variance(FIT, model.params)
    path = OnlineGARCH._filter(FIT, model.params, initial)
    np.testing.assert_allclose(path[:-1], result.conditional_volatility**2 / 1e4, rtol=1e-9)


def test_forecasts_are_archs(fitted: tuple[OnlineGARCH, Any]) -> None:
    model, result = fitted
    expected = result.forecast(horizon=10, reindex=False).variance.to_numpy()[0] / 1e4
    np.testing.assert_allclose(model.forecast(10), expected, rtol=1e-9)
    assert model.variance() == pytest.approx(expected[0], rel=1e-9)


def test_update_is_the_garch_recursion() -> None:
    model = OnlineGARCH(vol="GJR").fit(FIT)
    p, h = model.params, model.variance()
    model.update(-0.02)
    expected = p.omega + (p.alpha + p.gamma) * (-0.02 - p.mu) ** 2 + p.beta * h
    assert model.variance() == pytest.approx(expected, rel=1e-12)


def test_scheduled_refit_warm_starts_and_keeps_the_filtered_variance() -> None:
    model = OnlineGARCH(refit_every=50, history=1000).fit(FIT)
    before = model.params
    for x in RETURNS[1500:1549]:
        model.update(float(x))
    variance_before_refit_step = model.variance()
    model.update(float(RETURNS[1549]))  # the 50th update triggers the refit
    report = model.last_refit
    assert report.converged and report.at_update == 50 and report.n_obs == 1000
    assert model.params != before
    # The refit adopts new parameters for the future; the forecast just made stays.
    p = before
    eps = RETURNS[1549] - p.mu
    assert model.variance() == pytest.approx(
        p.omega + p.alpha * eps**2 + p.beta * variance_before_refit_step, rel=1e-12
    )


def test_failed_refit_keeps_parameters_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    model = OnlineGARCH().fit(FIT)
    before = model.params

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("optimiser exploded")

    monkeypatch.setattr(garch_module, "arch_model", broken)
    report = model.refit()
    assert not report.converged and "optimiser exploded" in report.message
    assert model.params == before


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"vol": "EGARCH"}, "vol"),
        ({"mean": "ar"}, "mean"),
        ({"refit_every": 0}, "refit_every"),
        ({"min_obs": 10}, "min_obs"),
        ({"history": 100}, "history"),
    ],
)
def test_bad_hyper_parameters_are_named(kwargs: dict, field: str) -> None:
    with pytest.raises((ValueError, TypeError), match=field):
        OnlineGARCH(**kwargs)


def test_fit_rejects_too_little_or_bad_data() -> None:
    with pytest.raises(ValueError, match="returns: need at least 250"):
        OnlineGARCH().fit(FIT[:100])
    with pytest.raises(ValueError, match="returns: must all be finite"):
        OnlineGARCH().fit(np.append(FIT, np.nan))
    with pytest.raises(ValueError, match="returns: expected a 1-d array"):
        OnlineGARCH().fit(FIT.reshape(-1, 2))
    with pytest.raises(RuntimeError, match="call fit"):
        OnlineGARCH().update(0.01)
