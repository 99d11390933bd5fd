"""Online volatility forecasters: one observation in, a forecast out, no look-ahead.

- :class:`OnlineGARCH`: GARCH(1,1) / GJR-t fitted by arch, filtered in O(1).
- :class:`EWMAVol`: RiskMetrics EWMA, the baseline.
"""

from riskengine.forecast.ewma import EWMAVol
from riskengine.forecast.garch import GARCHParams, OnlineGARCH, RefitReport

__all__ = ["EWMAVol", "GARCHParams", "OnlineGARCH", "RefitReport"]
