"""Scenario simulators with known ground truth, written as pure JAX functions.

- :mod:`riskengine.sim.market`: Markov-switching multi-asset GARCH(1,1)-t returns
  (:func:`simulate_market`; ``market.reset`` / ``market.step`` for one path).
- The price-level limit order book with Cont-Stoikov-Talreja order flow, in
  three modules: :mod:`~riskengine.sim.book_types` (``BookParams``,
  ``BookState``, ``BookEvent``, ``BookAction``, ``BookObs``),
  :mod:`~riskengine.sim.book_kernel` (the pure kernel: ``reset`` / ``step`` in
  the gymnax style for agents, ``apply_event``, ``apply_action``,
  ``best_levels``, ...) and :mod:`~riskengine.sim.book_rollout`
  (:func:`simulate_book`); :mod:`~riskengine.sim.book_levels` holds the
  kernel's array primitives over price levels.
- :mod:`riskengine.sim.specs`: the TOML scenario catalogue in ``sims/``
  (:class:`BookSpec`, :class:`MarketSpec`, :class:`ExecutionSpec` sections).
- :mod:`riskengine.sim.devices`: batches split over the local JAX devices;
  :mod:`riskengine.sim.pytree`: the frozen-dataclass pytrees all of them use.

>>> from riskengine.sim import available_specs
>>> "regime_switching" in available_specs()
True
"""

from riskengine.sim import book_kernel, market
from riskengine.sim.book_rollout import BookRecording, simulate_book
from riskengine.sim.book_spec import BookSpec
from riskengine.sim.book_types import BookAction, BookEvent, BookObs, BookParams, BookState
from riskengine.sim.execution_spec import ExecutionSpec
from riskengine.sim.market import MarketScenarios, simulate_market
from riskengine.sim.market_spec import MarketSpec
from riskengine.sim.specs import ScenarioSpec, available_specs, load_spec

__all__ = [
    "BookAction",
    "BookEvent",
    "BookObs",
    "BookParams",
    "BookRecording",
    "BookSpec",
    "BookState",
    "ExecutionSpec",
    "MarketScenarios",
    "MarketSpec",
    "ScenarioSpec",
    "available_specs",
    "book_kernel",
    "load_spec",
    "market",
    "simulate_book",
    "simulate_market",
]
