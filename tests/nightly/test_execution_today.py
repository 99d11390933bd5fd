"""Execution policies in today's book regime: regime choice, determinism, shards, store rows.

The execution environment compiles for 15-20 s per episode-batch shape and
policy set, so the module evaluates once (``EPISODES`` episodes in shards of
``SHARD``, the four baselines, no RL artifact) and reuses it. The two checks
that need other shapes or programs (16- vs 32-episode shards, and
``run_episodes`` against ``evaluate``) are marked slow: ``pytest -m slow``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import pytest

from riskengine.execution import env as execution_env
from riskengine.execution.baselines import TWAP, VWAP
from riskengine.execution.evaluate import EVALUATION_STREAM, REGIMES, evaluate, run_episodes
from riskengine.execution.workflow import standard_policies
from riskengine.nightly.execution import (
    BOOK_REGIMES,
    ExecutionRun,
    book_regime,
    evaluate_today,
    params_in_regime,
)
from riskengine.nightly.shards import LocalBackend, stream_seed
from riskengine.sim.book_kernel import reset as reset_book
from riskengine.store import TABLES, open_store
from tests._store_rows import rows as stored_rows

SPEC = "regime_switching"
SEED = 0
EPISODES = 32
SHARD = 16
STRESSED_PROBA = 0.2  # a calm book today
POLICIES = ("twap", "vwap", "almgren_chriss", "adaptive_ac")


def _evaluate(*, episodes: int = EPISODES, shard: int = SHARD) -> ExecutionRun:
    return evaluate_today(
        SPEC,
        stressed_proba=STRESSED_PROBA,
        run_seed=SEED,
        episodes=episodes,
        shard_episodes=shard,
        policy_id=None,
        backend=LocalBackend(),
    )


@pytest.fixture(scope="module")
def params() -> execution_env.EnvParams:
    return execution_env.make_params(SPEC)


@pytest.fixture(scope="module")
def today() -> ExecutionRun:
    return _evaluate()


def _same_episodes(a: dict, b: dict, n: int | None = None) -> None:
    assert list(a) == list(b)
    for name in a:
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            np.testing.assert_array_equal(a[name][key][:n], b[name][key][:n], err_msg=(name, key))


def _one_start(seed: jax.Array, params: execution_env.EnvParams) -> tuple[jax.Array, jax.Array]:
    """The book regime at reset, and when the order arrives (after the warm-up events).

    The keys are the ones ``evaluate``'s episode ``seed`` resets with.
    """
    key = jax.random.fold_in(jax.random.key(EVALUATION_STREAM), seed)
    reset_key = jax.random.split(key, 3)[0]
    _, book = reset_book(jax.random.split(reset_key, 7)[4], params.book)
    _, state = execution_env.reset_env(reset_key, params)
    return book.regime, state.initial_regime


_start_regimes = jax.jit(jax.vmap(_one_start, in_axes=(0, None)))


def _starts(params: execution_env.EnvParams, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    at_reset, at_arrival = _start_regimes(jax.numpy.asarray(seeds), params.with_impact(True))
    return np.asarray(at_reset), np.asarray(at_arrival)


# ---------------------------------------------------------------------- regime choice


@pytest.mark.parametrize(
    ("proba", "regime"),
    [(0.0, 0), (0.2, 0), (0.4999999, 0), (0.5, 1), (0.5000001, 1), (0.9, 1), (1.0, 1)],
)
def test_book_regime_is_stressed_from_one_half(proba: float, regime: int) -> None:
    assert book_regime(proba) == regime
    assert BOOK_REGIMES[regime] == ("calm", "stressed")[regime]


def test_an_unusable_stressed_probability_counts_as_stressed() -> None:
    assert book_regime(math.nan) == 1


@pytest.mark.parametrize("regime", [0, 1])
def test_params_in_regime_sets_the_initial_regime(
    params: execution_env.EnvParams, regime: int
) -> None:
    moved = params_in_regime(params, regime)
    onehot = np.eye(2)[regime]
    np.testing.assert_array_equal(moved.initial_regime_proba, onehot)
    np.testing.assert_array_equal(moved.book.initial_regime_cdf, np.cumsum(onehot))
    # Nothing else changes.
    assert moved.step_transition is params.step_transition
    assert moved.book.transition_cdf is params.book.transition_cdf
    restored = dataclasses.replace(
        moved,
        initial_regime_proba=params.initial_regime_proba,
        book=dataclasses.replace(moved.book, initial_regime_cdf=params.book.initial_regime_cdf),
    )
    assert jax.tree.structure(restored) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(params), strict=True):
        assert a is b
    # The original is untouched (the spec's own prior is not one-hot).
    assert not np.array_equal(params.initial_regime_proba, onehot)


@pytest.mark.parametrize("regime", [-1, 2, 5])
def test_params_in_regime_refuses_an_unknown_regime(
    params: execution_env.EnvParams, regime: int
) -> None:
    with pytest.raises(ValueError, match=r"^regime: expected 0\.\.1, got"):
        params_in_regime(params, regime)


@pytest.mark.parametrize("regime", [0, 1])
def test_every_book_resets_in_the_chosen_regime(
    params: execution_env.EnvParams, today: ExecutionRun, regime: int
) -> None:
    at_reset, _ = _starts(params_in_regime(params, regime), today.result.seeds)
    np.testing.assert_array_equal(at_reset, regime)


@pytest.mark.parametrize("regime", [0, 1])
def test_most_orders_arrive_in_the_chosen_regime(
    params: execution_env.EnvParams, today: ExecutionRun, regime: int
) -> None:
    # The book starts its 100-event warm-up in the chosen regime and keeps its own regime
    # chain (docs/nightly.md), so a few orders arrive after a switch; most do not.
    _, at_arrival = _starts(params_in_regime(params, regime), today.result.seeds)
    assert np.mean(at_arrival == regime) > 0.75


def test_episode_regime_labels_follow_the_arrival_regime(
    params: execution_env.EnvParams, today: ExecutionRun
) -> None:
    _, at_arrival = _starts(params_in_regime(params, 0), today.result.seeds)
    for name in today.result.policies:
        labels = today.result.episodes[name]["regime"]
        # calm: arrived calm and never stressed; stressed: arrived stressed, stayed stressed.
        assert np.all(at_arrival[labels == REGIMES.index("calm")] == 0)
        assert np.all(at_arrival[labels == REGIMES.index("stressed")] != 0)
        # Common random numbers: every policy sees the same book regimes.
        np.testing.assert_array_equal(labels, today.result.episodes[POLICIES[0]]["regime"])


def test_a_calm_book_has_mostly_calm_episodes(today: ExecutionRun) -> None:
    assert today.regime == "calm"
    labels = today.result.episodes["twap"]["regime"]
    assert np.mean(labels == REGIMES.index("calm")) > 0.5


# ---------------------------------------------------------------------- determinism


def test_evaluation_shape_and_seeds(today: ExecutionRun) -> None:
    result = today.result
    assert result.policies == POLICIES
    assert result.baselines == POLICIES
    first = stream_seed(SEED, "execution")
    np.testing.assert_array_equal(result.seeds, (first + np.arange(EPISODES)) % 2**32)
    assert result.seeds.dtype == np.uint32
    for name in POLICIES:
        for key, values in result.episodes[name].items():
            assert values.shape == (EPISODES,), (name, key)
        assert np.all(np.isfinite(result.episodes[name]["is_bps"]))


def test_evaluate_today_repeats_bit_for_bit(today: ExecutionRun) -> None:
    again = _evaluate()
    np.testing.assert_array_equal(again.result.seeds, today.result.seeds)
    _same_episodes(again.result.episodes, today.result.episodes)
    assert again.regime == today.regime


def test_a_padded_last_shard_gives_the_same_episodes(today: ExecutionRun) -> None:
    # 24 episodes: a full shard of 16 and a padded, trimmed one of 8 (same compiled shape).
    shorter = _evaluate(episodes=24)
    np.testing.assert_array_equal(shorter.result.seeds, today.result.seeds[:24])
    _same_episodes(
        shorter.result.episodes,
        {
            name: {k: v[:24] for k, v in data.items()}
            for name, data in today.result.episodes.items()
        },
    )


def test_a_shard_is_run_episodes_on_its_seeds(
    params: execution_env.EnvParams, today: ExecutionRun
) -> None:
    moved = params_in_regime(params, 0)
    policies = standard_policies(moved, policy_id=None)
    seeds = today.result.seeds[SHARD : 2 * SHARD]  # the second shard: same compiled shape
    out = run_episodes(policies, moved, seeds)
    _same_episodes(
        out,
        {
            name: {k: v[SHARD : 2 * SHARD] for k, v in data.items()}
            for name, data in today.result.episodes.items()
        },
    )


@pytest.mark.slow  # a 32-episode shard compiles the environment again (~20 s)
def test_results_do_not_depend_on_the_shard_size(today: ExecutionRun) -> None:
    whole = _evaluate(shard=2 * SHARD)
    np.testing.assert_array_equal(whole.result.seeds, today.result.seeds)
    _same_episodes(whole.result.episodes, today.result.episodes)


@pytest.mark.slow  # evaluate compiles one program per policy, run_episodes one more (~45 s)
def test_run_episodes_equals_evaluate_per_episode(
    params: execution_env.EnvParams, today: ExecutionRun
) -> None:
    moved = params_in_regime(params, 0)
    policies = {"twap": TWAP(), "vwap": VWAP()}
    seeds = today.result.seeds[:8]
    fast = run_episodes(policies, moved, seeds)
    reference = evaluate(policies, moved, seeds).episodes
    for name in policies:
        for key in reference[name]:
            if key == "timing_bps":
                # The timing cost is what is left of the IS after spread and impact: the
                # two programs round it differently in float32 (~1e-7 bps), nothing else.
                np.testing.assert_allclose(
                    fast[name][key], reference[name][key], rtol=1e-5, atol=1e-5
                )
            else:
                np.testing.assert_array_equal(
                    fast[name][key], reference[name][key], err_msg=(name, key)
                )


# ---------------------------------------------------------------------- the store


def test_results_table_is_the_stores_execution_results(today: ExecutionRun, tmp_path) -> None:
    table = today.results_table()
    columns = [name for name, _ in TABLES["execution_results"] if name != "run_id"]
    assert list(table) == columns
    rows = len(POLICIES) * EPISODES
    assert all(len(values) == rows for values in table.values())
    assert table["policy"] == [name for name in POLICIES for _ in range(EPISODES)]
    assert set(table["spec"]) == {SPEC}
    np.testing.assert_array_equal(table["episode"], np.tile(today.result.seeds, len(POLICIES)))
    assert set(table["regime"]) <= set(REGIMES)
    np.testing.assert_array_equal(
        table["is_bps"], np.concatenate([today.result.episodes[n]["is_bps"] for n in POLICIES])
    )
    with open_store(tmp_path / "execution.duckdb") as store:
        with store.record_run("execution-test", config={}, seed=SEED, code_version="t") as run:
            assert run.write("execution_results", table) == rows
        stored = stored_rows(
            store, "SELECT policy, count(*) FROM execution_results GROUP BY policy ORDER BY policy"
        )
    assert stored == sorted((name, EPISODES) for name in POLICIES)
