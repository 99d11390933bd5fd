"""VaR / ES backtests: cross-checks with independent code, known answers, size, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import vartests
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate, stats

from riskengine.scoring import (
    BASEL_PLUS_FACTORS,
    Z2_CRITICAL_VALUES,
    BacktestResult,
    acerbi_szekely_z2,
    acerbi_szekely_z2_test,
    basel_traffic_light,
    basel_zones,
    christoffersen_conditional_coverage,
    christoffersen_independence,
    kupiec_pof,
    sample_student_t_returns,
    student_t_var_es,
    var_backtest,
    var_exceptions,
)


def _fixed_hits(seed: int, n: int, rate: float) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < rate


def _hits_at(n: int, where: list[int] | range) -> np.ndarray:
    hits = np.zeros(n, dtype=bool)
    hits[list(where)] = True
    return hits


# ---------------------------------------------------------------------- exceptions
def test_an_exception_is_a_loss_strictly_above_the_var() -> None:
    returns = np.array([-0.02, -0.0200001, 0.05, -0.01])
    var = np.array([0.02, 0.02, 0.02, -0.02])  # a negative VaR is a required gain
    assert var_exceptions(returns, var).tolist() == [False, True, False, True]


# ---------------------------------------------------------------------- Kupiec
@pytest.mark.parametrize(
    ("seed", "n", "rate", "tail"),
    [(0, 250, 0.01, 0.01), (1, 1000, 0.02, 0.01), (2, 500, 0.025, 0.025), (3, 2000, 0.04, 0.05)],
)
def test_kupiec_matches_vartests(seed: int, n: int, rate: float, tail: float) -> None:
    hits = _fixed_hits(seed, n, rate)
    ours = kupiec_pof(hits, tail)
    theirs = vartests.kupiec_test(hits.astype(int), risk_conf_level=1 - tail)
    assert ours.statistic == pytest.approx(theirs["statistic"], rel=1e-12, abs=1e-12)
    assert ours.p_value == pytest.approx(theirs["p-value"], rel=1e-10, abs=1e-14)
    assert ours.exceptions == theirs["violations"]
    assert ours.expected == pytest.approx(theirs["expected violations"])


@pytest.mark.parametrize("hits", [np.zeros(250, dtype=bool), np.ones(30, dtype=bool)])
def test_kupiec_with_no_or_only_exceptions_is_finite_and_matches_vartests(
    hits: np.ndarray,
) -> None:
    ours = kupiec_pof(hits, 0.01)
    theirs = vartests.kupiec_test(hits.astype(int), risk_conf_level=0.99)
    assert np.isfinite(ours.statistic)
    assert ours.statistic == pytest.approx(theirs["statistic"], rel=1e-12)
    # 0 log 0 = 0: with no exception, LR = -2 n log(1 - p).
    if not hits.any():
        assert ours.statistic == pytest.approx(-2 * 250 * np.log(0.99), rel=1e-12)


def test_kupiec_is_zero_when_exceptions_equal_the_expected_count() -> None:
    result = kupiec_pof(_hits_at(500, range(0, 500, 100)), 0.01)  # 5 of 500 at 1 %
    assert result.statistic == 0.0
    assert result.p_value == 1.0
    assert (result.exceptions, result.expected, result.df) == (5, 5.0, 1)


# ---------------------------------------------------------------------- Christoffersen
def _transition_table(hits: np.ndarray) -> np.ndarray:
    n00, n01, n10, n11 = christoffersen_independence(hits).transitions
    return np.array([[n00, n01], [n10, n11]])


@pytest.mark.parametrize(
    "hits",
    [
        _fixed_hits(10, 1000, 0.03),  # all four cells non-zero
        _fixed_hits(11, 500, 0.2),
        _hits_at(500, range(3, 500, 97)),  # no exception follows an exception: n11 = 0
    ],
)
def test_independence_equals_the_g_test_on_the_transition_table(hits: np.ndarray) -> None:
    # The G-test of independence on the 2x2 table [[n00, n01], [n10, n11]]
    # fits the same two models as LR_ind (one exception probability vs one per
    # previous state), so the statistics are equal whenever no margin is zero;
    # scipy's 0 log 0 = 0 makes it hold with n11 = 0 too.
    table = _transition_table(hits)
    g_test = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    ours = christoffersen_independence(hits)
    assert ours.statistic == pytest.approx(g_test.statistic, rel=1e-9, abs=1e-12)
    assert ours.p_value == pytest.approx(g_test.pvalue, rel=1e-9, abs=1e-12)
    assert table.sum() == hits.size - 1


@settings(max_examples=60, deadline=None)
@given(arrays(bool, st.integers(3, 400)))
def test_independence_equals_the_g_test_whenever_it_is_defined(hits: np.ndarray) -> None:
    table = _transition_table(hits)
    assume(np.all(table.sum(axis=0) > 0) and np.all(table.sum(axis=1) > 0))
    g_test = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    ours = christoffersen_independence(hits).statistic
    assert ours == pytest.approx(g_test.statistic, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize(
    "hits",
    [
        np.zeros(300, dtype=bool),  # no exception
        np.ones(300, dtype=bool),  # only exceptions
        _hits_at(300, [299]),  # the only exception is the last day: no row "after a hit"
        _hits_at(300, [0]),
    ],
    ids=["none", "all", "last-day-only", "first-day-only"],
)
def test_independence_degenerate_cases_give_zero(hits: np.ndarray) -> None:
    result = christoffersen_independence(hits)
    assert result.statistic == 0.0
    assert result.p_value == 1.0


def test_independence_rejects_clustered_exceptions_and_keeps_spread_ones() -> None:
    spread = _hits_at(1000, range(0, 1000, 100))
    clustered = _hits_at(1000, range(500, 510))
    assert christoffersen_independence(spread).p_value > 0.5
    assert christoffersen_independence(clustered).p_value < 1e-10
    # Same count, so Kupiec cannot tell them apart.
    assert kupiec_pof(spread, 0.01).statistic == kupiec_pof(clustered, 0.01).statistic


@settings(max_examples=100, deadline=None)
@given(
    arrays(bool, st.integers(2, 400)),
    st.floats(min_value=1e-4, max_value=0.5),
)
def test_likelihood_ratios_are_valid_and_cc_is_pof_plus_ind(hits: np.ndarray, tail: float) -> None:
    pof = kupiec_pof(hits, tail)
    ind = christoffersen_independence(hits)
    cc = christoffersen_conditional_coverage(hits, tail)
    for result in (pof, ind, cc):
        assert np.isfinite(result.statistic) and result.statistic >= 0
        assert 0.0 <= result.p_value <= 1.0
    assert cc.statistic == pytest.approx(pof.statistic + ind.statistic, rel=1e-12, abs=1e-12)
    assert cc.p_value == pytest.approx(stats.chi2.sf(cc.statistic, 2))
    assert (cc.df, ind.transitions) == (2, cc.transitions)


# ---------------------------------------------------------------------- size
def test_size_under_a_correct_model_is_near_nominal() -> None:
    # 1,000 samples of 2,500 iid Student-t(5) returns against their true 95 %
    # VaR. The rejection rate of a correct implementation at 5 % is the test's
    # true size: 0.051-0.054 for Kupiec (exact, from the binomial) and about
    # 0.06 for LR_ind and LR_cc (their chi-squared approximation is a little
    # liberal at this n; measured on 4,000 separate samples). With 1,000 samples
    # the rate's binomial standard deviation is 0.007, so the band 0.05 +- 0.03
    # leaves a correct implementation at least 2.7 standard deviations of room,
    # while the usual mistakes land far outside it: the wrong degrees of freedom
    # (chi2_2 for a one-df test gives about 0.013, chi2_1 for LR_cc about 0.15),
    # a missing factor 2 (under 0.01), or tail mixed up with coverage (1.0).
    rng = np.random.default_rng(12345)
    nu, tail, n_days, n_samples = 5.0, 0.05, 2500, 1000
    var, _ = student_t_var_es(np.ones(n_days), nu, tail)
    returns = sample_student_t_returns(np.ones(n_days), nu, n_samples, rng)
    rejected = {"pof": 0, "ind": 0, "cc": 0}
    for path in returns:
        hits = var_exceptions(path, var)
        rejected["pof"] += kupiec_pof(hits, tail).rejected(0.05)
        rejected["ind"] += christoffersen_independence(hits).rejected(0.05)
        rejected["cc"] += christoffersen_conditional_coverage(hits, tail).rejected(0.05)
    rates = {name: count / n_samples for name, count in rejected.items()}
    assert all(abs(rate - 0.05) <= 0.03 for rate in rates.values()), rates


def test_kupiec_size_at_99_percent_matches_the_exact_binomial_size() -> None:
    # At 99 % the chi-squared approximation is coarse, so compare with the
    # exact size: P(LR > chi2_1 critical value) under Binomial(n, 0.01).
    n_days, tail, n_samples = 1000, 0.01, 2000
    counts = np.arange(n_days + 1)
    lr = np.array([kupiec_pof(_hits_at(n_days, range(k)), tail).statistic for k in counts[:60]])
    exact = stats.binom.pmf(counts[:60], n_days, tail)[lr > stats.chi2.ppf(0.95, 1)].sum()
    exact += stats.binom.sf(59, n_days, tail)  # every count >= 60 rejects
    rng = np.random.default_rng(7)
    var, _ = student_t_var_es(np.ones(n_days), 4.0, tail)
    returns = sample_student_t_returns(np.ones(n_days), 4.0, n_samples, rng)
    rate = np.mean([kupiec_pof(var_exceptions(r, var), tail).rejected() for r in returns])
    # 4 binomial standard deviations of a 2,000-sample rate (about 0.02).
    assert abs(rate - exact) <= 4 * np.sqrt(exact * (1 - exact) / n_samples), (rate, exact)


# ---------------------------------------------------------------------- traffic light
# Basel Committee (1996), table 2: cumulative probability (%) of 0..10 exceptions.
BASEL_CUMULATIVE = [8.11, 28.58, 54.32, 75.81, 89.22, 95.88, 98.63, 99.60, 99.89, 99.97, 99.99]


@pytest.mark.parametrize(
    ("exceptions", "zone"),
    [(0, "green"), (4, "green"), (5, "yellow"), (9, "yellow"), (10, "red"), (25, "red")],
)
def test_traffic_light_zone_boundaries(exceptions: int, zone: str) -> None:
    light = basel_traffic_light(_hits_at(250, range(exceptions)))
    assert (light.zone, light.exceptions, light.window, light.expected) == (
        zone,
        exceptions,
        250,
        2.5,
    )


def test_traffic_light_reproduces_the_basel_table() -> None:
    for exceptions in range(13):
        light = basel_traffic_light(_hits_at(250, range(exceptions)))
        assert light.plus_factor == BASEL_PLUS_FACTORS[min(exceptions, 10)]
        if exceptions <= 10:
            assert round(100 * light.cumulative_probability, 2) == BASEL_CUMULATIVE[exceptions]
    assert [BASEL_PLUS_FACTORS[k] for k in range(5, 11)] == [0.40, 0.50, 0.65, 0.75, 0.85, 1.0]


def test_traffic_light_uses_only_the_most_recent_window() -> None:
    hits = _hits_at(400, [*range(100), 399])  # old exceptions, one recent
    light = basel_traffic_light(hits)
    assert (light.zone, light.exceptions) == ("green", 1)


def test_traffic_light_generalises_by_binomial_probability() -> None:
    # 500 days at 97.5 %: green while P(X <= k) < 95 %, red from 99.99 %.
    window, tail = 500, 0.025
    cdf = stats.binom.cdf(np.arange(window + 1), window, tail)
    first_yellow = int(np.argmax(cdf >= 0.95))
    first_red = int(np.argmax(cdf >= 0.9999))
    for k, zone in [
        (first_yellow - 1, "green"),
        (first_yellow, "yellow"),
        (first_red - 1, "yellow"),
        (first_red, "red"),
    ]:
        light = basel_traffic_light(_hits_at(window, range(k)), window=window, tail=tail)
        assert light.zone == zone, (k, light)
        assert light.plus_factor is None  # Basel's table is for 250 days at 99 % only


def test_rolling_zones_match_window_by_window() -> None:
    hits = _fixed_hits(5, 700, 0.02)
    zones = basel_zones(hits)
    assert zones.size == 700 - 250 + 1
    for start in (0, 17, 200, 450):
        assert zones[start] == basel_traffic_light(hits[start : start + 250]).zone
    assert zones[-1] == basel_traffic_light(hits).zone


# ---------------------------------------------------------------------- Student-t VaR / ES
@pytest.mark.parametrize("nu", [2.5, 4.0, 8.0, 30.0, np.inf])
@pytest.mark.parametrize("tail", [0.01, 0.025, 0.1])
def test_student_t_var_es_match_numerical_integration(nu: float, tail: float) -> None:
    variance, mu = 4e-4, 5e-4
    var, es = student_t_var_es([variance], nu, tail, mu=mu)
    dist = stats.norm() if np.isinf(nu) else stats.t(nu, scale=np.sqrt((nu - 2) / nu))
    assert dist.var() == pytest.approx(1.0)
    sigma = np.sqrt(variance)
    quantile = dist.ppf(tail)
    tail_mean = integrate.quad(lambda z: z * dist.pdf(z), -np.inf, quantile)[0] / tail
    assert var[0] == pytest.approx(-(mu + sigma * quantile), rel=1e-9)
    assert es[0] == pytest.approx(-(mu + sigma * tail_mean), rel=1e-7)
    assert es[0] > var[0]


def test_student_t_var_es_match_simulation_with_per_day_nu() -> None:
    rng = np.random.default_rng(3)
    variance = np.array([1e-4, 4e-4, 2.5e-5])
    nu = np.array([4.0, np.inf, 10.0])
    var, es = student_t_var_es(variance, nu, 0.025, mu=0.001)
    draws = sample_student_t_returns(variance, nu, 400_000, rng, mu=0.001)
    losses = -draws
    for day in range(3):
        loss = losses[:, day]
        tail_losses = loss[loss > var[day]]
        assert np.mean(loss > var[day]) == pytest.approx(0.025, abs=0.0012)
        assert tail_losses.mean() == pytest.approx(es[day], rel=0.02)
    assert draws.var(axis=0) == pytest.approx(variance, rel=0.03)


# ---------------------------------------------------------------------- Z2
def test_z2_signs_and_no_exception_value() -> None:
    returns = np.array([-0.03, 0.01, 0.0, -0.01])
    var, es = np.full(4, 0.02), np.full(4, 0.03)
    assert acerbi_szekely_z2(returns, var, es, 0.25) == pytest.approx(0.0)  # loss = ES
    assert acerbi_szekely_z2(returns * 2, var, es, 0.25) < 0  # ES underestimated
    assert acerbi_szekely_z2(np.abs(returns), var, es, 0.25) == 1.0  # no exception
    assert acerbi_szekely_z2(np.array([-0.025, 0.0, 0.0, 0.0]), var, es, 0.25) > 0


def test_z2_is_centred_under_the_null_and_reproduces_the_published_threshold() -> None:
    # Acerbi and Szekely's 5 % threshold, -0.70, for T = 250 and tail = 2.5 %
    # under a normal null. 20,000 simulated histories put the sample quantile
    # within about 0.01 of the true one.
    rng = np.random.default_rng(2014)
    n_days, tail = 250, 0.025
    variance = np.full(n_days, 1e-4)
    var, es = student_t_var_es(variance, np.inf, tail)
    null = sample_student_t_returns(variance, np.inf, 20_000, rng)
    z2 = np.array([acerbi_szekely_z2(path, var, es, tail) for path in null[:2000]])
    assert abs(z2.mean()) < 0.02  # E[Z2] = 0; the standard error is about 0.006
    result = acerbi_szekely_z2_test(null[0], var, es, tail, null[1:])
    assert 0 < result.p_value <= 1
    threshold = np.quantile(
        [acerbi_szekely_z2(path, var, es, tail) for path in null[1:]],
        0.05,
    )
    assert threshold == pytest.approx(Z2_CRITICAL_VALUES[0.05], abs=0.03)


def test_z2_monte_carlo_p_value_counts_simulated_statistics() -> None:
    rng = np.random.default_rng(1)
    variance = np.full(100, 1.0)
    var, es = student_t_var_es(variance, 5.0, 0.05)
    null = sample_student_t_returns(variance, 5.0, 99, rng)
    simulated = np.array([acerbi_szekely_z2(path, var, es, 0.05) for path in null])
    observed = sample_student_t_returns(variance, 5.0, 1, rng)[0] * 1.5
    result = acerbi_szekely_z2_test(observed, var, es, 0.05, null)
    assert result.p_value == pytest.approx((1 + np.sum(simulated <= result.statistic)) / 100)
    assert result.df is None and result.test == "acerbi_szekely_z2"


# ---------------------------------------------------------------------- convenience
def test_var_backtest_combines_the_tests() -> None:
    rng = np.random.default_rng(9)
    returns = sample_student_t_returns(np.full(600, 1e-4), 6.0, 1, rng)[0]
    var, _ = student_t_var_es(np.full(600, 1e-4), 6.0, 0.01)
    report = var_backtest(returns, var, 0.01)
    hits = var_exceptions(returns, var)
    assert report.kupiec == kupiec_pof(hits, 0.01)
    assert report.independence == christoffersen_independence(hits)
    assert report.conditional_coverage == christoffersen_conditional_coverage(hits, 0.01)
    assert report.traffic_light == basel_traffic_light(hits)
    assert report.exceptions == hits.sum() and report.expected == 6.0
    text = report.summary()
    assert "kupiec_pof" in text and "christoffersen_cc" in text and "traffic light" in text
    assert var_backtest(returns[:100], var[:100], 0.01).traffic_light is None


def test_results_are_frozen() -> None:
    result = kupiec_pof(np.zeros(10), 0.01)
    assert isinstance(result, BacktestResult)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.p_value = 0.5  # type: ignore[misc]


# ---------------------------------------------------------------------- bad input
GOOD = np.array([0.01, -0.02, 0.0])
GOOD_VAR = np.full(3, 0.015)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: var_exceptions([0.01, np.nan, 0.0], GOOD_VAR), "returns"),
        (lambda: var_exceptions(GOOD, [0.01, 0.02]), "returns, var"),
        (lambda: var_exceptions(GOOD, np.full((3, 1), 0.01)), "var"),
        (lambda: var_exceptions([], []), "returns"),
        (lambda: kupiec_pof([], 0.01), "hits"),
        (lambda: kupiec_pof([0, 1, 2], 0.01), "hits"),
        (lambda: kupiec_pof([0, 1, np.nan], 0.01), "hits"),
        (lambda: kupiec_pof([0, 1], 0.0), "tail"),
        (lambda: kupiec_pof([0, 1], 1.0), "tail"),
        (lambda: kupiec_pof([0, 1], 1.5), "tail"),
        (lambda: kupiec_pof([0, 1], float("nan")), "tail"),
        (lambda: christoffersen_independence([1]), "hits"),
        (lambda: christoffersen_conditional_coverage([0, 1], -0.1), "tail"),
        (lambda: basel_traffic_light(np.zeros(100)), "hits"),
        (lambda: basel_traffic_light(np.zeros(300), window=0), "window"),
        (lambda: basel_zones(np.zeros(300), tail=2.0), "tail"),
        (lambda: acerbi_szekely_z2(GOOD, GOOD_VAR, np.zeros(3), 0.025), "es"),
        (lambda: acerbi_szekely_z2(GOOD, GOOD_VAR, np.ones(2), 0.025), "returns, var, es"),
        (
            lambda: acerbi_szekely_z2_test(GOOD, GOOD_VAR, np.ones(3), 0.025, np.zeros((5, 4))),
            "null_returns",
        ),
        (lambda: student_t_var_es([1.0, -1.0], 5.0, 0.01), "variance"),
        (lambda: student_t_var_es([1.0], 2.0, 0.01), "nu"),
        (lambda: student_t_var_es([1.0, 1.0], [5.0, 5.0, 5.0], 0.01), "nu"),
        (lambda: student_t_var_es([1.0], 5.0, 0.01, mu=np.nan), "mu"),
        (lambda: student_t_var_es([1.0], 5.0, 0.0), "tail"),
        (lambda: sample_student_t_returns([1.0], 5.0, 0, np.random.default_rng()), "n_paths"),
        (lambda: var_backtest(GOOD, GOOD_VAR, 0.01, window=0), "window"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}:"):
        call()


def test_rng_must_be_a_generator() -> None:
    with pytest.raises(TypeError, match=r"^rng:"):
        sample_student_t_returns([1.0], 5.0, 10, rng=7)  # type: ignore[arg-type]
