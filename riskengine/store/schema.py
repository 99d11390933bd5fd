"""The store's tables: column names and types per schema version, and the migrations.

``MIGRATIONS[v]`` takes a store from schema version ``v`` to ``v + 1``; a file
records the versions applied in its ``schema_version`` table
(:func:`riskengine.store.open_store` applies the missing ones). Every data
table has ``run_id`` as its first column, filled by the store, followed by the
columns listed in :data:`TABLES`.

>>> SCHEMA_VERSION, sorted(MIGRATIONS)
(2, [0, 1])
>>> [name for name, _ in TABLES["limits"]]
['as_of', 'scope', 'limit_type', 'value']
>>> arrow_schema("limits", pa.table({"as_of": [], "scope": [], "limit_type": [], "value": []}))
as_of: timestamp[us]
scope: string
limit_type: string
value: double
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "TABLES", "arrow_schema"]

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


def arrow_schema(table: str, given: pa.Table) -> pa.Schema:
    """The Arrow schema a batch ``given`` of ``table`` is cast to before DuckDB sees it.

    ``given`` must hold every column of the table (checked by the caller).
    """
    return pa.schema(
        [
            (column, _arrow_type(kind, given.schema.field(column).type))
            for column, kind in TABLES[table]
        ]
    )


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
