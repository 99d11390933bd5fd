"""Almgren-Chriss parameters from probes in the book, and the TWAP impact curve."""

from __future__ import annotations

import numpy as np
import pytest

from riskengine.execution import env
from riskengine.execution import impact as impact_module
from riskengine.execution.baselines import AlmgrenChriss, default_baselines
from riskengine.execution.impact import ImpactCurve, ImpactEstimate, estimate_impact, impact_curve

# One chunk of the compiled simulation: every call below shares one compilation.
N_EPISODES = 256


@pytest.fixture(scope="module")
def params() -> env.EnvParams:
    return env.make_params("regime_switching")


@pytest.fixture(scope="module")
def estimate(params) -> ImpactEstimate:
    return estimate_impact(params, seed=0, n_episodes=N_EPISODES)


@pytest.fixture(scope="module")
def curve(params, estimate) -> ImpactCurve:
    return impact_curve(params, (0.2, 0.5, 1.0), seed=0, n_episodes=N_EPISODES, estimate=estimate)


# --------------------------------------------------------------------------- estimate
def test_estimate_recovers_positive_impact_and_volatility(estimate, params):
    tick = float(params.book.tick_size)
    assert estimate.eta > 0 and estimate.gamma >= 0 and estimate.sigma > 0
    # The book's spread is at least a tick; a one-lot order pays its half.
    assert 0.5 * tick <= estimate.quoted_half_spread <= 1.5 * tick
    # The linear model's fixed cost sits just under it here (see the module docstring).
    assert 0.35 * tick <= estimate.half_spread <= 1.5 * tick
    assert abs(estimate.half_spread - estimate.quoted_half_spread) < 0.25 * tick
    # Well determined, not noise: each at least three standard errors from zero.
    for name in ("eta", "gamma", "sigma", "half_spread", "quoted_half_spread"):
        value, stderr = getattr(estimate, name), getattr(estimate, f"{name}_stderr")
        assert 0 < stderr < value / 3, name
    # The mid moves about one tick per step in this book (per-event variance x events).
    reference = np.sqrt(float(params.reference_variance) * 20) * tick
    assert 0.5 * reference < estimate.sigma < 2 * reference
    # Without trades the agent's own mid does not move.
    assert abs(estimate.permanent_intercept) < 4 * estimate.gamma_stderr + 0.1 * tick
    assert estimate.n_probes > 0.15 * N_EPISODES * (params.horizon - 1)


def test_estimate_feeds_the_almgren_chriss_baselines(estimate, params):
    ac = AlmgrenChriss.from_estimate(estimate, float(params.risk_aversion))
    assert ac.eta_tilde > 0 and 0 < ac.kappa < 1
    policies = default_baselines(params, estimate)
    assert policies["almgren_chriss"] == ac
    assert policies["adaptive_ac"].eta == estimate.eta


def test_estimate_summary_reads_in_ticks(estimate):
    summary = estimate.summary()
    assert summary["eta_ticks"] == pytest.approx(estimate.eta / estimate.tick_size)
    assert summary["eta_tilde"] == pytest.approx(estimate.eta - estimate.gamma / 2)
    assert all(isinstance(value, int | float) for value in summary.values())


def test_the_probe_regression_matches_the_fills_it_was_fitted_on(params, estimate):
    """Mean slippage of one-lot probes vs. the fitted line, from the same episodes."""
    out = impact_module._simulate(
        impact_module._with_fixed_size(params.with_impact(True), 7 * params.horizon + 1),
        0,
        impact_module._PROBE_STREAM,
        N_EPISODES,
        twap=False,
        max_probe=estimate.max_probe,
        probe_probability=estimate.probe_probability,
    )
    lots = out["lots"][:, :-1]
    assert set(np.unique(lots)) <= set(range(estimate.max_probe + 1))
    traded = lots > 0
    assert int(traded.sum()) == estimate.n_probes  # the same episodes as the fixture
    slippage = out["spread_half_ticks"][:, :-1][traded] / (2.0 * lots[traded]) * estimate.tick_size
    sizes = lots[traded]
    fitted = estimate.half_spread + estimate.eta * sizes
    assert np.mean(slippage - fitted) == pytest.approx(0.0, abs=1e-9)  # OLS residuals sum to 0
    small, large = slippage[sizes <= 2].mean(), slippage[sizes >= 5].mean()
    assert large > small  # the slope is in the data, not forced by the fit


