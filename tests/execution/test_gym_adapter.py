"""The gymnasium adapter is the pure JAX environment behind the gymnasium API, nothing more."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from riskengine.execution import env as pure  # noqa: E402
from riskengine.execution.actions import ACTION_NAMES, N_ACTIONS, discrete_action  # noqa: E402
from riskengine.execution.gym_adapter import (  # noqa: E402
    OBS_HIGH,
    OBS_LOW,
    OBS_NAMES,
    ExecutionGymEnv,
)

MARKET_X1 = ACTION_NAMES.index("market x1")


@pytest.fixture(scope="module")
def params() -> pure.EnvParams:
    return pure.make_params("regime_switching")


def _same_step(a: tuple, b: tuple) -> None:
    """Two ``step`` results are identical (observation bit for bit)."""
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1:] == b[1:]


def test_check_env_passes(params: pure.EnvParams) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The one expected warning (filters added later take precedence): render
        # modes cannot be tested without gymnasium.make.
        warnings.filterwarnings("ignore", message=".*alternative render modes.*")
        check_env(ExecutionGymEnv(params=params, seed=0))


def test_spaces_match_the_environment(params: pure.EnvParams) -> None:
    env = ExecutionGymEnv(params=params)
    assert env.action_space == gymnasium.spaces.Discrete(N_ACTIONS)
    assert env.observation_space.shape == (pure.N_OBS,) == OBS_LOW.shape
    assert env.observation_space.dtype == np.float32
    assert len(OBS_NAMES) == pure.N_OBS
    assert (OBS_LOW < OBS_HIGH).all()


def test_observations_stay_in_the_box_under_random_actions(params: pure.EnvParams) -> None:
    env = ExecutionGymEnv(params=params, seed=11)
    for _ in range(3):
        obs, _ = env.reset()
        assert obs in env.observation_space
        terminated = False
        while not terminated:
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            assert obs in env.observation_space, dict(zip(OBS_NAMES, obs, strict=True))
            assert truncated is False


def test_seeded_resets_are_reproducible(params: pure.EnvParams) -> None:
    env = ExecutionGymEnv(params=params)
    first = env.reset(seed=5)
    steps = [env.step(MARKET_X1) for _ in range(3)]
    again = env.reset(seed=5)
    np.testing.assert_array_equal(first[0], again[0])
    assert first[1] == again[1]
    for expected in steps:
        _same_step(env.step(MARKET_X1), expected)
    # The constructor's seed makes an unseeded first reset reproducible too.
    a, b = ExecutionGymEnv(params=params, seed=9), ExecutionGymEnv(params=params, seed=9)
    np.testing.assert_array_equal(a.reset()[0], b.reset()[0])
    key_a, key_b = jax.random.key_data(a.episode_key), jax.random.key_data(b.episode_key)
    assert key_a.tolist() == key_b.tolist()
    # Successive unseeded resets draw new episodes.
    assert not np.array_equal(jax.random.key_data(a.episode_key), _next_key_data(a))


def _next_key_data(env: ExecutionGymEnv) -> np.ndarray:
    env.reset()
    return np.asarray(jax.random.key_data(env.episode_key))


def test_twap_episode_terminates_at_the_horizon_and_rewards_sum_to_minus_is(
    params: pure.EnvParams,
) -> None:
    env = ExecutionGymEnv(params=params)
    _, reset_info = env.reset(seed=3)
    total = 0.0
    for k in range(params.horizon):
        obs, reward, terminated, truncated, info = env.step(MARKET_X1)
        assert isinstance(reward, float) and type(terminated) is bool and truncated is False
        assert terminated == (k == params.horizon - 1)
        total += reward
    assert info["filled"] == info["parent"] == reset_info["parent"]
    assert info["completed"] is True
    assert abs(total + info["is_bps"]) < 1e-3
    assert obs[0] == 0.0  # no time left
    for name, value in info.items():
        assert type(value) in (float, int, bool), name
    # A finished episode stays finished.
    _, reward, terminated, _, after = env.step(MARKET_X1)
    assert (reward, terminated, after) == (0.0, True, info)


@pytest.mark.parametrize(
    "bad", [-1, N_ACTIONS, 2.0, "1", None, True, np.float32(1), np.array([1]), np.int64(99)]
)
def test_invalid_actions_raise_and_leave_the_episode_unchanged(
    params: pure.EnvParams, bad: object
) -> None:
    env, fresh = ExecutionGymEnv(params=params), ExecutionGymEnv(params=params)
    env.reset(seed=21)
    fresh.reset(seed=21)
    _same_step(env.step(MARKET_X1), fresh.step(MARKET_X1))
    with pytest.raises(ValueError, match="action"):
        env.step(bad)
    for action in (0, np.int64(5), np.array(16)):  # also the integer types sb3 passes
        _same_step(env.step(action), fresh.step(action))


def test_step_before_reset_and_bad_arguments_are_refused(params: pure.EnvParams) -> None:
    env = ExecutionGymEnv(params=params)
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step(0)
    with pytest.raises(ValueError, match="options"):
        env.reset(options={"horizon": 3})
    with pytest.raises(ValueError, match="spec"):
        ExecutionGymEnv("other_scenario", params=params)
    with pytest.raises(TypeError, match="params"):
        ExecutionGymEnv(params="regime_switching")
    assert ExecutionGymEnv(params=params, track_impact=True).params.track_impact is True
    assert env.action_name(MARKET_X1) == "market x1"


def test_trajectory_equals_the_pure_jax_environment(params: pure.EnvParams) -> None:
    env = ExecutionGymEnv(params=params)
    obs, info = env.reset(seed=17)
    # The documented key sequence, replayed through the public pure API.
    reset_key, key = jax.random.split(env.episode_key)
    pure_obs, state = pure.reset(reset_key, params)
    np.testing.assert_allclose(obs, pure_obs, rtol=1e-6, atol=1e-6)
    assert info == {"side": int(state.side), "parent": int(state.parent)}
    actions = np.random.default_rng(0).integers(0, N_ACTIONS, params.horizon)
    for index in actions:
        key, step_key = jax.random.split(key)
        action = discrete_action(jax.numpy.int32(index), params.horizon - state.step)
        pure_obs, state, pure_reward, pure_done, pure_info = pure.step(
            step_key, state, action, params
        )
        obs, reward, terminated, _, info = env.step(int(index))
        np.testing.assert_allclose(obs, pure_obs, rtol=1e-6, atol=1e-6)
        assert reward == pytest.approx(float(pure_reward), rel=1e-6, abs=1e-6)
        assert terminated == bool(pure_done)
        for name, value in pure_info.items():
            assert info[name] == pytest.approx(value.item(), rel=1e-6, abs=1e-6), name
        assert int(env.state.filled) == int(state.filled)
    assert terminated
