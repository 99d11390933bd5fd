"""The DuckDB store of nightly runs: a versioned schema, atomic runs, Arrow bulk writes.

This is the only module that writes with duckdb (the nightly history loader only reads a
user's table); everything else hands it Arrow tables (or anything ``pyarrow.table``
accepts: dicts of numpy arrays).

Schema (version :data:`SCHEMA_VERSION`, created and migrated by :func:`open_store`)
----------------------------------------------------------------------------------
``runs``
    ``run_id``, ``started_at``, ``finished_at``, ``status`` (``running``,
    ``succeeded``, ``failed``), ``config`` (JSON text), ``code_version``, ``seed``.
``scenario_paths``
    ``run_id, spec, path, step, asset, return, variance, regime``.
``risk_metrics``
    ``run_id, as_of, scope`` (``portfolio`` or an asset), ``metric, level, value``.
``backtests``
    ``run_id, model, level, test, statistic, p_value, n, exceptions, outcome``.
``forecast_scores``
    ``run_id, target, model, baseline, score, value, baseline_value``.
``limits``
    ``run_id, as_of, scope, limit_type, value``.
``execution_results``
    ``run_id, spec, policy, episode, regime, is_bps, spread_bps, impact_bps,
    timing_bps, completed``.
``scenario_metrics``
    ``run_id, spec, horizon, metric, level, value`` (scenario VaR / ES, stress losses).
``scenario_results``
    ``run_id, spec, path, portfolio_return, pnl, max_drawdown, end_regime,
    stressed_steps, gross_limit_end, gross_limit_min`` (one row per scenario path).
Views: ``latest_run`` (the newest succeeded run), ``var_history`` (VaR of
succeeded runs with the next period's realised return and the exception flag)
and ``var_exceptions`` (Kupiec rows: exception counts).

Atomicity
---------
:meth:`Store.run` records the run as ``running`` in its own committed
transaction, then writes every table inside *one* transaction that commits
together with ``status = 'succeeded'``.  An exception rolls the data back and
marks the run ``failed``; a kill leaves the data transaction uncommitted, so
no row of the run is ever visible and the run stays ``running`` (a stale
running run is a failed one; the views only read succeeded runs).  Earlier
runs are never touched.  Re-using a run id is refused unless ``replace``.

DuckDB allows one writing process per file.  While a run writes, read with
``open_store(path, read_only=True)`` from another process only after it
finishes (the file is locked: :class:`StoreBusy`, "database busy, retry"), or
read the Parquet export (:meth:`Store.export`).

Examples
--------
>>> import tempfile, os, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "risk.duckdb")
>>> store = open_store(path)
>>> with store.run("r1", config={"assets": ["SPX"]}, seed=0, code_version="0.1.0") as run:
...     rows = run.write("risk_metrics", {"as_of": np.array(["2018-12-31"], dtype="datetime64[ns]"),
...         "scope": ["portfolio"], "metric": ["var"], "level": [0.99], "value": [0.021]})
>>> rows
1
>>> store.query("SELECT status FROM runs").fetchall()
[('succeeded',)]
>>> store.query("DELETE FROM runs")
Traceback (most recent call last):
riskengine.store.ReadOnlyQuery: sql: only read statements are allowed, got DELETE
>>> store.close()
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from riskengine.errors import InvalidInput

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "ReadOnlyQuery",
    "RunWriter",
    "Store",
    "StoreBusy",
    "open_store",
    "read_user_table",
]

SCHEMA_VERSION = 2

_SCENARIO_PATHS = (
    ("spec", "VARCHAR"),
    ("path", "INTEGER"),
    ("step", "INTEGER"),
    ("asset", "VARCHAR"),
    ("return", "DOUBLE"),
    ("variance", "DOUBLE"),
    ("regime", "SMALLINT"),
)
_BACKTESTS_V1 = (
    ("model", "VARCHAR"),
    ("level", "DOUBLE"),
    ("test", "VARCHAR"),
    ("statistic", "DOUBLE"),
    ("p_value", "DOUBLE"),
    ("n", "BIGINT"),
    ("exceptions", "BIGINT"),
)

#: The data tables of schema version 1, frozen: migration 0 creates exactly these.
_TABLES_V1: dict[str, tuple[tuple[str, str], ...]] = {
    "scenario_paths": _SCENARIO_PATHS,
    "risk_metrics": (
        ("as_of", "TIMESTAMP"),
        ("scope", "VARCHAR"),
        ("metric", "VARCHAR"),
        ("level", "DOUBLE"),
        ("value", "DOUBLE"),
    ),
    "backtests": _BACKTESTS_V1,
    "forecast_scores": (
        ("target", "VARCHAR"),
        ("model", "VARCHAR"),
        ("baseline", "VARCHAR"),
        ("score", "VARCHAR"),
        ("value", "DOUBLE"),
        ("baseline_value", "DOUBLE"),
    ),
    "limits": (
        ("as_of", "TIMESTAMP"),
        ("scope", "VARCHAR"),
        ("limit_type", "VARCHAR"),
        ("value", "DOUBLE"),
    ),
    "execution_results": (
        ("spec", "VARCHAR"),
        ("policy", "VARCHAR"),
        ("episode", "BIGINT"),
        ("regime", "VARCHAR"),
        ("is_bps", "DOUBLE"),
        ("spread_bps", "DOUBLE"),
        ("impact_bps", "DOUBLE"),
        ("timing_bps", "DOUBLE"),
        ("completed", "BOOLEAN"),
    ),
}

#: Tables added by schema version 2 (scenario and stress results of the nightly run).
_TABLES_V2_NEW: dict[str, tuple[tuple[str, str], ...]] = {
    "scenario_metrics": (
        ("spec", "VARCHAR"),
        ("horizon", "INTEGER"),
        ("metric", "VARCHAR"),
        ("level", "DOUBLE"),
        ("value", "DOUBLE"),
    ),
    "scenario_results": (
        ("spec", "VARCHAR"),
        ("path", "INTEGER"),
        ("portfolio_return", "DOUBLE"),
        ("pnl", "DOUBLE"),
        ("max_drawdown", "DOUBLE"),
        ("end_regime", "SMALLINT"),
        ("stressed_steps", "INTEGER"),
        ("gross_limit_end", "DOUBLE"),
        ("gross_limit_min", "DOUBLE"),
    ),
}

#: Column names and SQL types of every data table in the current schema
#: (``run_id`` first, filled by the store).
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    **_TABLES_V1,
    "backtests": (*_BACKTESTS_V1, ("outcome", "VARCHAR")),
    **_TABLES_V2_NEW,
}


_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "INTEGER": pa.int32(),
    "SMALLINT": pa.int16(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TIMESTAMP": pa.timestamp("us"),
}


def _arrow_type(kind: str, given: pa.DataType) -> pa.DataType:
    """The Arrow type a column is cast to; dictionary-encoded text stays encoded.

    DuckDB reads a dictionary column (a handful of specs or assets over
    millions of rows) without materialising one string per row.
    """
    if kind == "VARCHAR" and pa.types.is_dictionary(given) and pa.types.is_string(given.value_type):
        return given
    return _ARROW_TYPES[kind]


def _create_table(table: str, columns: tuple[tuple[str, str], ...]) -> str:
    body = ", ".join(f'"{name}" {kind}' for name, kind in columns)
    return f"CREATE TABLE {table} (run_id VARCHAR NOT NULL, {body})"


def _schema_v1() -> list[str]:
    statements = [
        """CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY, started_at TIMESTAMP, finished_at TIMESTAMP,
            status VARCHAR NOT NULL, config VARCHAR, code_version VARCHAR, seed BIGINT)""",
    ]
    statements += [_create_table(table, columns) for table, columns in _TABLES_V1.items()]
    statements += [
        """CREATE VIEW latest_run AS SELECT * FROM runs WHERE status = 'succeeded'
            ORDER BY finished_at DESC, run_id DESC LIMIT 1""",
        """CREATE VIEW var_history AS SELECT m.* FROM risk_metrics m
            JOIN runs r USING (run_id) WHERE r.status = 'succeeded' AND m.metric = 'var'""",
        """CREATE VIEW var_exceptions AS SELECT b.* FROM backtests b
            JOIN runs r USING (run_id) WHERE r.status = 'succeeded' AND b.test = 'kupiec'""",
    ]
    return statements


def _schema_v2() -> list[str]:
    """Backtest outcomes, scenario tables, and a VaR history that shows each day's exception."""
    statements = ["ALTER TABLE backtests ADD COLUMN outcome VARCHAR"]
    statements += [_create_table(table, columns) for table, columns in _TABLES_V2_NEW.items()]
    statements += [
        # as_of is the day the forecast was made; realised_return is the book's return
        # over the next period, the one the VaR covers (NULL for the newest forecast).
        """CREATE OR REPLACE VIEW var_history AS
            SELECT v.run_id, v.as_of, v.scope, v.level, v.value AS var,
                   r.value AS realised_return, -r.value > v.value AS exception
            FROM risk_metrics v JOIN runs USING (run_id)
            LEFT JOIN risk_metrics r ON r.run_id = v.run_id AND r.as_of = v.as_of
                AND r.scope = v.scope AND r.metric = 'realised_return'
            WHERE runs.status = 'succeeded' AND v.metric = 'var'""",
    ]
    return statements


