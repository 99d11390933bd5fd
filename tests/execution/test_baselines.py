"""The execution baselines: exact schedules, the Almgren-Chriss closed form, env behaviour."""

from __future__ import annotations

import dataclasses
import itertools
import math
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from riskengine.execution import env
from riskengine.execution.baselines import (
    TWAP,
    URGENCY_INDEX,
    VWAP,
    AdaptiveAlmgrenChriss,
    AlmgrenChriss,
    default_baselines,
)
from riskengine.execution.impact import ImpactEstimate
from riskengine.execution.policy import ExecutionPolicy
from riskengine.risk.execution_params import urgency_array

ETA, GAMMA, SIGMA = 0.001, 0.0012, 0.0085  # about the regime_switching book's estimates


@pytest.fixture(scope="module")
def params() -> env.EnvParams:
    return env.make_params("regime_switching")


@pytest.fixture(scope="module")
def start(params):
    """A real episode start (obs, state) to build exact-fill schedules from."""
    return env.reset(jax.random.key(0), params)


def _estimate() -> ImpactEstimate:
    return ImpactEstimate(
        eta=ETA,
        gamma=GAMMA,
        sigma=SIGMA,
        half_spread=0.005,
        quoted_half_spread=0.006,
        eta_stderr=0.0,
        gamma_stderr=0.0,
        sigma_stderr=0.0,
        half_spread_stderr=0.0,
        quoted_half_spread_stderr=0.0,
        temporary_r2=0.1,
        permanent_r2=0.1,
        permanent_intercept=0.0,
        n_episodes=1,
        n_probes=1,
        max_probe=1,
        probe_probability=1.0,
        tick_size=0.01,
    )


def _exact_schedule(policy, params, start, parent, *, urgency=0.0, variance=None):
    """Children (lots) and fractions when every child fills exactly, by the env's own rounding."""
    obs, state = start
    obs = obs.at[URGENCY_INDEX].set(urgency)
    state = dataclasses.replace(state, parent=jnp.int32(parent), filled=jnp.int32(0))
    if variance is not None:
        state = dataclasses.replace(state, variance=jnp.float32(variance))
    children, fractions = [], []
    for k in range(params.horizon):
        state = dataclasses.replace(state, step=jnp.int32(k))
        action = policy.act(jax.random.key(k), obs, state, params)
        _, child = env._book_action(action, state)
        fractions.append(float(action.fraction))
        children.append(int(child))
        state = dataclasses.replace(state, filled=state.filled + child)
    return np.array(children), np.array(fractions)


def _flat(params, events_per_step=20):
    return dataclasses.replace(
        params, events=jnp.full((params.horizon,), events_per_step, jnp.int32)
    )


def _risk_aversion_for(kappa, eta_tilde, sigma):
    """The lambda whose discrete-time AC kappa is ``kappa``: cosh(kappa) = 1 + kappa_tilde^2 / 2."""
    kappa_tilde_squared = 2.0 * (math.cosh(kappa) - 1.0)
    return kappa_tilde_squared * eta_tilde / sigma**2


# --------------------------------------------------------------------------- schedules
def _holdings(parent, children):
    return parent - np.concatenate([[0], np.cumsum(children)])


def test_twap_trades_evenly_when_the_horizon_divides_the_order(params, start):
    children, fractions = _exact_schedule(TWAP(), params, start, parent=3 * params.horizon)
    assert children.tolist() == [3] * params.horizon
    assert fractions[-1] == 1.0


@pytest.mark.parametrize("parent", [3, 7, 47, 53])
def test_twap_stays_within_half_a_lot_of_the_even_schedule(params, start, parent):
    children, _ = _exact_schedule(TWAP(), params, start, parent=parent)
    horizon = params.horizon
    ideal = parent * (horizon - np.arange(horizon + 1)) / horizon
    assert np.all(np.abs(_holdings(parent, children) - ideal) <= 0.5 + 1e-6)
    assert children.sum() == parent and children.max() - children.min() <= 1


def test_twap_spreads_a_small_order_over_the_horizon(params, start):
    # Rounding a fraction of the remainder would wait until six steps remain.
    children, _ = _exact_schedule(TWAP(), params, start, parent=3)
    assert np.flatnonzero(children).tolist() == [3, 10, 16]


def test_vwap_follows_the_volume_profile(params, start):
    events = np.asarray(params.events)
    assert events.std() > 0  # the U-shaped profile, so this differs from TWAP
    for multiple in (1, 3):
        children, _ = _exact_schedule(VWAP(), params, start, parent=multiple * events.sum())
        np.testing.assert_array_equal(children, multiple * events)
    parent = 37
    children, _ = _exact_schedule(VWAP(), params, start, parent=parent)
    ideal = parent * np.concatenate([np.cumsum(events[::-1])[::-1], [0]]) / events.sum()
    assert np.all(np.abs(_holdings(parent, children) - ideal) <= 0.5 + 1e-6)


