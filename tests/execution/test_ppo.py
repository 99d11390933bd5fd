"""PPO training: bit-reproducible, chunking-invariant, and strict about its configuration.

Each :func:`train` call compiles its own program (~10 s here), so the four
training runs the tests compare are made once, in a module fixture.
"""

from __future__ import annotations

import dataclasses
import tomllib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from riskengine.execution import env as E
from riskengine.execution.actions import N_ACTIONS
from riskengine.execution.ppo import PPOConfig, PPOPolicy, TrainResult, init_network, train
from riskengine.sim.specs import ScenarioSpec, spec_directory

BOOK = tomllib.loads((spec_directory() / "regime_switching.toml").read_text())["book"]
# No warm-up: the reset program then has no event loop, which takes ~3 s off each
# of the four compilations; the training mechanics under test do not care.
SMALL = {"horizon_steps": 4, "events_per_step": 10, "warmup_events": 0}
SMALL["order_size_fraction"] = [1.0, 3.0]
TINY = {"n_envs": 8, "n_updates": 2, "hidden": (8,)}


@pytest.fixture(scope="module")
def params() -> E.EnvParams:
    spec = ScenarioSpec.from_dict({"name": "tiny_execution", "book": BOOK, "execution": SMALL})
    return E.make_params(spec)


@pytest.fixture(scope="module")
def runs(params: E.EnvParams) -> dict[str, tuple[TrainResult, list]]:
    """Four tiny training runs, each with the progress reports it made."""
    out = {}
    for name, seed, per_call in (
        ("seed0", 0, 2),
        ("seed0_again", 0, 2),
        ("seed0_chunked", 0, 1),
        ("seed1", 1, 2),
    ):
        reports: list = []
        config = PPOConfig(**TINY, updates_per_call=per_call)
        result = train(config, params, seed, progress=lambda *a, r=reports: r.append(a))
        out[name] = (result, reports)
    return out


def _leaves(result: TrainResult) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(result.policy.network)]


def _bitwise_equal(a: TrainResult, b: TrainResult) -> bool:
    la, lb = _leaves(a), _leaves(b)
    if len(la) != len(lb) or a.metrics.keys() != b.metrics.keys():
        return False
    same = [x.dtype == y.dtype and x.tobytes() == y.tobytes() for x, y in zip(la, lb, strict=True)]
    return all(same) and all(a.metrics[k].tobytes() == b.metrics[k].tobytes() for k in a.metrics)


# --------------------------------------------------------------------------- training
def test_training_is_bit_reproducible_for_a_seed(runs) -> None:
    first, again = runs["seed0"][0], runs["seed0_again"][0]
    assert _bitwise_equal(first, again)
    assert first.env_steps == 2 * 8 * 1 * 4
    assert {k: v.shape for k, v in first.metrics.items()} == {
        k: (2,)
        for k in ("mean_is_bps", "mean_return", "entropy", "value_loss", "policy_loss", "approx_kl")
    }
    assert all(np.isfinite(v).all() for v in first.metrics.values())


def test_another_seed_trains_another_policy(runs) -> None:
    first, other = runs["seed0"][0], runs["seed1"][0]
    assert not _bitwise_equal(first, other)
    # Every array that starts random differs (the biases start at zero in both).
    for x, y in zip(_leaves(first), _leaves(other), strict=True):
        assert not np.array_equal(x, y)
    assert not np.array_equal(first.metrics["mean_is_bps"], other.metrics["mean_is_bps"])


def test_chunking_does_not_change_the_result(runs) -> None:
    one_scan, chunked = runs["seed0"][0], runs["seed0_chunked"][0]
    assert one_scan.config.updates_per_call == 2 and chunked.config.updates_per_call == 1
    assert _bitwise_equal(one_scan, chunked)
    # Training moved every array (so the equality above is not two untouched inits).
    init = init_network(jax.random.split(jax.random.key(0))[0], (8,))  # what train starts from
    for x, y in zip(_leaves(one_scan), jax.tree.leaves(init), strict=True):
        assert not np.array_equal(x, y)


def test_progress_reports_each_chunk(runs) -> None:
    _, reports = runs["seed0_chunked"]
    assert [(done, total) for done, total, _ in reports] == [(1, 2), (2, 2)]
    result = runs["seed0_chunked"][0]
    for index, (_, _, metrics) in enumerate(reports):
        assert set(metrics) == set(result.metrics)
        assert all(type(v) is float for v in metrics.values())
        assert metrics["mean_is_bps"] == float(result.metrics["mean_is_bps"][index])
    _, one_call = runs["seed0"]
    assert [(done, total) for done, total, _ in one_call] == [(2, 2)]


