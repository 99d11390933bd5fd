"""What the scenario stage can represent and how much memory it needs, known before it runs.

Two limits are checked from the configuration alone, before any array exists:

- **representable**: the simulator (JAX, 32-bit integers) indexes a shard's
  random keys as one flat array of two words per path-step, so a shard must
  satisfy ``2 * shard_paths * steps <= 2**31 - 1`` (:data:`MAX_SHARD_PATH_STEPS`);
- **memory**: :func:`scenario_memory` estimates the peak of one shard plus what
  the run keeps across shards (every set's returns, variances and regimes, and
  the long ``scenario_paths`` table when ``store_paths``), and
  :func:`check_scenario_memory` refuses a config that needs more than the
  budget: the machine's physical memory, or ``RISKENGINE_MEMORY_GIB``.

Examples
--------
>>> scenario_memory(paths=10_000, shard_paths=1_000, steps=[10], n_assets=2).total < 2**30
True
>>> check_scenario_memory(
...     paths=[10_000_000], shard_paths=1_000, steps=[2_520], n_assets=2, budget=16 * 2**30
... )
Traceback (most recent call last):
riskengine.errors.InvalidConfig: scenarios.paths: needs about 3287 GiB ...
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from riskengine.errors import InvalidConfig

__all__ = [
    "MAX_SHARD_PATH_STEPS",
    "MEMORY_ENV",
    "ScenarioMemory",
    "check_scenario_memory",
    "memory_budget",
    "scenario_memory",
]

#: Largest ``shard_paths * steps`` the simulator can index (two int32-indexed key words each).
MAX_SHARD_PATH_STEPS = (2**31 - 1) // 2
#: Environment variable overriding the memory budget, in GiB.
MEMORY_ENV = "RISKENGINE_MEMORY_GIB"
GIB = 2**30
#: Regimes assumed for the estimate (the most any spec or HMM here uses).
MAX_REGIMES = 3


@dataclasses.dataclass(frozen=True)
class ScenarioMemory:
    """Bytes needed: ``shard`` (one shard at its peak) and ``kept`` (across shards)."""

    shard: int
    kept: int

    @property
    def total(self) -> int:
        return self.shard + self.kept


def _shard_bytes_per_path_step(n_assets: int, n_regimes: int) -> int:
    # JAX: keys (8), noise (4 * (N + 7)), regimes and chi-square draws (~24), the
    # per-regime correlated normals (4 K N) and ~10 (steps, paths, N) float32 buffers;
    # numpy afterwards: ~6 float64 (P, H, N) arrays for the book and the limits, and
    # three float64 (P, H, N, N) correlation / covariance arrays (the oracle limits).
    n, k = n_assets, n_regimes
    jax_side = 8 + 4 * (n + 7) + 24 + 4 * k * n + 40 * n
    numpy_side = 48 * n + 24 * n * n + 32
    return jax_side + numpy_side


def _kept_bytes_per_path_step(n_assets: int, store_paths: bool) -> int:
    # float32 returns and variances and an int32 regime, twice while the shards
    # are concatenated; the scenario_paths table is ~50 bytes per (path, step, asset) row.
    kept = 2 * (8 * n_assets + 4)
    return kept + (50 * n_assets if store_paths else 0)


def scenario_memory(
    *,
    paths: int | Sequence[int],
    shard_paths: int,
    steps: Sequence[int],
    n_assets: int,
    store_paths: bool = True,
    n_regimes: int = MAX_REGIMES,
) -> ScenarioMemory:
    """Estimated memory of the scenario sets: ``paths[i]`` paths of ``steps[i]`` steps each.

    ``paths`` may be one number for every set. An estimate, deliberately on the
    high side of the arrays the stage allocates (the module docstring).
    """
    counts = [paths] * len(steps) if isinstance(paths, int) else list(paths)
    shard = max(min(shard_paths, p) * t for p, t in zip(counts, steps, strict=True))
    kept = sum(p * t for p, t in zip(counts, steps, strict=True))
    return ScenarioMemory(
        shard=shard * _shard_bytes_per_path_step(n_assets, n_regimes),
        kept=kept * _kept_bytes_per_path_step(n_assets, store_paths),
    )


def memory_budget() -> int:
    """Bytes the run may use: ``RISKENGINE_MEMORY_GIB`` if set, else the physical memory."""
    text = os.environ.get(MEMORY_ENV)
    if text is not None:
        try:
            gib = float(text)
        except ValueError:
            gib = float("nan")
        if not gib > 0 or gib == float("inf"):
            raise InvalidConfig(MEMORY_ENV, f"expected a positive number of GiB, got {text!r}")
        return int(gib * GIB)
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_scenario_memory(
    *,
    paths: int | Sequence[int],
    shard_paths: int,
    steps: Sequence[int],
    n_assets: int,
    store_paths: bool = True,
    budget: int | None = None,
) -> ScenarioMemory:
    """Refuse (``InvalidConfig``, one line) scenario sets that will not fit in ``budget`` bytes.

    The field named is ``scenarios.shard_paths`` when one shard alone does not
    fit, else ``scenarios.paths`` (what the run keeps grows with the paths).
    """
    need = scenario_memory(
        paths=paths,
        shard_paths=shard_paths,
        steps=steps,
        n_assets=n_assets,
        store_paths=store_paths,
    )
    budget = memory_budget() if budget is None else budget
    if need.total > budget:
        field = "scenarios.shard_paths" if need.shard > budget else "scenarios.paths"
        source = MEMORY_ENV if MEMORY_ENV in os.environ else "the machine's physical memory"
        raise InvalidConfig(
            field,
            f"needs about {need.total / GIB:.0f} GiB ({need.shard / GIB:.1f} GiB per shard, "
            f"{need.kept / GIB:.1f} GiB kept across shards for {n_assets} assets) but the "
            f"budget is {budget / GIB:.1f} GiB ({source}); lower paths, horizon or "
            f"shard_paths, set store_paths = false, or set {MEMORY_ENV}",
        )
    return need
