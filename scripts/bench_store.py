"""Benchmark the DuckDB store's bulk writes (issue 6's target).

- ``store_rows_per_s``: rows of ``scenario_paths`` per second through
  ``RunWriter.write`` inside a run: the Arrow cast to the table's schema, the
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


def scenario_batch(spec: str, n_paths: int, n_steps: int, seed: int) -> pa.Table:
    """One spec's paths x steps x assets rows, as the simulator's output would be laid out."""
    rng = np.random.default_rng(seed)
    n = n_paths * n_steps * len(ASSETS)
    index = np.arange(n)
    return pa.table(
        {
            # Text as dictionaries: four assets over millions of rows, as a producer keeps them.
            "spec": pa.DictionaryArray.from_arrays(np.zeros(n, dtype=np.int32), [spec]),
            "path": (index // (n_steps * len(ASSETS))).astype(np.int32),
            "step": ((index // len(ASSETS)) % n_steps).astype(np.int32),
            "asset": pa.DictionaryArray.from_arrays(
                (index % len(ASSETS)).astype(np.int32), list(ASSETS)
            ),
            "return": rng.standard_normal(n) * 0.01,
            "variance": np.full(n, 1e-4),
            "regime": rng.integers(0, 3, n).astype(np.int16),
        }
    )


def measure(rows: int) -> dict:
    specs = ("regime_switching", "crisis", "flash_crash", "calm")
    n_steps = 250
    n_paths = max(1, rows // (len(specs) * n_steps * len(ASSETS)))
    batches = [scenario_batch(spec, n_paths, n_steps, i) for i, spec in enumerate(specs)]
    total = sum(b.num_rows for b in batches)
    with tempfile.TemporaryDirectory() as directory:
        store = open_store(Path(directory) / "bench.duckdb")
        start = time.perf_counter()
        with store.run("bench", config={}, seed=0, code_version="bench") as run:
            for batch in batches:
                run.write("scenario_paths", batch)
        seconds = time.perf_counter() - start
        written = store.query("SELECT count(*) FROM scenario_paths").fetchone()[0]
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
