"""Issue 3's real-data evidence: S&P 500 one-day VaR backtests, 2004-2018.

The issue's target: the 99 % and 97.5 % one-day VaR from the online model pass
Kupiec and Christoffersen (independence and conditional coverage) at p > 0.05.
Each (level, test) pair is its own case. The engine's model (OnlineGARCH's
defaults: GARCH(1,1)-t, zero mean) does **not** meet three of the six: it has
too many 99 % exceptions (59 against 37.8 expected) and slightly too many at
97.5 % (114 against 94.4). Those cases are strict xfails that record the
measured figures, so the shortfall stays visible, and the marker must come off
(an XPASS fails the run) as soon as the model meets the target. See
docs/scoring.md, "Evidence", for the alternatives that were tried.
"""

from __future__ import annotations

import pytest

from riskengine.forecast import OnlineGARCH
from scripts.evidence_sp500_var import ENGINE_MODEL, run

# Measured with scripts/evidence_sp500_var.py; p-values of the engine's model.
NOT_MET = {
    ("var_0.01", "kupiec_p"): "99 % Kupiec p = 0.0013 (59 exceptions, 37.8 expected)",
    ("var_0.01", "cc_p"): "99 % conditional coverage p = 0.0012",
    ("var_0.025", "kupiec_p"): "97.5 % Kupiec p = 0.047 (114 exceptions, 94.4 expected)",
}


def _target(level: str, test: str):
    marks = []
    if (level, test) in NOT_MET:
        reason = f"target not met by GARCH(1,1)-t: {NOT_MET[level, test]}"
        marks.append(pytest.mark.xfail(strict=True, reason=reason))
    return pytest.param(level, test, marks=marks, id=f"{level}-{test}")


@pytest.fixture(scope="module")
def report() -> dict:
    return run(comparisons=False)


def test_the_engine_model_is_online_garch_with_its_defaults(report: dict) -> None:
    # Chosen on principle (the model whose variance forecasts are validated),
    # never per level: both levels are tested on the same configuration.
    defaults = OnlineGARCH()
    assert {"vol": defaults.vol, "mean": defaults.mean} == ENGINE_MODEL
    assert report["engine_model"]["refit_every"] == 21
    assert report["n_days"] > 3700
    assert report["online_refits"] == {"online_garch_t": 179}
    assert report["online_refit_failures"] == {"online_garch_t": 0}


@pytest.mark.parametrize(
    ("level", "test"),
    [
        _target(level, test)
        for level in ("var_0.01", "var_0.025")
        for test in ("kupiec_p", "independence_p", "cc_p")
    ],
)
def test_var_passes_the_issue_target(report: dict, level: str, test: str) -> None:
    assert report["engine"][level][test] > 0.05, report["engine"][level]


def test_traffic_light_and_es_are_reported(report: dict) -> None:
    engine = report["engine"]
    light = engine["traffic_light_99"]
    assert light["last_250_zone"] in {"green", "yellow", "red"}
    counted = light["green_windows"] + light["yellow_windows"] + light["red_windows"]
    assert counted == light["windows"]
    assert light["windows"] == report["n_days"] - 250 + 1
    for tail in ("0.01", "0.025"):
        es = engine[f"es_{tail}"]
        assert 0 < es["z2_p"] <= 1 and -5 < es["z2"] < 1
