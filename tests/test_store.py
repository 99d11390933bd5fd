"""The DuckDB store: schema, migration, atomic runs (a kill included), read-only queries, export."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from riskengine import store as store_module
from riskengine.store import ReadOnlyQuery, StoreBusy, open_store

ROOT = Path(__file__).resolve().parents[1]


def _clock():
    return dt.datetime(2026, 1, 2, 3, 4, 5)


def _paths(n: int, spec: str = "crisis") -> dict:
    return {
        "spec": [spec] * n,
        "path": np.arange(n, dtype=np.int32) // 10,
        "step": np.arange(n, dtype=np.int32) % 10,
        "asset": ["SPX"] * n,
        "return": np.linspace(-0.01, 0.01, n),
        "variance": np.full(n, 1e-4),
        "regime": np.zeros(n, dtype=np.int16),
    }


def _run(store, run_id: str, n: int = 100, **kwargs) -> None:
    with store.run(run_id, config={"n": n}, seed=1, code_version="t", clock=_clock, **kwargs) as r:
        r.write("scenario_paths", _paths(n))


def _count(store, run_id: str) -> int:
    return store.query("SELECT count(*) FROM scenario_paths WHERE run_id = ?", [run_id]).fetchone()[
        0
    ]


def test_schema_is_created_once_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "risk.duckdb"
    with open_store(path) as store:
        assert store.schema_version == store_module.SCHEMA_VERSION
        names = store.query("SELECT table_name FROM information_schema.tables").fetchall()
        tables = {row[0] for row in names}
        assert {"runs", *store_module.TABLES, "latest_run", "var_history"} <= tables
    with open_store(path) as store:  # reopening migrates nothing twice
        rows = store.query("SELECT count(*) FROM schema_version").fetchone()[0]
        assert rows == store_module.SCHEMA_VERSION


def test_a_version_1_store_migrates_to_the_current_schema_keeping_its_runs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "risk.duckdb"
    con = duckdb.connect(str(path))  # a file exactly as schema version 1 code left it
    con.execute("CREATE TABLE schema_version (version INTEGER, applied TIMESTAMP)")
    for statement in store_module.MIGRATIONS[0]:
        con.execute(statement)
    con.execute("INSERT INTO schema_version VALUES (1, current_timestamp)")
    con.execute("INSERT INTO runs VALUES ('old', now(), now(), 'succeeded', '{}', '0.1.0', 0)")
    con.execute(
        "INSERT INTO risk_metrics VALUES ('old', '2018-01-02', 'portfolio', 'var', 0.99, 0.02)"
    )
    con.execute("INSERT INTO backtests VALUES ('old', 'engine', 0.99, 'kupiec', 1.0, 0.3, 250, 3)")
    con.close()
    with pytest.raises(ValueError, match="schema_version: store has 1"):
        open_store(path, read_only=True).close()
    with open_store(path) as store:  # opening for writing migrates, in one transaction
        assert store.schema_version == store_module.SCHEMA_VERSION
        assert store.query("SELECT outcome, exceptions FROM backtests").fetchall() == [(None, 3)]
        history = store.query("SELECT var, realised_return, exception FROM var_history")
        assert history.fetchall() == [(0.02, None, None)]
        with store.run("new", config={}, seed=0, code_version="0.1.0") as run:
            run.write(
                "scenario_metrics",
                {
                    "spec": ["crisis"],
                    "horizon": [10],
                    "metric": ["var"],
                    "level": [0.99],
                    "value": [0.1],
                },
            )
        assert store.query("SELECT count(*) FROM runs").fetchone()[0] == 2


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "risk.duckdb"
    open_store(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (99, current_timestamp)")
    con.close()
    with pytest.raises(ValueError, match="schema_version"):
        open_store(path)
    with pytest.raises(ValueError, match="schema_version"):
        open_store(path, read_only=True)


def test_a_failing_run_leaves_no_rows_and_earlier_runs_intact(tmp_path: Path) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    _run(store, "good")
    with (
        pytest.raises(RuntimeError, match="boom"),
        store.run("bad", config={}, seed=2, code_version="t", clock=_clock) as run,
    ):
        run.write("scenario_paths", _paths(50))
        raise RuntimeError("boom")
    assert _count(store, "good") == 100
    assert _count(store, "bad") == 0
    statuses = dict(store.query("SELECT run_id, status FROM runs").fetchall())
    assert statuses == {"good": "succeeded", "bad": "failed"}
    assert store.query("SELECT run_id FROM latest_run").fetchall() == [("good",)]


def test_a_run_id_is_not_reused_unless_replaced(tmp_path: Path) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    _run(store, "r1", n=30)
    with pytest.raises(FileExistsError, match="run_id"):
        _run(store, "r1", n=40)
    assert _count(store, "r1") == 30
    _run(store, "r1", n=40, replace=True)
    assert _count(store, "r1") == 40


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({k: v for k, v in _paths(3).items() if k != "asset"}, r"missing \['asset'\]"),
        ({**_paths(3), "extra": [1, 2, 3]}, r"unexpected \['extra'\]"),
        ({**_paths(3), "step": ["a", "b", "c"]}, "scenario_paths"),
    ],
)
def test_bad_batches_are_refused_and_write_nothing(tmp_path: Path, data, message) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    with store.run("r", config={}, seed=0, code_version="t", clock=_clock) as run:
        with pytest.raises(ValueError, match=message):
            run.write("scenario_paths", data)
        run.write("scenario_paths", _paths(5))  # the run goes on
    assert _count(store, "r") == 5
    with (
        pytest.raises(ValueError, match="table"),
        store.run("s", config={}, seed=0, code_version="t", clock=_clock) as run,
    ):
        run.write("no_such_table", _paths(1))


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM runs",
        "INSERT INTO runs VALUES ('x', NULL, NULL, 'succeeded', NULL, NULL, 0)",
        "DROP TABLE runs",
        "CREATE TABLE t (x INT)",
        "SELECT 1; DELETE FROM runs",
        "COPY runs TO '/tmp/x.csv'",
        "ATTACH ':memory:' AS other",
    ],
)
def test_query_refuses_writes(tmp_path: Path, sql: str) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    _run(store, "r")
    with pytest.raises(ReadOnlyQuery, match="sql: only read statements"):
        store.query(sql)
    assert store.query("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_run_ids_are_validated(tmp_path: Path) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    for bad in ("", "../x", "a b", 3):
        with pytest.raises(ValueError, match="run_id"):
            _run(store, bad)  # type: ignore[arg-type]


def test_export_writes_partitioned_parquet(tmp_path: Path) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    with store.run("r", config={}, seed=0, code_version="t", clock=_clock) as run:
        run.write("scenario_paths", _paths(20, "crisis"))
        run.write("scenario_paths", _paths(10, "flash_crash"))
    store.export("r", tmp_path / "out")
    partitions = sorted(p.name for p in (tmp_path / "out" / "scenario_paths").iterdir())
    assert partitions == ["spec=crisis", "spec=flash_crash"]
    table = pq.read_table(tmp_path / "out" / "scenario_paths")
    assert table.num_rows == 30
    with pytest.raises(FileNotFoundError, match="run_id"):
        store.export("missing", tmp_path / "out2")


_KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, numpy as np
    sys.path.insert(0, sys.argv[2])
    from riskengine.store import open_store
    store = open_store(sys.argv[1])
    n = 200_000
    data = {"spec": ["crisis"] * n, "path": np.zeros(n, np.int32), "step": np.zeros(n, np.int32),
            "asset": ["SPX"] * n, "return": np.zeros(n), "variance": np.zeros(n),
            "regime": np.zeros(n, np.int16)}
    with store.run("killed", config={}, seed=0, code_version="t") as run:
        run.write("scenario_paths", data)
        run.write("scenario_paths", data)
        os.kill(os.getpid(), 9)  # dies mid-run, before the commit
    """
)


def test_a_killed_run_leaves_earlier_runs_intact_and_none_of_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "risk.duckdb"
    with open_store(path) as store:
        _run(store, "earlier", n=1000)
    result = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(path), str(ROOT)], capture_output=True
    )
    assert result.returncode == -9, result.stderr.decode()
    with open_store(path, read_only=True) as store:
        assert _count(store, "earlier") == 1000
        assert _count(store, "killed") == 0
        status = store.query("SELECT status FROM runs WHERE run_id = 'killed'").fetchall()
        assert status in ([], [("running",)])
        assert store.query("SELECT run_id FROM latest_run").fetchall() == [("earlier",)]


def test_a_reader_gets_a_clear_busy_error_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "risk.duckdb"
    open_store(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout.readline().strip() == b"ready"
        with pytest.raises(StoreBusy, match=r"database busy.*retry"):
            open_store(path, read_only=True)
    finally:
        holder.communicate(b"")
    with open_store(path, read_only=True) as store:  # free again once the writer is gone
        assert store.schema_version == store_module.SCHEMA_VERSION


def test_read_only_open_of_a_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="path: no store"):
        open_store(tmp_path / "missing.duckdb", read_only=True)
