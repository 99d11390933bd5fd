"""riskengine: an online-learning, regime-adaptive risk engine.

Subpackages
-----------
sim
    JAX scenario simulators (regime-switching market, limit order book) and the
    TOML scenario catalogue.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
