"""A user's own DuckDB table, read-only: the nightly run's price history from a ``.duckdb`` file.

This lives in the store package because the store is the one place that speaks
to DuckDB; it never writes, and never installs or loads an extension.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import duckdb

from riskengine.errors import InvalidInput, unreadable_source

__all__ = ["read_user_table"]


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
        raise unreadable_source(path, error) from None
    try:
        try:
            catalogue = connection.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_catalog = current_database()"
                " ORDER BY table_schema, table_name"
            ).fetchall()
        except duckdb.Error as error:
            raise unreadable_source(path, error) from None
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
            raise unreadable_source(path, error) from None
    finally:
        connection.close()
    return frame
