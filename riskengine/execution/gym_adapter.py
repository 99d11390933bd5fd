"""The execution environment as a :class:`gymnasium.Env`, for RL libraries outside JAX.

:class:`ExecutionGymEnv` wraps the pure functions of
:mod:`riskengine.execution.env` with the discrete action set of
:mod:`riskengine.execution.actions`, so that stable-baselines3 (or any
gymnasium user) trains on exactly the environment the JAX learners use: same
dynamics, same observation, same reward (minus the step's implementation
shortfall, bps), same actions.  Only the batching differs: one episode per
adapter, one jitted call per step.

Random numbers follow gymnasium's seeding: :meth:`ExecutionGymEnv.reset`
draws a 32-bit integer from ``self.np_random`` and makes the episode key
``jax.random.key(seed32)`` (:attr:`ExecutionGymEnv.episode_key`).  The key
sequence is then the pure environment's: ``reset_key, key = split(episode_key)``
for :func:`~riskengine.execution.env.reset`, and ``key, step_key = split(key)``
before every :func:`~riskengine.execution.env.step`, so an adapter episode can
be replayed in JAX exactly.

The jitted reset and step take the parameters as an argument, so they compile
once per process for every adapter whose parameters have the same static
fields (horizon, event counts, ``track_impact``) and array shapes.

This module imports gymnasium (the ``test`` or ``rl-baselines`` extra); the
package ``riskengine.execution`` does not import it.

Examples
--------
>>> env = ExecutionGymEnv("regime_switching")
>>> obs, info = env.reset(seed=0)
>>> obs.shape, obs.dtype, obs in env.observation_space
((14,), dtype('float32'), True)
>>> market_x1 = ACTION_NAMES.index("market x1")
>>> total, terminated = 0.0, False
>>> while not terminated:
...     obs, reward, terminated, truncated, info = env.step(market_x1)
...     total += reward
>>> info["filled"] == info["parent"], abs(total + info["is_bps"]) < 1e-3
(True, True)
"""

from __future__ import annotations

import operator
from typing import Any, ClassVar

import gymnasium
import jax
import numpy as np
from gymnasium import spaces

from riskengine.execution.actions import ACTION_NAMES, N_ACTIONS, discrete_action
from riskengine.execution.env import N_OBS, EnvParams, EnvState, make_params, reset_env, step_env
from riskengine.sim.pytree import check_instance

__all__ = ["OBS_HIGH", "OBS_LOW", "OBS_NAMES", "ExecutionGymEnv"]

# Bounds of each observation, in the order of :func:`riskengine.execution.env.observe`.
# Where it clips (``minimum(., 10)``, ``clip(drift / 5, -10, 10)``) the
# bound is the clip; the rest hold by construction: fractions of the parent
# order or of the horizon lie in [0, 1] (a resting order never exceeds what is
# left, fills never exceed the parent), the signed imbalance in [-1, 1], the
# stressed probability in [0, 1], the urgency too (ExecutionConfig keeps its
# stressed boost in [0, 1]), depths and volumes are >= 0,
# and the book is never crossed, so the spread in ticks minus one is >= 0.
_BOUNDS = (  # (name, low, high)
    ("time_left", 0.0, 1.0),
    ("quantity_left", 0.0, 1.0),
    ("behind_schedule", -1.0, 1.0),
    ("spread_ticks_minus_one", 0.0, 10.0),
    ("far_touch_depth", 0.0, 10.0),
    ("near_touch_depth", 0.0, 10.0),
    ("imbalance", -1.0, 1.0),
    ("volatility_ratio", 0.0, 10.0),
    ("drift", -10.0, 10.0),
    ("resting", 0.0, 1.0),
    ("queue_ahead", 0.0, 10.0),
    ("stressed_proba", 0.0, 1.0),
    ("urgency", 0.0, 1.0),
    ("last_volume", 0.0, 10.0),
)
#: Names of the observation's entries, in order.
OBS_NAMES = tuple(name for name, _, _ in _BOUNDS)
OBS_LOW = np.array([low for _, low, _ in _BOUNDS], dtype=np.float32)
OBS_HIGH = np.array([high for _, _, high in _BOUNDS], dtype=np.float32)


@jax.jit
def _reset_episode(episode_key: jax.Array, params: EnvParams):
    reset_key, key = jax.random.split(episode_key)
    obs, state = reset_env(reset_key, params)
    return key, obs, state


@jax.jit
def _step_episode(key: jax.Array, state: EnvState, index: jax.Array, params: EnvParams):
    key, step_key = jax.random.split(key)
    action = discrete_action(index, params.horizon - state.step)
    obs, state, reward, done, info = step_env(step_key, state, action, params)
    return key, obs, state, reward, done, info


def _check_action(action: Any) -> int:
    """The discrete action as an ``int``; ``ValueError`` naming ``action`` otherwise."""
    integral = isinstance(action, int | np.integer) or (
        isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu"
    )
    # bool is an int to Python, but True as "action 1" is almost surely a bug.
    if not integral or isinstance(action, bool | np.bool_):
        raise ValueError(
            f"action: expected an integer in [0, {N_ACTIONS}), got {type(action).__name__} "
            f"{action!r}"
        )
    index = operator.index(action) if not isinstance(action, np.ndarray) else int(action)
    if not 0 <= index < N_ACTIONS:
        raise ValueError(f"action: expected an integer in [0, {N_ACTIONS}), got {index}")
    return index


