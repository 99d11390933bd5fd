"""The HTML report of one nightly run: a self-contained page and its figures, read from the store.

:func:`write_report` reads one succeeded run with parametrised read-only queries
(it works on a store opened ``read_only``), aggregates in SQL where the rows are
many (scenario losses become histogram bins, execution episodes become per
policy and regime moments), and writes into ``directory``:

``index.html``
    Run metadata (id, times, status, code version, seed, the configuration in a
    collapsed block), one section per figure, and tables of the VaR backtests,
    forecast scores, scenario metrics and execution summary. UTF-8, no external
    resources, relative links only.
``price_volatility.png``
    The book's equity (or the assets' normalised prices) and the annualised
    forecast volatility per asset, stressed days shaded.
``var_exceptions.png``
    The next day's realised return against minus the VaR, exceptions marked.
``correlation.png``
    The forecast correlation matrix now and in the calm regime.
``limits.png``
    Gross and net limits and the per-asset position limits over time.
``scenario_losses.png``
    Per scenario spec, the distribution of the loss with its VaR and ES.
``execution_is.png``
    Implementation shortfall by execution policy (and regime): mean and 99 % CI.

A figure whose rows the run does not have (a ``simulate`` run writes only
scenario paths; a nightly run may skip execution) is replaced on the page by a
short "not in this run" note, and a PNG of that name left by an older report of
the same run is removed. Figures are drawn on :class:`matplotlib.figure.Figure`
objects with the Agg canvas, never through pyplot, so a host application's
backend and global figure state are untouched; PNGs carry no timestamp or
software tag, so the same run gives byte-identical files.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, PercentFormatter
from scipy.special import stdtrit

from riskengine.errors import InvalidInput
from riskengine.store import TABLES, Store

__all__ = ["FIGURES", "write_report"]

#: File stem of each figure, in page order.
FIGURES = (
    "price_volatility",
    "var_exceptions",
    "correlation",
    "limits",
    "scenario_losses",
    "execution_is",
)

DPI = 100
TRADING_DAYS = 252
#: A day is shaded as stressed when the filtered stressed-regime probability exceeds this.
STRESSED_THRESHOLD = 0.5
#: Above this many assets, lines show the first two and the cross-asset median.
MAX_LINES = 5
HISTOGRAM_BINS = 60
CI_LEVEL = 0.99
NOT_IN_RUN = "Not in this run"

_SCENARIO_ORDER = ("forward", "crisis", "flash_crash")
_POLICY_ORDER = ("twap", "vwap", "almgren_chriss", "adaptive_ac", "rl")
_REGIME_ORDER = ("calm", "stressed", "switching")
_STRESS_COLOUR = "#f4a582"


@dataclass(frozen=True)
class _Run:
    run_id: str
    status: str
    started_at: Any
    finished_at: Any
    config_text: str | None
    code_version: str | None
    seed: int | None
    assets: tuple[str, ...]


@dataclass(frozen=True)
class _Section:
    """One figure's place on the page: the PNG's pixel size, or why it is absent."""

    name: str
    title: str
    alt: str
    caption: str
    size: tuple[int, int] | None
    missing: str


# --------------------------------------------------------------------------- reading


def _read_run(store: Store, run_id: str) -> _Run:
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInput("run", f"expected a run id string, got {run_id!r}")
    row = store.query(
        "SELECT status, started_at, finished_at, config, code_version, seed FROM runs "
        "WHERE run_id = ?",
        [run_id],
    ).fetchone()
    if row is None:
        raise FileNotFoundError(f"run: no run {run_id!r} in {store.path}")
    status, started_at, finished_at, config_text, code_version, seed = row
    if status != "succeeded":
        raise InvalidInput(
            "run", f"run {run_id!r} did not succeed (status {status!r}); only succeeded runs report"
        )
    try:
        assets = json.loads(config_text or "{}").get("assets", [])
    except (ValueError, AttributeError):
        assets = []
    if not isinstance(assets, list) or not all(isinstance(a, str) for a in assets):
        assets = []
    return _Run(
        run_id, status, started_at, finished_at, config_text, code_version, seed, tuple(assets)
    )


def _ordered(found: Sequence[str], preferred: Sequence[str]) -> list[str]:
    """``found`` in the order of ``preferred``, the rest sorted after it.

    >>> _ordered(["rl", "zeta", "twap", "alpha"], ["twap", "vwap", "rl"])
    ['twap', 'rl', 'alpha', 'zeta']
    """
    found = set(found)
    return [x for x in preferred if x in found] + sorted(found - set(preferred))


def _frame(store: Store, sql: str, run_id: str) -> pd.DataFrame:
    """Rows of one run (every ``?`` in ``sql`` is the run id) as a DataFrame."""
    return store.query(sql, [run_id] * sql.count("?")).df()


def _wide(long: pd.DataFrame, columns: str, order: Sequence[str]) -> pd.DataFrame:
    """Long rows (``as_of``, ``columns``, ``value``) as one column per name, in ``order``."""
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot_table(index="as_of", columns=columns, values="value", aggfunc="last")
    return wide[_ordered(list(wide.columns), order)].sort_index()


def _read_portfolio(store: Store, run_id: str) -> pd.DataFrame:
    return _frame(
        store,
        """SELECT as_of,
                  max(value) FILTER (WHERE metric = 'equity') AS equity,
                  max(value) FILTER (WHERE metric = 'stressed_proba') AS stressed_proba,
                  max(value) FILTER (WHERE metric = 'realised_return') AS realised_return
           FROM risk_metrics
           WHERE run_id = ? AND scope = 'portfolio'
             AND metric IN ('equity', 'stressed_proba', 'realised_return')
           GROUP BY as_of ORDER BY as_of""",
        run_id,
    ).set_index("as_of")


def _read_var(store: Store, run_id: str) -> pd.DataFrame:
    """The book's VaR: one column per level, highest level first."""
    long = _frame(
        store,
        """SELECT as_of, level, value FROM risk_metrics
           WHERE run_id = ? AND scope = 'portfolio' AND metric = 'var' AND level IS NOT NULL""",
        run_id,
    )
    if long.empty:
        return pd.DataFrame()
    wide = long.pivot_table(index="as_of", columns="level", values="value", aggfunc="last")
    return wide[sorted(wide.columns, reverse=True)].sort_index()


