"""riskengine: an online-learning, regime-adaptive risk engine.

The names a trading stack uses:

>>> from riskengine import Engine, EngineConfig, Order, Fill, InvalidInput

Subpackages
-----------
sim
    JAX scenario simulators (regime-switching market, limit order book) and the
    TOML scenario catalogue.
forecast, regime
    Online volatility, covariance and regime models (update per observation,
    no look-ahead).
risk
    VaR / ES, the dynamic limit transforms, the hard pre-trade controls.
engine
    The engine that ties them together: ``Engine``, ``EngineConfig``, ``RiskState``.
scoring
    Forecast scores, VaR / ES backtests, detection metrics.
"""

from riskengine._version import __version__
from riskengine.engine import Engine, EngineConfig, RiskHistory, RiskState
from riskengine.errors import (
    InvalidConfig,
    InvalidFill,
    InvalidInput,
    InvalidOrder,
    InvalidPrice,
    InvalidSnapshot,
    InvalidTimestamp,
    MissingAsset,
    UnknownAsset,
)
from riskengine.risk.orders import Decision, Fill, Order, ReasonCode, TradingState

__all__ = [
    "Decision",
    "Engine",
    "EngineConfig",
    "Fill",
    "InvalidConfig",
    "InvalidFill",
    "InvalidInput",
    "InvalidOrder",
    "InvalidPrice",
    "InvalidSnapshot",
    "InvalidTimestamp",
    "MissingAsset",
    "Order",
    "ReasonCode",
    "RiskHistory",
    "RiskState",
    "TradingState",
    "UnknownAsset",
    "__version__",
]
