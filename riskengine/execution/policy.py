"""What an execution policy is: one pure function from an observation to an action.

A policy has a ``name`` and ``act(key, obs, state, params)`` returning an
:class:`~riskengine.execution.env.ExecutionAction` for *one* episode; the
evaluator and trainers add the batch with ``vmap``.  ``act`` is traced under
``jit``, so it must be written in JAX with no Python branching on traced
values.  Baselines read what they need (remaining quantity, steps left,
the volume profile, the volatility estimate) from ``state`` and ``params``;
learned policies read only ``obs``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import jax

from riskengine.execution.env import EnvParams, EnvState, ExecutionAction

__all__ = ["ExecutionPolicy"]


@runtime_checkable
class ExecutionPolicy(Protocol):
    """The protocol every execution policy follows."""

    name: str

    def act(
        self, key: jax.Array, obs: jax.Array, state: EnvState, params: EnvParams
    ) -> ExecutionAction:
        """The action for one episode at the current step."""
        ...