# --------------------------------------------------------------------------- policy
def test_policy_act_gives_valid_actions_under_vmap(params: E.EnvParams) -> None:
    # act reads only the observation and the step count: a zero state of the right
    # shapes will do (and needs no compilation of the environment).
    shapes = jax.eval_shape(E.reset_env, jax.random.key(0), params)[1]
    state = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
    n = 6
    states = jax.tree.map(lambda x: jnp.stack([x] * n), state)
    states = dataclasses.replace(states, step=jnp.arange(n, dtype=jnp.int32) % 4)
    rng = np.random.default_rng(0)
    obs = jnp.asarray(rng.normal(scale=5.0, size=(n, E.N_OBS)), jnp.float32)
    keys = jax.random.split(jax.random.key(1), n)
    network = init_network(jax.random.key(2), (8,))
    for policy in (PPOPolicy(network), PPOPolicy(network, name="rl_sampled", sample=True)):
        batched = jax.jit(jax.vmap(policy.act, in_axes=(0, 0, 0, None)))(keys, obs, states, params)
        assert isinstance(batched, E.ExecutionAction)
        assert batched.fraction.shape == batched.style.shape == (n,)
        assert batched.fraction.dtype == jnp.float32 and batched.style.dtype == jnp.int32
        fraction, style = np.asarray(batched.fraction), np.asarray(batched.style)
        assert np.isfinite(fraction).all() and ((fraction >= 0) & (fraction <= 1)).all()
        assert ((style >= 0) & (style < E.N_STYLES)).all()
        for i in range(n):  # the batch is n independent calls
            one = policy.act(keys[i], obs[i], jax.tree.map(lambda x, i=i: x[i], states), params)
            assert float(one.fraction) == pytest.approx(float(fraction[i]), abs=1e-7)
            assert int(one.style) == int(style[i])
        indices = jax.vmap(policy.action_index)(keys, obs)
        assert ((np.asarray(indices) >= 0) & (np.asarray(indices) < N_ACTIONS)).all()


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("values", "error", "field"),
    [
        ({"n_envs": 0}, ValueError, r"ppo\.n_envs"),
        ({"n_envs": 8.0}, TypeError, r"ppo\.n_envs"),
        ({"rollout_episodes": 0}, ValueError, r"ppo\.rollout_episodes"),
        ({"n_updates": -1}, ValueError, r"ppo\.n_updates"),
        ({"update_epochs": True}, TypeError, r"ppo\.update_epochs"),
        ({"n_minibatches": 0}, ValueError, r"ppo\.n_minibatches"),
        ({"updates_per_call": 0}, ValueError, r"ppo\.updates_per_call"),
        ({"learning_rate": -1e-3}, ValueError, r"ppo\.learning_rate"),
        ({"learning_rate": float("nan")}, ValueError, r"ppo\.learning_rate"),
        ({"gamma": 1.01}, ValueError, r"ppo\.gamma"),
        ({"gae_lambda": -0.1}, ValueError, r"ppo\.gae_lambda"),
        ({"clip_eps": 2.0}, ValueError, r"ppo\.clip_eps"),
        ({"entropy_coef": "0.01"}, TypeError, r"ppo\.entropy_coef"),
        ({"value_coef": -1.0}, ValueError, r"ppo\.value_coef"),
        ({"max_grad_norm": float("inf")}, ValueError, r"ppo\.max_grad_norm"),
        ({"anneal_lr": 1}, TypeError, r"ppo\.anneal_lr"),
        ({"hidden": ()}, ValueError, r"ppo\.hidden"),
        ({"hidden": "64"}, ValueError, r"ppo\.hidden"),
        ({"hidden": 64}, ValueError, r"ppo\.hidden"),
        ({"hidden": (8, 0)}, ValueError, r"ppo\.hidden\[1\]"),
        ({"hidden": (8, 2.5)}, TypeError, r"ppo\.hidden\[1\]"),
    ],
)
def test_config_refuses_bad_values_by_field(values, error, field) -> None:
    with pytest.raises(error, match=field):
        PPOConfig(**values)


def test_from_mapping_round_trips_and_refuses_unknown_keys() -> None:
    config = PPOConfig(**TINY, learning_rate=1e-3, anneal_lr=False)
    table = config.to_mapping()
    assert table["hidden"] == [8]
    assert PPOConfig.from_mapping(table) == config
    with pytest.raises(ValueError, match=r"ppo: unknown key\(s\) \['lr'\]"):
        PPOConfig.from_mapping({**table, "lr": 1e-3})
    with pytest.raises(ValueError, match=r"ppo\.gamma"):
        PPOConfig.from_mapping({"gamma": 2.0})
    with pytest.raises(TypeError):
        PPOConfig(8)  # keyword-only
    with pytest.raises(AttributeError):
        config.n_envs = 4  # frozen


def test_minibatches_must_divide_the_batch(params: E.EnvParams) -> None:
    # 8 envs x 1 episode x 4 steps = 32 transitions: 3 minibatches do not divide them.
    config = PPOConfig(**TINY, n_minibatches=3)
    with pytest.raises(ValueError, match=r"ppo\.n_minibatches.*32"):
        train(config, params, 0)


def test_train_refuses_bad_arguments(params: E.EnvParams) -> None:
    config = PPOConfig(**TINY)
    with pytest.raises(TypeError, match="config"):
        train(TINY, params, 0)
    with pytest.raises(TypeError, match="params"):
        train(config, "tiny_execution", 0)
    with pytest.raises(ValueError, match="seed"):
        train(config, params, -1)
    with pytest.raises(ValueError, match="seed"):
        train(config, params, 2**32)
    with pytest.raises(TypeError, match="seed"):
        train(config, params, 1.0)
