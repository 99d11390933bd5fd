"""OnlineGARCH against arch itself: same parameters, same filtered variances, same forecasts.

And its one-step VaR and ES against arch's forecasts and distributions, the
closed-form Student-t ES, arch's analytic partial moments and a Monte Carlo
estimate.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import pytest
from arch import arch_model
from arch.data import sp500
from arch.univariate import SkewStudent

from riskengine.forecast import garch as garch_module
from riskengine.forecast import innovations as innovations_module
from riskengine.forecast.garch import OnlineGARCH
from riskengine.scoring import student_t_var_es

RETURNS = np.log(sp500.load()["Adj Close"]).diff().dropna().to_numpy()
FIT = RETURNS[:1500]
TAILS = (0.01, 0.025, 0.05)

# (vol, dist, mean): the t cases the engine has always had, and the skewed t.
SPECS = [
    ("GARCH", "t", "zero"),
    ("GJR", "t", "zero"),
    ("GJR", "skewt", "zero"),
    ("GARCH", "skewt", "constant"),
]


@pytest.fixture(scope="module", params=SPECS, ids=["-".join(spec) for spec in SPECS])
def fitted(request: pytest.FixtureRequest) -> tuple[OnlineGARCH, Any]:
    vol, dist, mean = request.param
    model = OnlineGARCH(vol=vol, dist=dist, mean=mean).fit(FIT)
    o = 1 if vol == "GJR" else 0
    arch_mean = "Zero" if mean == "zero" else "Constant"
    result = arch_model(FIT * 100, mean=arch_mean, vol="GARCH", p=1, o=o, q=1, dist=dist).fit(
        disp="off"
    )
    return model, result


def test_parameters_are_archs(fitted: tuple[OnlineGARCH, Any]) -> None:
    model, result = fitted
    p = result.params
    assert model.params.mu == pytest.approx(p.get("mu", 0.0) / 100, rel=1e-6)
    assert model.params.omega == pytest.approx(p["omega"] / 1e4, rel=1e-6)
    assert model.params.alpha == pytest.approx(p["alpha[1]"], rel=1e-6, abs=1e-9)
    assert model.params.gamma == pytest.approx(p.get("gamma[1]", 0.0), rel=1e-6, abs=1e-9)
    assert model.params.beta == pytest.approx(p["beta[1]"], rel=1e-6)
    if model.dist == "t":
        assert model.params.nu == pytest.approx(p["nu"], rel=1e-6)
        assert model.params.lam == 0.0
    else:
        assert model.params.nu == pytest.approx(p["eta"], rel=1e-6)
        assert model.params.lam == pytest.approx(p["lambda"], rel=1e-6)
        assert model.params.lam < 0  # the S&P 500's left tail is the heavier one


def test_warm_start_is_archs_parameter_vector(fitted: tuple[OnlineGARCH, Any]) -> None:
    # What a refit hands arch as starting values is arch's own vector, in percent units.
    model, result = fitted
    np.testing.assert_allclose(
        model._to_arch(model.params), result.params.to_numpy(), rtol=1e-6, atol=1e-9
    )


def test_filter_reproduces_archs_conditional_variance(fitted: tuple[OnlineGARCH, Any]) -> None:
    model, result = fitted
    initial = model._initial_variance(FIT, model.params)
    path = OnlineGARCH._filter(FIT, model.params, initial)
    np.testing.assert_allclose(path[:-1], result.conditional_volatility**2 / 1e4, rtol=1e-9)


def test_forecasts_are_archs(fitted: tuple[OnlineGARCH, Any]) -> None:
    model, result = fitted
    expected = result.forecast(horizon=10, reindex=False).variance.to_numpy()[0] / 1e4
    np.testing.assert_allclose(model.forecast(10), expected, rtol=1e-9)
    assert model.variance() == pytest.approx(expected[0], rel=1e-9)


def test_var_and_es_are_archs_forecast_and_distribution(
    fitted: tuple[OnlineGARCH, Any],
) -> None:
    # arch's one-step variance forecast, arch's distribution at arch's estimates:
    # VaR from its ppf, ES from its analytic first lower partial moment
    # (E[z 1(z <= q)] / tail), which our quadrature of the ppf does not use.
    model, result = fitted
    distribution = result.model.distribution
    shape = result.params[distribution.parameter_names()].to_numpy()
    variance = result.forecast(horizon=1, reindex=False).variance.to_numpy()[0, 0] / 1e4
    mu = result.params.get("mu", 0.0) / 100
    for tail in TAILS:
        quantile = float(distribution.ppf(tail, shape))
        tail_mean = distribution.partial_moment(1, quantile, shape) / tail
        expected_var = -(mu + np.sqrt(variance) * quantile)
        expected_es = -(mu + np.sqrt(variance) * tail_mean)
        assert model.value_at_risk(tail) == pytest.approx(expected_var, rel=1e-8)
        assert model.expected_shortfall(tail) == pytest.approx(expected_es, rel=1e-8)


def test_student_t_es_is_the_closed_form() -> None:
    model = OnlineGARCH(mean="constant").fit(FIT)
    p = model.params
    for tail in TAILS:
        var, es = student_t_var_es(model.variance(), p.nu, tail, mu=p.mu)
        assert model.value_at_risk(tail) == pytest.approx(var[0], rel=1e-10)
        assert model.expected_shortfall(tail) == pytest.approx(es[0], rel=1e-8)


@pytest.mark.parametrize("nu", [2.05, 2.5, 4.0, 8.0, 30.0, 499.0])
@pytest.mark.parametrize("tail", [1e-4, 0.01, 0.025, 0.2, 0.499])
def test_tail_mean_quadrature_matches_the_closed_form_t(nu: float, tail: float) -> None:
    # Down to nu = 2.05 (arch's bound), where the quantile's singularity at 0 is worst.
    _, es = student_t_var_es(1.0, nu, tail)
    tail_mean = innovations_module.innovation_tail_mean("t", nu, 0.0, tail)
    assert -tail_mean == pytest.approx(es[0], rel=1e-8)


@pytest.mark.parametrize("nu", [2.05, 4.0, 30.0])
@pytest.mark.parametrize("lam", [-0.95, -0.2, 0.0, 0.6, 0.95])
@pytest.mark.parametrize("tail", [0.01, 0.025, 0.4])
def test_tail_mean_quadrature_matches_archs_skewt_partial_moment(
    nu: float, lam: float, tail: float
) -> None:
    # lam = 0.6 and 0.95 put the skewed-t quantile's kink, u = (1 - lam) / 2, inside (0, 0.4).
    distribution = SkewStudent()
    quantile = float(distribution.ppf(tail, [nu, lam]))
    expected = distribution.partial_moment(1, quantile, [nu, lam]) / tail
    tail_mean = innovations_module.innovation_tail_mean("skewt", nu, lam, tail)
    assert tail_mean == pytest.approx(expected, rel=1e-8)


def test_skewt_es_matches_monte_carlo() -> None:
    # Draws from arch's own skewed-t simulator at the fitted parameters; the
    # tail mean of the draws below the (exact) quantile estimates E[z | z <= q].
    # With 4e6 draws, 1e5 fall in the 2.5 % tail; the tolerance is 4 standard
    # errors of that mean, computed from the draws themselves.
    model = OnlineGARCH(vol="GJR", dist="skewt").fit(FIT)
    p, tail = model.params, 0.025
    draws = SkewStudent(seed=20240603).simulate([p.nu, p.lam])(4_000_000)
    quantile = float(SkewStudent().ppf(tail, [p.nu, p.lam]))
    below = draws[draws <= quantile]
    standard_error = below.std(ddof=1) / np.sqrt(below.size)
    expected_es = -(p.mu + np.sqrt(model.variance()) * below.mean())
    tolerance = 4 * np.sqrt(model.variance()) * standard_error
    assert abs(model.expected_shortfall(tail) - expected_es) < tolerance
    assert below.size / draws.size == pytest.approx(tail, rel=0.02)  # the quantile is right


def test_negative_skew_raises_the_left_tail_risk() -> None:
    # Same variance, same nu: only lam differs, and lam < 0 fattens the loss tail.
    skewed = OnlineGARCH(vol="GJR", dist="skewt").fit(FIT)
    symmetric = copy.deepcopy(skewed)
    symmetric._params = dataclasses.replace(skewed.params, lam=0.0)
    assert skewed.params.lam < 0
    assert skewed.variance() == symmetric.variance()
    assert skewed.value_at_risk(0.01) > symmetric.value_at_risk(0.01)
    assert skewed.expected_shortfall(0.01) > symmetric.expected_shortfall(0.01)
    # lam = 0 is exactly the symmetric t.
    student = copy.deepcopy(symmetric)
    student.dist = "t"
    assert symmetric.value_at_risk(0.01) == pytest.approx(student.value_at_risk(0.01), rel=1e-12)
    assert symmetric.expected_shortfall(0.01) == pytest.approx(
        student.expected_shortfall(0.01), rel=1e-9
    )


def test_es_is_integrated_once_per_parameter_set() -> None:
    model = OnlineGARCH(dist="skewt").fit(FIT)
    model.expected_shortfall(0.025)
    before = innovations_module.innovation_tail_mean.cache_info()
    model.update(-0.01)  # a new variance, the same parameters: no new integral
    es = model.expected_shortfall(0.025)
    after = innovations_module.innovation_tail_mean.cache_info()
    assert (after.misses, after.hits) == (before.misses, before.hits + 1)
    assert es > model.value_at_risk(0.025) > 0


def test_skewt_refit_warm_starts_and_converges() -> None:
    model = OnlineGARCH(vol="GJR", dist="skewt", refit_every=50, history=1000).fit(FIT)
    before = model.params
    model.replay(RETURNS[1500:1550])
    assert model.last_refit.converged and model.last_refit.at_update == 50
    assert model.params != before and -1 < model.params.lam < 0


@pytest.mark.parametrize("tail", [0.0, 0.5, -0.01, 0.9, float("nan"), "0.01", None])
def test_bad_tail_is_named(tail: Any) -> None:
    model = OnlineGARCH().fit(FIT)
    for query in (model.value_at_risk, model.expected_shortfall):
        with pytest.raises((ValueError, TypeError), match=r"^tail: "):
            query(tail)


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


def _arch_fitting_to(alpha: float, beta: float) -> Any:
    """An ``arch_model`` stand-in whose fit converges to GARCH(1,1)-t ``alpha``, ``beta``."""

    class Result:
        convergence_flag = 0

        def __init__(self) -> None:
            self.params = {"omega": 0.02, "alpha[1]": alpha, "beta[1]": beta, "nu": 7.0}

    class Model:
        def fit(self, **kwargs: Any) -> Result:
            return Result()

    return lambda *args, **kwargs: Model()


def test_boundary_refit_is_not_adopted_and_forecasts_stay_finite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The S&P 500 refit of issue 13 (2004 onward, refit every 21 days, step 4720):
    # alpha + beta == 1 to machine precision, so omega / (1 - persistence) divided by 0.
    model = OnlineGARCH().fit(FIT)
    before = model.params
    monkeypatch.setattr(garch_module, "arch_model", _arch_fitting_to(0.12497858, 0.87502142))
    report = model.refit()
    assert not report.converged and "boundary fit" in report.message
    assert model.params == before
    model.update(0.01)
    assert np.all(np.isfinite(model.forecast(10)))


def test_boundary_first_fit_is_refused_naming_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(garch_module, "arch_model", _arch_fitting_to(0.1, 0.9))
    with pytest.raises(RuntimeError, match="returns: boundary fit"):
        OnlineGARCH().fit(FIT)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"vol": "EGARCH"}, "vol"),
        ({"mean": "ar"}, "mean"),
        ({"dist": "normal"}, "dist"),
        ({"dist": "ged"}, "dist"),
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