#: ``MIGRATIONS[v]`` takes a store from schema version ``v`` to ``v + 1``.
MIGRATIONS: dict[int, list[str]] = {0: _schema_v1(), 1: _schema_v2()}


def _first_line(error: Exception) -> str:
    """DuckDB's message without its multi-line caret diagram (errors stay one line)."""
    return str(error).strip().splitlines()[0]


def read_user_table(path: str | os.PathLike[str], table: str | None) -> Any:
    """A user's own DuckDB table (or view) as a pandas DataFrame, read-only.

    For the nightly run's price history (``riskengine nightly --data file.duckdb
    --table closes``): ``table`` is matched against the file's catalogue before
    any SQL is built, so it cannot inject SQL, and no extension is ever
    installed or loaded. Errors name ``source`` (unreadable file) or ``table``.
    """
    path = Path(path)
    # Never install or load an extension on the user's behalf (e.g. for a SQLite .db file):
    # that would reach the network.
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    with path.open("rb") as file:
        is_sqlite = file.read(16) == b"SQLite format 3\x00"
    if is_sqlite:  # a common .db; say so rather than relay duckdb's missing-extension error
        raise InvalidInput("source", f"{path}: cannot read (a SQLite database, not DuckDB)")
    try:
        connection = duckdb.connect(str(path), read_only=True, config=config)
    except duckdb.Error as error:
        raise _unreadable_source(path, error) from None
    try:
        try:
            catalogue = connection.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_catalog = current_database()"
                " ORDER BY table_schema, table_name"
            ).fetchall()
        except duckdb.Error as error:
            raise _unreadable_source(path, error) from None
        names = [name if schema == "main" else f"{schema}.{name}" for schema, name in catalogue]
        if table is None:
            raise InvalidInput("table", f"required for a DuckDB source; tables in {path}: {names}")
        if not isinstance(table, str):
            raise InvalidInput("table", f"expected a table name, got {type(table).__name__}")
        matches = [
            (schema, name) for schema, name in catalogue if table in (name, f"{schema}.{name}")
        ]
        if len(matches) != 1:
            problem = "no such table" if not matches else "ambiguous; qualify it with its schema"
            raise InvalidInput("table", f"{table!r}: {problem} in {path}; tables: {names}")
        schema, name = matches[0]
        # Built from the catalogue's own names, quoted, never from the caller's string.
        quoted = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, name))
        try:
            with warnings.catch_warnings():
                # duckdb's pandas conversion may warn about pandas' own deprecations.
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                frame = connection.execute(f"SELECT * FROM {quoted}").df()
        except duckdb.Error as error:
            raise _unreadable_source(path, error) from None
    finally:
        connection.close()
    return frame


