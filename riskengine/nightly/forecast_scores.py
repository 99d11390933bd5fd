"""The nightly backtest's forecast scores: the engine's covariance against the 'ewma' baseline.

Each day's forecast is scored against the next day's returns
(:mod:`riskengine.scoring`): each asset's variance (QLIKE, MSE against the
squared return), the equally weighted portfolio's variance (QLIKE), and the
covariance (portfolio QLIKE with equal weights, Mahalanobis ratio). One
:class:`ForecastScore` per target and score is one ``forecast_scores`` row.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from riskengine.scoring import mahalanobis_ratio, mse, portfolio_qlike, qlike

__all__ = ["ForecastScore", "forecast_scores"]


class ForecastScore(NamedTuple):
    """One row of ``forecast_scores``: the engine's score and the baseline's on one target."""

    target: str  # 'variance:<asset>', 'variance:portfolio' or 'covariance'
    model: str
    baseline: str
    score: str  # 'qlike', 'mse', 'portfolio_qlike', 'mahalanobis'
    value: float
    baseline_value: float

    @property
    def ratio(self) -> float | None:
        """``value / baseline_value`` (below 1: the engine is better); None for Mahalanobis.

        The Mahalanobis ratio is best at 1, not at 0, so its quotient ranks nothing.
        """
        if self.score == "mahalanobis":
            return None
        return self.value / self.baseline_value


def forecast_scores(
    assets: tuple[str, ...],
    engine_covariance: np.ndarray,
    ewma_covariance: np.ndarray,
    returns: np.ndarray,
) -> tuple[ForecastScore, ...]:
    """Engine vs 'ewma' on next-day returns (T-1, N) against the forecasts made the day before.

    >>> returns = np.random.default_rng(0).normal(0.0, 0.01, (50, 2))
    >>> covariance = np.broadcast_to(np.eye(2) * 1e-4, (50, 2, 2))
    >>> scores = forecast_scores(("A", "B"), covariance, covariance, returns)
    >>> [(s.target, s.score) for s in scores][:3]
    [('variance:A', 'qlike'), ('variance:A', 'mse'), ('variance:B', 'qlike')]
    >>> scores[0].ratio  # the same forecasts: no better, no worse
    1.0
    """
    scores = []
    proxy = returns**2
    engine_variance = np.diagonal(engine_covariance, axis1=1, axis2=2)
    ewma_variance = np.diagonal(ewma_covariance, axis1=1, axis2=2)
    for i, asset in enumerate(assets):
        for name, loss in (("qlike", qlike), ("mse", mse)):
            scores.append(
                ForecastScore(
                    f"variance:{asset}",
                    "engine",
                    "ewma",
                    name,
                    loss(engine_variance[:, i], proxy[:, i]),
                    loss(ewma_variance[:, i], proxy[:, i]),
                )
            )
    equal = np.full(len(assets), 1.0 / len(assets))
    portfolio = (returns @ equal) ** 2
    scores.append(
        ForecastScore(
            "variance:portfolio",
            "engine",
            "ewma",
            "qlike",
            qlike(np.einsum("i,tij,j->t", equal, engine_covariance, equal), portfolio),
            qlike(np.einsum("i,tij,j->t", equal, ewma_covariance, equal), portfolio),
        )
    )
    scores.append(
        ForecastScore(
            "covariance",
            "engine",
            "ewma",
            "portfolio_qlike",
            portfolio_qlike(engine_covariance, returns, equal),
            portfolio_qlike(ewma_covariance, returns, equal),
        )
    )
    scores.append(
        ForecastScore(
            "covariance",
            "engine",
            "ewma",
            "mahalanobis",
            mahalanobis_ratio(engine_covariance, returns),
            mahalanobis_ratio(ewma_covariance, returns),
        )
    )
    return tuple(scores)
