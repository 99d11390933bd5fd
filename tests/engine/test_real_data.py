"""Real data as it comes (issue 13, item 4): stale prices, failed fits, flat prices.

The 20 S&P 500 stocks of skfolio start in 1990, when RRC's price is stale on
70-92 % of days: the fits that fail there fall back, reported, and warm-up
succeeds on every 250-day window.
"""

from __future__ import annotations

import numpy as np
import pytest
from skfolio.datasets import load_sp500_dataset

from riskengine.engine import Engine, EngineConfig
from riskengine.errors import InvalidPrice
from riskengine.forecast import OnlineGARCH

PRICES = load_sp500_dataset()
RETURNS = np.log(PRICES).diff().dropna()


def test_a_stale_price_gets_a_reported_fit_or_fallback_and_never_a_negative_variance() -> None:
    returns = RETURNS["RRC"].iloc[60:310].to_numpy()  # 1990: 87 % zero returns
    assert np.mean(returns == 0) > 0.8
    with pytest.raises(RuntimeError, match=r"^returns: "):
        OnlineGARCH(vol="GJR", dist="skewt").fit(returns)
    model = OnlineGARCH(vol="GJR", dist="skewt", fallback=True).fit(returns)
    assert "after: " in model.last_refit.message  # another start, or the fallback parameters
    params = model.params
    assert params.omega > 0 and params.alpha + params.gamma >= 0 and params.nu > 2.05
    assert np.all(model.conditional_variance(returns) > 0)


def test_fallback_parameters_keep_the_sample_variance_as_the_long_run_level() -> None:
    # JPM in 1990 lands on the stationarity boundary from every start.
    returns = RETURNS["JPM"].iloc[60:310].to_numpy()
    with pytest.raises(RuntimeError, match="boundary fit"):
        OnlineGARCH(vol="GJR", dist="skewt").fit(returns)
    model = OnlineGARCH(vol="GJR", dist="skewt", fallback=True).fit(returns)
    assert model.last_refit.message.startswith("fallback parameters (persistence 0.975)")
    assert not model.last_refit.converged
    assert model.params.persistence == pytest.approx(0.975)
    assert model.params.long_run_variance == pytest.approx(np.mean(returns**2))


def test_a_price_that_never_moves_is_refused_naming_the_asset() -> None:
    frame = PRICES[["AAPL", "KO"]].iloc[:300].copy()
    frame["KO"] = 40.0
    with pytest.raises(InvalidPrice, match=r"^history\['KO'\]: the price never moves"):
        Engine(EngineConfig(assets=["AAPL", "KO"])).warm_up(frame)


@pytest.mark.slow
@pytest.mark.parametrize("start", list(range(0, 8000, 250)))
def test_warm_up_succeeds_on_every_250_day_window_from_1990(start: int) -> None:
    frame = PRICES.iloc[start : start + 251]
    engine = Engine(EngineConfig(assets=list(PRICES.columns)))
    engine.warm_up(frame)
    state = engine.state
    assert state.models_ready and np.all(np.linalg.eigvalsh(state.covariance) > 0)
    reports = engine.models.fit_reports
    assert all(report is not None for report in reports.values())
