"""The simulator benchmark script runs end to end and prints the promised JSON keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_sim_quick_prints_one_json_object() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/bench_sim.py", "--json", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    for key in ("lob_events_per_s", "lob_reference_ratio", "market_asset_steps_per_s"):
        assert report[key] > 0, key
    assert report["machine"]["jax_devices"] >= 1
    assert set(report["meets_targets"]) == set(report["targets"])
