"""Benchmark the nightly run end to end, as ``make run`` runs it (issue 6's 5-minute target).

- ``nightly_seconds``: wall time of ``riskengine nightly`` in a fresh process on the
  default configuration (shipped data, 10,000 forward paths, two stress specs, 512
  execution episodes, the report included), so XLA compilation counts; a fresh
  store in a temporary directory.
- ``nightly_ray_seconds`` (with ``--ray``): the same run with ``--backend ray`` on a
  local instance with ``--workers`` CPUs (its start-up and the workers' compiles count).
- ``rows``: rows the run wrote.

Prints a table, or one JSON object with ``--json``.
Run: ``python scripts/bench_nightly.py [--json] [--ray] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.store import open_store
from scripts._bench import emit, machine, meets_targets

TARGETS = {"nightly_seconds": 300.0}


def timed_nightly(directory: Path, extra: list[str]) -> tuple[float, int]:
    """Seconds of one ``riskengine nightly`` in a new process, and the rows it stored."""
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "risk.duckdb"
    command = [sys.executable, "-m", "riskengine.cli", "nightly", "--db", str(db)]
    command += ["--report", str(directory / "report"), *extra]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=directory)
    seconds = time.perf_counter() - start
    with open_store(db, read_only=True) as store:
        runs = store.list_runs().column("run_id").to_pylist()
        rows = sum(sum(store.row_counts(run_id).values()) for run_id in runs)
    return seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--ray", action="store_true", help="also time --backend ray")
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray instance")
    args = parser.parse_args()
    results: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        seconds, rows = timed_nightly(Path(tmp) / "local", [])
    results["nightly_seconds"] = seconds
    results["rows"] = rows
    if args.ray:
        with tempfile.TemporaryDirectory() as tmp:
            extra = ["--backend", "ray", "--workers", str(args.workers)]
            results["nightly_ray_seconds"], _ = timed_nightly(Path(tmp) / "ray", extra)
    results["targets"] = TARGETS
    results["meets_targets"] = meets_targets(results, TARGETS)
    emit(results, args.json)


if __name__ == "__main__":
    main()
