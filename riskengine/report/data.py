"""What the report reads, shaped for its figures and tables: the store's named reads as pandas.

Every read goes through a named method of :class:`~riskengine.store.Store`
(parametrised, read-only, aggregated in SQL where the rows are many); this
module only reshapes the Arrow tables they return: long rows to one column per
asset or level, pair rows to correlation matrices, histogram bins to arrays,
execution moments to confidence intervals.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from riskengine.errors import InvalidInput
from riskengine.report.common import CI_LEVEL, MODEL_ORDER, POLICY_ORDER, REGIME_ORDER, TEST_ORDER
from riskengine.report.common import ordered as _ordered
from riskengine.store import Store, check_run_id

__all__ = [
    "HISTOGRAM_BINS",
    "ReportRun",
    "asset_metric",
    "backtest_rows",
    "check_report_run_id",
    "correlations",
    "execution_summary",
    "limits",
    "loss_histograms",
    "portfolio",
    "read_report_run",
    "scenario_metric",
    "scenario_metrics",
    "score_rows",
    "var_levels",
]

#: Bins of each scenario loss histogram (binned in SQL by the store).
HISTOGRAM_BINS = 60


@dataclass(frozen=True)
class ReportRun:
    """The run a report is about: its ``runs`` row and the assets its configuration names."""

    run_id: str
    status: str
    started_at: Any
    finished_at: Any
    config_text: str | None
    code_version: str | None
    seed: int | None
    assets: tuple[str, ...]


def check_report_run_id(run_id: Any) -> str:
    """``run_id`` if it is a well-formed run id, else :class:`InvalidInput` naming ``run``.

    >>> check_report_run_id("nightly-2018-02-06-s0")
    'nightly-2018-02-06-s0'
    >>> check_report_run_id("../../../tmp/escaped")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    riskengine.errors.InvalidInput: run: expected letters, ... got '../../../tmp/escaped'
    """
    try:
        return check_run_id(run_id)
    except ValueError as error:
        raise InvalidInput("run", str(error).removeprefix("run_id: ")) from None


def read_report_run(store: Store, run_id: str) -> ReportRun:
    """The succeeded run ``run_id``; errors name the field ``run``.

    The id is checked like an id being recorded (:func:`riskengine.store.check_run_id`)
    before the store is asked: ids come from the user or from a store file, and
    neither is trusted with file names.
    """
    check_report_run_id(run_id)
    record = store.read_run(run_id)
    if record is None:
        raise FileNotFoundError(f"run: no run {run_id!r} in {store.path}")
    if record.status != "succeeded":
        raise InvalidInput(
            "run",
            f"run {run_id!r} did not succeed (status {record.status!r}); only succeeded runs "
            "report",
        )
    try:
        assets = json.loads(record.config or "{}").get("assets", [])
    except (ValueError, AttributeError):
        assets = []
    if not isinstance(assets, list) or not all(isinstance(a, str) for a in assets):
        assets = []
    return ReportRun(
        run_id,
        record.status,
        record.started_at,
        record.finished_at,
        record.config,
        record.code_version,
        record.seed,
        tuple(assets),
    )


def _wide(long: pd.DataFrame, columns: str, order: Sequence[str]) -> pd.DataFrame:
    """Long rows (``as_of``, ``columns``, ``value``) as one column per name, in ``order``."""
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot_table(index="as_of", columns=columns, values="value", aggfunc="last")
    return wide[_ordered(list(wide.columns), order)].sort_index()


def portfolio(store: Store, run_id: str) -> pd.DataFrame:
    """``equity, stressed_proba, realised_return`` of the book, indexed by ``as_of``."""
    return store.read_portfolio(run_id).to_pandas().set_index("as_of")


def var_levels(store: Store, run_id: str) -> pd.DataFrame:
    """The book's VaR: one column per level, highest level first."""
    long = store.read_portfolio_var(run_id).to_pandas()
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot_table(index="as_of", columns="level", values="value", aggfunc="last")
    return wide[sorted(wide.columns, reverse=True)].sort_index()


def asset_metric(store: Store, run_id: str, metric: str, assets: Sequence[str]) -> pd.DataFrame:
    """One per-asset metric, one column per asset (the run's assets first, in their order)."""
    return _wide(store.read_asset_metric(run_id, metric).to_pandas(), "scope", assets)


