"""The DuckDB store: schema, migration, atomic runs (a kill included), read-only queries, export.

The named reads are tested in tests/test_store_reads.py.
"""

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
    with store.record_run(
        run_id, config={"n": n}, seed=1, code_version="t", clock=_clock, **kwargs
    ) as run:
        run.write("scenario_paths", _paths(n))


def _count(store, run_id: str) -> int:
    return store.row_counts(run_id)["scenario_paths"]


def _statuses(store) -> dict[str, str]:
    runs = store.list_runs().to_pydict()
    return dict(zip(runs["run_id"], runs["status"], strict=True))


def _latest(store) -> list[str]:
    return store.query("SELECT run_id FROM latest_run").column("run_id").to_pylist()


def test_schema_is_created_once_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "risk.duckdb"
    with open_store(path) as store:
        assert store.schema_version == store_module.SCHEMA_VERSION
        names = store.query("SELECT table_name FROM information_schema.tables")
        tables = set(names.column("table_name").to_pylist())
        assert {"runs", *store_module.TABLES, "latest_run", "var_history"} <= tables
    with open_store(path) as store:  # reopening migrates nothing twice
        rows = store.query("SELECT count(*) AS n FROM schema_version").to_pylist()
        assert rows == [{"n": store_module.SCHEMA_VERSION}]


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
        backtests = store.query("SELECT outcome, exceptions FROM backtests").to_pylist()
        assert backtests == [{"outcome": None, "exceptions": 3}]
        history = store.query("SELECT var, realised_return, exception FROM var_history")
        assert history.to_pylist() == [{"var": 0.02, "realised_return": None, "exception": None}]
        with store.record_run("new", config={}, seed=0, code_version="0.1.0") as run:
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
        assert store.list_runs().num_rows == 2


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
        store.record_run("bad", config={}, seed=2, code_version="t", clock=_clock) as run,
    ):
        run.write("scenario_paths", _paths(50))
        raise RuntimeError("boom")
    assert _count(store, "good") == 100
    assert _count(store, "bad") == 0
    assert _statuses(store) == {"good": "succeeded", "bad": "failed"}
    assert _latest(store) == ["good"]


