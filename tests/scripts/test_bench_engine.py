"""The engine benchmark runs end to end (small sizes) and prints the promised JSON keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_engine_prints_one_json_object() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/bench_engine.py", "--json", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    for key in (
        "update_p50_us",
        "update_p99_us",
        "check_p50_us",
        "replay_asset_updates_per_s",
        "memory_growth_mb",
    ):
        assert report[key] > 0 or key == "memory_growth_mb", key
    assert report["update_p99_during_refit_us"] > 0 and report["updates_during_refit"] > 0
    assert report["assets"] == 10
    assert report["replay_max_relative_difference"] < 1e-10
    assert set(report["meets_targets"]) == set(report["targets"])
