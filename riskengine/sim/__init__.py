"""Scenario simulators with known ground truth, written as pure JAX functions.

- :mod:`riskengine.sim.market`: Markov-switching multi-asset GARCH(1,1)-t returns.
- :mod:`riskengine.sim.orderbook`: a price-level limit order book (Cont-Stoikov-Talreja flow).
- :mod:`riskengine.sim.specs`: the TOML scenario catalogue in ``sims/``.
"""

from riskengine.sim.market import MarketScenarios, simulate_market
from riskengine.sim.market_spec import MarketSpec
from riskengine.sim.specs import ScenarioSpec, available_specs, load_spec

__all__ = [
    "MarketScenarios",
    "MarketSpec",
    "ScenarioSpec",
    "available_specs",
    "load_spec",
    "simulate_market",
]
