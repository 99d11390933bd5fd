"""Proximal policy optimisation in JAX, trained in the execution environment.

In the style of purejaxrl: :func:`make_train` builds one pure ``update``
function (a rollout of every environment over whole episodes, generalised
advantage estimation, then ``update_epochs`` passes of clipped-surrogate
minibatch SGD with optax), and the trainer runs ``lax.scan`` over chunks of
``updates_per_call`` updates, jitted once.  Between chunks control returns to
Python only to report progress through a callback, so the library never
prints and a chunked run computes exactly what one long scan would.

Episodes have a fixed length (the environment's horizon), so every
environment resets at the same step: a rollout is ``rollout_episodes``
complete episodes per environment, and no step is spent on auto-reset.

The actor and the critic are separate tanh MLPs with orthogonal
initialisation (Andrychowicz et al. 2021, "What matters in on-policy RL").

Examples
--------
>>> from riskengine.execution.env import make_params
>>> params = make_params("regime_switching")
>>> config = PPOConfig(n_envs=8, n_updates=2, updates_per_call=1, hidden=(16,))
>>> result = train(config, params, seed=0)
>>> result.metrics["mean_is_bps"].shape, result.env_steps
((2,), 320)
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from riskengine._validation import as_float, as_int, check_seed
from riskengine.execution.actions import N_ACTIONS, discrete_action
from riskengine.execution.env import (
    N_OBS,
    EnvParams,
    EnvState,
    ExecutionAction,
    reset_env,
    step_env,
)
from riskengine.sim.pytree import check_instance

__all__ = ["PPOConfig", "PPOPolicy", "TrainResult", "init_network", "policy_logits", "train"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PPOConfig:
    """Hyper-parameters of :func:`train` (frozen; unknown keys are refused by ``from_mapping``).

    Attributes
    ----------
    n_envs : int
        Environments stepped in parallel (vmap).
    rollout_episodes : int
        Complete episodes per environment in each rollout.
    n_updates : int
        PPO updates (each: one rollout, then ``update_epochs`` epochs).
    update_epochs, n_minibatches : int
        Passes over the rollout, and minibatches per pass.
    learning_rate : float
        Adam step size (linearly annealed to 0 when ``anneal_lr``).
    gamma, gae_lambda : float
        Discount (1: the return is exactly minus the episode's IS) and GAE lambda.
    clip_eps, entropy_coef, value_coef, max_grad_norm : float
        The PPO loss and the gradient clip.
    hidden : tuple of int
        Widths of the hidden layers of the actor and of the critic.
    updates_per_call : int
        Updates per jitted chunk (progress is reported between chunks).
    """

    n_envs: int = 512
    rollout_episodes: int = 1
    n_updates: int = 600
    update_epochs: int = 4
    n_minibatches: int = 8
    learning_rate: float = 1e-3
    anneal_lr: bool = True
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    entropy_coef: float = 0.001
    value_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: tuple[int, ...] = (64, 64)
    updates_per_call: int = 20

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name, low in (
            ("n_envs", 1),
            ("rollout_episodes", 1),
            ("n_updates", 1),
            ("update_epochs", 1),
            ("n_minibatches", 1),
            ("updates_per_call", 1),
        ):
            set_(self, name, as_int(getattr(self, name), field=f"ppo.{name}", low=low))
        for name, low, high in (
            ("learning_rate", 0.0, 1.0),
            ("gamma", 0.0, 1.0),
            ("gae_lambda", 0.0, 1.0),
            ("clip_eps", 0.0, 1.0),
            ("entropy_coef", 0.0, 10.0),
            ("value_coef", 0.0, 100.0),
            ("max_grad_norm", 0.0, 1e6),
        ):
            set_(self, name, as_float(getattr(self, name), field=f"ppo.{name}", low=low, high=high))
        if not isinstance(self.anneal_lr, bool):
            raise TypeError(f"ppo.anneal_lr: expected a bool, got {type(self.anneal_lr).__name__}")
        hidden = self.hidden
        if isinstance(hidden, str) or not isinstance(hidden, tuple | list) or not hidden:
            raise ValueError(f"ppo.hidden: expected a list of layer widths, got {hidden!r}")
        set_(
            self,
            "hidden",
            tuple(as_int(h, field=f"ppo.hidden[{i}]", low=1) for i, h in enumerate(hidden)),
        )

    @classmethod
    def from_mapping(cls, table: dict[str, Any]) -> PPOConfig:
        """Build from a JSON / TOML table, refusing unknown keys (named)."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise ValueError(f"ppo: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        values = dict(table)
        if "hidden" in values and isinstance(values["hidden"], list):
            values["hidden"] = tuple(values["hidden"])
        return cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        """JSON-ready values (what the model card records)."""
        values = dataclasses.asdict(self)
        values["hidden"] = list(self.hidden)
        return values


# --------------------------------------------------------------------------- network
Network = dict[str, list[dict[str, jax.Array]]]


def _mlp_init(key: jax.Array, sizes: tuple[int, ...], last_scale: float) -> list[dict]:
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        scale = last_scale if i == len(sizes) - 2 else math.sqrt(2.0)
        init = jax.nn.initializers.orthogonal(scale)
        layers.append({"w": init(keys[i], (fan_in, fan_out), jnp.float32), "b": jnp.zeros(fan_out)})
    return layers


def _mlp(layers: list[dict], x: jax.Array) -> jax.Array:
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


def init_network(key: jax.Array, hidden: tuple[int, ...]) -> Network:
    """Actor (logits over the discrete actions) and critic (value) weights."""
    actor_key, critic_key = jax.random.split(key)
    return {
        "actor": _mlp_init(actor_key, (N_OBS, *hidden, N_ACTIONS), 0.01),
        "critic": _mlp_init(critic_key, (N_OBS, *hidden, 1), 1.0),
    }


def policy_logits(network: Network, obs: jax.Array) -> jax.Array:
    """Action logits for one observation (vmap for a batch)."""
    return _mlp(network["actor"], obs)


def _value(network: Network, obs: jax.Array) -> jax.Array:
    return _mlp(network["critic"], obs)[..., 0]


# --------------------------------------------------------------------------- policy
@dataclasses.dataclass(frozen=True, eq=False)
class PPOPolicy:
    """A trained PPO policy as an :class:`~riskengine.execution.policy.ExecutionPolicy`.

    ``act`` is greedy (the most likely action) unless ``sample`` is set.
    """

    network: Network
    name: str = "rl"
    sample: bool = False

    # The policy is a static argument of the jitted episode runners (its weights are
    # compiled in as constants), so equal weights must hash equal: then a policy loaded
    # twice, or unpickled in a worker, reuses the compiled program instead of compiling again.
    def _content(self) -> tuple[str, bool, str]:
        cached = self.__dict__.get("_digest")
        if cached is None:
            digest = hashlib.sha256()
            for leaf in jax.tree.leaves(self.network):
                array = np.asarray(leaf)
                digest.update(f"{array.dtype}{array.shape}".encode())
                digest.update(np.ascontiguousarray(array).tobytes())
            cached = digest.hexdigest()
            object.__setattr__(self, "_digest", cached)
        return (self.name, self.sample, cached)

    def __hash__(self) -> int:
        return hash(self._content())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PPOPolicy):
            return NotImplemented
        return self is other or self._content() == other._content()

    def action_index(self, key: jax.Array, obs: jax.Array) -> jax.Array:
        """The discrete action for one observation."""
        logits = policy_logits(self.network, obs)
        greedy = jnp.argmax(logits).astype(jnp.int32)
        if self.sample:
            return jax.random.categorical(key, logits).astype(jnp.int32)
        return greedy

    def act(
        self, key: jax.Array, obs: jax.Array, state: EnvState, params: EnvParams
    ) -> ExecutionAction:
        """The environment action for one episode (see :mod:`riskengine.execution.actions`)."""
        return discrete_action(self.action_index(key, obs), params.horizon - state.step)


