"""Portfolio QLIKE and the Mahalanobis ratio on simulated returns with a known covariance."""

from __future__ import annotations

import numpy as np
import pytest

from riskengine.scoring import mahalanobis_ratio, portfolio_qlike, qlike

COV = np.array([[4e-4, 1e-4, 0.0], [1e-4, 2e-4, 5e-5], [0.0, 5e-5, 1e-4]])
RETURNS = np.random.default_rng(0).multivariate_normal(np.zeros(3), COV, size=20_000)
TRUE = np.broadcast_to(COV, (20_000, 3, 3))


def test_mahalanobis_ratio_is_one_for_the_true_covariance_and_scales_inversely() -> None:
    # Chi-square(3) / 3 has sd sqrt(2/3); over 20,000 draws the mean's sd is 0.006.
    assert mahalanobis_ratio(TRUE, RETURNS) == pytest.approx(1.0, abs=0.025)
    assert mahalanobis_ratio(TRUE * 0.5, RETURNS) == pytest.approx(2.0, abs=0.05)


def test_portfolio_qlike_is_qlike_of_the_portfolio_and_prefers_the_truth() -> None:
    w = np.array([0.5, 0.3, 0.2])
    expected = qlike(np.full(20_000, w @ COV @ w), (RETURNS @ w) ** 2)
    assert portfolio_qlike(TRUE, RETURNS, w) == pytest.approx(expected, rel=1e-12)
    for wrong in (TRUE * 0.7, TRUE * 1.4, np.broadcast_to(np.diag(np.diag(COV)), TRUE.shape)):
        assert portfolio_qlike(wrong, RETURNS, w) > portfolio_qlike(TRUE, RETURNS, w)


@pytest.mark.parametrize(
    ("forecasts", "returns", "message"),
    [
        (TRUE[:5], RETURNS[:4], "^forecasts: expected shape"),
        (TRUE[:5], RETURNS[:5, 0], "^returns: expected shape"),
        (np.zeros((5, 3, 3)), RETURNS[:5], "^forecasts: a covariance matrix is singular"),
        (TRUE[:5] * np.nan, RETURNS[:5], "^forecasts: must all be finite"),
    ],
)
def test_bad_input_is_named(forecasts: np.ndarray, returns: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mahalanobis_ratio(forecasts, returns)


def test_bad_weights_are_named() -> None:
    with pytest.raises(ValueError, match=r"^weights"):
        portfolio_qlike(TRUE[:5], RETURNS[:5], np.ones(2))