def _python(value: np.ndarray) -> float | int | bool:
    """A 0-d numpy value as the matching Python scalar."""
    return value.item()


class ExecutionGymEnv(gymnasium.Env):
    """One parent order worked in the JAX limit order book, behind the gymnasium API.

    Parameters
    ----------
    spec : str or ScenarioSpec
        A scenario with ``[book]`` and ``[execution]`` sections (leave it at
        its default when giving ``params``).  Kept as ``scenario``: ``spec``
        is gymnasium's registry entry.
    track_impact : bool
        Run the shadow book, so ``info["impact_bps"]`` and
        ``info["timing_bps"]`` split the cost (slower; for evaluation).
    seed : int, optional
        Seeds ``np_random`` now, so that a first ``reset()`` without a seed is
        reproducible (``reset(seed=...)`` reseeds as usual).
    params : EnvParams, optional
        Ready-made parameters (from :func:`~riskengine.execution.env.make_params`),
        instead of ``spec``; ``track_impact=True`` turns their shadow book on.

    Attributes
    ----------
    action_space : Discrete(N_ACTIONS)
        Index into :data:`~riskengine.execution.actions.ACTION_NAMES`.
    observation_space : Box(OBS_LOW, OBS_HIGH, (14,), float32)
        The observation of :func:`~riskengine.execution.env.observe`.
    params : EnvParams
        The environment parameters in use.

    Notes
    -----
    ``step`` returns ``terminated=True`` after ``params.horizon`` steps (the
    remainder is then executed at market) and never truncates.  Its ``info``
    holds the running ``is_bps``, ``spread_bps``, ``impact_bps``,
    ``timing_bps``, ``filled``, ``unfilled``, ``completed``,
    ``stressed_steps`` and ``initial_regime`` of the pure environment, plus
    ``side`` and ``parent``, as Python scalars; ``reset``'s ``info`` holds
    ``side`` and ``parent``.  Stepping a terminated episode changes nothing
    and rewards 0.

    Examples
    --------
    >>> env = ExecutionGymEnv(seed=7)
    >>> env.action_space, env.observation_space.shape
    (Discrete(17), (14,))
    >>> obs, info = env.reset()
    >>> sorted(info), info["side"] in (-1, 1)
    (['parent', 'side'], True)
    >>> env.step(17)
    Traceback (most recent call last):
    ValueError: action: expected an integer in [0, 17), got 17
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        spec: Any = "regime_switching",
        *,
        track_impact: bool = False,
        seed: int | None = None,
        params: EnvParams | None = None,
    ) -> None:
        # ``spec`` is gymnasium's registry entry (check_env reads it), so the
        # scenario is kept as ``scenario``.
        self.scenario = spec if params is None else None
        if params is None:
            params = make_params(spec, track_impact=track_impact)
        else:
            check_instance(params, EnvParams, "params")
            if not (isinstance(spec, str) and spec == "regime_switching"):
                raise ValueError("spec: give either spec or params, not both")
            if track_impact:
                params = params.with_impact(True)
        self.track_impact = bool(params.track_impact)
        self.seed = seed
        self.params = params
        self.action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = spaces.Box(OBS_LOW, OBS_HIGH, (N_OBS,), np.float32)
        if seed is not None:
            super().reset(seed=seed)
            self.action_space.seed(seed)
        self._episode_key: jax.Array | None = None
        self._key: jax.Array | None = None
        self._state: EnvState | None = None

    @property
    def episode_key(self) -> jax.Array | None:
        """The current episode's ``jax.random.key`` (``None`` before the first reset)."""
        return self._episode_key

    @property
    def state(self) -> EnvState | None:
        """The pure environment's state of the current episode (``None`` before reset)."""
        return self._state

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode: draw its key from ``np_random`` and reset the book.

        ``options`` is accepted for the gymnasium signature and must be empty.
        """
        super().reset(seed=seed)
        if options:
            raise ValueError(f"options: none are supported, got {sorted(options)}")
        seed32 = int(self.np_random.integers(0, 2**32, dtype=np.uint64))
        self._episode_key = jax.random.key(seed32)
        self._key, obs, self._state = _reset_episode(self._episode_key, self.params)
        obs, side, parent = jax.device_get((obs, self._state.side, self._state.parent))
        return np.array(obs, dtype=np.float32), {"side": int(side), "parent": int(parent)}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Take discrete ``action`` (an index into ``ACTION_NAMES``) for one step.

        The action is checked before anything runs: a bad one raises
        ``ValueError`` and leaves the episode exactly as it was.
        """
        index = _check_action(action)
        if self._state is None:
            raise gymnasium.error.ResetNeeded("step: call reset() before step()")
        key, obs, state, reward, done, info = _step_episode(
            self._key, self._state, np.int32(index), self.params
        )
        self._key, self._state = key, state
        obs, reward, done, info, side, parent = jax.device_get(
            (obs, reward, done, info, state.side, state.parent)
        )
        info = {name: _python(value) for name, value in info.items()}
        info["side"], info["parent"] = int(side), int(parent)
        return np.array(obs, dtype=np.float32), float(reward), bool(done), False, info

    def action_name(self, action: Any) -> str:
        """The name of a discrete action (``"market x1"``, ``"hold"``, ...)."""
        return ACTION_NAMES[_check_action(action)]