def _read_assets(store: Store, run_id: str, metric: str, assets: Sequence[str]) -> pd.DataFrame:
    long = store.query(
        """SELECT as_of, scope, value FROM risk_metrics
           WHERE run_id = ? AND metric = ? AND scope <> 'portfolio' AND scope NOT LIKE '%|%'""",
        [run_id, metric],
    ).df()
    return _wide(long, "scope", assets)


def _read_correlations(store: Store, run_id: str, assets: Sequence[str]) -> dict[str, Any]:
    """Full symmetric matrices rebuilt from the pair rows ``'A|B'`` of the last ``as_of``."""
    rows = _frame(
        store,
        """SELECT as_of, scope, metric, value FROM risk_metrics
           WHERE run_id = ? AND metric IN ('correlation', 'correlation_calm')
             AND scope LIKE '%|%'
           QUALIFY as_of = max(as_of) OVER (PARTITION BY metric)""",
        run_id,
    )
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


def _read_limits(store: Store, run_id: str, assets: Sequence[str]) -> dict[str, pd.DataFrame]:
    long = _frame(
        store,
        """SELECT as_of, scope, limit_type, value FROM limits
           WHERE run_id = ? AND ((scope = 'portfolio' AND limit_type IN ('gross', 'net'))
                                 OR (scope <> 'portfolio' AND limit_type = 'position'))""",
        run_id,
    )
    portfolio = long[long["scope"] == "portfolio"]
    return {
        "portfolio": _wide(portfolio, "limit_type", ("gross", "net")),
        "position": _wide(long[long["scope"] != "portfolio"], "scope", assets),
    }


def _read_scenario_histograms(store: Store, run_id: str) -> dict[str, dict[str, Any]]:
    """Per spec, the loss (``-portfolio_return``) histogram, binned in SQL: no per-path rows."""
    bins = _frame(
        store,
        f"""WITH losses AS (
                SELECT coalesce(spec, 'unknown') AS spec, -portfolio_return AS loss
                FROM scenario_results
                WHERE run_id = ? AND isfinite(portfolio_return)),
            bounds AS (
                SELECT spec, min(loss) AS lo, max(loss) AS hi, count(*) AS paths
                FROM losses GROUP BY spec)
            SELECT spec, lo, hi, paths,
                   coalesce(least(CAST(floor((loss - lo) / nullif(hi - lo, 0) * {HISTOGRAM_BINS})
                                       AS INTEGER), {HISTOGRAM_BINS - 1}), 0) AS bin,
                   count(*) AS count
            FROM losses JOIN bounds USING (spec)
            GROUP BY ALL ORDER BY spec, bin""",
        run_id,
    )
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