def test_a_write_failing_inside_the_recorder_leaves_no_rows_and_marks_the_run_failed(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    with (
        pytest.raises(ValueError, match="scenario_paths"),
        store.record_run("bad", config={}, seed=2, code_version="t", clock=_clock) as run,
    ):
        run.write("scenario_paths", _paths(50))
        run.write("scenario_paths", {**_paths(3), "step": ["a", "b", "c"]})  # raises, uncaught
    assert _count(store, "bad") == 0
    assert _statuses(store) == {"bad": "failed"}
    assert store.read_run("bad").finished_at == _clock()


def test_work_failing_before_the_first_write_leaves_no_trace(tmp_path: Path) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    with (
        pytest.raises(RuntimeError, match="the simulation died"),
        store.record_run("r", config={}, seed=0, code_version="t", clock=_clock),
    ):
        raise RuntimeError("the simulation died")
    assert _statuses(store) == {}  # the id stays free
    _run(store, "r", n=10)
    assert _count(store, "r") == 10


def test_a_run_without_rows_is_still_a_succeeded_run(tmp_path: Path) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    with store.record_run("empty", config={"k": 1}, seed=3, code_version="t", clock=_clock):
        pass
    record = store.read_run("empty")
    assert (record.status, record.seed, record.config) == ("succeeded", 3, '{"k": 1}')
    assert set(store.row_counts("empty").values()) == {0}


def test_a_reused_id_is_refused_when_recording_is_asked_for_before_any_work(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    _run(store, "r1", n=30)
    with pytest.raises(FileExistsError, match=r"^run_id: run 'r1' already exists \(succeeded\)"):
        store.record_run("r1", config={}, seed=0)  # no `with`: refused at the call
    with pytest.raises(ValueError, match="run_id"):
        store.record_run("../x", config={}, seed=0)
    assert _count(store, "r1") == 30
    open_store(tmp_path / "other.duckdb").close()
    with (
        open_store(tmp_path / "other.duckdb", read_only=True) as reader,
        pytest.raises(ValueError, match="read-only"),
    ):
        reader.record_run("r2", config={}, seed=0)


def test_the_recorder_writes_only_inside_its_block_and_once(tmp_path: Path) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    recorder = store.record_run("r", config={}, seed=0, code_version="t", clock=_clock)
    with pytest.raises(RuntimeError, match="only inside"):
        recorder.write("scenario_paths", _paths(3))
    with recorder as run:
        assert run.write("scenario_paths", _paths(3)) == 3
        assert run.write("scenario_paths", _paths(4)) == 4
    assert run.rows == {"scenario_paths": 7}
    with pytest.raises(RuntimeError, match="only inside"):
        run.write("scenario_paths", _paths(3))
    with pytest.raises(RuntimeError, match="already recorded"), recorder:
        pass
    assert store.read_run("r").code_version == "t"


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
    with store.record_run("r", config={}, seed=0, code_version="t", clock=_clock) as run:
        with pytest.raises(ValueError, match=message):
            run.write("scenario_paths", data)
        run.write("scenario_paths", _paths(5))  # the run goes on
    assert _count(store, "r") == 5
    with (
        pytest.raises(ValueError, match="table"),
        store.record_run("s", config={}, seed=0, code_version="t", clock=_clock) as run,
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
    assert store.list_runs().num_rows == 1


def test_query_returns_arrow_and_keeps_integer_sums_integers(tmp_path: Path) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    _run(store, "r", n=20)
    result = store.query(
        "SELECT run_id, count(*) AS n, sum(step) AS steps, sum(return) AS total "
        "FROM scenario_paths WHERE run_id = ? GROUP BY run_id",
        ["r"],
    )
    assert result.column_names == ["run_id", "n", "steps", "total"]
    assert str(result.schema.field("steps").type) == "int64"  # DuckDB's HUGEINT sum
    row = result.to_pylist()[0]
    assert (row["n"], row["steps"]) == (20, 2 * 45)
    assert row["total"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match=r"^sql: Catalog Error"):
        store.query("SELECT * FROM no_such_table")
    with pytest.raises(ValueError, match=r"^sql: expected a non-empty"):
        store.query("  ")


def test_run_ids_are_validated(tmp_path: Path) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    for bad in ("", "../x", "a b", 3):
        with pytest.raises(ValueError, match="run_id"):
            _run(store, bad)  # type: ignore[arg-type]


def test_export_writes_partitioned_parquet(tmp_path: Path) -> None:
    store = open_store(tmp_path / "risk.duckdb")
    with store.record_run("r", config={}, seed=0, code_version="t", clock=_clock) as run:
        run.write("scenario_paths", _paths(20, "crisis"))
        run.write("scenario_paths", _paths(10, "flash_crash"))
    written = store.export("r", tmp_path / "out")
    assert [p.name for p in written] == ["runs", *store_module.TABLES]
    partitions = sorted(p.name for p in (tmp_path / "out" / "scenario_paths").iterdir())
    assert partitions == ["spec=crisis", "spec=flash_crash"]
    table = pq.read_table(tmp_path / "out" / "scenario_paths")
    assert table.num_rows == 30
    assert sorted(set(table.column("spec").to_pylist())) == ["crisis", "flash_crash"]
    runs = pq.read_table(tmp_path / "out" / "runs" / "data_0.parquet").to_pylist()
    assert [(r["run_id"], r["status"]) for r in runs] == [("r", "succeeded")]
    assert pq.read_table(tmp_path / "out" / "limits").num_rows == 0  # every table, even empty
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".export")]
    with pytest.raises(FileNotFoundError, match="run_id"):
        store.export("missing", tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def _exported_run(tmp_path: Path):
    store = open_store(tmp_path / "risk.duckdb")
    _run(store, "r", n=12)
    return store


@pytest.mark.parametrize(
    "name",
    ["o'brien", "inj' (FORMAT CSV); --", 'quote"d', "semi;colon", "new\nline", "x')--"],
)
def test_export_takes_any_directory_name_and_builds_no_sql_from_it(
    tmp_path: Path, name: str
) -> None:
    """Issue 17, item 7: ``--to`` was pasted into SQL (injection; a quote was a traceback)."""
    store = _exported_run(tmp_path)
    target = tmp_path / "exports" / name
    store.export("r", target)
    assert pq.read_table(target / "scenario_paths").num_rows == 12
    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [name]
    assert sorted(p.name for p in target.iterdir()) == sorted(["runs", *store_module.TABLES])
    written = [p for p in target.rglob("*") if p.is_file()]
    assert written and all(p.name == "data_0.parquet" for p in written)  # Parquet, no CSV


def test_export_keeps_spec_names_from_the_store_inside_the_directory(tmp_path: Path) -> None:
    """Issue 17, item 8: a name read from the store (edited in the file) is untrusted."""
    path = tmp_path / "risk.duckdb"
    with open_store(path) as store:
        _run(store, "r", n=30)  # paths 0, 1, 2
    con = duckdb.connect(str(path))
    con.execute("UPDATE scenario_paths SET spec = '../../../../escaped' WHERE path = 0")
    con.execute("UPDATE scenario_paths SET spec = '..' WHERE path = 1")
    con.close()
    target = tmp_path / "deep" / "er" / "out"
    with open_store(path, read_only=True) as store:
        store.export("r", target)
    outside = [p for p in tmp_path.rglob("*") if "escaped" in p.name and target not in p.parents]
    assert outside == []
    partitions = sorted(p.name for p in (target / "scenario_paths").iterdir())
    assert partitions == ["spec=..", "spec=..%2F..%2F..%2F..%2Fescaped", "spec=crisis"]
    table = pq.read_table(target / "scenario_paths")
    assert sorted(set(table.column("spec").to_pylist())) == ["..", "../../../../escaped", "crisis"]


def test_export_to_a_file_or_an_unwritable_place_is_one_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    store = _exported_run(tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("keep", encoding="utf-8")
    with pytest.raises(FileExistsError, match=r"^to: .* is not a directory"):
        store.export("r", a_file)
    assert a_file.read_text(encoding="utf-8") == "keep"
    old_layout = tmp_path / "old"  # an export of older code: one file per table
    old_layout.mkdir()
    (old_layout / "runs").write_bytes(b"old")
    with pytest.raises(FileExistsError, match=r"^to: .*runs exists and is not a directory"):
        store.export("r", old_layout)
    assert sorted(p.name for p in old_layout.iterdir()) == ["runs"]
    with pytest.raises(ValueError, match=r"^to: cannot write"):
        store.export("r", a_file / "below")


def _corrupt_copies(tmp_path: Path) -> list[Path]:
    """Copies of a store with one block overwritten each (DuckDB's blocks are 256 KiB)."""
    clean = tmp_path / "clean.duckdb"
    n = 300_000
    with (
        open_store(clean) as store,
        store.record_run("r", config={}, seed=0, code_version="t", clock=_clock) as run,
    ):
        run.write(
            "scenario_paths",
            {**_paths(n), "return": np.random.default_rng(0).normal(size=n)},
        )
    data = clean.read_bytes()
    copies = []
    for offset in range(1 << 18, len(data), 1 << 18):
        copy = tmp_path / f"corrupt-{offset}.duckdb"
        damaged = bytearray(data)
        damaged[offset + 1000 : offset + 1064] = bytes(range(64))
        copy.write_bytes(bytes(damaged))
        copies.append(copy)
    return copies


def test_export_of_a_corrupt_store_is_one_line_and_leaves_no_files(tmp_path: Path) -> None:
    """Issue 17, item 12: a block-corrupted store made ``export`` print a traceback."""
    failed_in_export = 0
    for copy in _corrupt_copies(tmp_path):
        target = tmp_path / f"out-{copy.stem}"
        try:
            with open_store(copy, read_only=True) as store:
                store.export("r", target)
        except store_module.StoreUnreadable as error:
            assert "\n" not in str(error) and str(copy) in str(error)
            failed_in_export += target.exists()
            if target.exists():  # the export had started: it left nothing behind
                assert list(target.iterdir()) == []
    assert failed_in_export > 0  # some copies opened and failed half-way through the rows


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
    with store.record_run("killed", config={}, seed=0, code_version="t") as run:
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
        assert _statuses(store).get("killed") in (None, "running")
        assert _latest(store) == ["earlier"]


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
