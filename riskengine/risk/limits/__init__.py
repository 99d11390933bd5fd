r"""Dynamic (regime-adaptive) limits as small composable transforms, optax-style.

A *limit transform* is an ``init`` / ``update`` pair with NamedTuple state and
no hidden mutable state; :func:`chain` composes them. Each transform maps the
model outputs of one step (:class:`LimitInputs`) and the limits so far
(:class:`Limits`) to new limits:

=============================  ==============================================================
:func:`vol_target`             :math:`P_i = B / \sigma_i`, order :math:`= f P_i` (builds limits)
:func:`var_budget`             :math:`G = N = V / v`, ``v`` the VaR per unit of gross (builds)
:func:`regime_haircut`         every limit :math:`\times\,(1 - (1 - h)\, p_{\text{stressed}})`
:func:`changepoint_tighten`    :math:`\times\,c` on a change point, back to 1 linearly in R steps
:func:`correlation_tighten`    the same on a correlation breakdown alarm
:func:`clamp`                  :math:`\min(\max(x, \text{floor}), \text{ceiling})`
:func:`smooth`                 EMA; by default tightening at once and loosening smoothed
:func:`clamp_to_hard_limits`   :math:`\min(x, \text{hard})`
=============================  ==============================================================

:func:`limit_chain` builds the engine's standard chain, in that order, from a
:class:`DynamicLimitsConfig`. The order matters and is deliberate:

- **clamp before smooth.** The smoother then only sees values inside
  ``[floor, ceiling]`` and an EMA of such values stays inside them, so the
  bounds still hold at the end; after a model failure the limit recovers from
  the floor rather than from zero, and a huge unclamped value (a near-zero
  volatility) cannot keep a symmetric EMA above the ceiling for many steps.
  :func:`clamp_to_hard_limits` comes last so that rounding in the EMA can never
  report a dynamic limit above a hard one.

The package, one concept a module:

- :mod:`~riskengine.risk.limits.types`: :class:`Limits` (the one limits type,
  from the chain through the engine's state to the pre-trade gate),
  :class:`LimitInputs`, the transform states, :class:`LimitTransform`;
- :mod:`~riskengine.risk.limits.transforms`: the rules and :func:`unit_gross_var`;
- :mod:`~riskengine.risk.limits.smoothing`: :func:`smooth` and its batch smoother;
- :mod:`~riskengine.risk.limits.chain`: :class:`LimitChain`, :func:`chain`;
- :mod:`~riskengine.risk.limits.derivation`: :class:`LimitDerivation` and its moves;
- :mod:`~riskengine.risk.limits.dynamic`: :class:`DynamicLimitsConfig`, :func:`limit_chain`;
- :mod:`~riskengine.risk.limits.validation`: argument checks the modules share.

Every transform has a step path (``update``: one tick, small numpy arrays and
floats, a few microseconds) and a batch path over a leading time axis
(``update_batch``: the engine's ``replay``) equal to the step path in a loop to
1e-10 relative, with the same final state.

**Derivation.** :meth:`LimitChain.explain` returns, next to the limits, a
:class:`LimitDerivation`: the limits after every stage, which stage moved which
limit by which factor, a text :meth:`~LimitDerivation.summary`, and
:meth:`~LimitDerivation.change_from` to attribute the change since an earlier
derivation to the stages (the factors multiply to the change).

**Unusable models** (a volatility or VaR-per-gross that is NaN, infinite or
not positive) never produce a NaN limit: the builders set the affected limits
to 0, the most conservative value, and the clamp raises them to the floor; the
engine separately goes to REDUCING. A NaN stressed probability counts as 1
(fully stressed).

Examples
--------
>>> import numpy as np
>>> config = DynamicLimitsConfig(risk_budget=20_000.0, var_budget=50_000.0)
>>> hard = Limits(np.array([2e6, 2e6]), 3e6, 1e6, np.array([5e5, 5e5]))
>>> limits_chain = limit_chain(config, hard)
>>> state = limits_chain.init(2)
>>> inputs = LimitInputs(volatility=np.array([0.01, 0.02]), var_per_gross=0.02,
...                      stressed_proba=0.0, changepoint=False)
>>> limits, state = limits_chain.update(inputs, Limits.unbounded(2), state)
>>> limits.position.tolist(), limits.gross, limits.net, limits.order.tolist()
([2000000.0, 1000000.0], 2500000.0, 1000000.0, [200000.0, 100000.0])
"""

from riskengine.risk.limits.chain import LimitChain, chain
from riskengine.risk.limits.derivation import LimitChange, LimitDerivation, LimitMove
from riskengine.risk.limits.dynamic import DynamicLimitsConfig, limit_chain
from riskengine.risk.limits.smoothing import smooth
from riskengine.risk.limits.transforms import (
    changepoint_tighten,
    clamp,
    clamp_to_hard_limits,
    correlation_tighten,
    regime_haircut,
    unit_gross_var,
    unit_gross_var_at,
    var_budget,
    vol_target,
)
from riskengine.risk.limits.types import (
    ChangepointState,
    EmptyState,
    LimitInputs,
    Limits,
    LimitTransform,
    SmoothState,
)

__all__ = [
    "ChangepointState",
    "DynamicLimitsConfig",
    "EmptyState",
    "LimitChain",
    "LimitChange",
    "LimitDerivation",
    "LimitInputs",
    "LimitMove",
    "LimitTransform",
    "Limits",
    "SmoothState",
    "chain",
    "changepoint_tighten",
    "clamp",
    "clamp_to_hard_limits",
    "correlation_tighten",
    "limit_chain",
    "regime_haircut",
    "smooth",
    "unit_gross_var",
    "unit_gross_var_at",
    "var_budget",
    "vol_target",
]
