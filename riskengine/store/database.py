"""The store file: opening (and migrating) it, recording runs, user queries, Parquet export.

:class:`Store` holds the package's one DuckDB connection; its read methods come
from :mod:`riskengine.store.reads`, its run recording from
:mod:`riskengine.store.runs`, the table definitions from
:mod:`riskengine.store.schema`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from riskengine._version import __version__
from riskengine.store.reads import StoreReads
from riskengine.store.runs import RunRecorder, check_run_id
from riskengine.store.schema import MIGRATIONS, SCHEMA_VERSION, TABLES

__all__ = ["ReadOnlyQuery", "Store", "StoreBusy", "open_store"]


class StoreBusy(RuntimeError):
    """Another process holds the database file: retry later, or read the Parquet export."""


class ReadOnlyQuery(ValueError):
    """A statement other than a read was given to :meth:`Store.query`."""


def _first_line(error: Exception) -> str:
    """DuckDB's message without its multi-line caret diagram (errors stay one line)."""
    return str(error).strip().splitlines()[0]


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


def _as_integers(table: pa.Table, types: Sequence[Any]) -> pa.Table:
    """HUGEINT columns (DuckDB's type of ``sum`` over integers) as int64 when they fit.

    Arrow has no 128-bit integer, so DuckDB hands them over as ``decimal(38, 0)``;
    a sum of counts should still read as an integer.
    """
    for index, kind in enumerate(types):
        if str(kind) in ("HUGEINT", "UHUGEINT"):
            try:
                column = table.column(index).cast(pa.int64())
            except pa.ArrowInvalid:  # beyond int64: keep the exact decimal
                continue
            table = table.set_column(index, table.field(index).name, column)
    return table


class Store(StoreReads):
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

    def _select(self, sql: str, parameters: Sequence[Any] = ()) -> pa.Table:
        """Rows of one read statement as an Arrow table, through a cursor of its own.

        The cursor is a connection of its own: its result never interleaves with
        the writer's statements, and it sees only committed runs.
        """
        cursor = self._connection.cursor()
        try:
            relation = cursor.sql(sql, params=list(parameters) or None)
            return _as_integers(relation.to_arrow_table(), relation.types)
        finally:
            cursor.close()

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> pa.Table:
        """Run one read-only statement (``SELECT``, ``WITH``, ``EXPLAIN``); refuse anything else.

        The one place a user's own SQL runs (``riskengine query``). Returns the
        rows as an Arrow table (``.to_pylist()``, ``.to_pandas()``); errors are
        one-line :class:`ValueError` s starting ``sql:``, a write is a
        :class:`ReadOnlyQuery`.
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
        try:
            return self._select(sql, parameters or ())
        except duckdb.Error as error:
            raise ValueError(f"sql: {_first_line(error)}") from None

    def record_run(
        self,
        run_id: str,
        *,
        config: Mapping[str, Any],
        seed: int,
        code_version: str = __version__,
        replace: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> RunRecorder:
        """Record one run atomically: ``with store.record_run(...) as run: ...; run.write(...)``.

        The id is checked now, before the caller's work: a malformed id is a
        :class:`ValueError`, a used one a :class:`FileExistsError` unless
        ``replace``, and a read-only store a :class:`ValueError`. The rest of the
        run's life (nothing written until the first ``write``, one commit, a
        failure marked ``failed`` with no rows) is in :mod:`riskengine.store.runs`.

        Parameters
        ----------
        run_id : str
            Letters, digits, ``_ . : -``; at most 100 characters.
        config : mapping
            Stored as JSON text (sorted keys) in ``runs.config``.
        seed : int
        code_version : str
            Default: this package's version.
        replace : bool
            Redo an existing run: its rows are deleted when the new run starts writing.
        clock : callable, optional
            Returns the ``started_at`` / ``finished_at`` timestamps (default: UTC
            wall time; tests inject a fixed clock).
        """
        if self.read_only:
            raise ValueError(f"{self.path}: store opened read-only")
        check_run_id(run_id)
        existing = self._connection.execute(
            "SELECT status FROM runs WHERE run_id = ?", [run_id]
        ).fetchone()
        if existing is not None and not replace:
            raise FileExistsError(
                f"run_id: run {run_id!r} already exists ({existing[0]}); use replace to redo it"
            )
        return RunRecorder(
            self._connection,
            run_id,
            config=config,
            seed=seed,
            code_version=code_version,
            replaces=existing is not None,
            clock=clock,
        )

    def export(self, run_id: str, directory: str | os.PathLike[str]) -> list[Path]:
        """Write every table's rows of ``run_id`` as Parquet under ``directory/<table>/``.

        Tables with a ``spec`` column (scenario and execution tables) are partitioned by it.
        """
        check_run_id(run_id)
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
