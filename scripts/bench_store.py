"""Benchmark the DuckDB store's bulk writes (issue 6's target).

- ``store_rows_per_s``: rows of ``scenario_paths`` per second through
  ``RunRecorder.write`` inside a recorded run: the Arrow cast to the table's schema, the
  insert and the run's commit (to a file on disk), for ``--rows`` rows in
  batches of one scenario spec each (what the nightly job writes).  Building
  the batches (the simulator's job) is not timed.

Prints a table, or one JSON object with ``--json``.
Run: ``python scripts/bench_store.py [--json] [--rows N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.store import open_store
from scripts._bench import emit, machine, meets_targets

TARGETS = {"store_rows_per_s": 5_000_000.0}
ASSETS = ("SPX", "NDX", "SX5E", "NKY")
# The scenario specs under sims/, each simulated at its own volatility level
# (annualised: calm ... crisis), as the nightly job writes them.
SPEC_VOLATILITY = {
    "calm": 0.10,
    "sp500": 0.16,
    "regime_switching": 0.18,
    "volatile": 0.25,
    "flash_crash": 0.30,
    "crisis": 0.40,
}
# Three regimes (calm, turbulent, crisis): volatility multipliers and a sticky chain.
REGIME_SCALE = np.array([0.8, 1.2, 2.0])
REGIME_STAY = 0.97
ALPHA, BETA = 0.06, 0.92  # GARCH(1,1) persistence 0.98, as daily equity fits give


def scenario_batch(spec: str, n_paths: int, n_steps: int, seed: int) -> pa.Table:
    """One spec's paths x steps x assets rows, laid out as ``ScenarioSet.to_arrow`` writes them.

    The values vary as a simulator's do, so DuckDB compresses them no better
    than real output: a sticky three-state regime chain per path, a GARCH(1,1)
    variance per path and asset whose long-run level follows the regime, and
    Student-t (5 degrees of freedom) returns scaled by that variance. One spec
    per batch, as the nightly job writes one table per scenario; the specs
    differ across batches.
    """
    rng = np.random.default_rng(seed)
    n_assets = len(ASSETS)
    n = n_paths * n_steps * n_assets
    index = np.arange(n)
    daily = (SPEC_VOLATILITY[spec] * REGIME_SCALE) ** 2 / 252
    omega = daily * (1.0 - ALPHA - BETA)
    # Each asset has its own level: a loading between 0.8 and 1.3 on the spec's volatility.
    loading = rng.uniform(0.8, 1.3, n_assets) ** 2
    switch = rng.random((n_steps, n_paths)) > REGIME_STAY
    jump = rng.integers(1, 3, (n_steps, n_paths))  # to one of the two other regimes
    shocks = rng.standard_t(5, (n_steps, n_paths, n_assets)) * np.sqrt(3.0 / 5.0)
    regime = np.empty((n_paths, n_steps), dtype=np.int16)
    variance = np.empty((n_paths, n_steps, n_assets))
    returns = np.empty((n_paths, n_steps, n_assets))
    state = rng.integers(0, 3, n_paths)
    sigma2 = daily[state][:, None] * loading
    for t in range(n_steps):  # a recursion in time, vectorised over paths and assets
        state = np.where(switch[t], (state + jump[t]) % 3, state)
        r = np.sqrt(sigma2) * shocks[t]
        regime[:, t], variance[:, t], returns[:, t] = state, sigma2, r
        sigma2 = omega[state][:, None] * loading + ALPHA * r * r + BETA * sigma2
    return pa.table(
        {
            # Text as dictionaries: a few values over millions of rows, as the producer keeps them.
            "spec": pa.DictionaryArray.from_arrays(np.zeros(n, dtype=np.int32), [spec]),
            "path": (index // (n_steps * n_assets)).astype(np.int32),
            "step": ((index // n_assets) % n_steps).astype(np.int32),
            "asset": pa.DictionaryArray.from_arrays(
                (index % n_assets).astype(np.int32), list(ASSETS)
            ),
            "return": returns.reshape(-1),
            "variance": variance.reshape(-1),
            "regime": np.repeat(regime.reshape(-1), n_assets),
        }
    )


def measure(rows: int) -> dict:
    specs = tuple(SPEC_VOLATILITY)
    n_steps = 250
    n_paths = max(1, rows // (len(specs) * n_steps * len(ASSETS)))
    batches = [scenario_batch(spec, n_paths, n_steps, i) for i, spec in enumerate(specs)]
    total = sum(b.num_rows for b in batches)
    with tempfile.TemporaryDirectory() as directory:
        store = open_store(Path(directory) / "bench.duckdb")
        start = time.perf_counter()
        with store.record_run("bench", config={}, seed=0, code_version="bench") as run:
            for batch in batches:
                run.write("scenario_paths", batch)
        seconds = time.perf_counter() - start
        written = store.row_counts("bench")["scenario_paths"]
        store.close()
    assert written == total
    return {"store_rows_per_s": total / seconds, "store_rows": total, "store_seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rows", type=int, default=20_000_000)
    args = parser.parse_args()
    results = machine() | measure(args.rows)
    results["targets"] = TARGETS
    results["meets_targets"] = meets_targets(results, TARGETS)
    emit(results, args.json)


if __name__ == "__main__":
    main()
