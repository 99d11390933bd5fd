"""Tests of the Markov-switching GARCH-t market simulator."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from riskengine.sim import market
from riskengine.sim.market import MarketState, market_params, path_keys, simulate_market
from riskengine.sim.market_spec import MarketSpec, stationary_distribution
from riskengine.sim.specs import available_specs, load_spec

# The bulk program as simulate_market runs it on one device.
simulate_paths = jax.jit(market._simulate_paths, static_argnames="n_steps")


@pytest.fixture(scope="module")
def regime_switching() -> market.MarketScenarios:
    return simulate_market("regime_switching", seed=11, n_paths=512, n_steps=2000)


def _acf(x: np.ndarray, lag: int) -> float:
    """Autocorrelation at ``lag``, pooled over paths (axis 0) after demeaning each path."""
    x = x - x.mean(axis=1, keepdims=True)
    return float((x[:, lag:] * x[:, :-lag]).sum() / (x * x).sum())


def _spells(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """(path, start, end) of every maximal run of True along axis 1."""
    runs = []
    for path, row in enumerate(mask):
        padded = np.concatenate([[False], row, [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        runs.extend((path, a, b) for a, b in zip(edges[::2], edges[1::2], strict=True))
    return runs


def test_every_catalogue_spec_loads_and_simulates() -> None:
    for name in available_specs():
        spec = load_spec(name)
        if spec.market is None:
            continue
        scen = simulate_market(spec, seed=0, n_paths=3, n_steps=20)
        assert scen.returns.shape == (3, 20, spec.market.n_assets)
        assert np.all(np.isfinite(scen.returns))
        assert np.all(scen.variance > 0)
        assert scen.regime.min() >= 0 and scen.regime.max() < spec.market.n_regimes


def test_same_seed_is_bit_identical_and_seeds_differ() -> None:
    a = simulate_market("regime_switching", seed=3, n_paths=8, n_steps=50)
    b = simulate_market("regime_switching", seed=3, n_paths=8, n_steps=50)
    c = simulate_market("regime_switching", seed=4, n_paths=8, n_steps=50)
    for field in ("returns", "variance", "regime"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.returns, c.returns)


def test_path_depends_only_on_seed_and_index() -> None:
    # Sharded runs (Ray, issue 6) rely on this: a path never depends on how many were asked for.
    small = simulate_market("flash_crash", seed=5, n_paths=3, n_steps=40)
    large = simulate_market("flash_crash", seed=5, n_paths=10, n_steps=40)
    np.testing.assert_array_equal(small.returns, large.returns[:3])
    np.testing.assert_array_equal(small.regime, large.regime[:3])


def test_stepping_one_path_matches_the_bulk_simulation() -> None:
    params = market_params("regime_switching")
    n_steps = 300
    (key,) = path_keys(9, 0, 1)
    bulk = simulate_paths(key[None], params, n_steps)

    reset_key, scan_key = jax.random.split(key)
    state = market.reset(reset_key, params)
    step = jax.jit(market.step)
    returns, variance, regime = [], [], []
    for step_key in jax.random.split(scan_key, n_steps):
        state, emitted = step(step_key, state, params)
        returns.append(emitted.returns)
        variance.append(emitted.variance)
        regime.append(emitted.regime)
    np.testing.assert_array_equal(np.array(regime), bulk.regime[0])
    # Same draws; only float32 summation order differs between matvec and GEMM.
    np.testing.assert_allclose(np.array(returns), bulk.returns[0], rtol=2e-5, atol=1e-8)
    np.testing.assert_allclose(np.array(variance), bulk.variance[0], rtol=2e-5)


def test_jit_matches_no_jit() -> None:
    # On step, which the stepping test above ties to the bulk simulation; running
    # the whole bulk program op by op would cost a compile per primitive.
    params = market_params("crisis")
    state = market.reset(jax.random.key(2), params)
    keys = jax.random.split(jax.random.key(3), 4)
    jitted_step = jax.jit(market.step)
    jitted, plain = state, state
    for key in keys:
        jitted, out_jit = jitted_step(key, jitted, params)
        with jax.disable_jit():
            plain, out_plain = market.step(key, plain, params)
        assert int(out_jit.regime) == int(out_plain.regime)
        np.testing.assert_allclose(out_jit.returns, out_plain.returns, rtol=2e-5, atol=1e-8)
        np.testing.assert_allclose(out_jit.variance, out_plain.variance, rtol=2e-5)
    np.testing.assert_allclose(jitted.variance, plain.variance, rtol=2e-5)


def test_vmap_over_paths_matches_a_loop() -> None:
    params = market_params("regime_switching")
    keys = path_keys(8, 0, 4)
    together = simulate_paths(keys, params, 30)
    for i in range(4):
        alone = simulate_paths(keys[i : i + 1], params, 30)
        np.testing.assert_array_equal(alone.regime[0], together.regime[i])
        np.testing.assert_allclose(alone.returns[0], together.returns[i], rtol=1e-6, atol=1e-9)


def test_chi_square_sampler_is_exact() -> None:
    # One array holds every nu, so the three programs compile once, not per nu.
    nus = (2.5, 4.5, 8.0, 30.0)
    per_nu = 60_000
    n = per_nu * len(nus)
    keys = jax.random.split(jax.random.key(0), n)
    noise = jax.vmap(market._draw_noise, in_axes=(0, None))(keys, 1)
    nu = jnp.repeat(jnp.asarray(nus, dtype=jnp.float32), per_nu)
    bulk = np.asarray(market._chi2_bulk(keys, noise, nu))
    for i, value in enumerate(nus):
        sample = bulk[i * per_nu : (i + 1) * per_nu]
        assert stats.kstest(sample, stats.chi2(value).cdf).pvalue > 1e-3, value
    # The overflow path (every draw exact) and the compacted fallback agree exactly.
    overflow = np.asarray(market._chi2_bulk(keys, noise, nu, capacity=1))
    np.testing.assert_array_equal(bulk, overflow)
    # Per-draw sampling (used by step) agrees with bulk up to float32 fusion differences.
    some = slice(0, n, 97)
    one = jax.jit(jax.vmap(market._chi2_one))(
        keys[some], jax.tree.map(lambda x: x[some], noise), nu[some]
    )
    np.testing.assert_allclose(bulk[some], np.asarray(one), rtol=1e-5)


def test_realised_volatility_matches_true_volatility_per_regime(
    regime_switching: market.MarketScenarios,
) -> None:
    for row in regime_switching.summary():
        assert row["realised_vol"] == pytest.approx(row["true_vol"], rel=0.03), row


def test_regime_chain_matches_its_transition_matrix(
    regime_switching: market.MarketScenarios,
) -> None:
    spec = load_spec("regime_switching").market
    occupancy = regime_switching.regime_occupancy()
    np.testing.assert_allclose(occupancy, stationary_distribution(spec.transition), atol=0.02)
    expected_spell = 1.0 / (1.0 - np.diag(spec.transition))
    spells = [row["mean_spell"] for row in regime_switching.summary()]
    np.testing.assert_allclose(spells, expected_spell, rtol=0.1)


def test_standardised_innovations_are_student_t() -> None:
    # calm has one regime and no jumps, so (r - mu) / sqrt(h) is the t innovation itself.
    spec = load_spec("calm").market
    scen = simulate_market(spec, seed=1, n_paths=400, n_steps=500)
    z = (scen.returns - spec.mu[0]) / np.sqrt(scen.variance)
    assert z.var() == pytest.approx(1.0, abs=0.02)
    nu = float(spec.nu[0])
    assert stats.kurtosis(z[..., 0].ravel()) == pytest.approx(6.0 / (nu - 4.0), rel=0.25)
    np.testing.assert_allclose(
        np.corrcoef(z.reshape(-1, 4), rowvar=False), spec.correlation[0], atol=0.02
    )


def test_realism_heavy_tails_clustering_and_no_linear_autocorrelation(
    regime_switching: market.MarketScenarios,
) -> None:
    returns = regime_switching.returns
    for asset in range(returns.shape[2]):
        r = returns[..., asset]
        assert stats.kurtosis(r.ravel()) > 1.0
        for lag in range(1, 11):
            assert _acf(np.abs(r), lag) > 0.05, (asset, lag)
            assert abs(_acf(r, lag)) < 0.05, (asset, lag)


def test_flash_crash_is_short_extreme_correlated_and_recovers() -> None:
    spec = load_spec("flash_crash").market
    scen = simulate_market(spec, seed=2, n_paths=400, n_steps=390)
    crash = spec.regime_names.index("crash")
    rebound = spec.regime_names.index("rebound")
    rows = {row["regime"]: row for row in scen.summary()}
    assert rows["crash"]["realised_vol"] > 5 * rows["calm"]["realised_vol"]
    assert rows["crash"]["mean_correlation"] > 0.85
    assert rows["crash"]["mean_spell"] < 10

    index = scen.returns.mean(axis=2)  # equal-weight basket
    drawdowns, recoveries = [], []
    for path, start, end in _spells(scen.regime == crash):
        drawdowns.append(index[path, start:end].sum())
        after = scen.regime[path, end:]
        n_rebound = np.argmax(after != rebound) if (after != rebound).any() else after.size
        recoveries.append(index[path, end : end + n_rebound].sum())
    assert len(drawdowns) > 100  # most paths see a crash within 5 trading days
    assert np.mean(drawdowns) < -0.05
    assert np.mean(recoveries) > 0.03
    assert np.mean(np.array(recoveries) > 0) > 0.75


def test_spec_scalars_broadcast_and_long_run_vol_is_honoured() -> None:
    spec = load_spec("calm").market
    long_run = np.sqrt(spec.unconditional_variance[0] * spec.periods_per_year)
    np.testing.assert_allclose(long_run, [0.12, 0.16, 0.14, 0.15])
    assert spec.alpha.shape == (1, 4)


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"seed": 1.5}, TypeError, "seed"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": True}, TypeError, "seed"),
        ({"n_paths": 0}, ValueError, "n_paths"),
        ({"n_paths": 2.0}, TypeError, "n_paths"),
        ({"n_steps": -5}, ValueError, "n_steps"),
        ({"spec": 42}, TypeError, "spec"),
        ({"spec": "no_such_spec"}, FileNotFoundError, "no_such_spec"),
    ],
)
def test_simulate_market_rejects_bad_arguments(kwargs: dict, error: type, field: str) -> None:
    arguments = {"spec": "calm", "seed": 0, "n_paths": 2, "n_steps": 3} | kwargs
    with pytest.raises(error, match=field):
        simulate_market(**arguments)


def test_initial_state_is_each_regimes_long_run_variance() -> None:
    params = market_params("regime_switching")
    state = market.reset(jax.random.key(0), params)
    assert isinstance(state, MarketState)
    expected = load_spec("regime_switching").market.unconditional_variance
    np.testing.assert_allclose(state.variance, expected, rtol=1e-5)  # float32


def test_a_spec_can_start_its_variances_away_from_the_long_run() -> None:
    import dataclasses

    spec = load_spec("regime_switching").market
    scale = np.linspace(0.5, 3.0, spec.omega.size).reshape(spec.omega.shape)
    started = dataclasses.replace(spec, initial_variance_scale=scale)
    state = market.reset(jax.random.key(0), market_params(started))
    np.testing.assert_allclose(state.variance, spec.unconditional_variance * scale, rtol=1e-5)
    with pytest.raises(ValueError, match="initial_variance_scale"):
        dataclasses.replace(spec, initial_variance_scale=-scale)
    # Without a scale, the paths keep the bits they had before the scale existed.
    plain = simulate_market(spec, seed=3, n_paths=4, n_steps=10)
    again = simulate_market(dataclasses.replace(spec), seed=3, n_paths=4, n_steps=10)
    assert plain.returns.tobytes() == again.returns.tobytes()


def test_market_spec_is_immutable() -> None:
    spec: MarketSpec = load_spec("calm").market
    with pytest.raises(ValueError, match="read-only"):
        spec.alpha[0, 0] = 0.5


def test_results_do_not_depend_on_the_number_of_devices() -> None:
    # The device count is fixed when JAX starts, so the 2-device run is a subprocess.
    script = (
        "import sys, jax, hashlib\n"
        "jax.config.update('jax_num_cpu_devices', int(sys.argv[1]))\n"
        "from riskengine.sim import simulate_market\n"
        "s = simulate_market('regime_switching', seed=4, n_paths=7, n_steps=60)\n"
        "print(len(jax.devices()), hashlib.sha256(s.returns.tobytes() + s.variance.tobytes()"
        " + s.regime.tobytes()).hexdigest())\n"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", script, str(n)], capture_output=True, text=True, check=True
        ).stdout.split()
        for n in (1, 2)
    ]
    assert [o[0] for o in outputs] == ["1", "2"]
    assert outputs[0][1] == outputs[1][1]