def _unreadable_source(path: Path, error: BaseException) -> InvalidInput:
    lines = str(error).strip().splitlines()
    return InvalidInput(
        "source", f"{path}: cannot read ({lines[0] if lines else type(error).__name__})"
    )


class StoreBusy(RuntimeError):
    """Another process holds the database file: retry later, or read the Parquet export."""


class ReadOnlyQuery(ValueError):
    """A statement other than a read was given to :meth:`Store.query`."""


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")


def _check_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise ValueError(
            f"run_id: expected letters, digits, '_', '.', ':' or '-' (at most 100), got {run_id!r}"
        )
    return run_id


def _connect(path: str | os.PathLike[str], read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(os.fspath(path), read_only=read_only)
    except duckdb.Error as error:
        if isinstance(error, duckdb.IOException) and "lock" in str(error).lower():
            raise StoreBusy(f"{path}: database busy (another process writes it), retry") from None
        raise ValueError(
            f"{path}: not a readable riskengine store ({_first_line(error)})"
        ) from None


def open_store(path: str | os.PathLike[str], *, read_only: bool = False) -> Store:
    """Open (and create or migrate, unless ``read_only``) the store at ``path``."""
    if read_only and not Path(path).is_file():
        raise FileNotFoundError(f"path: no store at {path}")
    connection = _connect(path, read_only)
    store = Store(connection, Path(path), read_only)
    if not read_only:
        try:
            store._migrate()
        except BaseException:
            connection.close()
            raise
        return store
    version = store.schema_version
    if version != SCHEMA_VERSION:
        connection.close()
        raise ValueError(
            f"{path}: schema_version: store has {version}, this code reads "
            f"{SCHEMA_VERSION}; open it once for writing to migrate"
        )
    return store


class Store:
    """A connection to the store; build with :func:`open_store`."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: Path, read_only: bool):
        self._connection = connection
        self.path = path
        self.read_only = read_only

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the file (0 for an empty file)."""
        exists = self._connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        ).fetchone()[0]
        if not exists:
            return 0
        row = self._connection.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"{self.path}: schema_version: store has {version}, newer than this code's "
                f"{SCHEMA_VERSION}"
            )
        con = self._connection
        while version < SCHEMA_VERSION:
            con.begin()
            try:
                if version == 0:
                    con.execute("CREATE TABLE schema_version (version INTEGER, applied TIMESTAMP)")
                for statement in MIGRATIONS[version]:
                    con.execute(statement)
                con.execute(
                    "INSERT INTO schema_version VALUES (?, current_timestamp)", [version + 1]
                )
                con.commit()
            except BaseException:
                con.rollback()
                raise
            version += 1

    def query(self, sql: str, parameters: list[Any] | None = None) -> duckdb.DuckDBPyConnection:
        """Run one read-only statement (``SELECT``, ``WITH``, ``EXPLAIN``); refuse anything else.

        Returns a cursor: ``fetchall()``, ``fetchone()``, ``fetch_arrow_table()``.
        """
        if not isinstance(sql, str) or not sql.strip():
            raise ValueError("sql: expected a non-empty SQL string")
        try:
            statements = self._connection.extract_statements(sql)
        except duckdb.Error as error:
            raise ValueError(f"sql: {_first_line(error)}") from None
        allowed = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
        for statement in statements:
            if statement.type not in allowed:
                name = statement.type.name
                raise ReadOnlyQuery(f"sql: only read statements are allowed, got {name}")
        if len(statements) != 1:
            raise ValueError(f"sql: expected one statement, got {len(statements)}")
        # A cursor, so one caller's result never interleaves with the writer's statements.
        try:
            return self._connection.cursor().execute(sql, parameters or [])
        except duckdb.Error as error:
            raise ValueError(f"sql: {_first_line(error)}") from None

    def check_new_run(self, run_id: str, *, replace: bool = False) -> str | None:
        """Refuse a bad or already used run id (unless ``replace``) before any work starts.

        Returns the status of the run being replaced (None for a new id).
        """
        _check_run_id(run_id)
        existing = self._connection.execute(
            "SELECT status FROM runs WHERE run_id = ?", [run_id]
        ).fetchone()
        if existing is not None and not replace:
            raise FileExistsError(
                f"run_id: run {run_id!r} already exists ({existing[0]}); use replace to redo it"
            )
        return None if existing is None else existing[0]

    @contextlib.contextmanager
    def run(
        self,
        run_id: str,
        *,
        config: Mapping[str, Any],
        seed: int,
        code_version: str,
        replace: bool = False,
        clock: Any = None,
    ) -> Iterator[RunWriter]:
        """Write one run atomically (see the module docstring); yields a :class:`RunWriter`.

        ``clock`` returns the timestamps recorded as ``started_at`` / ``finished_at``
        (default: UTC wall time; tests inject a fixed clock).
        """
        if self.read_only:
            raise ValueError(f"{self.path}: store opened read-only")
        existing = self.check_new_run(run_id, replace=replace)
        now = clock or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
        config_text = json.dumps(config, sort_keys=True)
        con = self._connection
        con.begin()
        if existing is not None:
            self._delete_run(run_id)
        con.execute(
            "INSERT INTO runs VALUES (?, ?, NULL, 'running', ?, ?, ?)",
            [run_id, now(), config_text, code_version, seed],
        )
        con.commit()
        writer = RunWriter(con, run_id)
        con.begin()
        try:
            yield writer
            con.execute(
                "UPDATE runs SET status = 'succeeded', finished_at = ? WHERE run_id = ?",
                [now(), run_id],
            )
            con.commit()
        except BaseException:
            con.rollback()
            con.execute(
                "UPDATE runs SET status = 'failed', finished_at = ? WHERE run_id = ?",
                [now(), run_id],
            )
            raise

    def _delete_run(self, run_id: str) -> None:
        for table in (*TABLES, "runs"):
            self._connection.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])

    def export(self, run_id: str, directory: str | os.PathLike[str]) -> list[Path]:
        """Write every table's rows of ``run_id`` as Parquet under ``directory/<table>/``.

        Tables with a ``spec`` column (scenario and execution tables) are partitioned by it.
        """
        _check_run_id(run_id)
        con = self._connection
        status = con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()
        if status is None:
            raise FileNotFoundError(f"run_id: no run {run_id!r} in {self.path}")
        if status[0] != "succeeded":
            raise ValueError(f"run_id: run {run_id!r} did not succeed ({status[0]})")
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        written = []
        for table in ("runs", *TABLES):
            target = root / table
            partition = ", PARTITION_BY (spec)" if "spec" in dict(TABLES.get(table, ())) else ""
            con.execute(
                f"COPY (SELECT * FROM {table} WHERE run_id = ?) TO '{target.as_posix()}' "
                f"(FORMAT PARQUET{partition}, OVERWRITE_OR_IGNORE)",
                [run_id],
            )
            written.append(target)
        return written

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunWriter:
    """Bulk writes of one run, inside the run's transaction (from :meth:`Store.run`)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, run_id: str):
        self._connection = connection
        self.run_id = run_id

    def write(self, table: str, data: Any) -> int:
        """Append ``data`` (an Arrow table or a dict of columns) to ``table``; returns rows.

        The columns must be exactly the table's (``run_id`` is added here); a
        missing, extra or mistyped column is refused, naming it, before any row
        is written.
        """
        if table not in TABLES:
            raise ValueError(f"table: unknown table {table!r}; known: {sorted(TABLES)}")
        try:
            arrow = data if isinstance(data, pa.Table) else pa.table(data)
        except (pa.ArrowException, TypeError, ValueError) as error:
            raise ValueError(f"{table}: cannot build an Arrow table ({error})") from None
        expected = [name for name, _ in TABLES[table]]
        missing = sorted(set(expected) - set(arrow.column_names))
        extra = sorted(set(arrow.column_names) - set(expected))
        if missing or extra:
            raise ValueError(f"{table}: columns missing {missing}, unexpected {extra}")
        schema = pa.schema(
            [
                (column, _arrow_type(kind, arrow.schema.field(column).type))
                for column, kind in TABLES[table]
            ]
        )
        try:
            # Cast in Arrow, before DuckDB sees a row: a failed statement would abort the
            # run's transaction, and a bad batch must not cost the rows already written.
            arrow = arrow.select(expected).cast(schema)
        except (pa.ArrowException, TypeError, ValueError) as error:
            raise ValueError(f"{table}: {error}") from None
        name = f"_batch_{table}"
        self._connection.register(name, arrow)
        try:
            self._connection.execute(
                f"INSERT INTO {table} SELECT ? AS run_id, * FROM {name}", [self.run_id]
            )
        finally:
            self._connection.unregister(name)
        return arrow.num_rows
