"""The report's figures: matplotlib figures drawn from the shaped reads, saved as PNG.

Figures are drawn on :class:`matplotlib.figure.Figure` objects with the Agg
canvas, never through pyplot, so a host application's backend and global figure
state are untouched; PNGs carry no timestamp or software tag, so the same run
gives byte-identical files. Each builder returns None when the run has no rows
for its figure.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, PercentFormatter

from riskengine.report.common import (
    CI_LEVEL,
    NOT_IN_RUN,
    POLICY_ORDER,
    REGIME_ORDER,
    SCENARIO_ORDER,
    level_label,
    ordered,
)
from riskengine.report.data import scenario_metric

__all__ = [
    "correlation",
    "execution_is",
    "limits",
    "price_volatility",
    "save",
    "scenario_losses",
    "var_exceptions",
]

DPI = 100
TRADING_DAYS = 252
#: A day is shaded as stressed when the filtered stressed-regime probability exceeds this.
STRESSED_THRESHOLD = 0.5
#: Above this many assets, lines show the first two and the cross-asset median.
MAX_LINES = 5
_STRESS_COLOUR = "#f4a582"


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


def price_volatility(
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


def correlation_breakdown(portfolio: pd.DataFrame) -> Figure | None:
    """The forecast's average pairwise correlation over time, correlation alarms marked."""
    if "average_correlation" not in portfolio:
        return None
    average = portfolio["average_correlation"].dropna()
    if average.empty:
        return None
    figure = _new_figure(11, 3.8)
    ax = figure.subplots()
    ax.plot(average.index, average.to_numpy(), color="C0", lw=1.3, label="average correlation")
    alarms = portfolio.get("correlation_alarm")
    days = [] if alarms is None else alarms.index[alarms.fillna(0.0).to_numpy() > 0.5]
    for k, day in enumerate(days):
        label = f"correlation breakdown ({len(days)})" if k == 0 else None
        ax.axvline(day, color="C3", lw=1.0, ls="--", label=label)
    ax.set_ylabel("average pairwise correlation")
    ax.set_title("Forecast average correlation and correlation breakdown alarms")
    ax.legend(loc="upper left", fontsize="small", framealpha=0.85)
    ax.grid(alpha=0.3)
    _shade_stressed((ax,), portfolio.get("stressed_proba"))
    _date_axis(ax)
    return figure


def var_exceptions(var: pd.DataFrame, realised: pd.Series | None) -> Figure | None:
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
            label=f"−VaR {level_label(level)}",
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
            label=f"exception (VaR {level_label(primary)})",
        )
        expected = days * (1 - primary)
        ax.set_title(
            f"VaR {level_label(primary)}: {int(hit.sum())} exceptions in {days} days "
            f"(expected {expected:.1f})"
        )
    else:
        ax.set_title(f"VaR {level_label(primary)}: no realised returns in this run")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("next-day return of the book")
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.legend(loc="lower left", fontsize="small", ncols=4, framealpha=0.85)
    ax.grid(alpha=0.3)
    _date_axis(ax)
    return figure


def correlation(correlations: dict[str, Any]) -> Figure | None:
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


def limits(limits: dict[str, pd.DataFrame], proba: pd.Series | None) -> Figure | None:
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


def scenario_losses(histograms: dict[str, dict], metrics: pd.DataFrame) -> Figure | None:
    if not histograms:
        return None
    specs = ordered(list(histograms), SCENARIO_ORDER)
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
            value = scenario_metric(chosen, metric, level)
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


def execution_is(summary: pd.DataFrame) -> Figure | None:
    if summary.empty:
        return None
    policies = ordered(summary["policy"].unique(), POLICY_ORDER)
    regimes = ordered(summary["regime"].unique(), REGIME_ORDER)
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


def save(figure: Figure | None, path: Path) -> tuple[int, int] | None:
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