def test_ac_without_risk_aversion_is_twap(params, start):
    twap, _ = _exact_schedule(TWAP(), params, start, parent=53)
    ac = AlmgrenChriss(eta=ETA, gamma=GAMMA, sigma=SIGMA, risk_aversion=0.0)
    np.testing.assert_array_equal(_exact_schedule(ac, params, start, parent=53)[0], twap)
    # Vanishing (not zero) risk aversion: the same holdings to float32 precision.
    tiny = AlmgrenChriss(eta=ETA, gamma=GAMMA, sigma=SIGMA, risk_aversion=1e-14)
    _, state = start
    for k in range(params.horizon):
        at_k = dataclasses.replace(state, step=jnp.int32(k))
        assert float(tiny.holdings_after(at_k, params)) == pytest.approx(
            float(TWAP().holdings_after(at_k, params)), abs=1e-6
        )
    twap_52, _ = _exact_schedule(TWAP(), params, start, parent=52)  # no half-lot ties
    np.testing.assert_array_equal(_exact_schedule(tiny, params, start, parent=52)[0], twap_52)


@pytest.mark.parametrize("kappa", [0.05, 0.3, 1.5])
def test_ac_follows_the_closed_form_trajectory(params, start, kappa):
    eta_tilde = ETA - GAMMA / 2
    ac = AlmgrenChriss(
        eta=ETA, gamma=GAMMA, sigma=SIGMA, risk_aversion=_risk_aversion_for(kappa, eta_tilde, SIGMA)
    )
    assert ac.kappa == pytest.approx(kappa, rel=1e-12)
    horizon = params.horizon
    k = np.arange(horizon + 1)
    closed_form = np.sinh(kappa * (horizon - k)) / np.sinh(kappa * horizon)
    np.testing.assert_allclose(ac.trajectory(1.0, horizon), closed_form, rtol=1e-12, atol=1e-15)
    # What the policy aims at after each step, in JAX (float32).
    _, state = start
    aimed = [
        float(ac.holdings_after(dataclasses.replace(state, step=jnp.int32(step)), params))
        for step in range(horizon)
    ]
    np.testing.assert_allclose(aimed, closed_form[1:], atol=1e-6)
    # And the lots it sends, with exact fills: within half a lot of X x_k.
    parent = 200
    children, _ = _exact_schedule(ac, params, start, parent=parent)
    assert np.all(np.abs(_holdings(parent, children) - parent * closed_form) <= 0.5 + 1e-4)


def test_ac_front_loads_more_as_risk_aversion_rises(params, start):
    first, trajectories = [], []
    for risk_aversion in (0.0, 0.01, 0.1, 1.0, 10.0):
        ac = AlmgrenChriss(eta=ETA, gamma=GAMMA, sigma=SIGMA, risk_aversion=risk_aversion)
        first.append(_exact_schedule(ac, params, start, parent=10_000)[0][0])
        trajectories.append(ac.trajectory(1.0, params.horizon))
    assert np.all(np.diff(first) > 0)
    interior = np.array(trajectories)[:, 1:-1]
    assert np.all(np.diff(interior, axis=0) < 0)


def test_ac_handles_extreme_kappa_without_nan(params, start):
    huge = AlmgrenChriss(eta=ETA, gamma=0.0, sigma=1.0, risk_aversion=1e6)  # kappa ~ 2 ln(3e4)
    children, fractions = _exact_schedule(huge, params, start, parent=1000)
    assert np.all(np.isfinite(fractions)) and children[0] == 1000
    assert np.all(np.isfinite(huge.trajectory(1.0, params.horizon)))


# --------------------------------------------------------------------------- adaptive AC
def _planned_holdings(policy, params, start, *, urgency=0.0, variance=0.05):
    """Holdings (fraction of X) when every planned child fills exactly and continuously."""
    obs, state = start
    obs = obs.at[URGENCY_INDEX].set(urgency)
    state = dataclasses.replace(state, variance=jnp.float32(variance))
    fractions = [
        float(policy.planned_fraction(obs, dataclasses.replace(state, step=jnp.int32(k)), params))
        for k in range(params.horizon)
    ]
    return np.concatenate([[1.0], np.cumprod(1.0 - np.asarray(fractions, dtype=np.float64))])


