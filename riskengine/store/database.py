"""The store file: opening (and migrating) it, recording runs, user queries, Parquet export.

:class:`Store` holds the package's one DuckDB connection; its read methods come
from :mod:`riskengine.store.reads`, its run recording from
:mod:`riskengine.store.runs`, the table definitions from
:mod:`riskengine.store.schema`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from riskengine._version import __version__
from riskengine.store.reads import StoreReads
from riskengine.store.runs import RunRecorder, check_run_id
from riskengine.store.schema import MIGRATIONS, SCHEMA_VERSION, TABLES

__all__ = ["ReadOnlyQuery", "Store", "StoreBusy", "StoreUnreadable", "open_store"]


class StoreBusy(RuntimeError):
    """Another process holds the database file: retry later, or read the Parquet export."""


class ReadOnlyQuery(ValueError):
    """A statement other than a read was given to :meth:`Store.query`."""


class StoreUnreadable(ValueError):
    """The file is not a riskengine store, or a block of it cannot be read (a corrupt file)."""


#: The settings of every connection the store opens. The store reads and writes its own
#: file only: no other file, directory or URL (``read_csv``, ``read_text``, ``glob``,
#: ``COPY ... TO``, ``EXPORT DATABASE``, ``ATTACH``, also under ``EXPLAIN ANALYZE``), no
#: extension installed or loaded, and the configuration locked so that no statement can
#: ``SET`` / ``RESET`` / ``PRAGMA`` its way back. The store writes through registered Arrow
#: tables and exports through pyarrow, so it needs none of it itself.
CONFINED = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}


def _first_line(error: BaseException) -> str:
    """DuckDB's message without its multi-line caret diagram (errors stay one line)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _connect(path: str | os.PathLike[str], read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(os.fspath(path), read_only=read_only, config=CONFINED)
    except duckdb.Error as error:
        if isinstance(error, duckdb.IOException) and "lock" in str(error).lower():
            raise StoreBusy(f"{path}: database busy (another process writes it), retry") from None
        raise StoreUnreadable(
            f"{path}: not a readable riskengine store ({_first_line(error)})"
        ) from None


#: Rows per Arrow batch when a table is exported (bounded memory for any run size).
_EXPORT_BATCH = 1_000_000
#: The Hive partition name of a NULL value.
_HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"

# EXPLAIN [ANALYZE] [(options)] <statement>: what follows is the statement that would run.
_EXPLAIN = re.compile(r"\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^()]*\)\s*)?", re.IGNORECASE)


def _explained_statement_is_a_read(connection: duckdb.DuckDBPyConnection, sql: str) -> bool:
    """Whether an ``EXPLAIN`` statement explains one ``SELECT`` (``EXPLAIN ANALYZE`` runs it).

    Anything this cannot take apart (a comment inside the prefix, say) counts as
    not a read: the user can write it plainly.
    """
    match = _EXPLAIN.match(sql)
    if match is None:
        return False
    try:
        inner = connection.extract_statements(sql[match.end() :])
    except duckdb.Error:
        return False
    return len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT


