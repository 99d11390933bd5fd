"""What every benchmark script reports the same way: the machine, the targets, the output."""

from __future__ import annotations

import json
import os
import platform
from typing import Any


def machine(**extra: Any) -> dict[str, Any]:
    """CPU count, platform, Python and the 1-minute load (noise in the figures), plus ``extra``."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_1m": os.getloadavg()[0],
        **extra,
    }


def meets_targets(results: dict[str, Any], targets: dict[str, float]) -> dict[str, bool]:
    """Each target met? Rates and ratios must reach theirs; times and sizes stay below."""
    higher_is_better = ("per_s", "ratio")
    return {
        key: results[key] >= target if key.endswith(higher_is_better) else results[key] <= target
        for key, target in targets.items()
    }


def emit(results: dict[str, Any], as_json: bool, width: int = 32) -> None:
    """One JSON object, or a table of the float results and the targets met."""
    if as_json:
        print(json.dumps(results))
        return
    for key, value in results.items():
        if isinstance(value, float):
            print(f"{key:<{width}}{value:>16,.3f}")
    print(f"meets targets: {results['meets_targets']}")
