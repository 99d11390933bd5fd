"""The DuckDB store of runs: a versioned schema, atomic runs, Arrow writes, named reads.

This package is the only place that imports duckdb, holds a connection or runs
SQL. Everything else hands it Arrow tables (or anything ``pyarrow.table``
accepts: dicts of numpy arrays) and reads back Arrow tables through named
methods; a user's own SQL runs only through :meth:`Store.query`.

Modules
-------
:mod:`~riskengine.store.schema`
    Tables, column types, migrations (schema version :data:`SCHEMA_VERSION`).
:mod:`~riskengine.store.database`
    :func:`open_store` and :class:`Store`: open and migrate, user queries, export.
:mod:`~riskengine.store.runs`
    :meth:`Store.record_run`: the one way a run is recorded (:class:`RunRecorder`).
:mod:`~riskengine.store.reads`
    The named reads (``read_portfolio``, ``read_backtests``, ``row_counts``, ...).
:mod:`~riskengine.store.user_tables`
    :func:`read_user_table`: a user's own DuckDB price table, read-only.

Tables
------
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
A run's id is checked when :meth:`Store.record_run` is called, before the
caller's work. Its first write commits the ``runs`` row as ``running``; every
row of the run is then written inside *one* transaction that commits together
with ``status = 'succeeded'``. An exception rolls the rows back and marks the
run ``failed``; a kill leaves them uncommitted, so no row of the run is ever
visible and the run stays ``running`` (a stale running run is a failed one; the
views only read succeeded runs). Earlier runs are never touched. Re-using a
run id is refused unless ``replace``; a replace is one transaction, so the old
run stays readable and whole until the new one commits, and a failure or a kill
leaves it as it was.

DuckDB allows one writing process per file. While a run writes, read with
``open_store(path, read_only=True)`` from another process only after it
finishes (the file is locked: :class:`StoreBusy`, "database busy, retry"), or
read the Parquet export (:meth:`Store.export`).

Every connection is confined to the store file (:data:`CONFINED`): a user's
SQL (:meth:`Store.query`) runs in a read-only transaction and cannot read or
write another file or URL, install or load an extension, or change a setting.
A file that is not a store, or a corrupt one, is a one-line
:class:`StoreUnreadable`.

Examples
--------
>>> import tempfile, os, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "risk.duckdb")
>>> store = open_store(path)
>>> with store.record_run("r1", config={"assets": ["SPX"]}, seed=0, code_version="0.1.0") as run:
...     rows = run.write("risk_metrics", {"as_of": np.array(["2018-12-31"], dtype="datetime64[ns]"),
...         "scope": ["portfolio"], "metric": ["var"], "level": [0.99], "value": [0.021]})
>>> rows
1
>>> store.read_run("r1").status
'succeeded'
>>> store.read_portfolio_var("r1").to_pylist()
[{'as_of': datetime.datetime(2018, 12, 31, 0, 0), 'level': 0.99, 'value': 0.021}]
>>> store.query("SELECT run_id, status FROM runs").to_pylist()
[{'run_id': 'r1', 'status': 'succeeded'}]
>>> store.query("DELETE FROM runs")
Traceback (most recent call last):
riskengine.store.database.ReadOnlyQuery: sql: only read statements are allowed, got DELETE
>>> store.close()
"""

from riskengine.store.database import (
    CONFINED,
    ReadOnlyQuery,
    Store,
    StoreBusy,
    StoreUnreadable,
    open_store,
)
from riskengine.store.reads import RunRecord
from riskengine.store.runs import RunRecorder, check_run_id
from riskengine.store.schema import MIGRATIONS, SCHEMA_VERSION, TABLES
from riskengine.store.user_tables import read_user_table

__all__ = [
    "CONFINED",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "ReadOnlyQuery",
    "RunRecord",
    "RunRecorder",
    "Store",
    "StoreBusy",
    "StoreUnreadable",
    "check_run_id",
    "open_store",
    "read_user_table",
]