def open_store(path: str | os.PathLike[str], *, read_only: bool = False) -> Store:
    """Open (and create or migrate, unless ``read_only``) the store at ``path``.

    Every connection is confined to the file (:data:`CONFINED`), whatever the
    mode. A file that is not a store, or whose catalogue cannot be read, is a
    one-line :class:`StoreUnreadable`; a file held by a writing process is
    :class:`StoreBusy`.
    """
    if read_only and not Path(path).is_file():
        raise FileNotFoundError(f"path: no store at {path}")
    connection = _connect(path, read_only)
    store = Store(connection, Path(path), read_only)
    try:
        if not read_only:
            store._migrate()
            return store
        version = store.schema_version
    except duckdb.Error as error:
        connection.close()
        raise StoreUnreadable(
            f"{path}: not a readable riskengine store ({_first_line(error)})"
        ) from None
    except BaseException:
        connection.close()
        raise
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

    @contextmanager
    def _reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own inside a read-only transaction, rolled back when done.

        The cursor is a connection of its own: its result never interleaves with
        the writer's statements, and it sees only committed runs. The read-only
        transaction makes DuckDB refuse any write a statement attempts, even on a
        store opened for writing (``EXPLAIN ANALYZE DELETE``, a ``DELETE ...
        RETURNING`` inside a ``WITH``).
        """
        cursor = self._connection.cursor()
        try:
            cursor.execute("BEGIN TRANSACTION READ ONLY")
            yield cursor
        finally:
            cursor.close()  # ends (rolls back) the read-only transaction

    def _unreadable(self, error: BaseException) -> StoreUnreadable:
        return StoreUnreadable(f"{self.path}: cannot read the store ({_first_line(error)})")

    def _run_select(self, sql: str, parameters: Sequence[Any]) -> pa.Table:
        with self._reading() as cursor:
            relation = cursor.sql(sql, params=list(parameters) or None)
            return _as_integers(relation.to_arrow_table(), relation.types)

    def _select(self, sql: str, parameters: Sequence[Any] = ()) -> pa.Table:
        """Rows of one of the store's own read statements as an Arrow table.

        A file whose blocks cannot be read (a corrupt store) is a one-line
        :class:`StoreUnreadable`.
        """
        try:
            return self._run_select(sql, parameters)
        except duckdb.Error as error:
            raise self._unreadable(error) from None

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> pa.Table:
        """Run one read-only statement (``SELECT``, ``WITH``, ``EXPLAIN``); refuse anything else.

        The one place a user's own SQL runs (``riskengine query``). Returns the
        rows as an Arrow table (``.to_pylist()``, ``.to_pandas()``); errors are
        one-line :class:`ValueError` s starting ``sql:``, a write is a
        :class:`ReadOnlyQuery`.

        The statement is confined to the store: it runs in a read-only
        transaction on a connection that cannot touch another file, a URL or an
        extension, nor change its settings (:data:`CONFINED`); ``EXPLAIN`` is
        accepted only of a ``SELECT``.
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
        statement = statements[0]
        if statement.type == duckdb.StatementType.EXPLAIN and not _explained_statement_is_a_read(
            self._connection, statement.query
        ):
            raise ReadOnlyQuery("sql: EXPLAIN only of a read: EXPLAIN [ANALYZE] SELECT ...")
        try:
            return self._run_select(sql, parameters or ())
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
            Redo an existing run. The old run stays readable, whole, until the new
            one commits: the deletion of its rows is part of the new run's one
            transaction, so a failure or a kill at any point leaves it intact.
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

        Each table is a directory: ``<table>/data_0.parquet``, or, for the tables
        with a ``spec`` column (scenario and execution tables), one Hive
        partition per spec, ``<table>/spec=<spec>/data_0.parquet``, the spec
        URI-encoded (``/`` becomes ``%2F``), so a name read from the store stays
        one directory level inside its table's. No SQL is built from
        ``directory`` or from the store's contents: DuckDB streams the rows as
        Arrow, pyarrow writes them into a staging directory inside
        ``directory``, and each file is moved into place after a check that it
        resolves under ``directory``.

        A failure leaves ``directory`` as it was: an unknown or unfinished run
        (``FileNotFoundError`` / ``ValueError`` naming ``run_id``), a file where
        a directory goes (``FileExistsError`` naming ``to``), a directory that
        cannot be written (``ValueError`` naming ``to``), a corrupt store
        (:class:`StoreUnreadable`). Files of the same names are replaced and
        others left alone: export each run into a directory of its own.
        """
        check_run_id(run_id)
        record = self.read_run(run_id)
        if record is None:
            raise FileNotFoundError(f"run_id: no run {run_id!r} in {self.path}")
        if record.status != "succeeded":
            raise ValueError(f"run_id: run {run_id!r} did not succeed ({record.status})")
        root = Path(directory)
        if root.exists() and not root.is_dir():
            raise FileExistsError(f"to: {root} exists and is not a directory")
        try:
            root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
        except OSError as error:
            raise ValueError(f"to: cannot write to {root} ({error.strerror or error})") from None
        tables = ("runs", *TABLES)
        try:
            for table in tables:
                self._export_table(table, run_id, staging / table)
            _move_under(staging, root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return [root / table for table in tables]

    def _export_table(self, table: str, run_id: str, target: Path) -> None:
        """One table's rows of ``run_id`` as Parquet under ``target`` (one file per spec)."""
        # `table` is one of the schema's own names; the run id and specs are bound parameters.
        target.mkdir()
        with self._reading() as cursor:
            if "spec" not in dict(TABLES.get(table, ())):
                select = f"SELECT * FROM {table} WHERE run_id = ?"
                self._write_parquet(cursor, select, [run_id], target / "data_0.parquet")
                return
            try:
                specs = cursor.execute(
                    f"SELECT DISTINCT spec FROM {table} WHERE run_id = ? ORDER BY spec", [run_id]
                ).fetchall()
            except duckdb.Error as error:
                raise self._unreadable(error) from None
            select = (
                f"SELECT * EXCLUDE (spec) FROM {table} "
                "WHERE run_id = ? AND spec IS NOT DISTINCT FROM ?"
            )
            for (spec,) in specs:
                name = _HIVE_NULL if spec is None else urllib.parse.quote(spec, safe="")
                partition = target / f"spec={name}"
                partition.mkdir()
                self._write_parquet(cursor, select, [run_id, spec], partition / "data_0.parquet")

    def _write_parquet(
        self, cursor: duckdb.DuckDBPyConnection, select: str, parameters: list[Any], path: Path
    ) -> None:
        """Stream the rows of ``select`` into the Parquet file ``path``, a batch at a time."""
        try:
            reader = cursor.sql(select, params=parameters).to_arrow_reader(_EXPORT_BATCH)
        except duckdb.Error as error:
            raise self._unreadable(error) from None
        with pq.ParquetWriter(path, reader.schema) as writer:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except (duckdb.Error, pa.ArrowException, OSError) as error:
                    # DuckDB's error (a corrupt block) reaches us through Arrow's stream.
                    raise self._unreadable(error) from None
                try:
                    writer.write_batch(batch)
                except OSError as error:
                    raise ValueError(f"to: cannot write {path} ({error})") from None

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _move_under(staging: Path, root: Path) -> None:
    """Move the tree under ``staging`` to the same relative places under ``root``.

    Every destination is resolved and must lie under ``root``, and must not be a
    file where a directory goes, before anything moves: a name made from the
    store's contents never writes elsewhere, and a refusal leaves ``root`` as it
    was.
    """
    base = root.resolve()
    entries = sorted(staging.rglob("*"))
    for source in entries:
        destination = root / source.relative_to(staging)
        if not destination.resolve().is_relative_to(base):
            raise ValueError(f"to: {destination} would be written outside {root}")
        if source.is_dir() and destination.exists() and not destination.is_dir():
            raise FileExistsError(f"to: {destination} exists and is not a directory")
    for source in entries:  # parents sort before their children
        destination = root / source.relative_to(staging)
        if source.is_dir():
            destination.mkdir(exist_ok=True)
        else:
            os.replace(source, destination)
