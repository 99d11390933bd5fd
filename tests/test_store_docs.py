"""Every SQL example in docs/store.md runs, read-only, against a small store and returns rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from riskengine.store import open_store
from tests.nightly._report_data import write_sample_run

DOC = Path(__file__).resolve().parents[1] / "docs" / "store.md"
QUERIES = re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "risk.duckdb"
    store = open_store(path)
    write_sample_run(store)  # every table, shaped like a nightly run
    yield store
    store.close()


def test_the_page_has_its_four_queries() -> None:
    assert len(QUERIES) == 4


@pytest.mark.parametrize(
    "sql", QUERIES, ids=["var_history", "scenario_var", "worst_scenarios", "execution"]
)
def test_each_documented_query_runs(store, sql: str) -> None:
    assert store.query(sql).num_rows > 0
