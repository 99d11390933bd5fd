"""Dynamic limit transforms: behaviour, batch == step loop, configs, derivations."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskengine.errors import InvalidConfig, InvalidInput
from riskengine.risk.limits import (
    ChangepointState,
    DynamicLimitsConfig,
    LimitChain,
    LimitInputs,
    Limits,
    chain,
    changepoint_tighten,
    clamp,
    clamp_to_hard_limits,
    limit_chain,
    regime_haircut,
    smooth,
    unit_gross_var,
    var_budget,
    vol_target,
)

RTOL = 1e-10


# ----------------------------------------------------------------------------- helpers


def step_inputs(batch: LimitInputs, t: int) -> LimitInputs:
    return LimitInputs(
        batch.volatility[t].copy(),
        float(batch.var_per_gross[t]),
        float(batch.stressed_proba[t]),
        bool(batch.changepoint[t]),
    )


def step_limits(batch: Limits, t: int) -> Limits:
    return Limits(
        batch.position[t].copy(), float(batch.gross[t]), float(batch.net[t]), batch.order[t].copy()
    )


def stack(steps: list[Limits]) -> Limits:
    return Limits(*(np.array([getattr(s, f) for s in steps]) for f in Limits._fields))


def step_loop(transform, inputs: LimitInputs, limits: Limits, state):
    """The reference: ``update`` once per step."""
    out = []
    for t in range(len(inputs.var_per_gross)):
        result, state = transform.update(step_inputs(inputs, t), step_limits(limits, t), state)
        out.append(result)
    return stack(out), state


def leaves(tree) -> list:
    if isinstance(tree, tuple):
        return [leaf for item in tree for leaf in leaves(item)]
    return [tree]


def assert_limits_close(actual: Limits, expected: Limits) -> None:
    for field in Limits._fields:
        np.testing.assert_allclose(
            getattr(actual, field), getattr(expected, field), rtol=RTOL, atol=0, err_msg=field
        )


def assert_states_close(actual, expected) -> None:
    actual, expected = leaves(actual), leaves(expected)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=RTOL, atol=0)


def random_inputs(rng: np.random.Generator, n_steps: int, n_assets: int, bad: float) -> LimitInputs:
    """Model outputs as an engine would see them, with a fraction ``bad`` of unusable values."""
    volatility = 0.02 * np.exp(np.cumsum(rng.normal(0, 0.2, (n_steps, n_assets)), axis=0))
    var_per_gross = 0.03 * np.exp(np.cumsum(rng.normal(0, 0.2, n_steps)))
    proba = rng.uniform(-0.1, 1.1, n_steps)
    for array in (volatility, var_per_gross, proba):
        mask = rng.random(array.shape) < bad
        array[mask] = rng.choice([np.nan, 0.0, -0.01, np.inf], size=mask.sum())
    return LimitInputs(volatility, var_per_gross, proba, rng.random(n_steps) < 0.15)


def random_limits(rng: np.random.Generator, n_steps: int, n_assets: int, bad: float) -> Limits:
    """Incoming limits around 1e6 (a dynamic range of ~1e3), with some 0 and inf."""

    def draw(shape):
        values = 1e6 * np.exp(rng.normal(0, 1.5, shape))
        mask = rng.random(shape) < bad
        values[mask] = rng.choice([0.0, np.inf], size=mask.sum())
        return values

    return Limits(
        draw((n_steps, n_assets)), draw(n_steps), draw(n_steps), draw((n_steps, n_assets))
    )


def bounds(n_assets: int) -> tuple[Limits, Limits]:
    floor = Limits(np.full(n_assets, 1e5), 5e5, 2e5, np.full(n_assets, 1e4))
    ceiling = Limits(np.full(n_assets, 3e6), 8e6, np.inf, np.full(n_assets, 4e5))
    return floor, ceiling


TRANSFORMS = {
    "vol_target": lambda n: vol_target(21_600.0, 0.2),
    "var_budget": lambda n: var_budget(50_000.0),
    "regime_haircut": lambda n: regime_haircut(0.3),
    "changepoint_tighten": lambda n: changepoint_tighten(0.4, 5),
    "smooth": lambda n: smooth(3.0),
    "smooth_symmetric": lambda n: smooth(2.0, mode="symmetric"),
    "smooth_slow": lambda n: smooth(400.0),
    "clamp": lambda n: clamp(*bounds(n)),
    "hard_limits": lambda n: clamp_to_hard_limits(Limits(np.full(n, 2e6), 6e6, 1e6, 3e5)),
}


def standard_chain(n_assets: int, **overrides) -> LimitChain:
    config = DynamicLimitsConfig(
        **{"risk_budget": 21_600.0, "var_budget": 50_000.0, "recovery_steps": 5} | overrides
    )
    return limit_chain(config, Limits(np.full(n_assets, 2e6), 8e6, 3e6, 5e5))


# --------------------------------------------------------------- batch == step loop


@pytest.mark.parametrize("name", list(TRANSFORMS))
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_steps=st.integers(1, 40),
    n_assets=st.integers(1, 4),
    bad=st.sampled_from([0.0, 0.1, 0.3]),
    split=st.integers(0, 40),
)
def test_batch_equals_step_loop(name, seed, n_steps, n_assets, bad, split):
    """Every transform: the batch path from any state == update in a loop, to 1e-10."""
    rng = np.random.default_rng(seed)
    transform = TRANSFORMS[name](n_assets)
    inputs = random_inputs(rng, n_steps, n_assets, bad)
    limits = random_limits(rng, n_steps, n_assets, bad)
    # Start the batch from a state reached by stepping, not only from init.
    warm_inputs = random_inputs(rng, split, n_assets, bad)
    _, state = step_loop(
        transform, warm_inputs, random_limits(rng, split, n_assets, bad), transform.init(n_assets)
    )
    expected, expected_state = step_loop(transform, inputs, limits, state)
    actual, actual_state = transform.update_batch(inputs, limits, state)
    assert_limits_close(actual, expected)
    assert_states_close(actual_state, expected_state)


@pytest.mark.parametrize("mode", ["asymmetric", "symmetric"])
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_steps=st.integers(1, 30),
    special=st.lists(st.sampled_from([0.0, np.inf, np.nan]), max_size=4),
)
def test_smooth_batch_handles_zero_inf_nan_like_the_step_path(mode, seed, n_steps, special):
    """Unbounded values reset the smoother, NaN sticks, zeros are exact: batch == loop."""
    rng = np.random.default_rng(seed)
    limits = random_limits(rng, n_steps, 2, 0.0)
    for value in special:
        limits.position[rng.integers(n_steps), rng.integers(2)] = value
        limits.gross[rng.integers(n_steps)] = value
    transform = smooth(1.5, mode=mode)
    inputs = random_inputs(rng, n_steps, 2, 0.0)
    expected, expected_state = step_loop(transform, inputs, limits, transform.init(2))
    actual, actual_state = transform.update_batch(inputs, limits, transform.init(2))
    assert_limits_close(actual, expected)
    assert_states_close(actual_state, expected_state)


def test_smooth_batch_is_exact_over_long_histories():
    """Many blocks (halflife 1: 332 steps a block) and a large dynamic range stay at 1e-10."""
    rng = np.random.default_rng(3)
    n_steps = 3_000
    limits = random_limits(rng, n_steps, 3, 0.01)
    for mode in ("asymmetric", "symmetric"):
        transform = smooth(1.0, mode=mode)
        inputs = random_inputs(rng, n_steps, 3, 0.0)
        expected, expected_state = step_loop(transform, inputs, limits, transform.init(3))
        actual, actual_state = transform.update_batch(inputs, limits, transform.init(3))
        assert_limits_close(actual, expected)
        assert_states_close(actual_state, expected_state)


@pytest.mark.parametrize("halflife", [1.0, 5.0, 400.0])
def test_asymmetric_smoothing_stays_exact_over_extreme_spans(halflife):
    """1e6 -> 0 -> 1 defeats a closed form that subtracts; the exact path takes those columns."""
    spike = np.concatenate([np.full(50, 1e6), np.zeros(3), np.full(40, 1.0), np.full(7, 3e6)])
    calm = 1e6 * (1.0 + 0.5 * np.sin(np.arange(spike.size)))  # a column for the fast path
    limits = Limits(np.stack([spike, calm], axis=1), spike, calm, np.stack([calm, spike], axis=1))
    transform = smooth(halflife)
    inputs = random_inputs(np.random.default_rng(0), spike.size, 2, 0.0)
    expected, expected_state = step_loop(transform, inputs, limits, transform.init(2))
    actual, actual_state = transform.update_batch(inputs, limits, transform.init(2))
    assert_limits_close(actual, expected)
    assert_states_close(actual_state, expected_state)
    assert np.all(actual.gross[50:53] == 0.0)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_steps=st.integers(1, 50),
    n_assets=st.integers(1, 4),
    bad=st.sampled_from([0.0, 0.05, 0.3]),
    mode=st.sampled_from(["asymmetric", "symmetric"]),
    halflife=st.floats(1.0, 50.0),
    split=st.integers(0, 30),
)
def test_chain_batch_equals_step_loop(seed, n_steps, n_assets, bad, mode, halflife, split):
    rng = np.random.default_rng(seed)
    rules = standard_chain(n_assets, smoothing_mode=mode, halflife_steps=halflife)
    unbounded = Limits.unbounded(n_assets, n_steps)
    _, state = step_loop(
        rules,
        random_inputs(rng, split, n_assets, bad),
        Limits.unbounded(n_assets, split),
        rules.init(n_assets),
    )
    inputs = random_inputs(rng, n_steps, n_assets, bad)
    expected, expected_state = step_loop(rules, inputs, unbounded, state)
    actual, actual_state = rules.update_batch(inputs, unbounded, state)
    assert_limits_close(actual, expected)
    assert_states_close(actual_state, expected_state)


def test_chain_batch_of_zero_steps_keeps_the_state():
    rules = standard_chain(2)
    state = rules.init(2)
    inputs = LimitInputs(np.empty((0, 2)), np.empty(0), np.empty(0), np.empty(0, dtype=bool))
    limits, new_state = rules.update_batch(inputs, Limits.unbounded(2, 0), state)
    assert limits.position.shape == (0, 2)
    assert_states_close(new_state, state)


def test_chain_batch_rejects_inconsistent_shapes_naming_the_field():
    rules = standard_chain(2)
    inputs = LimitInputs(np.full((3, 2), 0.01), np.full(4, 0.02), np.zeros(3), np.zeros(3, bool))
    with pytest.raises(InvalidInput) as error:
        rules.update_batch(inputs, Limits.unbounded(2, 3), rules.init(2))
    assert error.value.field == "var_per_gross"


# ------------------------------------------------------------------------- vol_target


def test_vol_target_scales_inversely_with_volatility():
    transform = vol_target(risk_budget=20_000.0, order_fraction=0.1)
    low = LimitInputs(np.array([0.01, 0.02]), 0.02, 0.0, False)
    high = LimitInputs(np.array([0.02, 0.02]), 0.02, 0.0, False)
    before, _ = transform.update(low, Limits.unbounded(2), transform.init(2))
    after, _ = transform.update(high, Limits.unbounded(2), transform.init(2))
    assert after.position[0] == pytest.approx(before.position[0] / 2, rel=1e-15)
    assert after.position[1] == before.position[1]  # the other asset is untouched
    # At its limit, each position's one-period standard deviation is exactly the budget.
    np.testing.assert_allclose(after.position * high.volatility, 20_000.0, rtol=1e-15)
    np.testing.assert_allclose(after.order, 0.1 * after.position, rtol=1e-15)


def test_vol_target_only_tightens_and_maps_unusable_volatility_to_zero():
    transform = vol_target(risk_budget=10_000.0, order_fraction=0.5)
    inputs = LimitInputs(np.array([0.01, np.nan, 0.0, -0.01, np.inf]), 0.02, 0.0, False)
    incoming = Limits(np.array([5e5, 1e6, 1e6, 1e6, 1e6]), 1.0, 2.0, np.full(5, np.inf))
    out, _ = transform.update(inputs, incoming, transform.init(5))
    assert out.position.tolist() == [5e5, 0.0, 0.0, 0.0, 0.0]
    assert out.order.tolist() == [2.5e5, 0.0, 0.0, 0.0, 0.0]
    assert (out.gross, out.net) == (1.0, 2.0)


# ------------------------------------------------------------------------- var_budget


def test_rising_correlation_raises_var_per_gross_and_lowers_the_gross_limit():
    transform = var_budget(50_000.0)
    sigma = np.array([0.01, 0.015, 0.02])
    weights = np.array([1.0, 0.5, 0.8])
    gross = []
    for rho in (0.0, 0.3, 0.6, 0.9):
        correlation = np.full((3, 3), rho) + (1.0 - rho) * np.eye(3)
        covariance = correlation * np.outer(sigma, sigma)
        value = unit_gross_var(covariance, weights, 0.99)
        limits, _ = transform.update(
            LimitInputs(sigma, value, 0.0, False), Limits.unbounded(3), transform.init(3)
        )
        assert limits.gross == pytest.approx(50_000.0 / value, rel=1e-15)
        assert limits.net == limits.gross
        gross.append(limits.gross)
    assert np.all(np.diff(gross) < 0)


def test_unit_gross_var_is_scale_free_batched_and_conservative_when_flat():
    covariance = np.array([[1e-4, 2e-5], [2e-5, 4e-4]])
    one = unit_gross_var(covariance, [1.0, -2.0], 0.99)
    assert unit_gross_var(covariance, [10.0, -20.0], 0.99) == pytest.approx(one, rel=1e-14)
    # Flat book: the worst unit-gross direction, all in the riskiest asset.
    assert unit_gross_var(covariance, [0.0, 0.0], 0.99) == pytest.approx(2.326348 * 0.02, 1e-6)
    batch = unit_gross_var(np.stack([covariance] * 3), np.array([[1.0, -2.0]] * 3), 0.99)
    np.testing.assert_allclose(batch, one, rtol=1e-14)


@pytest.mark.parametrize("value", [np.nan, 0.0, -0.01, np.inf])
def test_var_budget_maps_unusable_var_to_zero(value):
    transform = var_budget(50_000.0)
    out, _ = transform.update(
        LimitInputs(np.array([0.01]), value, 0.0, False), Limits.unbounded(1), transform.init(1)
    )
    assert (out.gross, out.net) == (0.0, 0.0)


# --------------------------------------------------------------------- regime_haircut


def test_regime_haircut_is_continuous_and_monotone_in_the_probability():
    transform = regime_haircut(stressed_floor=0.4)
    limits = Limits(np.array([1e6]), 2e6, 1e6, np.array([1e5]))
    probabilities = np.linspace(0.0, 1.0, 1001)
    gross = np.array(
        [
            transform.update(LimitInputs(np.array([0.01]), 0.02, p, False), limits, ())[0].gross
            for p in probabilities
        ]
    )
    assert gross[0] == 2e6 and gross[-1] == pytest.approx(0.4 * 2e6, rel=1e-15)
    assert np.all(np.diff(gross) < 0)
    # Lipschitz: a probability step of 0.001 moves the limit by (1 - floor) * 0.001 of it.
    assert np.max(np.abs(np.diff(gross))) <= 0.6 * 2e6 * 0.001 * (1 + 1e-9)


@pytest.mark.parametrize(("proba", "factor"), [(np.nan, 0.4), (-0.5, 1.0), (1.5, 0.4)])
def test_regime_haircut_treats_nan_as_stressed_and_clips(proba, factor):
    transform = regime_haircut(stressed_floor=0.4)
    limits = Limits(np.array([1e6]), 2e6, 1e6, np.array([1e5]))
    out, _ = transform.update(LimitInputs(np.array([0.01]), 0.02, proba, False), limits, ())
    assert out.position[0] == pytest.approx(factor * 1e6, rel=1e-15)


# ---------------------------------------------------------------- changepoint_tighten


def changepoint_path(transform, flags) -> list[float]:
    state, path = transform.init(1), []
    limits = Limits(np.array([100.0]), 100.0, 100.0, np.array([100.0]))
    for flag in flags:
        out, state = transform.update(LimitInputs(np.array([0.01]), 0.02, 0.0, flag), limits, state)
        path.append(out.position[0])
    return path


def test_changepoint_tightens_then_recovers_exactly_after_recovery_steps():
    transform = changepoint_tighten(factor=0.2, recovery_steps=4)
    path = changepoint_path(transform, [False, True] + [False] * 6)
    assert path == pytest.approx([100.0, 20.0, 40.0, 60.0, 80.0, 100.0, 100.0, 100.0], rel=1e-15)
    assert path[5] == 100.0  # exactly, not 1 - eps


def test_a_new_changepoint_during_recovery_restarts_it():
    transform = changepoint_tighten(factor=0.2, recovery_steps=4)
    path = changepoint_path(transform, [True, False, True, False, False, False, False])
    assert path == pytest.approx([20.0, 40.0, 20.0, 40.0, 60.0, 80.0, 100.0], rel=1e-15)


def test_changepoint_state_starts_recovered():
    assert changepoint_tighten(0.5, 7).init(3) == ChangepointState(7)


# ------------------------------------------------------------------------------ smooth


def smooth_path(transform, values) -> np.ndarray:
    state, path = transform.init(1), []
    for value in values:
        limits = Limits(np.array([value]), value, value, np.array([value]))
        out, state = transform.update(None, limits, state)
        path.append(out.gross)
    return np.array(path)


@pytest.mark.parametrize("mode", ["asymmetric", "symmetric"])
def test_smoothing_damps_flapping(mode):
    raw = np.tile([1e6, 5e5], 50)
    path = smooth_path(smooth(4.0, mode=mode), raw)
    swing = np.abs(np.diff(path[-20:])).max()
    assert swing < 0.25 * 5e5  # the raw limit swings by 5e5 every step
    assert path[0] == raw[0]  # the first value initialises the state


def test_asymmetric_smoothing_tightens_at_once_and_loosens_with_the_halflife():
    path = smooth_path(smooth(2.0), [1e6, 4e5, 1e6, 1e6, 1e6])
    assert path[1] == 4e5  # tightening is immediate
    # Loosening: the gap to the raw limit halves every halflife (2 steps).
    gaps = 1e6 - path[1:]
    assert gaps[2] == pytest.approx(gaps[0] / 2, rel=1e-12)
    assert np.all(path <= [1e6, 4e5, 1e6, 1e6, 1e6])  # never above the raw limit


def test_symmetric_smoothing_delays_tightening():
    path = smooth_path(smooth(2.0, mode="symmetric"), [1e6, 4e5])
    assert path[1] > 4e5


def test_an_unbounded_value_passes_and_the_next_value_starts_afresh():
    path = smooth_path(smooth(2.0), [1e6, np.inf, 3e6])
    assert path.tolist() == [1e6, np.inf, 3e6]


# ------------------------------------------------------------------------------- clamp


def test_clamp_bounds_every_limit_and_maps_nan_to_the_floor():
    floor, ceiling = bounds(2)
    transform = clamp(floor, ceiling)
    limits = Limits(np.array([1.0, 1e9]), np.nan, 1e12, np.array([np.nan, 1e5]))
    out, _ = transform.update(None, limits, transform.init(2))
    assert out.position.tolist() == [1e5, 3e6]
    assert (out.gross, out.net) == (5e5, 1e12)  # the net ceiling is inf
    assert out.order.tolist() == [1e4, 1e5]


def test_clamp_to_hard_limits_caps_and_maps_nan_to_zero():
    transform = clamp_to_hard_limits(Limits(np.array([1e6, 1e6]), 2e6, 5e5, 1e5))
    limits = Limits(np.array([3e6, 2e5]), np.nan, 4e5, np.array([2e5, 5e4]))
    out, _ = transform.update(None, limits, transform.init(2))
    assert out.position.tolist() == [1e6, 2e5]
    assert (out.gross, out.net) == (0.0, 4e5)
    assert out.order.tolist() == [1e5, 5e4]


def test_clamp_rejects_a_ceiling_below_the_floor_naming_the_field():
    floor, ceiling = bounds(2)
    with pytest.raises(InvalidConfig) as error:
        clamp(floor, ceiling._replace(gross=1.0))
    assert error.value.field == "ceiling.gross"
    with pytest.raises(InvalidConfig) as error:
        clamp(floor._replace(order=np.array([-1.0, 1.0])), ceiling)
    assert error.value.field == "floor.order"


def test_clamp_init_checks_the_asset_count():
    with pytest.raises(InvalidConfig, match="n_assets"):
        clamp(*bounds(2)).init(3)


# ---------------------------------------------------------------------- standard chain


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bad=st.sampled_from([0.0, 0.2, 1.0]))
def test_standard_chain_stays_within_floor_and_hard_limits_and_is_never_nan(seed, bad):
    rng = np.random.default_rng(seed)
    rules = standard_chain(3, floor_fraction=0.1)
    inputs = random_inputs(rng, 30, 3, bad)
    limits, _ = rules.update_batch(inputs, Limits.unbounded(3, 30), rules.init(3))
    hard = Limits(np.full(3, 2e6), 8e6, 3e6, np.full(3, 5e5))
    for field in Limits._fields:
        value, ceiling = getattr(limits, field), getattr(hard, field)
        assert not np.any(np.isnan(value))
        assert np.all(value <= ceiling)
        assert np.all(value >= 0.1 * ceiling * (1 - 1e-12))


def test_unusable_models_fall_back_to_the_floor():
    rules = standard_chain(2, floor_fraction=0.1)
    inputs = LimitInputs(np.array([np.nan, 0.01]), np.nan, np.nan, False)
    limits, _ = rules.update(inputs, Limits.unbounded(2), rules.init(2))
    assert limits.position[0] == pytest.approx(2e5, rel=1e-12)
    assert limits.order[0] == pytest.approx(5e4, rel=1e-12)
    assert (limits.gross, limits.net) == pytest.approx((8e5, 3e5), rel=1e-12)


def test_stressed_regime_and_changepoint_tighten_the_standard_chain():
    rules = standard_chain(1, halflife_steps=1.0)
    calm = LimitInputs(np.array([0.02]), 0.02, 0.0, False)
    calm_limits, state = rules.update(calm, Limits.unbounded(1), rules.init(1))
    stressed, state = rules.update(calm._replace(stressed_proba=1.0), Limits.unbounded(1), state)
    assert stressed.position[0] == pytest.approx(0.5 * calm_limits.position[0], rel=1e-12)
    both = calm._replace(stressed_proba=1.0, changepoint=True)
    changed, _ = rules.update(both, Limits.unbounded(1), state)
    assert changed.position[0] == pytest.approx(0.5 * stressed.position[0], rel=1e-12)


def test_chain_and_state_pickle_and_inputs_are_not_mutated():
    rules = standard_chain(2)
    inputs = LimitInputs(np.array([0.01, 0.03]), 0.02, 0.2, True)
    incoming = Limits.unbounded(2)
    copies = pickle.loads(pickle.dumps((rules, inputs, incoming)))
    state = rules.init(2)
    _, state = rules.update(inputs, incoming, state)
    clone, clone_state = pickle.loads(pickle.dumps((copies[0], state)))
    again, _ = clone.update(inputs, incoming, clone_state)
    expected, _ = rules.update(inputs, incoming, state)
    assert_limits_close(again, expected)
    np.testing.assert_array_equal(inputs.volatility, copies[1].volatility)
    np.testing.assert_array_equal(incoming.position, copies[2].position)


def test_chains_nest():
    inner = chain(vol_target(20_000.0, 0.1), regime_haircut(0.5), name="inner")
    outer = chain(inner, smooth(2.0))
    flat = chain(vol_target(20_000.0, 0.1), regime_haircut(0.5), smooth(2.0))
    inputs = LimitInputs(np.array([0.01]), 0.02, 0.5, False)
    nested, _ = outer.update(inputs, Limits.unbounded(1), outer.init(1))
    expected, _ = flat.update(inputs, Limits.unbounded(1), flat.init(1))
    assert_limits_close(nested, expected)
    assert (
        "inner: vol_target"
        in outer.explain(inputs, Limits.unbounded(1), outer.init(1))[2].summary()
    )


# ------------------------------------------------------------------------- derivation


def test_explain_returns_what_update_returns():
    rules = standard_chain(2)
    inputs = LimitInputs(np.array([0.01, 0.03]), 0.02, 0.2, True)
    state = rules.init(2)
    limits, new_state = rules.update(inputs, Limits.unbounded(2), state)
    explained, explained_state, derivation = rules.explain(inputs, Limits.unbounded(2), state)
    assert_limits_close(explained, limits)
    assert_states_close(explained_state, new_state)
    assert derivation.final is explained
    assert derivation.stage_names == rules.names


def test_derivation_names_the_stage_that_moved_each_limit():
    rules = standard_chain(2, floor_fraction=0.1)
    inputs = LimitInputs(np.array([np.nan, 0.015]), 0.02, 0.36, True)
    _, _, derivation = rules.explain(inputs, Limits.unbounded(2), rules.init(2))
    assets = ["AAPL", "MSFT"]
    # The unusable AAPL forecast sets its limit to 0; the clamp lifts it to the floor.
    assert derivation.after("vol_target").position[0] == 0.0
    assert derivation.moved_by("position[AAPL]", assets) == ("vol_target", "clamp")
    assert derivation.moved_by("position[MSFT]", assets) == (
        "vol_target",
        "regime_haircut",
        "changepoint_tighten",
    )
    assert derivation.moved_by("gross", assets)[0] == "var_budget"
    moves = {(m.limit, m.stage): m for m in derivation.moves(assets)}
    haircut = moves["position[MSFT]", "regime_haircut"]
    assert haircut.factor == pytest.approx(1 - 0.5 * 0.36, rel=1e-12)
    text = derivation.summary(assets)
    for stage in rules.names:
        assert stage in text
    assert "position[AAPL]" in text and "sigma 1.50%" in text
    assert "unusable sigma for asset(s) [0] -> 0" in text
    assert "x0.820 (P(stressed) = 0.36)" in text
    assert "change point 0 step(s) ago" in text


def test_change_from_attributes_the_change_to_the_stages():
    rules = standard_chain(1, halflife_steps=3.0)
    state = rules.init(1)
    first = LimitInputs(np.array([0.02]), 0.02, 0.1, False)
    _, state, before = rules.explain(first, Limits.unbounded(1), state)
    second = LimitInputs(np.array([0.025]), 0.02, 0.3, False)
    _, state, after = rules.explain(second, Limits.unbounded(1), state)
    changes = {c.limit: c for c in after.change_from(before)}
    position = changes["position[0]"]
    factors = dict(position.factors)
    assert factors["vol_target"] == pytest.approx(0.02 / 0.025, rel=1e-12)
    assert factors["regime_haircut"] == pytest.approx(0.85 / 0.95, rel=1e-12)
    assert np.prod(list(factors.values())) == pytest.approx(
        position.after / position.before, rel=1e-12
    )
    assert "vol_target x0.8" in str(position)
    # Through 0 there is no multiplicative account: the stages that moved it now explain it.
    unusable = LimitInputs(np.array([np.nan]), 0.02, 0.3, False)
    _, state, broken = rules.explain(unusable, Limits.unbounded(1), state)
    (change,) = (c for c in broken.change_from(after) if c.limit == "position[0]")
    assert change.factors is None
    assert [stage for stage, _, _ in change.stages] == ["vol_target", "clamp"]
    assert "now vol_target inf -> 0, clamp 0 -> 200k" in str(change)
    other = chain(smooth(2.0))
    with pytest.raises(InvalidInput, match="previous"):
        after.change_from(other.explain(first, Limits.unbounded(1), other.init(1))[2])


def test_derivation_rejects_unknown_stages_and_limits():
    rules = standard_chain(1)
    inputs = LimitInputs(np.array([0.02]), 0.02, 0.1, False)
    _, _, derivation = rules.explain(inputs, Limits.unbounded(1), rules.init(1))
    with pytest.raises(InvalidInput, match="stage"):
        derivation.after("vega")
    with pytest.raises(InvalidInput, match="limit"):
        derivation.moved_by("position[XYZ]")
    with pytest.raises(InvalidInput, match="assets"):
        derivation.summary(assets=["A", "B"])


# ----------------------------------------------------------------------------- config


def test_config_from_mapping_reads_every_field():
    table = {
        "risk_budget": 1e4,
        "var_budget": 2e4,
        "order_fraction": 0.2,
        "var_level": 0.975,
        "stressed_floor": 0.3,
        "changepoint_factor": 0.6,
        "recovery_steps": 10,
        "halflife_steps": 8,
        "smoothing_mode": "symmetric",
        "floor_fraction": 0.05,
        "ceiling_fraction": 0.9,
    }
    config = DynamicLimitsConfig.from_mapping(table)
    assert {name: getattr(config, name) for name in table} == table
    assert isinstance(config.halflife_steps, float)


def test_config_rejects_unknown_keys_and_defaults_missing_ones():
    with pytest.raises(InvalidConfig, match=r"unknown key\(s\) \['risk_budgett'\]") as error:
        DynamicLimitsConfig.from_mapping({"risk_budgett": 1.0, "var_budget": 1.0})
    assert error.value.field == "dynamic"
    config = DynamicLimitsConfig.from_mapping({"risk_budget": 1.0}, field="limits.dynamic")
    assert config.var_budget == DynamicLimitsConfig().var_budget


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("risk_budget", 0.0),
        ("risk_budget", -1.0),
        ("var_budget", 0.0),
        ("order_fraction", 0.0),
        ("order_fraction", 1.5),
        ("var_level", 1.0),
        ("stressed_floor", -0.1),
        ("stressed_floor", 0.0),
        ("changepoint_factor", 0.0),
        ("recovery_steps", 0),
        ("recovery_steps", 2.5),
        ("recovery_steps", True),
        ("halflife_steps", 0.5),
        ("smoothing_mode", "fast"),
        ("floor_fraction", 0.95),
        ("ceiling_fraction", 1.2),
        ("risk_budget", "big"),
        ("var_budget", np.nan),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value):
    table = {"risk_budget": 1e4, "var_budget": 2e4, "floor_fraction": 0.1, "ceiling_fraction": 0.9}
    with pytest.raises(InvalidConfig) as error:
        DynamicLimitsConfig.from_mapping(table | {field: value})
    assert error.value.field == f"dynamic.{field}"
    with pytest.raises(InvalidConfig) as error:
        DynamicLimitsConfig(**table | {field: value})
    assert error.value.field == field


@pytest.mark.parametrize(
    ("factory", "kwargs", "field"),
    [
        (vol_target, {"risk_budget": 1.0, "order_fraction": 0.0}, "order_fraction"),
        (var_budget, {"var_budget": -5.0}, "var_budget"),
        (regime_haircut, {"stressed_floor": 1.5}, "stressed_floor"),
        (changepoint_tighten, {"factor": 0.5, "recovery_steps": 0}, "recovery_steps"),
        (changepoint_tighten, {"factor": 2.0, "recovery_steps": 3}, "factor"),
        (smooth, {"halflife_steps": 0.0}, "halflife_steps"),
        (smooth, {"halflife_steps": 2.0, "mode": "fast"}, "mode"),
        (smooth, {"halflife_steps": 2.0, "name": ""}, "name"),
    ],
)
def test_transform_parameters_are_validated_naming_the_parameter(factory, kwargs, field):
    with pytest.raises(InvalidConfig) as error:
        factory(**kwargs)
    assert error.value.field == field


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        (([1e6, -1.0], 2e6, 1e6, 1e5), "hard.position"),
        (([1e6, 1e6], 0.0, 1e6, 1e5), "hard.gross"),
        (([1e6, 1e6], 2e6, np.nan, 1e5), "hard.net"),
        (([1e6, 1e6], 2e6, 1e6, [1e5, 1e5, 1e5]), "hard.order"),
        (([], 2e6, 1e6, 1e5), "hard.position"),
        (([1e6, 1e6], np.inf, 1e6, 1e5), "hard.gross"),
    ],
)
def test_limit_chain_validates_the_hard_limits_naming_the_argument(arguments, field):
    config = DynamicLimitsConfig(risk_budget=1e4, var_budget=2e4)
    with pytest.raises(InvalidConfig) as error:
        limit_chain(config, Limits(*arguments))
    assert error.value.field == field


def test_limit_chain_refuses_hard_limits_that_are_not_limits():
    config = DynamicLimitsConfig(risk_budget=1e4, var_budget=2e4)
    with pytest.raises(InvalidConfig) as error:
        limit_chain(config, ([1e6], 2e6, 1e6, 1e5))
    assert error.value.field == "hard"