def _read_execution(store: Store, run_id: str) -> pd.DataFrame:
    """Per policy and regime: episodes, mean and std of IS (bps), share completed."""
    summary = _frame(
        store,
        """SELECT coalesce(policy, 'unknown') AS policy, coalesce(regime, 'unknown') AS regime,
                  count(is_bps) AS episodes, avg(is_bps) AS mean_bps,
                  stddev_samp(is_bps) AS std_bps, avg(CAST(completed AS DOUBLE)) AS completed
           FROM execution_results WHERE run_id = ? AND isfinite(is_bps)
           GROUP BY ALL""",
        run_id,
    )
    if summary.empty:
        return summary
    n = summary["episodes"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = np.where(n > 1, stdtrit(np.maximum(n - 1, 1), 0.5 + CI_LEVEL / 2), np.nan)
        summary["ci_bps"] = quantile * summary["std_bps"].to_numpy(dtype=float) / np.sqrt(n)
    policy = summary["policy"].map(
        {p: k for k, p in enumerate(_ordered(summary["policy"].unique(), _POLICY_ORDER))}
    )
    regime = summary["regime"].map(
        {r: k for k, r in enumerate(_ordered(summary["regime"].unique(), _REGIME_ORDER))}
    )
    order = np.lexsort((regime.to_numpy(), policy.to_numpy()))
    return summary.iloc[order].reset_index(drop=True)


# --------------------------------------------------------------------------- drawing


def _level(level: float) -> str:
    """A confidence level as people write it.

    >>> _level(0.99), _level(0.975)
    ('99%', '97.5%')
    """
    return f"{level * 100:g}%"


def _runs(flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of each run of consecutive ``True`` values.

    >>> _runs(np.array([False, True, True, False, True]))
    (array([1, 4]), array([3, 5]))
    """
    padded = np.concatenate(([False], np.asarray(flag, dtype=bool), [False]))
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    return changes[::2], changes[1::2]


def _day_edges(dates: np.ndarray) -> np.ndarray:
    """Boundaries of each day's interval ``[dates[i], dates[i + 1])``; the last lasts one step."""
    dates = np.asarray(dates, dtype="datetime64[ns]")
    step = np.median(np.diff(dates)) if dates.size > 1 else np.timedelta64(1, "D")
    return np.concatenate((dates, dates[-1:] + step))


def _shade_stressed(axes: Sequence[Any], proba: pd.Series | None) -> None:
    if proba is None or proba.dropna().empty:
        return
    stressed = np.nan_to_num(proba.to_numpy(dtype=float), nan=0.0) > STRESSED_THRESHOLD
    starts, ends = _runs(stressed)
    edges = _day_edges(proba.index.to_numpy())
    label = f"stressed (p > {STRESSED_THRESHOLD:g})"
    for ax in axes:
        for k, (start, end) in enumerate(zip(starts, ends, strict=True)):
            ax.axvspan(
                edges[start],
                edges[end],
                color=_STRESS_COLOUR,
                alpha=0.35,
                lw=0,
                label=label if k == 0 else None,
                zorder=0,
            )


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _date_axis(ax: Any) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _note(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _thinned(frame: pd.DataFrame) -> pd.DataFrame:
    """All columns, or, when there are many, the first two and the cross-column median."""
    if frame.shape[1] <= MAX_LINES:
        return frame
    thinned = frame.iloc[:, :2].copy()
    thinned[f"median of {frame.shape[1]}"] = frame.median(axis=1)
    return thinned


def _lines(ax: Any, frame: pd.DataFrame) -> None:
    for k, (name, series) in enumerate(frame.items()):
        # The cross-asset median (see _thinned) stands out from the single assets.
        median = str(name).startswith("median of")
        ax.plot(
            series.index,
            series.to_numpy(),
            label=name,
            lw=1.6 if median else 1.0,
            color="black" if median else f"C{k}",
        )


def _price_volatility(
    portfolio: pd.DataFrame, prices: pd.DataFrame, volatility: pd.DataFrame
) -> Figure | None:
    equity = portfolio["equity"].dropna() if "equity" in portfolio else pd.Series(dtype=float)
    if equity.empty and prices.empty and volatility.empty:
        return None
    figure = _new_figure(11, 6.5)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    if not equity.empty:
        top.plot(equity.index, equity.to_numpy(), color="C0", lw=1.4, label="book equity")
        top.yaxis.set_major_formatter(EngFormatter())
        top.set_ylabel("equity")
        top.set_title("Book equity")
    elif not prices.empty:
        normalised = _thinned(prices / prices.bfill().iloc[0])
        _lines(top, normalised)
        top.set_ylabel("price / first price")
        top.set_title("Normalised prices")
    else:
        _note(top, f"{NOT_IN_RUN}: no equity or prices")
    if not volatility.empty:
        annualised = _thinned(volatility) * math.sqrt(TRADING_DAYS)
        _lines(bottom, annualised)
        bottom.yaxis.set_major_formatter(PercentFormatter(1.0))
        bottom.set_ylabel("annualised vol")
        bottom.set_title("Forecast volatility (next day, annualised)")
    else:
        _note(bottom, f"{NOT_IN_RUN}: no volatility forecasts")
    _shade_stressed((top, bottom), portfolio.get("stressed_proba"))
    for ax in (top, bottom):
        if ax.lines:
            ax.legend(loc="upper left", fontsize="small", ncols=4, framealpha=0.85)
            ax.grid(alpha=0.3)
    _date_axis(bottom)
    return figure


def _var_exceptions(var: pd.DataFrame, realised: pd.Series | None) -> Figure | None:
    if var.empty:
        return None
    figure = _new_figure(11, 4.5)
    ax = figure.subplots()
    primary = var.columns[0]
    realised = (pd.Series(dtype=float) if realised is None else realised).reindex(var.index)
    if realised.notna().any():
        ax.plot(realised.index, realised.to_numpy(), color="0.45", lw=0.8, label="realised return")
    for level in var.columns:
        ax.plot(
            var.index,
            -var[level].to_numpy(),
            lw=1.3,
            ls="-" if level == primary else "--",
            color="C3" if level == primary else "C0",
            label=f"−VaR {_level(level)}",
        )
    days = int((realised.notna() & var[primary].notna()).sum())
    hit = (realised < -var[primary]).to_numpy()
    if days:
        ax.scatter(
            var.index[hit],
            realised[hit].to_numpy(),
            color="red",
            marker="v",
            s=36,
            zorder=3,
            label=f"exception (VaR {_level(primary)})",
        )
        expected = days * (1 - primary)
        ax.set_title(
            f"VaR {_level(primary)}: {int(hit.sum())} exceptions in {days} days "
            f"(expected {expected:.1f})"
        )
    else:
        ax.set_title(f"VaR {_level(primary)}: no realised returns in this run")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("next-day return of the book")
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.legend(loc="lower left", fontsize="small", ncols=4, framealpha=0.85)
    ax.grid(alpha=0.3)
    _date_axis(ax)
    return figure


def _correlation(correlations: dict[str, Any]) -> Figure | None:
    if "correlation" not in correlations:
        return None
    assets = correlations["assets"]
    n = len(assets)
    figure = _new_figure(11, 5.2)
    axes = figure.subplots(1, 2)
    titles = {"correlation": "Forecast now", "correlation_calm": "Calm regime (mean of calm days)"}
    image = None
    for ax, metric in zip(axes, titles, strict=True):
        if metric not in correlations:
            _note(ax, f"{NOT_IN_RUN}: no {metric} rows")
            ax.set_title(titles[metric])
            continue
        matrix, as_of = correlations[metric]
        # Grey for a pair the run has no value for (NaN), distinct from a zero correlation.
        colours = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.85")
        image = ax.imshow(matrix, cmap=colours, vmin=-1.0, vmax=1.0)
        size = "small" if n <= 12 else "xx-small"
        ax.set_xticks(
            range(n),
            assets,
            rotation=45 if n > 4 else 0,
            ha="right" if n > 4 else "center",
            fontsize=size,
        )
        ax.set_yticks(range(n), assets, fontsize=size)
        ax.set_title(f"{titles[metric]}, as of {as_of:%Y-%m-%d}")
        if n <= 10:
            rows, cols = np.nonzero(np.isfinite(matrix))
            for i, j in zip(rows, cols, strict=True):
                value = matrix[i, j]
                colour = "white" if abs(value) > 0.6 else "black"
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", color=colour, fontsize=9)
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.8, label="correlation")
    return figure


def _limits(limits: dict[str, pd.DataFrame], proba: pd.Series | None) -> Figure | None:
    portfolio, position = limits["portfolio"], limits["position"]
    if portfolio.empty and position.empty:
        return None
    figure = _new_figure(11, 6)
    top, bottom = figure.subplots(2, 1, sharex=True)
    if not portfolio.empty:
        for limit, colour in zip(portfolio, ("C0", "C2", "C4"), strict=False):
            top.plot(
                portfolio.index, portfolio[limit].to_numpy(), lw=1.5, color=colour, label=limit
            )
        top.set_title("Portfolio limits")
    else:
        _note(top, f"{NOT_IN_RUN}: no gross or net limits")
    if not position.empty:
        for asset in position:
            bottom.plot(position.index, position[asset].to_numpy(), lw=0.8, label=asset)
        bottom.set_title("Position limit per asset")
    else:
        _note(bottom, f"{NOT_IN_RUN}: no position limits")
    _shade_stressed((top, bottom), proba)
    for ax in (top, bottom):
        if ax.lines:
            ax.yaxis.set_major_formatter(EngFormatter())
            ax.set_ylabel("notional")
            ax.grid(alpha=0.3)
            if len(ax.lines) <= 12:
                ax.legend(loc="upper left", fontsize="small", ncols=6, framealpha=0.85)
    _date_axis(bottom)
    return figure


def _scenario_losses(histograms: dict[str, dict], metrics: pd.DataFrame) -> Figure | None:
    if not histograms:
        return None
    specs = _ordered(list(histograms), _SCENARIO_ORDER)
    columns = min(3, len(specs))
    rows = math.ceil(len(specs) / columns)
    figure = _new_figure(11, 3.6 * rows)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for ax, spec in zip(axes, specs, strict=False):
        histogram = histograms[spec]
        ax.stairs(histogram["counts"], histogram["edges"], fill=True, color="0.7")
        chosen = metrics[metrics["spec"] == spec] if not metrics.empty else metrics
        marks = (("var", 0.99, "VaR 99%", "C3", "--"), ("es", 0.975, "ES 97.5%", "C1", "-"))
        for metric, level, label, colour, style in marks:
            value = _metric(chosen, metric, level)
            if value is not None:
                ax.axvline(value, color=colour, ls=style, lw=1.5, label=f"{label}: {value:.1%}")
        horizon = chosen["horizon"].dropna() if not chosen.empty else pd.Series(dtype=float)
        steps = ""
        if not horizon.empty:
            count = int(horizon.iloc[0])
            steps = f", {count} step{'s' if count != 1 else ''}"
        ax.set_title(f"{spec} ({histogram['paths']:,} paths{steps})", fontsize="medium")
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("loss (share of book value)")
        ax.set_ylabel("paths")
        if ax.lines:
            ax.legend(loc="upper right", fontsize="small", framealpha=0.85)
        ax.grid(alpha=0.3)
    for ax in axes[len(specs) :]:
        ax.set_visible(False)
    return figure


def _metric(metrics: pd.DataFrame, metric: str, level: float) -> float | None:
    if metrics.empty:
        return None
    chosen = metrics[(metrics["metric"] == metric) & np.isclose(metrics["level"], level)]
    value = chosen["value"].dropna()
    return float(value.iloc[0]) if not value.empty else None


def _execution_is(summary: pd.DataFrame) -> Figure | None:
    if summary.empty:
        return None
    policies = _ordered(summary["policy"].unique(), _POLICY_ORDER)
    regimes = _ordered(summary["regime"].unique(), _REGIME_ORDER)
    figure = _new_figure(11, 4.5)
    ax = figure.subplots()
    width = 0.8 / len(regimes)
    position = {policy: k for k, policy in enumerate(policies)}
    for k, regime in enumerate(regimes):
        rows = summary[summary["regime"] == regime]
        x = (
            rows["policy"].map(position).to_numpy(dtype=float)
            + (k - (len(regimes) - 1) / 2) * width
        )
        ax.errorbar(
            x,
            rows["mean_bps"].to_numpy(),
            yerr=np.nan_to_num(rows["ci_bps"].to_numpy()),
            fmt="o",
            capsize=4,
            lw=1.5,
            ms=6,
            label=regime if len(regimes) > 1 else None,
        )
    ax.set_xticks(range(len(policies)), policies)
    ax.set_xlim(-0.6, len(policies) - 0.4)
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.set_ylabel("implementation shortfall (bps)")
    ax.set_title(f"Implementation shortfall by policy: mean ± {CI_LEVEL:.0%} CI")
    if len(regimes) > 1:
        ax.legend(title="regime", fontsize="small", loc="upper right", framealpha=0.85)
    ax.grid(alpha=0.3, axis="y")
    return figure


def _save(figure: Figure | None, path: Path) -> tuple[int, int] | None:
    """Write ``figure`` to ``path`` (atomically), or remove a stale ``path`` when there is none."""
    if figure is None:
        path.unlink(missing_ok=True)
        return None
    temporary = path.with_name(path.name + ".tmp")
    # No Software tag (and Agg writes no time): the same run gives byte-identical PNGs.
    figure.savefig(temporary, format="png", dpi=DPI, metadata={"Software": None})
    os.replace(temporary, path)
    width, height = figure.canvas.get_width_height()
    return int(width), int(height)


# --------------------------------------------------------------------------- HTML


def _text(value: Any) -> str:
    """A cell's text, escaped; NULL and NaN show as an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "—"
    return html.escape(str(value))


def _number(value: Any, spec: str) -> str:
    if value is None or pd.isna(value):
        return "—"
    return html.escape(format(value, spec))


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Collection[int] = ()
) -> str:
    """An HTML table of already-escaped cells; the ``numeric`` columns align right."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell}</td>' if k in numeric else f"<td>{cell}</td>"
            for k, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _missing(what: str) -> str:
    return f'<p class="note">{html.escape(NOT_IN_RUN)}: {html.escape(what)}.</p>'


def _caption(text: str) -> str:
    return f'<p class="caption">{html.escape(text)}</p>'


def _outcome(value: Any) -> str:
    kind = {"pass": "good", "green": "good", "yellow": "warn", "reject": "bad", "red": "bad"}
    css = kind.get(str(value), "")
    return f'<span class="{css}">{_text(value)}</span>' if css else _text(value)


_TEST_ORDER = (
    "kupiec",
    "christoffersen_independence",
    "christoffersen_cc",
    "traffic_light",
    "acerbi_szekely",
)
_MODEL_ORDER = ("engine", "ewma", "historical")


def _backtests_table(store: Store, run_id: str) -> str:
    rows = store.query(
        """SELECT model, level, test, exceptions, n, statistic, p_value, outcome FROM backtests
           WHERE run_id = ?""",
        [run_id],
    ).fetchall()
    if not rows:
        return _missing("no backtests rows")
    tests = {t: k for k, t in enumerate(_ordered([r[2] for r in rows], _TEST_ORDER))}
    models = {m: k for k, m in enumerate(_ordered([r[0] for r in rows], _MODEL_ORDER))}
    rows.sort(key=lambda r: (-(r[1] if r[1] is not None else -1.0), tests[r[2]], models[r[0]]))
    cells = [
        (
            _text(model),
            _text(None if level is None else _level(level)),
            _text(test),
            _text(exceptions),
            _text(n),
            _number(statistic, ".3g"),
            _number(p_value, ".3f"),
            _outcome(outcome),
        )
        for model, level, test, exceptions, n, statistic, p_value, outcome in rows
    ]
    headers = ("model", "level", "test", "exceptions", "days", "statistic", "p-value", "outcome")
    return _table(headers, cells, numeric={1, 3, 4, 5, 6})


def _scores_table(store: Store, run_id: str) -> str:
    rows = store.query(
        """SELECT target, score, model, baseline, value, baseline_value FROM forecast_scores
           WHERE run_id = ? ORDER BY target, score, model""",
        [run_id],
    ).fetchall()
    if not rows:
        return _missing("no forecast_scores rows")
    cells = []
    for target, score, model, baseline, value, baseline_value in rows:
        ratio = value / baseline_value if value is not None and baseline_value else None
        better = None
        if value is not None and baseline_value is not None:
            # Mahalanobis is ideal at 1; every other score is lower-is-better (and QLIKE
            # may be negative, so the ratio alone does not say which is better).
            if score == "mahalanobis":
                better = abs(value - 1) < abs(baseline_value - 1)
            else:
                better = value < baseline_value
        cells.append(
            (
                _text(target),
                _text(score),
                _text(model),
                _text(baseline),
                _number(value, ".4g"),
                _number(baseline_value, ".4g"),
                _number(ratio, ".3f"),
                _text(None if better is None else ("yes" if better else "no")),
            )
        )
    headers = (
        "target",
        "score",
        "model",
        "baseline",
        "value",
        "baseline value",
        "ratio",
        "model better",
    )
    return _table(headers, cells, numeric={4, 5, 6})


_SCENARIO_COLUMNS = (
    ("var", 0.99, "VaR 99%"),
    ("var", 0.975, "VaR 97.5%"),
    ("es", 0.975, "ES 97.5%"),
    ("es", 0.99, "ES 99%"),
    ("mean_loss", None, "mean loss"),
    ("worst_loss", None, "worst loss"),
    ("stressed_end", None, "paths ending stressed"),
    ("gross_limit_median_end", None, "gross limit, median at end"),
    ("gross_limit_min_p05", None, "gross limit min, 5th pct"),
)


def _scenario_value(metrics: pd.DataFrame, metric: str, level: float | None) -> float | None:
    if level is not None:
        return _metric(metrics, metric, level)
    value = metrics.loc[(metrics["metric"] == metric) & metrics["level"].isna(), "value"].dropna()
    return float(value.iloc[0]) if not value.empty else None


def _scenario_table(metrics: pd.DataFrame) -> str:
    if metrics.empty:
        return _missing("no scenario_metrics rows")
    keys = list(
        dict.fromkeys(
            (metric, None if pd.isna(level) else float(level))
            for metric, level in zip(metrics["metric"], metrics["level"], strict=True)
        )
    )
    known = [c for c in _SCENARIO_COLUMNS if any(_same_key(c[:2], k) for k in keys)]
    extra = [k for k in keys if not any(_same_key(c[:2], k) for c in _SCENARIO_COLUMNS)]
    extra.sort(key=lambda k: (k[0], k[1] if k[1] is not None else -1.0))
    columns = known + [(m, lv, m if lv is None else f"{m} {_level(lv)}") for m, lv in extra]
    rows = []
    for spec in _ordered(metrics["spec"].unique(), _SCENARIO_ORDER):
        chosen = metrics[metrics["spec"] == spec]
        horizon = chosen["horizon"].dropna()
        row = [_text(spec), _text(int(horizon.iloc[0]) if not horizon.empty else None)]
        # Losses are shares of book value and regime counts shares of paths (percent); the
        # gross limits are currency notionals.
        row += [
            _number(
                _scenario_value(chosen, m, lv), ",.0f" if m.startswith("gross_limit") else ".2%"
            )
            for m, lv, _ in columns
        ]
        rows.append(row)
    headers = ["spec", "horizon (steps)", *(c[2] for c in columns)]
    return _table(headers, rows, numeric=set(range(1, len(headers))))


def _same_key(a: tuple[str, float | None], b: tuple[str, float | None]) -> bool:
    if a[0] != b[0] or (a[1] is None) != (b[1] is None):
        return False
    return a[1] is None or math.isclose(a[1], b[1])


def _execution_table(summary: pd.DataFrame) -> str:
    if summary.empty:
        return _missing("no execution_results rows")
    rows = [
        (
            _text(row.policy),
            _text(row.regime),
            _text(int(row.episodes)),
            _number(row.mean_bps, ".2f"),
            _number(row.std_bps, ".2f"),
            _number(row.ci_bps, ".2f"),
            _number(row.completed, ".1%"),
        )
        for row in summary.itertuples(index=False)
    ]
    headers = (
        "policy",
        "regime",
        "episodes",
        "mean IS (bps)",
        "std (bps)",
        f"± {_level(CI_LEVEL)} CI (bps)",
        "completed",
    )
    return _table(headers, rows, numeric={2, 3, 4, 5, 6})


def _row_counts(store: Store, run_id: str) -> str:
    """How many rows each table holds for the run (counted in SQL)."""
    sql = " UNION ALL ".join(
        f"SELECT '{table}' AS table_name, count(*) AS n FROM {table} WHERE run_id = ?"
        for table in TABLES
    )
    counts = dict(store.query(sql, [run_id] * len(TABLES)).fetchall())
    return ", ".join(f"{html.escape(table)}&nbsp;{counts.get(table, 0):,}" for table in TABLES)


def _config_block(config_text: str | None) -> str:
    if not config_text:
        return _missing("no configuration recorded")
    try:
        pretty = json.dumps(json.loads(config_text), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        pretty = config_text
    return (
        "<details><summary>Configuration (JSON)</summary>\n"
        f"<pre>{html.escape(pretty)}</pre>\n</details>"
    )


def _time(value: Any) -> str:
    if value is None:
        return "—"
    return html.escape(pd.Timestamp(value).isoformat(sep=" ", timespec="seconds"))


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 1.5rem auto; max-width: 1140px; padding: 0 1rem; color: #1b1b1b; }
h1 { margin-bottom: 0.3rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #d4d4d4; padding: 0.2rem 0.55rem; }
th { background: #f1f1f1; text-align: left; } td.num { text-align: right; }
table.meta td:first-child { font-weight: 600; white-space: nowrap; }
img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
pre { background: #f6f6f6; padding: 0.7rem; overflow-x: auto; font-size: 0.85rem; }
.note { color: #666; font-style: italic; } .caption { color: #444; font-size: 0.9rem; }
.good { color: #1a7f37; } .warn { color: #9a6700; } .bad { color: #cf222e; font-weight: bold; }
nav ul { columns: 2; }
"""


def _figure_html(section: _Section) -> str:
    if section.size is None:
        return _missing(section.missing)
    width, height = section.size
    return (
        f'<img src="{html.escape(section.name)}.png" alt="{html.escape(section.alt)}" '
        f'width="{width}" height="{height}">\n{_caption(section.caption)}'
    )


def _page(run: _Run, blocks: Sequence[tuple[str, str, str]], row_counts: str) -> str:
    """The page: metadata, then ``blocks`` of (anchor, title, body HTML) in order."""
    meta_rows = [
        ("run id", _text(run.run_id)),
        ("status", _text(run.status)),
        ("started", _time(run.started_at)),
        ("finished", _time(run.finished_at)),
        ("code version", _text(run.code_version)),
        ("seed", _text(run.seed)),
        ("assets", _text(", ".join(run.assets) if run.assets else None)),
        ("rows", row_counts),
    ]
    meta = "\n".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in meta_rows)
    nav = "\n".join(
        f'<li><a href="#{html.escape(anchor)}">{html.escape(title)}</a></li>'
        for anchor, title, _ in blocks
    )
    sections = [
        f'<section id="{html.escape(anchor)}">\n<h2>{html.escape(title)}</h2>\n{body}\n</section>'
        for anchor, title, body in blocks
    ]
    title = f"Nightly risk report: {run.run_id}"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            f"<h1>{html.escape(title)}</h1>",
            f'<table class="meta">\n<tbody>\n{meta}\n</tbody>\n</table>',
            _config_block(run.config_text),
            f"<nav>\n<ul>\n{nav}\n</ul>\n</nav>",
            *sections,
            "</body>",
            "</html>",
            "",
        ]
    )


# --------------------------------------------------------------------------- entry point


def write_report(store: Store, run_id: str, directory: str | os.PathLike[str]) -> Path:
    """Write the HTML report of the succeeded run ``run_id`` into ``directory``.

    Parameters
    ----------
    store
        An open store; read with :meth:`~riskengine.store.Store.query` only, so a
        store opened with ``read_only=True`` works.
    run_id
        The run to report on. It must exist and have succeeded.
    directory
        Created if missing. ``index.html`` and one PNG per figure (see the module
        docstring) are written there, replacing an older report of the run; other
        files are left alone.

    Returns
    -------
    pathlib.Path
        ``directory / "index.html"``.

    Raises
    ------
    FileNotFoundError
        ``"run: no run 'X' in <store path>"`` when the store has no such run.
    riskengine.errors.InvalidInput
        (a ``ValueError``, field ``run``) when the run did not succeed.

    Examples
    --------
    >>> import tempfile, os
    >>> from riskengine.store import open_store
    >>> store = open_store(os.path.join(tempfile.mkdtemp(), "risk.duckdb"))
    >>> write_report(store, "nightly-1", tempfile.mkdtemp())
    Traceback (most recent call last):
    FileNotFoundError: run: no run 'nightly-1' in ...
    >>> store.close()
    """
    run = _read_run(store, run_id)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    portfolio = _read_portfolio(store, run_id)
    proba = portfolio["stressed_proba"].dropna() if not portfolio.empty else None
    realised = portfolio["realised_return"] if not portfolio.empty else None
    scenario_metrics = _frame(
        store,
        "SELECT spec, horizon, metric, level, value FROM scenario_metrics WHERE run_id = ?",
        run_id,
    )
    execution = _read_execution(store, run_id)

    # name -> (title, alt text, caption, what is missing when absent, figure builder)
    figures = {
        "price_volatility": (
            "Equity and forecast volatility",
            "Book equity (top) and annualised forecast volatility per asset (bottom), "
            "stressed days shaded",
            "Top: the book's equity (or the assets' prices over their first price). Bottom: the "
            "engine's forecast of the next day's volatility, annualised with √252. Shaded: days "
            "whose filtered stressed-regime probability exceeds 0.5.",
            "no equity, price or volatility rows in risk_metrics",
            lambda: _price_volatility(
                portfolio,
                _read_assets(store, run_id, "price", run.assets),
                _read_assets(store, run_id, "volatility", run.assets),
            ),
        ),
        "var_exceptions": (
            "VaR and exceptions",
            "Realised next-day book return against minus the VaR, exceptions marked in red",
            "Each day's VaR forecast, plotted at the day it was made, against the book's return "
            "over the next day. Red triangles: the return fell below −VaR at the highest level.",
            "no portfolio VaR rows in risk_metrics",
            lambda: _var_exceptions(_read_var(store, run_id), realised),
        ),
        "correlation": (
            "Correlations",
            "Heatmaps of the forecast correlation matrix now and in the calm regime",
            "Left: the engine's correlation forecast at the last day. Right: the mean of its "
            "forecasts over the days whose most likely regime is calm. Same colour scale.",
            "no pair correlation rows in risk_metrics",
            lambda: _correlation(_read_correlations(store, run_id, run.assets)),
        ),
        "limits": (
            "Limits",
            "Gross and net portfolio limits (top) and per-asset position limits (bottom) over time",
            "Notional limits set each day; stressed days shaded.",
            "no limits rows",
            lambda: _limits(_read_limits(store, run_id, run.assets), proba),
        ),
        "scenario_losses": (
            "Scenario losses",
            "Histogram of the scenario loss per spec with its VaR 99% and ES 97.5%",
            "Loss over the scenario horizon as a share of book value (positive = loss), one "
            "panel per scenario spec; VaR and ES from the scenario metrics.",
            "no scenario_results rows",
            lambda: _scenario_losses(_read_scenario_histograms(store, run_id), scenario_metrics),
        ),
        "execution_is": (
            "Execution: implementation shortfall",
            "Implementation shortfall in basis points by execution policy and regime, mean "
            "with 99% confidence interval",
            "Mean implementation shortfall per episode with a 99 % confidence interval "
            "(Student t), by policy and regime; lower is better.",
            "no execution_results rows",
            lambda: _execution_is(execution),
        ),
    }
    figure_html = {}
    for name, (title, alt, caption, missing, build) in figures.items():
        size = _save(build(), directory / f"{name}.png")
        figure_html[name] = (
            title,
            _figure_html(_Section(name, title, alt, caption, size, missing)),
        )

    blocks = [
        ("price_volatility", *figure_html["price_volatility"]),
        (
            "forecast_scores",
            "Forecast scores",
            _caption(
                "Model against baseline; lower is better for every score but Mahalanobis (ideal 1)."
            )
            + "\n"
            + _scores_table(store, run_id),
        ),
        ("var_exceptions", *figure_html["var_exceptions"]),
        ("backtests", "VaR backtests", _backtests_table(store, run_id)),
        ("correlation", *figure_html["correlation"]),
        ("limits", *figure_html["limits"]),
        ("scenario_losses", *figure_html["scenario_losses"]),
        (
            "scenario_metrics",
            "Scenario metrics",
            _caption(
                "Losses as a share of book value (positive = loss); gross limits in currency, "
                "from the engine's limit chain fed each path's true risk."
            )
            + "\n"
            + _scenario_table(scenario_metrics),
        ),
        ("execution_is", *figure_html["execution_is"]),
        ("execution_summary", "Execution summary", _execution_table(execution)),
    ]
    index = directory / "index.html"
    temporary = directory / "index.html.tmp"
    temporary.write_text(_page(run, blocks, _row_counts(store, run_id)), encoding="utf-8")
    os.replace(temporary, index)
    return index
