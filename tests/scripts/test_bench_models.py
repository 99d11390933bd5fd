"""The model benchmark script runs end to end and prints the promised JSON keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_models_prints_one_json_object() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/bench_models.py", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(result.stdout)
    assert report["garch_update_us"] > 0
    assert report["garch_refit_ratio"] > 1
    for key in ("cov10_update_us", "learned_update_us", "hmm_update_us", "bocpd_update_us"):
        assert report[key] > 0, key
    assert set(report["meets_targets"]) == set(report["targets"])
