"""Recording one run: the id checked before the work, every row committed at once or none.

:meth:`Store.record_run <riskengine.store.Store.record_run>` is the one way a
run gets into the store (the nightly job and the ``simulate``,
``evaluate-execution`` and ``backtest`` commands all use it)::

    with store.record_run(run_id, config=config, seed=seed) as run:   # id checked here
        result = long_computation()                                   # no transaction open
        run.write("risk_metrics", result.metrics_table())             # the run starts here
    # leaving the block commits every row together with status 'succeeded'

The life of a run
-----------------
1. ``record_run`` refuses a malformed id, a used one (unless ``replace``) and a
   read-only store at once, before the caller's work starts.
2. Nothing is written while the work runs. An exception before the first
   :meth:`RunRecorder.write` leaves no trace: the id stays free (or, for a
   replace, the old run stays as it was).
3. The first ``write`` of a new id commits the ``runs`` row with status
   ``running`` and opens the data transaction; every batch of the run goes into
   it.
4. Leaving the block commits the data together with ``status = 'succeeded'``. An
   exception once writing has started rolls the data back and marks the run
   ``failed``; a kill leaves the data uncommitted, so no row of the run is ever
   visible and the run stays ``running`` (which readers treat as failed).

A replace (``replace=True`` on a used id) is one transaction from the first
``write`` to the commit: it deletes the old run's rows and ``runs`` row, writes
the new ones and marks them ``succeeded``, and nothing of it is visible before
the commit. Until then every reader (in this process or, once the writer is
gone, in another) sees the old run as it was (complete, and ``succeeded`` if it
had succeeded); an exception or a kill at any point leaves it exactly so, with no
``running`` or ``failed`` marker, because the id still names the old run.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa

from riskengine.store.schema import TABLES, arrow_schema

__all__ = ["RunRecorder", "check_run_id"]

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")


def check_run_id(run_id: Any) -> str:
    """``run_id`` if it is a valid run id (letters, digits, ``_ . : -``, at most 100), else raise.

    >>> check_run_id("nightly-2018-02-06-s0")
    'nightly-2018-02-06-s0'
    >>> check_run_id("../x")
    Traceback (most recent call last):
    ValueError: run_id: expected letters, digits, '_', '.', ':' or '-' (at most 100), got '../x'
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise ValueError(
            f"run_id: expected letters, digits, '_', '.', ':' or '-' (at most 100), got {run_id!r}"
        )
    return run_id


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class RunRecorder:
    """One run being recorded; made by :meth:`Store.record_run <riskengine.store.Store.record_run>`.

    Use it as a context manager around the run's work and its writes (the module
    docstring gives the life of a run). ``rows`` counts the rows written per table.
    """

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        run_id: str,
        *,
        config: Mapping[str, Any],
        seed: int,
        code_version: str,
        replaces: bool,
        clock: Callable[[], dt.datetime] | None,
    ) -> None:
        self._connection = connection
        self.run_id = run_id
        self._config_text = json.dumps(config, sort_keys=True)
        self._seed = seed
        self._code_version = code_version
        self._replaces = replaces
        self._now = clock or _utc_now
        self._state = "new"  # -> "open" inside the with block -> "closed"
        self._writing = False
        self.rows: dict[str, int] = {}

    def __enter__(self) -> RunRecorder:
        if self._state != "new":
            raise RuntimeError(f"run_id: run {self.run_id!r} was already recorded")
        self._state = "open"
        return self

    def write(self, table: str, data: Any) -> int:
        """Append ``data`` (an Arrow table or a dict of columns) to ``table``; returns rows.

        The columns must be exactly the table's (``run_id`` is added here); a
        missing, extra or mistyped column is refused, naming it, before any row
        is written, and the run goes on. The first call starts the run (the
        module docstring, step 3).
        """
        if self._state != "open":
            raise RuntimeError("write: only inside `with store.record_run(...) as run:`")
        if not self._writing:
            self._start()
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
        try:
            # Cast in Arrow, before DuckDB sees a row: a failed statement would abort the
            # run's transaction, and a bad batch must not cost the rows already written.
            arrow = arrow.select(expected).cast(arrow_schema(table, arrow))
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
        self.rows[table] = self.rows.get(table, 0) + arrow.num_rows
        return arrow.num_rows

    def _start(self) -> None:
        """Open the data transaction; for a new id, commit the ``running`` row first.

        For a replace, the old run's deletion and the new ``runs`` row are the
        first statements of the data transaction itself, so the old run stays
        visible, and stays whole, until the new one commits (module docstring).
        """
        con = self._connection
        row = [self.run_id, self._now(), self._config_text, self._code_version, self._seed]
        insert = "INSERT INTO runs VALUES (?, ?, NULL, 'running', ?, ?, ?)"
        if not self._replaces:
            con.begin()
            try:
                con.execute(insert, row)
                con.commit()
            except BaseException:
                con.rollback()
                raise
        con.begin()
        try:
            if self._replaces:
                for table in (*TABLES, "runs"):
                    con.execute(f"DELETE FROM {table} WHERE run_id = ?", [self.run_id])
                con.execute(insert, row)
        except BaseException:
            con.rollback()
            raise
        self._writing = True

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._state = "closed"
        con = self._connection
        if error is not None:
            if self._writing:  # roll the rows back; a new run stays, marked failed
                self._abandon()
            # else: the work failed before anything was written: no trace, the id stays free
            return
        if not self._writing:  # a run that wrote no rows is still a run
            self._start()
        try:
            self._finish("succeeded")
            con.commit()
        except BaseException:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Roll the data transaction back; mark a new run ``failed`` (a replaced one is intact)."""
        self._connection.rollback()
        if not self._replaces:
            self._finish("failed")

    def _finish(self, status: str) -> None:
        self._connection.execute(
            "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
            [status, self._now(), self.run_id],
        )
