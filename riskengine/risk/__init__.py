"""Risk: VaR / ES, dynamic limits, hard pre-trade controls, and the engine's model stack.

- :mod:`~riskengine.risk.var`: portfolio VaR and ES from a covariance and an innovation law.
- :mod:`~riskengine.risk.limits`: limit transforms (init / update, chained), with derivations.
- :mod:`~riskengine.risk.execution_params`: execution parameters from volatility and regime.
- :mod:`~riskengine.risk.pretrade`: hard controls that hold whatever the models say.
- :mod:`~riskengine.risk.orders`: orders, fills, decisions, reason codes, trading states.
- :mod:`~riskengine.risk.model_stack`: the engine's models, advanced together.
"""

from riskengine.risk.execution_params import ExecutionConfig, ExecutionParams
from riskengine.risk.limits import DynamicLimitsConfig, LimitDerivation, Limits, limit_chain
from riskengine.risk.model_stack import ModelConfig, RiskModels
from riskengine.risk.orders import Decision, Fill, Order, ReasonCode, TradingState
from riskengine.risk.pretrade import DynamicCaps, HardLimits, PreTradeControls
from riskengine.risk.var import Innovations, portfolio_es, portfolio_var

__all__ = [
    "Decision",
    "DynamicCaps",
    "DynamicLimitsConfig",
    "ExecutionConfig",
    "ExecutionParams",
    "Fill",
    "HardLimits",
    "Innovations",
    "LimitDerivation",
    "Limits",
    "ModelConfig",
    "Order",
    "PreTradeControls",
    "ReasonCode",
    "RiskModels",
    "TradingState",
    "limit_chain",
    "portfolio_es",
    "portfolio_var",
]
