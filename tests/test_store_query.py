"""A user's SQL (``Store.query``, ``riskengine query``) is confined to the store: it only reads it.

Issue 17, items 2 and 6: ``EXPLAIN ANALYZE COPY ... TO`` wrote (and destroyed)
files, ``read_text`` / ``read_csv`` / ``glob`` / ``read_blob`` read files outside
the store, and an https URL made DuckDB try to install an extension. One test
per route; each holds on a store opened read-only (``riskengine query``) and on
one opened for writing (a query inside the writing process).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from riskengine.store import ReadOnlyQuery, open_store

SECRET = "do not read me\n"


@pytest.fixture(params=["read_only", "writing"])
def store(request, tmp_path: Path):
    """A store with one run, opened as ``riskengine query`` opens it, or for writing."""
    path = tmp_path / "risk.duckdb"
    with (
        open_store(path) as writer,
        writer.record_run(
            "r1", config={}, seed=0, code_version="t", clock=lambda: dt.datetime(2026, 1, 2)
        ) as run,
    ):
        run.write(
            "limits",
            {
                "as_of": np.array(["2026-01-02"], dtype="datetime64[ns]"),
                "scope": ["portfolio"],
                "limit_type": ["gross"],
                "value": [1e6],
            },
        )
    opened = open_store(path, read_only=request.param == "read_only")
    yield opened
    opened.close()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside the store holding a secret file, a CSV, a JSON and a Parquet file."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "secret.txt").write_text(SECRET, encoding="utf-8")
    (directory / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (directory / "data.json").write_text('{"a": 1}\n', encoding="utf-8")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), directory / "data.parquet")
    return directory


def _refused(store, sql: str) -> str:
    with pytest.raises(ValueError, match=r"^sql: ") as error:
        store.query(sql)
    message = str(error.value)
    assert "\n" not in message
    assert SECRET.strip() not in message
    return message


def _runs_intact(store) -> None:
    assert store.read_run("r1").status == "succeeded"
    assert store.row_counts("r1")["limits"] == 1


def test_the_query_connection_is_confined_and_its_settings_locked(store) -> None:
    settings = store.query(
        "SELECT name, value FROM duckdb_settings() WHERE name IN ("
        "'enable_external_access', 'autoinstall_known_extensions', "
        "'autoload_known_extensions', 'allow_community_extensions', 'lock_configuration')"
    ).to_pylist()
    assert {row["name"]: row["value"] for row in settings} == {
        "enable_external_access": "false",
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "allow_community_extensions": "false",
        "lock_configuration": "true",
    }


def test_explain_analyze_copy_writes_no_file(store, tmp_path: Path) -> None:
    evil = tmp_path / "evil.sh"
    sql = f"EXPLAIN ANALYZE COPY (SELECT 'echo pwned' AS l) TO '{evil}' (HEADER false, QUOTE '')"
    with pytest.raises(ReadOnlyQuery, match="EXPLAIN only of a read"):
        store.query(sql)
    assert not evil.exists()


def test_explain_analyze_copy_cannot_overwrite_another_store(store, tmp_path: Path) -> None:
    other = tmp_path / "b.duckdb"
    open_store(other).close()
    before = other.read_bytes()
    with pytest.raises(ReadOnlyQuery):
        store.query(f"EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{other}' (FORMAT CSV)")
    assert other.read_bytes() == before


@pytest.mark.parametrize(
    "sql",
    [
        "EXPLAIN ANALYZE DELETE FROM runs",
        "EXPLAIN ANALYZE INSERT INTO runs VALUES ('x', NULL, NULL, 'succeeded', NULL, NULL, 0)",
        "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
        "EXPLAIN ANALYZE COMMIT",
        "EXPLAIN ANALYZE UPDATE runs SET status = 'failed'",
        "EXPLAIN /* hidden */ ANALYZE DELETE FROM runs",
        "EXPLAIN (ANALYZE, FORMAT json) DELETE FROM runs",
    ],
)
def test_explain_of_anything_but_a_select_is_refused(store, sql: str) -> None:
    with pytest.raises(ReadOnlyQuery, match="EXPLAIN only of a read"):
        store.query(sql)
    _runs_intact(store)
    assert not Path("/tmp/riskengine-never").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "EXPLAIN SELECT * FROM runs",
        "EXPLAIN ANALYZE SELECT count(*) FROM limits",
        "explain (format json) select 1",
    ],
)
def test_explain_of_a_select_still_works(store, sql: str) -> None:
    assert store.query(sql).num_rows >= 1


def test_a_write_hidden_in_a_select_is_refused_even_on_a_writing_store(store) -> None:
    message = _refused(store, "WITH gone AS (DELETE FROM runs RETURNING *) SELECT * FROM gone")
    assert "read-only" in message.lower()
    _refused(store, "SELECT * FROM query('DELETE FROM runs')")
    _runs_intact(store)


@pytest.mark.parametrize(
    "function",
    [
        "read_text('{secret}')",
        "read_blob('{secret}')",
        "read_csv('{csv}')",
        "read_csv_auto('{csv}')",
        "sniff_csv('{csv}')",
        "read_json('{json}')",
        "read_json_auto('{json}')",
        "read_ndjson_objects('{json}')",
        "read_parquet('{parquet}')",
        "parquet_metadata('{parquet}')",
        "parquet_schema('{parquet}')",
        "glob('{directory}/*')",
        "'{csv}'",  # a file path in place of a table (DuckDB's replacement scan)
    ],
)
def test_files_outside_the_store_cannot_be_read(store, outside: Path, function: str) -> None:
    source = function.format(
        secret=outside / "secret.txt",
        csv=outside / "data.csv",
        json=outside / "data.json",
        parquet=outside / "data.parquet",
        directory=outside,
    )
    message = _refused(store, f"SELECT * FROM {source}")
    assert "Permission Error" in message or "Catalog Error" in message


def test_system_files_cannot_be_read(store) -> None:
    for sql in (
        "SELECT content FROM read_text('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('/root/*')",
        "SELECT * FROM glob('/etc/*')",
    ):
        _refused(store, sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('https://127.0.0.1:9/prices.csv')",
        "SELECT * FROM 'https://127.0.0.1:9/prices.parquet'",
        "SELECT * FROM read_parquet('s3://bucket/key.parquet')",
        "SELECT * FROM duckdb_extensions()",
        "SELECT * FROM duckdb_secrets()",
    ],
)
def test_urls_and_extensions_install_and_load_nothing(
    store, sql: str, tmp_path: Path, monkeypatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # DuckDB reads HOME when it looks for extensions
    _refused(store, sql)
    assert list(home.iterdir()) == []  # no ~/.duckdb/extensions, no download


@pytest.mark.parametrize(
    "sql",
    [
        "ATTACH ':memory:' AS other",
        "ATTACH '/tmp/riskengine-never.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "COPY runs TO '/tmp/riskengine-never.csv'",
        "EXPORT DATABASE '/tmp/riskengine-never'",
        "SET enable_external_access = true",
        "RESET enable_external_access",
        "SET lock_configuration = false",
        "PRAGMA enable_profiling",
        "SET profiling_output = '/tmp/riskengine-never.json'",
        "CALL pragma_version()",
        "CHECKPOINT",
        "SELECT 1; SELECT 2",
        "SELECT 1; SET enable_external_access = true",
    ],
)
def test_statements_other_than_one_read_are_refused(store, sql: str) -> None:
    with pytest.raises(ValueError, match=r"^sql: (only read statements|expected one statement)"):
        store.query(sql)
    for leftover in ("riskengine-never", "riskengine-never.duckdb", "riskengine-never.csv"):
        assert not (Path("/tmp") / leftover).exists()
    setting = store.query("SELECT current_setting('enable_external_access') AS on")
    assert setting.to_pylist() == [{"on": False}]
