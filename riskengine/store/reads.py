"""The named reads of the store: one method per question the report and the CLI ask.

Each method runs one parametrised, read-only statement for one run and returns
an Arrow table (``.to_pandas()`` gives a DataFrame), aggregating in SQL where
the rows are many: scenario losses come back as histogram bins, execution
episodes as per policy and regime moments, so no caller pulls one row per path.
They read through a cursor of their own, so inside the writing process they
see only committed runs. :class:`Store <riskengine.store.Store>` has these
methods; a user's own SQL goes through :meth:`Store.query
<riskengine.store.Store.query>` instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from riskengine.store.schema import TABLES

__all__ = ["RunRecord", "StoreReads"]


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One row of ``runs``: a run's id, times, status, configuration (JSON text) and seed."""

    run_id: str
    status: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    config: str | None
    code_version: str | None
    seed: int | None


class StoreReads:
    """The read methods of :class:`Store <riskengine.store.Store>` (a base class of it)."""

    def _select(self, sql: str, parameters: Sequence[Any] = ()) -> pa.Table:
        raise NotImplementedError  # provided by Store

    def read_run(self, run_id: str) -> RunRecord | None:
        """The ``runs`` row of ``run_id``, or None when the store has no such run."""
        rows = self._select(
            "SELECT run_id, status, started_at, finished_at, config, code_version, seed "
            "FROM runs WHERE run_id = ?",
            [run_id],
        ).to_pylist()
        return RunRecord(**rows[0]) if rows else None

    def list_runs(self) -> pa.Table:
        """Every run, newest first.

        Columns ``run_id, started_at, finished_at, status, code_version, seed``.
        """
        return self._select(
            "SELECT run_id, started_at, finished_at, status, code_version, seed FROM runs "
            "ORDER BY started_at DESC NULLS LAST, run_id"
        )

    def row_counts(self, run_id: str) -> dict[str, int]:
        """How many rows each data table holds for ``run_id`` (counted in SQL), in table order."""
        sql = " UNION ALL ".join(
            f"SELECT '{table}' AS table_name, count(*) AS n FROM {table} WHERE run_id = ?"
            for table in TABLES
        )
        counts = self._select(sql, [run_id] * len(TABLES)).to_pydict()
        found = dict(zip(counts["table_name"], counts["n"], strict=True))
        return {table: found.get(table, 0) for table in TABLES}

    def read_portfolio(self, run_id: str) -> pa.Table:
        """The book per day, by ``as_of``: ``as_of, equity, stressed_proba, realised_return,
        average_correlation, correlation_alarm`` (NULL where the run has no such row)."""
        return self._select(
            """SELECT as_of,
                      max(value) FILTER (WHERE metric = 'equity') AS equity,
                      max(value) FILTER (WHERE metric = 'stressed_proba') AS stressed_proba,
                      max(value) FILTER (WHERE metric = 'realised_return') AS realised_return,
                      max(value) FILTER (WHERE metric = 'average_correlation')
                          AS average_correlation,
                      max(value) FILTER (WHERE metric = 'correlation_alarm') AS correlation_alarm
               FROM risk_metrics
               WHERE run_id = ? AND scope = 'portfolio'
                 AND metric IN ('equity', 'stressed_proba', 'realised_return',
                                'average_correlation', 'correlation_alarm')
               GROUP BY as_of ORDER BY as_of""",
            [run_id],
        )

    def read_portfolio_var(self, run_id: str) -> pa.Table:
        """The book's VaR forecasts: ``as_of, level, value`` (unordered)."""
        return self._select(
            """SELECT as_of, level, value FROM risk_metrics
               WHERE run_id = ? AND scope = 'portfolio' AND metric = 'var'
                 AND level IS NOT NULL""",
            [run_id],
        )

    def read_asset_metric(self, run_id: str, metric: str) -> pa.Table:
        """One per-asset metric (``price``, ``volatility``, ...): ``as_of, scope, value``."""
        return self._select(
            """SELECT as_of, scope, value FROM risk_metrics
               WHERE run_id = ? AND metric = ? AND scope <> 'portfolio'
                 AND scope NOT LIKE '%|%'""",
            [run_id, metric],
        )

    def read_correlations(self, run_id: str) -> pa.Table:
        """The pair rows ``'A|B'`` of ``correlation`` and ``correlation_calm`` at their last day.

        Columns ``as_of, scope, metric, value``.
        """
        return self._select(
            """SELECT as_of, scope, metric, value FROM risk_metrics
               WHERE run_id = ? AND metric IN ('correlation', 'correlation_calm')
                 AND scope LIKE '%|%'
               QUALIFY as_of = max(as_of) OVER (PARTITION BY metric)""",
            [run_id],
        )

    def read_limits(self, run_id: str) -> pa.Table:
        """Portfolio ``gross`` / ``net`` and per-asset ``position`` limits.

        Columns ``as_of, scope, limit_type, value``.
        """
        return self._select(
            """SELECT as_of, scope, limit_type, value FROM limits
               WHERE run_id = ? AND ((scope = 'portfolio' AND limit_type IN ('gross', 'net'))
                                     OR (scope <> 'portfolio' AND limit_type = 'position'))""",
            [run_id],
        )

    def read_loss_histograms(self, run_id: str, bins: int) -> pa.Table:
        """Per spec, the scenario loss (``-portfolio_return``) in ``bins`` equal bins.

        Columns ``spec, lo, hi, paths, bin, count``: the spec's smallest and
        largest finite loss, its path count, and each non-empty bin's count
        (bin ``k`` covers ``lo + k (hi - lo) / bins`` upwards; all in bin 0 when
        ``hi == lo``). A NULL spec reads ``'unknown'``.
        """
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ValueError(f"bins: expected an integer >= 1, got {bins!r}")
        return self._select(
            f"""WITH losses AS (
                    SELECT coalesce(spec, 'unknown') AS spec, -portfolio_return AS loss
                    FROM scenario_results
                    WHERE run_id = ? AND isfinite(portfolio_return)),
                bounds AS (
                    SELECT spec, min(loss) AS lo, max(loss) AS hi, count(*) AS paths
                    FROM losses GROUP BY spec)
                SELECT spec, lo, hi, paths,
                       coalesce(least(CAST(floor((loss - lo) / nullif(hi - lo, 0) * {bins})
                                           AS INTEGER), {bins - 1}), 0) AS bin,
                       count(*) AS count
                FROM losses JOIN bounds USING (spec)
                GROUP BY ALL ORDER BY spec, bin""",
            [run_id],
        )

    def read_execution_summary(self, run_id: str) -> pa.Table:
        """Per policy and regime: episodes, mean and std of IS (bps), share completed.

        Columns ``policy, regime, episodes, mean_bps, std_bps, completed``
        (unordered; NULL labels read ``'unknown'``, non-finite IS is left out).
        """
        return self._select(
            """SELECT coalesce(policy, 'unknown') AS policy,
                      coalesce(regime, 'unknown') AS regime,
                      count(is_bps) AS episodes, avg(is_bps) AS mean_bps,
                      stddev_samp(is_bps) AS std_bps, avg(CAST(completed AS DOUBLE)) AS completed
               FROM execution_results WHERE run_id = ? AND isfinite(is_bps)
               GROUP BY ALL""",
            [run_id],
        )

    def read_scenario_metrics(self, run_id: str) -> pa.Table:
        """Scenario VaR / ES and stress figures: ``spec, horizon, metric, level, value``."""
        return self._select(
            "SELECT spec, horizon, metric, level, value FROM scenario_metrics WHERE run_id = ?",
            [run_id],
        )

    def read_backtests(self, run_id: str) -> pa.Table:
        """VaR / ES backtests (unordered).

        Columns ``model, level, test, exceptions, n, statistic, p_value, outcome``.
        """
        return self._select(
            """SELECT model, level, test, exceptions, n, statistic, p_value, outcome
               FROM backtests WHERE run_id = ?""",
            [run_id],
        )

    def read_forecast_scores(self, run_id: str) -> pa.Table:
        """Forecast scores against their baseline, by ``target, score, model``.

        Columns ``target, score, model, baseline, value, baseline_value``.
        """
        return self._select(
            """SELECT target, score, model, baseline, value, baseline_value
               FROM forecast_scores WHERE run_id = ? ORDER BY target, score, model""",
            [run_id],
        )
