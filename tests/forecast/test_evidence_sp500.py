"""Issue 3's real-data evidence: S&P 500 one-step variance forecasts, 2004-2018."""

from __future__ import annotations

import pytest

from scripts.evidence_sp500_variance import run


@pytest.fixture(scope="module")
def report() -> dict:
    return run()


def test_online_garch_forecasts_as_well_as_arch_refitted_every_21_days(report: dict) -> None:
    assert report["n_forecasts"] > 3700
    assert report["qlike_ratio_online_vs_arch"] <= 1.01, report["scores"]


def test_online_garch_beats_ewma(report: dict) -> None:
    assert report["qlike_ratio_online_vs_ewma"] < 1.0, report["scores"]
    # Every refit of the run counts: one per 21 days of the 3,775. One of them came
    # back at the stationarity boundary (persistence 1) and was refused, keeping the
    # previous parameters (docs/models.md); none failed to converge.
    assert report["online_refits"] == 179
    assert report["online_refit_failures"] == 1


def test_online_gjr_skewt_forecasts_as_well_as_arch_refitted_every_21_days(report: dict) -> None:
    # The VaR engine's model against arch's own GJR-skew-t, refitted from scratch.
    assert report["qlike_ratio_online_gjr_skewt_vs_arch"] <= 1.01, report["scores"]
    assert report["qlike_ratio_online_gjr_skewt_vs_ewma"] < 1.0, report["scores"]
    assert report["online_gjr_skewt_refits"] == 179
    assert report["online_gjr_skewt_refit_failures"] == 0
