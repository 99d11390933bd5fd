"""The risk engine: configuration, the streaming engine, and the state it answers with.

- :class:`EngineConfig`: frozen, keyword-only, TOML-loadable configuration.
- :class:`Engine`: prices in; risk state, dynamic limits and order decisions out.
- :class:`RiskState`, :class:`RiskHistory`: the answers (``RiskState.limits`` is a
  :class:`~riskengine.risk.limits.Limits`, the chain's output and the gate's dynamic caps).
"""

from riskengine.engine.config import EngineConfig
from riskengine.engine.engine import Engine
from riskengine.engine.state import RiskHistory, RiskState

__all__ = ["Engine", "EngineConfig", "RiskHistory", "RiskState"]
