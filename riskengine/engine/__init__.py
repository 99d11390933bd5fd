"""The risk engine: configuration, the streaming engine, and the state it answers with.

- :class:`EngineConfig`: frozen, keyword-only, TOML-loadable configuration.
- :class:`Engine`: prices in; risk state, dynamic limits and order decisions out.
- :class:`RiskState`, :class:`RiskHistory`, :class:`EngineLimits`: the answers.
"""

from riskengine.engine.config import EngineConfig
from riskengine.engine.engine import Engine
from riskengine.engine.state import EngineLimits, RiskHistory, RiskState

__all__ = ["Engine", "EngineConfig", "EngineLimits", "RiskHistory", "RiskState"]