def correlations(store: Store, run_id: str, assets: Sequence[str]) -> dict[str, Any]:
    """Full symmetric matrices rebuilt from the pair rows ``'A|B'`` of the last ``as_of``."""
    rows = store.read_correlations(run_id).to_pandas()
    if rows.empty:
        return {}
    pairs = rows["scope"].str.split("|", n=1, expand=True)
    names = _ordered(pd.unique(pairs.to_numpy().ravel()).tolist(), assets)
    index = {name: k for k, name in enumerate(names)}
    first = pairs[0].map(index).to_numpy()
    second = pairs[1].map(index).to_numpy()
    matrices = {}
    for metric in ("correlation", "correlation_calm"):
        chosen = (rows["metric"] == metric).to_numpy()
        if not chosen.any():
            continue
        matrix = np.full((len(names), len(names)), np.nan)
        np.fill_diagonal(matrix, 1.0)
        values = rows["value"].to_numpy(dtype=float)[chosen]
        matrix[first[chosen], second[chosen]] = values
        matrix[second[chosen], first[chosen]] = values
        matrices[metric] = (matrix, pd.Timestamp(rows["as_of"][chosen].max()))
    return {"assets": names, **matrices}


def limits(store: Store, run_id: str, assets: Sequence[str]) -> dict[str, pd.DataFrame]:
    """``portfolio`` (gross, net) and ``position`` (one column per asset) limits over time."""
    long = store.read_limits(run_id).to_pandas()
    portfolio_rows = long[long["scope"] == "portfolio"]
    return {
        "portfolio": _wide(portfolio_rows, "limit_type", ("gross", "net")),
        "position": _wide(long[long["scope"] != "portfolio"], "scope", assets),
    }


def loss_histograms(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    """Per spec, the loss histogram's ``counts``, ``edges`` and ``paths`` (no per-path rows)."""
    bins = store.read_loss_histograms(run_id, HISTOGRAM_BINS).to_pandas()
    histograms = {}
    for spec, group in bins.groupby("spec", sort=False):
        lo, hi, paths = (
            float(group["lo"].iloc[0]),
            float(group["hi"].iloc[0]),
            group["paths"].iloc[0],
        )
        if hi > lo:
            counts = np.zeros(HISTOGRAM_BINS)
            counts[group["bin"].to_numpy()] = group["count"].to_numpy()
            edges = np.linspace(lo, hi, HISTOGRAM_BINS + 1)
        else:  # every path lost the same: one narrow bar
            half = max(abs(lo) * 0.01, 1e-6)
            counts, edges = np.array([float(paths)]), np.array([lo - half, lo + half])
        histograms[str(spec)] = {"counts": counts, "edges": edges, "paths": int(paths)}
    return histograms


def execution_summary(store: Store, run_id: str) -> pd.DataFrame:
    """Per policy and regime: episodes, mean, std and CI half-width of IS (bps), completed."""
    summary = store.read_execution_summary(run_id).to_pandas()
    if summary.empty:
        return summary
    n = summary["episodes"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = np.where(n > 1, stdtrit(np.maximum(n - 1, 1), 0.5 + CI_LEVEL / 2), np.nan)
        summary["ci_bps"] = quantile * summary["std_bps"].to_numpy(dtype=float) / np.sqrt(n)
    policy = summary["policy"].map(
        {p: k for k, p in enumerate(_ordered(summary["policy"].unique(), POLICY_ORDER))}
    )
    regime = summary["regime"].map(
        {r: k for k, r in enumerate(_ordered(summary["regime"].unique(), REGIME_ORDER))}
    )
    order = np.lexsort((regime.to_numpy(), policy.to_numpy()))
    return summary.iloc[order].reset_index(drop=True)


def scenario_metrics(store: Store, run_id: str) -> pd.DataFrame:
    """``spec, horizon, metric, level, value`` of the scenario sets."""
    return store.read_scenario_metrics(run_id).to_pandas()


def scenario_metric(metrics: pd.DataFrame, metric: str, level: float) -> float | None:
    """The value of ``metric`` at ``level`` in ``metrics`` rows, or None."""
    if metrics.empty:
        return None
    chosen = metrics[(metrics["metric"] == metric) & np.isclose(metrics["level"], level)]
    value = chosen["value"].dropna()
    return float(value.iloc[0]) if not value.empty else None


def _rows(table: Any) -> list[tuple]:
    """An Arrow table's rows as tuples of Python values (None for NULL)."""
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))


def backtest_rows(store: Store, run_id: str) -> list[tuple]:
    """``(model, level, test, exceptions, n, statistic, p_value, outcome)`` rows in page order.

    Highest level first, then test and model in their usual order.
    """
    rows = _rows(store.read_backtests(run_id))
    tests = {t: k for k, t in enumerate(_ordered([r[2] for r in rows], TEST_ORDER))}
    models = {m: k for k, m in enumerate(_ordered([r[0] for r in rows], MODEL_ORDER))}
    rows.sort(key=lambda r: (-(r[1] if r[1] is not None else -1.0), tests[r[2]], models[r[0]]))
    return rows


def score_rows(store: Store, run_id: str) -> list[tuple]:
    """``(target, score, model, baseline, value, baseline_value)`` rows, sorted."""
    return _rows(store.read_forecast_scores(run_id))
