"""OnlineDCC: the likelihood, parameter recovery, positive definiteness, refits and errors."""

from __future__ import annotations

import numpy as np
import pytest
from river import datasets
from scipy.stats import multivariate_normal

from riskengine.forecast import DCCParams, OnlineDCC
from riskengine.forecast.dcc import _correlation_log_likelihood

STOCKS = np.array([list(x.values()) for x, _ in datasets.SP500Stocks()]) / 100


def simulate_dcc(a: float, b: float, n_obs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns with GARCH(1,1) volatilities and DCC(1,1) correlations, and the true R path."""
    rng = np.random.default_rng(seed)
    q_bar = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.4], [0.3, 0.4, 1.0]])
    omega, alpha, beta = 1e-6, 0.08, 0.9
    h = np.full(3, omega / (1 - alpha - beta))
    q = q_bar.copy()
    returns, correlations = np.empty((n_obs, 3)), np.empty((n_obs, 3, 3))
    for t in range(n_obs):
        d = 1 / np.sqrt(np.diag(q))
        r = q * np.outer(d, d)
        z = np.linalg.cholesky(r) @ rng.standard_normal(3)
        returns[t], correlations[t] = np.sqrt(h) * z, r
        h = omega + alpha * returns[t] ** 2 + beta * h
        q = (1 - a - b) * q_bar + a * np.outer(z, z) + b * q
    return returns, correlations


def test_log_likelihood_matches_scipy_for_constant_correlation() -> None:
    # With a = b = 0 every R_t is q_bar: the likelihood is a fixed Gaussian's.
    rng = np.random.default_rng(1)
    q_bar = np.array([[1.0, 0.5], [0.5, 1.0]])
    z = rng.standard_normal((50, 2))
    q_path = OnlineDCC._filter_q(z, DCCParams(0.0, 0.0, q_bar, 0.0), q_bar)[:-1]
    ours = _correlation_log_likelihood(q_path, z)
    full = multivariate_normal(np.zeros(2), q_bar).logpdf(z).sum()
    standard = multivariate_normal(np.zeros(2), np.eye(2)).logpdf(z).sum()
    # Engle's correlation term is the full Gaussian minus the independent one.
    assert ours == pytest.approx(full - standard, rel=1e-12)


def test_recovers_simulated_dynamics() -> None:
    returns, _ = simulate_dcc(a=0.05, b=0.9, n_obs=4000, seed=0)
    model = OnlineDCC(shrinkage=0.0).fit(returns)
    assert model.params.a == pytest.approx(0.05, abs=0.02)
    assert model.params.b == pytest.approx(0.9, abs=0.05)
    fresh, fresh_r = simulate_dcc(a=0.05, b=0.9, n_obs=500, seed=1)
    forecasts = model.replay(fresh)
    d = 1 / np.sqrt(np.einsum("tii->ti", forecasts))
    predicted_r = forecasts * d[:, :, None] * d[:, None, :]
    # The filtered correlations track the truth far better than its mean does.
    err_model = np.mean((predicted_r - fresh_r)[:, 0, 1] ** 2)
    err_constant = np.mean((fresh_r[:, 0, 1] - fresh_r[:, 0, 1].mean()) ** 2)
    assert err_model < 0.5 * err_constant


def test_every_forecast_is_positive_definite_with_unit_correlation_diagonal() -> None:
    model = OnlineDCC(vol="GJR", refit_every=50).fit(STOCKS[:300])
    forecasts = model.replay(STOCKS[300:600])
    assert np.all(np.linalg.eigvalsh(forecasts)[:, 0] > 0)
    np.testing.assert_array_equal(np.diag(model.correlation()), 1.0)
    np.testing.assert_allclose(np.diag(model.covariance()), model.variance(), rtol=1e-12)


def test_refit_keeps_the_filtered_state() -> None:
    model = OnlineDCC().fit(STOCKS[:300])
    for row in STOCKS[300:400]:
        model.update(row)
    before, params = model.covariance(), model.params
    report = model.refit()
    assert report.converged and report.n_obs == 400
    assert not np.array_equal(model.params.q_bar, params.q_bar)  # 100 more days were used
    np.testing.assert_array_equal(model.covariance(), before)


def test_failed_refit_keeps_parameters_and_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    model = OnlineDCC().fit(STOCKS[:300])
    params = model.params

    class Failed:
        success, fun, message, x = False, np.nan, "iteration limit", np.array([0.3, 0.3])

    monkeypatch.setattr("riskengine.forecast.dcc.minimize", lambda *a, **k: Failed())
    report = model.refit()
    assert not report.converged and "iteration limit" in report.message
    assert model.params is params


def test_forecast_starts_at_the_next_step_and_reverts_to_the_target() -> None:
    model = OnlineDCC().fit(STOCKS[:400])
    path = model.forecast(2000)
    np.testing.assert_allclose(path[0], model.covariance(), rtol=1e-12)
    d = 1 / np.sqrt(np.diag(path[-1]))
    q_bar = model.params.q_bar
    e = 1 / np.sqrt(np.diag(q_bar))
    np.testing.assert_allclose(path[-1] * np.outer(d, d), q_bar * np.outer(e, e), atol=1e-6)


def test_portfolio_variance() -> None:
    model = OnlineDCC().fit(STOCKS[:300])
    w = np.linspace(0.0, 0.2, 10)
    assert model.portfolio_variance(w) == pytest.approx(w @ model.covariance() @ w, rel=1e-12)
    with pytest.raises(ValueError, match=r"^weights"):
        model.portfolio_variance(np.ones(3))


@pytest.mark.parametrize(
    ("returns", "message"),
    [
        (STOCKS[:100], "returns: need at least 250 rows"),
        (STOCKS[:300, 0], r"returns: expected shape \(T, N >= 1\)"),
        (
            np.where(np.arange(300)[:, None] == 7, np.nan, STOCKS[:300]),
            "returns: must all be finite",
        ),
    ],
)
def test_fit_rejects_bad_data(returns: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OnlineDCC().fit(returns)


def test_bad_hyper_parameters_are_named() -> None:
    with pytest.raises(ValueError, match=r"^shrinkage"):
        OnlineDCC(shrinkage=1.5)
    with pytest.raises(ValueError, match=r"^vol"):
        OnlineDCC(vol="EGARCH")  # type: ignore[arg-type]


def test_update_before_fit_is_refused() -> None:
    with pytest.raises(RuntimeError, match="fit"):
        OnlineDCC().update(np.zeros(3))


def test_the_blend_moves_the_average_correlation_within_days_and_stays_positive_definite() -> None:
    """A market-wide shock: the fast equicorrelation moves, the fitted DCC barely does."""
    plain = OnlineDCC(vol="GJR").fit(STOCKS[:600])
    blended = OnlineDCC(vol="GJR", blend=0.5, blend_halflife=10).fit(STOCKS[:600])
    before = plain.average_correlation()[0], blended.average_correlation()[1]
    shock = -0.03 * np.ones(STOCKS.shape[1])  # every stock falls 3 % together, five days running
    for _ in range(5):
        plain.update(shock)
        blended.update(shock)
    slow_move = plain.average_correlation()[0] - before[0]
    fast_move = blended.average_correlation()[1] - before[1]
    assert fast_move > 0.15 and fast_move > 5 * slow_move
    rho = lambda r: (r.sum() - len(r)) / (len(r) * (len(r) - 1))  # noqa: E731
    assert rho(blended.correlation()) > rho(plain.correlation()) + 0.05
    assert np.linalg.eigvalsh(blended.covariance()).min() > 0
    np.testing.assert_array_equal(np.diag(blended.correlation()), 1.0)


def test_the_blend_is_a_convex_mix_of_the_dcc_and_the_equicorrelation() -> None:
    model = OnlineDCC(blend=0.3, blend_halflife=5).fit(STOCKS[:400])
    slow, fast = model.average_correlation()
    plain = OnlineDCC(blend=0.0).fit(STOCKS[:400])
    n = STOCKS.shape[1]
    expected = 0.7 * plain.correlation() + 0.3 * (fast + (1 - fast) * np.eye(n))
    np.testing.assert_allclose(model.correlation(), expected, rtol=1e-12)
    assert slow == pytest.approx(plain.average_correlation()[0], rel=1e-12)
    np.testing.assert_allclose(model.forecast(1)[0], model.covariance(), rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"blend": 1.0}, "blend"),
        ({"blend": -0.1}, "blend"),
        ({"blend_halflife": 0.5}, "blend_halflife"),
    ],
)
def test_bad_blend_settings_are_refused_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}"):
        OnlineDCC(**kwargs)


def test_one_asset_has_correlation_one_and_the_garch_variance() -> None:
    model = OnlineDCC(vol="GJR", blend=0.5).fit(STOCKS[:400, :1])
    model.update(STOCKS[400, :1])
    np.testing.assert_array_equal(model.correlation(), [[1.0]])
    assert model.covariance()[0, 0] == model.garch[0].variance()
    assert model.params.a == model.params.b == 0.0
    assert model.average_correlation() == (1.0, 1.0)
