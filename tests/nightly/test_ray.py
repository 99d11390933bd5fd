"""Scale-out: the nightly run's shards give bit-identical results in one process and on Ray.

A local Ray cluster with two worker CPUs runs the same shards as the local
backend; every array the driver would store must match bit for bit. The
execution shards' twin test is marked slow (``pytest -m slow``): it passes,
but compiling the order-book program in the driver and in every worker takes
about a minute.
"""

from __future__ import annotations

import numpy as np
import pytest

from riskengine.engine import EngineConfig
from riskengine.engine.engine import engine_limit_chain
from riskengine.nightly.execution import evaluate_today
from riskengine.nightly.scenarios import BookPosition, simulate_set, stress_spec
from riskengine.nightly.shards import LocalBackend, RayBackend, make_backend

ray = pytest.importorskip("ray")

ASSETS = ("SPX", "NDX", "AAPL")


@pytest.fixture(scope="module")
def cluster():
    backend = RayBackend(workers=2)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def book() -> BookPosition:
    config = EngineConfig(assets=ASSETS)
    return BookPosition(
        assets=ASSETS,
        notional=np.array([4e6, 3e6, -1e6]),
        equity=10e6,
        engine=config.to_mapping(),
        chain_state=engine_limit_chain(config).init(len(ASSETS)),
        tail_scale=1.1,
    )


def _scenarios(book: BookPosition, backend) -> object:
    spec = stress_spec("flash_crash", ASSETS, np.array([1e-4, 2e-4, 3e-4]))
    return simulate_set(
        "flash_crash",
        spec,
        book=book,
        run_seed=11,
        n_paths=150,  # three shards, the last one short (padded, then trimmed)
        horizon=20,
        shard_paths=64,
        stressed_regime=1,
        backend=backend,
    )


def test_the_cluster_has_two_worker_cpus(cluster) -> None:
    assert ray.cluster_resources()["CPU"] == 2


def test_scenario_shards_are_bit_identical_on_ray_and_in_process(cluster, book) -> None:
    local = _scenarios(book, LocalBackend())
    remote = _scenarios(book, cluster)
    for name in ("returns", "variance", "regime"):
        a, b = getattr(local.scenarios, name), getattr(remote.scenarios, name)
        assert a.dtype == b.dtype and a.shape == b.shape == a.shape
        assert a.tobytes() == b.tobytes(), name
    assert local.per_path.keys() == remote.per_path.keys()
    for key, values in local.per_path.items():
        assert values.tobytes() == remote.per_path[key].tobytes(), key
    assert local.metrics() == remote.metrics()


@pytest.mark.slow  # about 70 s: the order-book program compiles in the driver and each worker
def test_execution_shards_are_bit_identical_on_ray_and_in_process(cluster) -> None:
    def run(backend):
        return evaluate_today(
            "regime_switching",
            stressed_proba=0.9,
            run_seed=3,
            episodes=40,  # three shards of 16, the last one padded
            shard_episodes=16,
            policy_id="execution_ppo_v1",
            backend=backend,
        )

    local, remote = run(LocalBackend()), run(cluster)
    assert local.regime == remote.regime == "stressed"
    assert local.result.seeds.tobytes() == remote.result.seeds.tobytes()
    for policy, data in local.result.episodes.items():
        for key, values in data.items():
            assert values.tobytes() == remote.result.episodes[policy][key].tobytes(), (policy, key)


def test_backend_choice_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"^backend: expected one of"):
        make_backend("spark")
    with pytest.raises(ValueError, match=r"^address: only used with --backend ray"):
        make_backend("local", address="ray://head:10001")
