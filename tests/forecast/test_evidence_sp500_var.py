"""Issue 3's real-data evidence: S&P 500 one-day VaR backtests, 2004-2018.

The issue's target: the 99 % and 97.5 % one-day VaR from the online model pass
Kupiec and Christoffersen (independence and conditional coverage) at p > 0.05.
Each (level, test) pair is its own case.

The engine's model is ``OnlineGARCH(vol="GJR", dist="skewt")``, refitted every
21 days, with each day's VaR read from the model itself before that day's
return. It meets all six (measured: 99 %, 39 exceptions against 37.8 expected,
Kupiec p 0.84, independence p 0.067, CC p 0.18; 97.5 %, 110 against 94.4, p
0.11 / 0.66 / 0.26). It was adopted after the previous engine model,
GARCH(1,1)-t, failed three of them (99 %: 59 exceptions, Kupiec p 0.0013, CC p
0.0012; 97.5 %: 114, Kupiec p 0.047); docs/scoring.md, "Evidence: S&P 500,
2004-2018", has the history and every comparison. The engine model's figures
there (exceptions, p-values, traffic-light zones, Z2) are asserted here too.
"""

from __future__ import annotations

import pytest

from scripts.evidence_sp500_var import ENGINE_MODEL, ENGINE_NAME, run


@pytest.fixture(scope="module")
def report() -> dict:
    return run(comparisons=False)


def test_the_engine_model_is_online_gjr_with_skewed_t_innovations(report: dict) -> None:
    # One configuration for both levels, never chosen per level.
    assert ENGINE_MODEL == {"vol": "GJR", "mean": "zero", "dist": "skewt"}
    assert report["engine_model"]["name"] == ENGINE_NAME
    assert report["engine_model"]["refit_every"] == 21
    assert report["previous_engine_model"]["dist"] == "t"
    assert report["n_days"] > 3700
    assert report["online_refits"] == {ENGINE_NAME: 179}
    assert report["online_refit_failures"] == {ENGINE_NAME: 0}
    # The fitted skewness is negative throughout: the left tail is the heavy one.
    low, high = report["engine"]["lam_range"]
    assert -1 < low <= high < 0


@pytest.mark.parametrize("test", ["kupiec_p", "independence_p", "cc_p"])
@pytest.mark.parametrize("level", ["var_0.01", "var_0.025"])
def test_var_passes_the_issue_target(report: dict, level: str, test: str) -> None:
    assert report["engine"][level][test] > 0.05, report["engine"][level]


# The figures docs/scoring.md, "Evidence: S&P 500, 2004-2018", gives for the engine's
# model: counts exactly, p-values and Z2 to the 3 decimals printed there. A change
# of model, data or backtest moves at least one of them.
DOCUMENTED_VAR = {
    # level: (exceptions, Kupiec p, independence p, CC p)
    "var_0.01": (39, 0.839, 0.067, 0.184),
    "var_0.025": (110, 0.112, 0.660, 0.257),
}
DOCUMENTED_ES = {
    # level: (Z2 2004-2018, its Monte Carlo p, Z2 over the last 250 days or None)
    "es_0.01": (-0.127, 0.214, None),
    "es_0.025": (-0.193, 0.038, -0.479),
}
PRINTED = 5e-4  # half a unit of the third decimal


@pytest.mark.parametrize("level", sorted(DOCUMENTED_VAR))
def test_var_backtests_give_the_documented_figures(report: dict, level: str) -> None:
    got = report["engine"][level]
    exceptions, kupiec, independence, cc = DOCUMENTED_VAR[level]
    assert got["exceptions"] == exceptions, got
    assert got["kupiec_p"] == pytest.approx(kupiec, abs=PRINTED), got
    assert got["independence_p"] == pytest.approx(independence, abs=PRINTED), got
    assert got["cc_p"] == pytest.approx(cc, abs=PRINTED), got
    assert got["expected"] == pytest.approx(report["n_days"] * float(level.split("_")[1]))


def test_two_pairs_of_consecutive_exceptions_at_99(report: dict) -> None:
    # The closest call, independence at 99 %: 2 pairs of exceptions on consecutive
    # days, against about 0.4 expected if exceptions were independent.
    backtest = report["engine"]["var_0.01"]
    assert backtest["transitions_n00_n01_n10_n11"][3] == 2
    assert backtest["exceptions"] ** 2 / report["n_days"] == pytest.approx(0.4, abs=0.05)


def test_traffic_light_gives_the_documented_zones(report: dict) -> None:
    light = report["engine"]["traffic_light_99"]
    assert report["n_days"] == 3775
    assert light["windows"] == report["n_days"] - 250 + 1 == 3526
    assert (light["last_250_zone"], light["last_250_exceptions"]) == ("green", 4)
    assert light["last_250_plus_factor"] == 0.0
    windows = (light["green_windows"], light["yellow_windows"], light["red_windows"])
    assert windows == (3232, 294, 0)


@pytest.mark.parametrize("level", sorted(DOCUMENTED_ES))
def test_es_z2_gives_the_documented_figures(report: dict, level: str) -> None:
    got = report["engine"][level]
    z2, p_value, last_250 = DOCUMENTED_ES[level]
    assert got["z2"] == pytest.approx(z2, abs=PRINTED), got
    assert got["z2_p"] == pytest.approx(p_value, abs=PRINTED), got
    if last_250 is not None:
        assert got["z2_last_250"] == pytest.approx(last_250, abs=PRINTED), got


def test_shape_parameters_stay_in_the_documented_ranges(report: dict) -> None:
    # nu 8.1 to 26.9 and lam -0.141 to -0.043 over the 179 refits.
    nu_low, nu_high = report["engine"]["nu_range"]
    lam_low, lam_high = report["engine"]["lam_range"]
    assert (nu_low, nu_high) == (pytest.approx(8.1, abs=0.05), pytest.approx(26.9, abs=0.05))
    assert (lam_low, lam_high) == (
        pytest.approx(-0.141, abs=PRINTED),
        pytest.approx(-0.043, abs=PRINTED),
    )