def test_episodes_do_not_depend_on_the_batch_size(params):
    probing = impact_module._with_fixed_size(params.with_impact(True), 141)

    def run(n_episodes):
        return impact_module._simulate(
            probing, 3, 0, n_episodes, twap=False, max_probe=7, probe_probability=0.25
        )

    small, large = run(5), run(300)
    for name, values in small.items():
        np.testing.assert_array_equal(values, large[name][:5], err_msg=name)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_episodes": 1}, ValueError, "^n_episodes: "),
        ({"seed": -1}, ValueError, "^seed: "),
        ({"max_probe": 0}, ValueError, "^max_probe: "),
        ({"probe_probability": 0.0}, ValueError, "^probe_probability: "),
        ({"probe_probability": float("nan")}, ValueError, "^probe_probability: "),
    ],
)
def test_estimate_rejects_bad_arguments(params, kwargs, error, match):
    with pytest.raises(error, match=match):
        estimate_impact(params, **kwargs)


def test_estimate_requires_env_params():
    with pytest.raises(TypeError, match=r"^params: "):
        estimate_impact("regime_switching")


# --------------------------------------------------------------------------- least squares
def test_clustered_least_squares_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(400), 10)
    x = rng.integers(0, 8, groups.size).astype(float)
    shared = rng.normal(0.0, 1.0, 400)[groups]  # a per-cluster shock
    y = 0.5 + 0.2 * x + shared + rng.normal(0.0, 0.5, groups.size)
    design = np.column_stack([np.ones_like(x), x])
    coef, stderr, r2 = impact_module._ols(design, y, groups)
    assert np.all(np.abs(coef - [0.5, 0.2]) < 4 * stderr)
    # Clustering counts the shared shock: the intercept's error is about 1 / sqrt(400).
    assert stderr[0] == pytest.approx(1.0 / np.sqrt(400), rel=0.25)
    assert 0 < r2 < 1


def test_power_law_exponent():
    sizes = np.array([1.0, 2.0, 4.0, 8.0])
    assert impact_module._power_law(sizes, 3.0 * sizes**0.5)[0] == pytest.approx(0.5)
    assert np.isnan(impact_module._power_law(sizes, np.array([1.0, -1.0, 2.0, 3.0]))[0])


# --------------------------------------------------------------------------- curve
def test_curve_splits_the_shortfall_exactly(curve):
    np.testing.assert_array_equal(curve.order_lots, [6, 16, 31])
    np.testing.assert_allclose(
        curve.spread_bps + curve.impact_bps + curve.timing_bps, curve.is_bps, atol=1e-3
    )
    np.testing.assert_allclose(
        curve.predicted_spread_bps + curve.predicted_impact_bps, curve.predicted_is_bps, rtol=1e-9
    )
    assert np.all(curve.is_bps_stderr > 0)


def test_curve_impact_rises_with_size_and_the_model_is_in_its_range(curve):
    assert np.all(np.diff(curve.impact_bps) > 0)
    assert np.all(np.diff(curve.predicted_impact_bps) > 0)
    # The spread part is the temporary model's own prediction: close.
    np.testing.assert_allclose(curve.predicted_spread_bps, curve.spread_bps, atol=0.15)
    # The impact part: the linear model is within a factor of three of the book.
    ratio = curve.predicted_impact_bps / curve.impact_bps
    assert np.all((ratio > 1 / 3) & (ratio < 3)), ratio
    assert np.isfinite(curve.impact_exponent) and np.isfinite(curve.predicted_impact_exponent)


def test_curve_summary_rows(curve):
    rows = curve.summary()
    assert [row["order_lots"] for row in rows] == [6, 16, 31]
    assert rows[1]["impact_bps"] == pytest.approx(float(curve.impact_bps[1]))
    assert {"predicted_is_bps", "is_bps_stderr", "timing_bps"} <= set(rows[0])


def test_curve_runs_pinned_twap_orders(params):
    out = impact_module._simulate(
        impact_module._with_fixed_size(params.with_impact(True), 16),
        0,
        impact_module._CURVE_STREAM,
        N_EPISODES,
        twap=True,
        max_probe=0,
    )
    assert np.all(out["parent"] == 16) and np.all(out["unfilled"] == 0)
    np.testing.assert_array_equal(out["lots"].sum(axis=1), 16)
    # TWAP in whole lots: never more than half a lot from the even schedule.
    holdings = 16 - np.cumsum(out["lots"], axis=1)
    ideal = 16 * (params.horizon - 1 - np.arange(params.horizon)) / params.horizon
    assert np.all(np.abs(holdings - ideal) <= 0.5 + 1e-6)


@pytest.mark.parametrize(
    ("sizes", "error", "match"),
    [
        ((), ValueError, "^size_fractions: "),
        ((0.1, -0.2), ValueError, r"^size_fractions\[1\]: "),
        ((float("nan"),), ValueError, r"^size_fractions\[0\]: "),
        ("0.1", TypeError, "^size_fractions: "),
    ],
)
def test_curve_rejects_bad_sizes(params, estimate, sizes, error, match):
    with pytest.raises(error, match=match):
        impact_curve(params, sizes, n_episodes=N_EPISODES, estimate=estimate)
