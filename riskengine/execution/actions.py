"""The discrete action set the learners use, mapped onto :class:`ExecutionAction`.

Sizes are multiples of the even pace (remaining quantity over steps left),
which makes "keep to schedule" the same action at every step; ``all`` sends
the whole remainder.  Each size comes in three styles (market, limit at the
near touch, limit one tick inside), plus ``hold`` (keep the resting order and
its queue place) and ``wait`` (cancel any resting order, send nothing).

Examples
--------
>>> import jax.numpy as jnp
>>> N_ACTIONS, ACTION_NAMES[0], ACTION_NAMES[-1]
(17, 'market x0.5', 'wait')
>>> action = discrete_action(jnp.int32(1), steps_left=jnp.int32(4))
>>> float(action.fraction), int(action.style)
(0.25, 0)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from riskengine.execution.env import (
    HOLD,
    LIMIT_INSIDE,
    LIMIT_TOUCH,
    MARKET,
    ExecutionAction,
)

__all__ = ["ACTION_NAMES", "N_ACTIONS", "PACE_MULTIPLES", "discrete_action"]

#: Child size as a multiple of the even pace; ``inf`` sends everything left.
PACE_MULTIPLES = (0.5, 1.0, 2.0, 4.0, float("inf"))
_STYLES = ((MARKET, "market"), (LIMIT_TOUCH, "limit"), (LIMIT_INSIDE, "inside"))
ACTION_NAMES = (
    *tuple(
        f"{name} {'all' if m == float('inf') else f'x{m:g}'}"
        for _, name in _STYLES
        for m in PACE_MULTIPLES
    ),
    "hold",
    "wait",
)
N_ACTIONS = len(ACTION_NAMES)

_MULTIPLE = jnp.asarray([m for _ in _STYLES for m in PACE_MULTIPLES] + [0.0, 0.0], jnp.float32)
_STYLE = jnp.asarray(
    [style for style, _ in _STYLES for _ in PACE_MULTIPLES] + [HOLD, LIMIT_TOUCH], jnp.int32
)


def discrete_action(index: jax.Array, steps_left: jax.Array) -> ExecutionAction:
    """The :class:`ExecutionAction` of discrete action ``index`` (clipped to the valid range).

    ``steps_left`` is the number of decision steps still to come, this one
    included; the pace is ``1 / steps_left`` of the remainder.
    """
    index = jnp.clip(index, 0, N_ACTIONS - 1)
    pace = 1.0 / jnp.maximum(steps_left, 1).astype(jnp.float32)
    fraction = jnp.minimum(_MULTIPLE[index] * pace, 1.0)  # inf * pace -> inf -> 1
    # "wait" is a limit order of zero lots: the env cancels the resting order.
    return ExecutionAction(fraction=fraction, style=_STYLE[index])
