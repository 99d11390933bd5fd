"""Online forecasters: one observation in, a forecast out, no look-ahead.

- :class:`OnlineGARCH`: GARCH(1,1) / GJR, t or skewed t, fitted by arch, filtered in O(1);
  one-step VaR and ES.
- :class:`EWMAVol`: RiskMetrics EWMA, the baseline.
- :class:`OnlineDCC`: DCC(1,1)-GARCH covariance with a shrunk correlation target.
- :class:`LearnedVolForecaster`: river regression on HAR features, trained on QLIKE.
- :class:`EWMACovariance`: river's EWMA covariance (optionally shrunk) for arrays.
- :func:`constant_correlation_shrinkage`: Ledoit-Wolf shrinkage of a sample covariance.
- :class:`Innovations`: the standardised innovation law (t, skewed t, normal): quantile, tail mean.
"""

from riskengine.forecast.dcc import DCCParams, OnlineDCC
from riskengine.forecast.ewma import EWMAVol
from riskengine.forecast.ewma_covariance import EWMACovariance
from riskengine.forecast.garch import GARCHParams, OnlineGARCH, RefitReport
from riskengine.forecast.innovations import Innovations
from riskengine.forecast.learned import LearnedVolForecaster, QLIKELoss
from riskengine.forecast.shrinkage import ShrunkEstimate, constant_correlation_shrinkage

__all__ = [
    "DCCParams",
    "EWMACovariance",
    "EWMAVol",
    "GARCHParams",
    "Innovations",
    "LearnedVolForecaster",
    "OnlineDCC",
    "OnlineGARCH",
    "QLIKELoss",
    "RefitReport",
    "ShrunkEstimate",
    "constant_correlation_shrinkage",
]
