"""Risk: VaR / ES, dynamic limits and hard pre-trade controls.

- :mod:`~riskengine.risk.var`: portfolio VaR and ES from a covariance and an innovation law.
- :mod:`~riskengine.risk.limits`: limit transforms (init / update, chained), with derivations.
- :mod:`~riskengine.risk.execution_params`: execution parameters from volatility and regime.
- :mod:`~riskengine.risk.account`: positions, cash, working orders and the P&L day of a book.
- :mod:`~riskengine.risk.pretrade`: the hard limits and the pre-trade gate (small named checks).
- :mod:`~riskengine.risk.controls`: the account and its gate together, as the engine drives them.
- :mod:`~riskengine.risk.orders`: orders, fills, decisions, reason codes, trading states.
"""

from riskengine.risk.account import Account
from riskengine.risk.controls import PreTradeControls
from riskengine.risk.execution_params import ExecutionConfig, ExecutionParams
from riskengine.risk.limits import DynamicLimitsConfig, LimitDerivation, Limits, limit_chain
from riskengine.risk.orders import Decision, Fill, Order, ReasonCode, TradingState
from riskengine.risk.pretrade import HardLimits, PreTradeGate
from riskengine.risk.var import portfolio_es, portfolio_var

__all__ = [
    "Account",
    "Decision",
    "DynamicLimitsConfig",
    "ExecutionConfig",
    "ExecutionParams",
    "Fill",
    "HardLimits",
    "LimitDerivation",
    "Limits",
    "Order",
    "PreTradeControls",
    "PreTradeGate",
    "ReasonCode",
    "TradingState",
    "limit_chain",
    "portfolio_es",
    "portfolio_var",
]
