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
    # The gross limit reaches its floor (0.1 x the hard 20M) in 2008, and the
    # derivation of the tightest day names the stage that held it there.
    assert crisis["min_gross_limit"] == pytest.approx(2e6)
    tightest = report["tightest_gross_limit"]
    assert tightest["gross_limit"] == pytest.approx(2e6)
    assert "clamp: floor" in tightest["explanation"]
