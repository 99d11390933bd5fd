"""The 1999-2018 replay: limits tighten in the crises and loosen in calm years (slow: ~45 s)."""

from __future__ import annotations

import pytest

from scripts.replay_sp500_nasdaq import run


@pytest.mark.slow
def test_limits_follow_the_crises() -> None:
    report = run()
    periods = report["periods"]
    calm, crisis = periods["2003-2006 calm"], periods["2008 crisis"]
    assert crisis["gross_limit"] < 0.5 * calm["gross_limit"]
    assert periods["2000-2002 dot-com bust"]["gross_limit"] < calm["gross_limit"]
    assert periods["2011 euro crisis"]["gross_limit"] < periods["2017 calm"]["gross_limit"]
    assert crisis["stressed_proba"] > 0.5 > calm["stressed_proba"]
    assert report["tightest_gross_limit"]["date"].startswith("2008")
    assert "changepoint_tighten" in report["tightest_gross_limit"]["explanation"]
