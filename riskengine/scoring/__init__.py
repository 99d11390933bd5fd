"""Scores for forecasts, risk measures and change detectors.

Used by the tests, the benchmarks and the nightly job; formulas and references
are in ``docs/scoring.md``.

- :mod:`~riskengine.scoring.forecast_loss`: QLIKE and MSE for variance forecasts.
- :mod:`~riskengine.scoring.covariance_loss`: portfolio QLIKE and the Mahalanobis ratio.
- :mod:`~riskengine.scoring.var_backtest`: VaR / ES backtests (Kupiec, Christoffersen,
  Basel traffic light, Acerbi-Szekely Z2) and Student-t VaR / ES.
- :mod:`~riskengine.scoring.detection`: change-detection delay, false-alarm and
  missed-detection rates against known change points.
"""

from riskengine.scoring.covariance_loss import mahalanobis_ratio, portfolio_qlike
from riskengine.scoring.detection import (
    DetectionScores,
    detection_scores,
    pool_detection_scores,
    switches_into,
)
from riskengine.scoring.forecast_loss import mse, qlike
from riskengine.scoring.var_backtest import (
    BASEL_PLUS_FACTORS,
    Z2_CRITICAL_VALUES,
    BacktestResult,
    TrafficLight,
    VaRBacktest,
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

__all__ = [
    "BASEL_PLUS_FACTORS",
    "Z2_CRITICAL_VALUES",
    "BacktestResult",
    "DetectionScores",
    "TrafficLight",
    "VaRBacktest",
    "acerbi_szekely_z2",
    "acerbi_szekely_z2_test",
    "basel_traffic_light",
    "basel_zones",
    "christoffersen_conditional_coverage",
    "christoffersen_independence",
    "detection_scores",
    "kupiec_pof",
    "mahalanobis_ratio",
    "mse",
    "pool_detection_scores",
    "portfolio_qlike",
    "qlike",
    "sample_student_t_returns",
    "student_t_var_es",
    "switches_into",
    "var_backtest",
    "var_exceptions",
]