def test_adaptive_ac_with_no_urgency_and_constant_sigma_is_static_ac(params, start):
    flat = _flat(params)
    variance = 0.05  # ticks^2 per event
    sigma = math.sqrt(variance * 20) * float(params.book.tick_size)
    for risk_aversion in (0.01, 1.0, 30.0):
        static = AlmgrenChriss(eta=ETA, gamma=GAMMA, sigma=sigma, risk_aversion=risk_aversion)
        adaptive = AdaptiveAlmgrenChriss(eta=ETA, gamma=GAMMA, risk_aversion=risk_aversion)
        np.testing.assert_allclose(
            _planned_holdings(adaptive, flat, start, variance=variance),
            static.trajectory(1.0, params.horizon),
            atol=1e-6,
        )


def test_adaptive_ac_scales_risk_aversion_by_urgency(params, start):
    flat = _flat(params)
    variance, multiplier = 0.05, 4.0
    sigma = math.sqrt(variance * 20) * float(params.book.tick_size)
    adaptive = AdaptiveAlmgrenChriss(eta=ETA, gamma=GAMMA, risk_aversion=0.5, multiplier=multiplier)
    for urgency in (0.5, 1.0):
        lam = 0.5 * (1 + (multiplier - 1) * urgency)
        static = AlmgrenChriss(eta=ETA, gamma=GAMMA, sigma=sigma, risk_aversion=lam)
        np.testing.assert_allclose(
            _planned_holdings(adaptive, flat, start, urgency=urgency, variance=variance),
            static.trajectory(1.0, params.horizon),
            atol=1e-6,
        )
    calm = _planned_holdings(adaptive, flat, start, urgency=0.0, variance=variance)
    urgent = _planned_holdings(adaptive, flat, start, urgency=1.0, variance=variance)
    assert np.all(urgent[1:-1] < calm[1:-1])


def test_adaptive_ac_rounds_its_child_without_bias(params, start):
    obs, state = start
    policy = AdaptiveAlmgrenChriss(eta=ETA, gamma=GAMMA, risk_aversion=0.01)
    state = dataclasses.replace(state, parent=jnp.int32(7), filled=jnp.int32(2))
    planned = float(policy.planned_fraction(obs, state, params)) * 5
    assert 0.0 < planned < 0.5  # rounding to nearest would send nothing
    keys = jax.random.split(jax.random.key(3), 4000)
    act = jax.jit(jax.vmap(policy.act, in_axes=(0, None, None, None)))
    actions = act(keys, obs, state, params)
    children = np.floor(np.asarray(actions.fraction) * 5 + 0.5)
    assert set(np.unique(children)) <= {0.0, 1.0}
    assert children.mean() == pytest.approx(planned, abs=4 * math.sqrt(planned / 4000))


def test_adaptive_ac_plans_with_the_mean_clock_of_the_remaining_steps(params, start):
    _, state = start
    adaptive = AdaptiveAlmgrenChriss(eta=ETA, gamma=GAMMA, risk_aversion=0.01)
    events = np.asarray(params.events, dtype=np.float64)
    tick = float(params.book.tick_size)
    for k in (0, 7, params.horizon - 1):
        at_k = dataclasses.replace(state, step=jnp.int32(k), variance=jnp.float32(0.04))
        expected = math.sqrt(0.04 * events[k:].mean()) * tick
        assert float(adaptive.volatility(at_k, params)) == pytest.approx(expected, rel=1e-5)
    nan_state = dataclasses.replace(state, variance=jnp.float32(np.nan))
    assert np.isfinite(float(adaptive.volatility(nan_state, params)))


def test_the_urgency_index_is_the_envs_urgency(params, start):
    obs, state = start
    expected = urgency_array(
        params.urgency,
        jnp.sqrt(state.variance / params.reference_variance),
        1.0 - state.regime_proba[0],
        xp=jnp,
    )
    assert float(obs[URGENCY_INDEX]) == pytest.approx(float(expected), abs=1e-6)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    [
        (AlmgrenChriss, {"eta": -1.0}, "eta"),
        (AlmgrenChriss, {"eta": 0.0}, "eta"),
        (AlmgrenChriss, {"eta": float("nan")}, "eta"),
        (AlmgrenChriss, {"gamma": -0.1}, "gamma"),
        (AlmgrenChriss, {"gamma": 2 * ETA}, "gamma"),
        (AlmgrenChriss, {"sigma": float("nan")}, "sigma"),
        (AlmgrenChriss, {"sigma": -0.01}, "sigma"),
        (AlmgrenChriss, {"risk_aversion": float("inf")}, "risk_aversion"),
        (AlmgrenChriss, {"risk_aversion": -1.0}, "risk_aversion"),
        (AdaptiveAlmgrenChriss, {"eta": float("nan")}, "eta"),
        (AdaptiveAlmgrenChriss, {"gamma": 3 * ETA}, "gamma"),
        (AdaptiveAlmgrenChriss, {"risk_aversion": -0.5}, "risk_aversion"),
        (AdaptiveAlmgrenChriss, {"multiplier": 0.9}, "multiplier"),
        (AdaptiveAlmgrenChriss, {"multiplier": float("nan")}, "multiplier"),
    ],
)
def test_bad_hyper_parameters_name_the_field(cls, kwargs, field):
    base = {"eta": ETA, "gamma": GAMMA, "risk_aversion": 0.01}
    if cls is AlmgrenChriss:
        base["sigma"] = SIGMA
    with pytest.raises(ValueError, match=f"^{field}: "):
        cls(**{**base, **kwargs})


