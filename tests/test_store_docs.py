"""Every SQL example in docs/store.md runs, read-only, against a small store and returns rows."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from riskengine.store import open_store

DOC = Path(__file__).resolve().parents[1] / "docs" / "store.md"
QUERIES = re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "risk.duckdb"
    store = open_store(path)
    n = 40
    with store.run("r1", config={}, seed=0, code_version="t") as run:
        run.write(
            "scenario_paths",
            {
                "spec": ["crisis"] * n,
                "path": np.arange(n, dtype=np.int32) // 10,
                "step": np.arange(n, dtype=np.int32) % 10,
                "asset": ["SPX"] * n,
                "return": np.linspace(-0.05, 0.02, n),
                "variance": np.full(n, 1e-4),
                "regime": (np.arange(n) % 2).astype(np.int16),
            },
        )
        run.write(
            "risk_metrics",
            {
                "as_of": np.array(["2018-12-31"] * 2, dtype="datetime64[ns]"),
                "scope": ["portfolio"] * 2,
                "metric": ["var", "es"],
                "level": [0.99, 0.99],
                "value": [0.02, 0.03],
            },
        )
        run.write(
            "backtests",
            {
                "model": ["gjr_skewt"],
                "level": [0.99],
                "test": ["kupiec"],
                "statistic": [0.04],
                "p_value": [0.84],
                "n": np.array([3775]),
                "exceptions": np.array([39]),
                "outcome": ["pass"],
            },
        )
        run.write(
            "execution_results",
            {
                "spec": ["regime_switching"] * 4,
                "policy": ["twap", "twap", "rl", "rl"],
                "episode": np.array([0, 1, 0, 1]),
                "regime": ["calm", "stressed", "calm", "stressed"],
                "is_bps": [1.0, 2.0, 0.2, 1.5],
                "spread_bps": [0.5, 0.6, -0.1, 0.2],
                "impact_bps": [0.4, 0.5, 0.3, 0.4],
                "timing_bps": [0.1, 0.9, 0.0, 0.9],
                "completed": [True, True, True, True],
            },
        )
    yield store
    store.close()


def test_the_page_has_its_three_queries() -> None:
    assert len(QUERIES) == 3


@pytest.mark.parametrize("sql", QUERIES, ids=["var_history", "worst_scenarios", "execution"])
def test_each_documented_query_runs(store, sql: str) -> None:
    rows = store.query(sql).fetchall()
    assert rows
