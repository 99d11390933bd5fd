"""EWMACovariance: river's estimators behind the engine's array protocol."""

from __future__ import annotations

import numpy as np
import pytest
from river import covariance, datasets

from riskengine.forecast import EWMACovariance

ROWS = [x for x, _ in datasets.SP500Stocks()][:300]
STOCKS = np.array([list(x.values()) for x in ROWS])


def _river_matrix(estimator: covariance.EwaCovariance, names: list[str]) -> np.ndarray:
    return np.array([[estimator[a, b] for b in names] for a in names])


@pytest.mark.parametrize("shrinkage", [0.0, 0.3])
def test_equals_river(shrinkage: float) -> None:
    names = list(ROWS[0])
    reference = covariance.ShrunkCovariance(fading_factor=0.06, delta=shrinkage)
    for row in ROWS:
        reference.update(row)
    ours = EWMACovariance(lam=0.94, shrinkage=shrinkage).fit(STOCKS[:200])
    for row in STOCKS[200:]:
        ours.update(row)
    np.testing.assert_allclose(ours.covariance(), _river_matrix(reference, names), rtol=1e-12)
    if shrinkage == 0.0:
        plain = covariance.EwaCovariance(fading_factor=0.06)
        for row in ROWS:
            plain.update(row)
        np.testing.assert_allclose(ours.covariance(), _river_matrix(plain, names), rtol=1e-12)


def test_queries_are_consistent() -> None:
    model = EWMACovariance(shrinkage=0.2).fit(STOCKS)
    cov = model.covariance()
    np.testing.assert_allclose(model.variance(), np.diag(cov))
    np.testing.assert_array_equal(np.diag(model.correlation()), 1.0)
    np.testing.assert_allclose(model.forecast(4), np.broadcast_to(cov, (4, 10, 10)))
    w = np.full(10, 0.1)
    assert model.portfolio_variance(w) == pytest.approx(w @ cov @ w)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match=r"^lam"):
        EWMACovariance(lam=1.0)
    with pytest.raises(ValueError, match=r"^target"):
        EWMACovariance(target="diagonal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^returns: need at least 30 rows"):
        EWMACovariance().fit(STOCKS[:10])
    with pytest.raises(RuntimeError, match="fit"):
        EWMACovariance().covariance()