# --------------------------------------------------------------------------- training
class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array
    is_bps: jax.Array


class RunnerState(NamedTuple):
    network: Network
    opt_state: Any
    key: jax.Array


@dataclasses.dataclass(frozen=True, eq=False)
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    policy : PPOPolicy
        The trained (greedy) policy.
    metrics : dict of ndarray
        Per update: ``mean_is_bps`` (the rollout's mean implementation
        shortfall, sampled actions), ``mean_return``, ``entropy``,
        ``value_loss``, ``policy_loss``, ``approx_kl``.
    env_steps : int
        Environment steps taken.
    config : PPOConfig
    seed : int
    """

    policy: PPOPolicy
    metrics: dict[str, np.ndarray]
    env_steps: int
    config: PPOConfig
    seed: int


def _rollout(network: Network, key: jax.Array, params: EnvParams, config: PPOConfig):
    """``rollout_episodes`` whole episodes in each of ``n_envs`` environments."""
    horizon = params.horizon

    def one_step(carry, key):
        obs, state = carry
        action_key, step_key = jax.random.split(key)
        logits = jax.vmap(policy_logits, in_axes=(None, 0))(network, obs)
        value = jax.vmap(_value, in_axes=(None, 0))(network, obs)
        action = jax.random.categorical(action_key, logits).astype(jnp.int32)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=1)[:, 0]
        env_action = jax.vmap(discrete_action)(action, horizon - state.step)
        step_keys = jax.random.split(step_key, config.n_envs)
        obs_next, state, reward, done, info = jax.vmap(step_env, in_axes=(0, 0, 0, None))(
            step_keys, state, env_action, params
        )
        transition = Transition(obs, action, log_prob, value, reward, done, info["is_bps"])
        return (obs_next, state), transition

    def one_episode(_, key):
        reset_key, steps_key = jax.random.split(key)
        obs, state = jax.vmap(reset_env, in_axes=(0, None))(
            jax.random.split(reset_key, config.n_envs), params
        )
        _, transitions = lax.scan(one_step, (obs, state), jax.random.split(steps_key, horizon))
        return None, transitions

    _, batch = lax.scan(one_episode, None, jax.random.split(key, config.rollout_episodes))
    # (episodes, T, envs, ...) -> (episodes * T, envs, ...): time-major, episodes back to back.
    return jax.tree.map(lambda x: x.reshape((-1, *x.shape[2:])), batch)


def _advantages(batch: Transition, config: PPOConfig) -> tuple[jax.Array, jax.Array]:
    """GAE over time-major transitions; a ``done`` step bootstraps from 0."""

    def backward(carry, transition):
        gae, next_value = carry
        not_done = 1.0 - transition.done.astype(jnp.float32)
        delta = transition.reward + config.gamma * next_value * not_done - transition.value
        gae = delta + config.gamma * config.gae_lambda * not_done * gae
        return (gae, transition.value), gae

    zeros = jnp.zeros_like(batch.value[0])
    _, advantages = lax.scan(backward, (zeros, zeros), batch, reverse=True)
    return advantages, advantages + batch.value


def _loss(network: Network, batch: Transition, advantages, targets, config: PPOConfig):
    logits = jax.vmap(policy_logits, in_axes=(None, 0))(network, batch.obs)
    value = jax.vmap(_value, in_axes=(None, 0))(network, batch.obs)
    log_softmax = jax.nn.log_softmax(logits)
    log_prob = jnp.take_along_axis(log_softmax, batch.action[:, None], axis=1)[:, 0]
    value_clipped = batch.value + jnp.clip(value - batch.value, -config.clip_eps, config.clip_eps)
    value_loss = 0.5 * jnp.maximum((value - targets) ** 2, (value_clipped - targets) ** 2).mean()
    ratio = jnp.exp(log_prob - batch.log_prob)
    normalised = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    surrogate = jnp.minimum(
        ratio * normalised,
        jnp.clip(ratio, 1.0 - config.clip_eps, 1.0 + config.clip_eps) * normalised,
    )
    policy_loss = -surrogate.mean()
    entropy = -(jnp.exp(log_softmax) * log_softmax).sum(axis=1).mean()
    total = policy_loss + config.value_coef * value_loss - config.entropy_coef * entropy
    approx_kl = ((ratio - 1.0) - jnp.log(ratio)).mean()
    return total, (value_loss, policy_loss, entropy, approx_kl)


def _optimizer(config: PPOConfig, updates_total: int) -> optax.GradientTransformation:
    steps = updates_total * config.update_epochs * config.n_minibatches
    rate = (
        optax.linear_schedule(config.learning_rate, 0.0, steps)
        if config.anneal_lr
        else config.learning_rate
    )
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(rate, eps=1e-5))


def make_train(config: PPOConfig, params: EnvParams) -> tuple[Callable, Callable]:
    """``(init, run_chunk)``: ``init(key) -> RunnerState`` and a jitted chunk of updates.

    ``run_chunk(runner_state) -> (runner_state, metrics)`` runs
    ``config.updates_per_call`` updates; the metrics have that leading axis.
    """
    optimizer = _optimizer(config, config.n_updates)
    batch_size = config.n_envs * config.rollout_episodes * params.horizon
    if batch_size % config.n_minibatches:
        raise ValueError(
            f"ppo.n_minibatches: must divide the batch of {batch_size} transitions "
            f"(n_envs x rollout_episodes x horizon), got {config.n_minibatches}"
        )
    minibatch = batch_size // config.n_minibatches
    grad_fn = jax.value_and_grad(_loss, has_aux=True)

    def init(key: jax.Array) -> RunnerState:
        network_key, run_key = jax.random.split(key)
        network = init_network(network_key, config.hidden)
        return RunnerState(network, optimizer.init(network), run_key)

    def update(runner: RunnerState, _):
        key, rollout_key, shuffle_key = jax.random.split(runner.key, 3)
        batch = _rollout(runner.network, rollout_key, params, config)
        advantages, targets = _advantages(batch, config)
        flat = jax.tree.map(lambda x: x.reshape((batch_size, *x.shape[2:])), batch)
        advantages, targets = advantages.reshape(-1), targets.reshape(-1)

        def epoch(carry, key):
            network, opt_state = carry
            order = jax.random.permutation(key, batch_size)
            shuffled = jax.tree.map(
                lambda x: x[order].reshape((config.n_minibatches, minibatch, *x.shape[1:])),
                (flat, advantages, targets),
            )

            def minibatch_step(carry, data):
                network, opt_state = carry
                mb, adv, tgt = data
                (_, aux), grads = grad_fn(network, mb, adv, tgt, config)
                updates, opt_state = optimizer.update(grads, opt_state, network)
                return (optax.apply_updates(network, updates), opt_state), aux

            return lax.scan(minibatch_step, (network, opt_state), shuffled)

        (network, opt_state), aux = lax.scan(
            epoch,
            (runner.network, runner.opt_state),
            jax.random.split(shuffle_key, config.update_epochs),
        )
        value_loss, policy_loss, entropy, approx_kl = (a.mean() for a in aux)
        finished = batch.done
        metrics = {
            "mean_is_bps": (batch.is_bps * finished).sum() / jnp.maximum(finished.sum(), 1),
            "mean_return": batch.reward.sum() / (config.n_envs * config.rollout_episodes),
            "entropy": entropy,
            "value_loss": value_loss,
            "policy_loss": policy_loss,
            "approx_kl": approx_kl,
        }
        return RunnerState(network, opt_state, key), metrics

    @jax.jit
    def run_chunk(runner: RunnerState):
        return lax.scan(update, runner, None, length=config.updates_per_call)

    return init, run_chunk


ProgressCallback = Callable[[int, int, dict[str, float]], None]


def train(
    config: PPOConfig,
    params: EnvParams,
    seed: int,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train a PPO policy from ``seed``; bit-reproducible for a given seed, config and JAX.

    Parameters
    ----------
    config : PPOConfig
    params : EnvParams
        The environment (``track_impact`` is switched off for training: the
        shadow book does not change the agent's experience).
    seed : int
        In ``[0, 2**32)``.
    progress : callable, optional
        ``progress(updates_done, n_updates, last_metrics)``, called after each
        jitted chunk (the CLI draws a rich progress bar with it).
    """
    check_instance(params, EnvParams, "params")
    if not isinstance(config, PPOConfig):
        raise TypeError(f"config: expected a PPOConfig, got {type(config).__name__}")
    seed = check_seed(seed)
    params = params.with_impact(False)
    init, run_chunk = make_train(config, params)
    runner = init(jax.random.key(seed))
    history: list[dict[str, np.ndarray]] = []
    done = 0
    while done < config.n_updates:
        chunk = min(config.updates_per_call, config.n_updates - done)
        if chunk != config.updates_per_call:  # the tail: a shorter scan, compiled once more
            runner, metrics = _short_chunk(config, params, chunk)(runner)
        else:
            runner, metrics = run_chunk(runner)
        metrics = jax.device_get(metrics)
        history.append(metrics)
        done += chunk
        if progress is not None:
            progress(done, config.n_updates, {k: float(v[-1]) for k, v in metrics.items()})
    merged = {k: np.concatenate([h[k] for h in history]) for k in history[0]}
    steps = config.n_updates * config.n_envs * config.rollout_episodes * params.horizon
    return TrainResult(PPOPolicy(runner.network), merged, steps, config, seed)


def _short_chunk(config: PPOConfig, params: EnvParams, length: int) -> Callable:
    _, run = make_train(dataclasses.replace(config, updates_per_call=length), params)
    return run
