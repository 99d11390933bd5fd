"""Scenario simulators with known ground truth, written as pure JAX functions.

- :mod:`riskengine.sim.market`: Markov-switching multi-asset GARCH(1,1)-t returns
  (:func:`simulate_market`; ``market.reset`` / ``market.step`` for one path).
- :mod:`riskengine.sim.orderbook`: a price-level limit order book with
  Cont-Stoikov-Talreja order flow (:func:`simulate_book`; ``orderbook.reset`` /
  ``orderbook.step`` in the gymnax style for agents).
- :mod:`riskengine.sim.specs`: the TOML scenario catalogue in ``sims/``.

>>> from riskengine.sim import available_specs
>>> "regime_switching" in available_specs()
True
"""

from riskengine.sim import market, orderbook
from riskengine.sim.book_spec import BookSpec
from riskengine.sim.execution_spec import ExecutionSpec
from riskengine.sim.market import MarketScenarios, simulate_market
from riskengine.sim.market_spec import MarketSpec
from riskengine.sim.orderbook import BookAction, BookRecording, simulate_book
from riskengine.sim.specs import ScenarioSpec, available_specs, load_spec

__all__ = [
    "BookAction",
    "BookRecording",
    "BookSpec",
    "ExecutionSpec",
    "MarketScenarios",
    "MarketSpec",
    "ScenarioSpec",
    "available_specs",
    "load_spec",
    "market",
    "orderbook",
    "simulate_book",
    "simulate_market",
]