def test_policies_are_protocol_conforming_hashable_and_picklable(params):
    policies = default_baselines(params, _estimate())
    assert list(policies) == ["twap", "vwap", "almgren_chriss", "adaptive_ac"]
    for name, policy in policies.items():
        assert isinstance(policy, ExecutionPolicy) and policy.name == name
        assert hash(policy) == hash(pickle.loads(pickle.dumps(policy)))  # usable as a static arg
    assert policies["almgren_chriss"].risk_aversion == pytest.approx(float(params.risk_aversion))
    assert policies["adaptive_ac"].multiplier == params.urgency.max_risk_aversion_multiplier


# --------------------------------------------------------------------------- in the env
@pytest.fixture(scope="module")
def rollouts(params):
    """Two real episodes per baseline: (policy, per-step records, final state and info)."""
    out = {}
    for name, policy in default_baselines(params, _estimate()).items():
        act = jax.jit(policy.act)
        episodes = []
        for seed in (1, 2):
            obs, state = env.reset(jax.random.key(seed), params)
            steps = []
            for k in range(params.horizon):
                action = act(jax.random.key(100 + k), obs, state, params)
                remaining = int(state.parent - state.filled)
                new_obs, new_state, _, done, info = env.step(
                    jax.random.key(1000 * seed + k), state, action, params
                )
                steps.append((obs, state, action, remaining))
                obs, state = new_obs, new_state
            episodes.append((steps, state, info, done))
        out[name] = (policy, episodes)
    return out


def test_every_baseline_completes_the_order_itself(rollouts, params):
    for name, (_, episodes) in rollouts.items():
        for steps, state, info, done in episodes:
            assert bool(done), name
            assert int(state.filled) == int(state.parent) and int(info["unfilled"]) == 0, name
            # The policy sends the whole remainder at the last step: nothing is left to sweep.
            if steps[-1][3] > 0:
                assert float(steps[-1][2].fraction) == 1.0, name
            for (_, before, action, remaining), (_, after, _, _) in itertools.pairwise(steps):
                fraction = float(action.fraction)
                assert 0.0 <= fraction <= 1.0, name
                assert int(after.filled - before.filled) <= remaining, name


def test_jit_and_eager_agree(rollouts, params):
    for name, (policy, episodes) in rollouts.items():
        act = jax.jit(policy.act)
        for obs, state, _, _ in episodes[0][0][::4]:
            key = jax.random.key(0)
            eager = policy.act(key, obs, state, params)
            jitted = act(key, obs, state, params)
            assert int(eager.style) == int(jitted.style) == env.MARKET, name
            assert float(eager.fraction) == pytest.approx(float(jitted.fraction), rel=1e-6), name


def test_vmap_equals_a_loop(rollouts, params):
    for name, (policy, episodes) in rollouts.items():
        steps = (episodes[0][0] + episodes[1][0])[::2]
        obs = jnp.stack([s[0] for s in steps])
        states = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[s[1] for s in steps])
        keys = jax.random.split(jax.random.key(0), len(steps))
        batched = jax.jit(jax.vmap(policy.act, in_axes=(0, 0, 0, None)))(keys, obs, states, params)
        act = jax.jit(policy.act)
        looped = [act(keys[i], obs[i], steps[i][1], params) for i in range(len(steps))]
        np.testing.assert_allclose(
            np.asarray(batched.fraction), [float(a.fraction) for a in looped], rtol=1e-6
        )
        assert np.all(np.asarray(batched.style) == env.MARKET), name


def test_fractions_stay_in_range_for_odd_states(params, start):
    obs, state = start
    odd = [
        dataclasses.replace(state, variance=jnp.float32(v))
        for v in (0.0, 1e-30, 1e30, np.inf, np.nan, -1.0)
    ]
    odd += [dataclasses.replace(state, step=jnp.int32(s)) for s in (params.horizon, 10**6)]
    odd += [dataclasses.replace(state, filled=state.parent)]
    for policy in default_baselines(params, _estimate()).values():
        for candidate in odd:
            for urgency in (0.0, 1.0, np.nan):
                fraction = float(
                    policy.act(
                        jax.random.key(0), obs.at[URGENCY_INDEX].set(urgency), candidate, params
                    ).fraction
                )
                assert 0.0 <= fraction <= 1.0, (policy.name, candidate.variance, urgency)
