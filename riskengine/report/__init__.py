"""The HTML report of one run: a self-contained page and its figures, read from the store.

:func:`write_report` reads one succeeded run (a nightly run, or one that the
``simulate``, ``backtest`` or ``evaluate-execution`` commands recorded) through
the store's named reads, which aggregate in SQL where the rows are many
(scenario losses become histogram bins, execution episodes become per policy and
regime moments) and work on a store opened ``read_only``, and writes into
``directory``:

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
the same run is removed. The same run gives byte-identical files.

Modules: :mod:`.data` (the store's reads shaped for drawing), :mod:`.figures`
(matplotlib, Agg canvas only), :mod:`.html` (tables and the page),
:mod:`.common` (orders and labels they share).
"""

from __future__ import annotations

import os
from pathlib import Path

from riskengine.errors import InvalidInput
from riskengine.report import data, figures, html
from riskengine.store import Store

__all__ = ["FIGURES", "report_directory", "write_report"]

#: File stem of each figure, in page order.
FIGURES = (
    "price_volatility",
    "var_exceptions",
    "correlation",
    "correlation_breakdown",
    "limits",
    "scenario_losses",
    "execution_is",
)


def report_directory(run_id: str, root: str | os.PathLike[str] = "reports") -> Path:
    """``root/<run_id>``: the default directory of a run's report, checked to stay in ``root``.

    The id is validated first (a run id is untrusted, whether typed or read from
    a store file: ``../../../tmp/escaped`` is refused), then the path is resolved,
    symbolic links followed, and must lie under ``root``; errors name ``run``.

    >>> report_directory("nightly-2018-02-06-s0").as_posix()
    'reports/nightly-2018-02-06-s0'
    >>> report_directory("../../../tmp/escaped")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    riskengine.errors.InvalidInput: run: expected letters, ... got '../../../tmp/escaped'
    """
    directory = Path(root) / data.check_report_run_id(run_id)
    if not directory.resolve().is_relative_to(Path(root).resolve()):
        raise InvalidInput("run", f"{directory} resolves outside {root} ({directory.resolve()})")
    return directory


def write_report(store: Store, run_id: str, directory: str | os.PathLike[str]) -> Path:
    """Write the HTML report of the succeeded run ``run_id`` into ``directory``.

    Parameters
    ----------
    store
        An open store; read through its named reads only, so a store opened with
        ``read_only=True`` works.
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
        (a ``ValueError``, field ``run``) when the run id is malformed (checked
        before the store is read) or the run did not succeed.

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
    run = data.read_report_run(store, run_id)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    portfolio = data.portfolio(store, run_id)
    proba = portfolio["stressed_proba"].dropna() if not portfolio.empty else None
    realised = portfolio["realised_return"] if not portfolio.empty else None
    scenario_metrics = data.scenario_metrics(store, run_id)
    execution = data.execution_summary(store, run_id)

    # name -> (title, alt text, caption, what is missing when absent, figure builder)
    sections = {
        "price_volatility": (
            "Equity and forecast volatility",
            "Book equity (top) and annualised forecast volatility per asset (bottom), "
            "stressed days shaded",
            "Top: the book's equity (or the assets' prices over their first price). Bottom: the "
            "engine's forecast of the next day's volatility, annualised with √252. Shaded: days "
            "whose filtered stressed-regime probability exceeds 0.5.",
            "no equity, price or volatility rows in risk_metrics",
            lambda: figures.price_volatility(
                portfolio,
                data.asset_metric(store, run_id, "price", run.assets),
                data.asset_metric(store, run_id, "volatility", run.assets),
            ),
        ),
        "var_exceptions": (
            "VaR and exceptions",
            "Realised next-day book return against minus the VaR, exceptions marked in red",
            "Each day's VaR forecast, plotted at the day it was made, against the book's return "
            "over the next day. Red triangles: the return fell below −VaR at the highest level.",
            "no portfolio VaR rows in risk_metrics",
            lambda: figures.var_exceptions(data.var_levels(store, run_id), realised),
        ),
        "correlation": (
            "Correlations",
            "Heatmaps of the forecast correlation matrix now and in the calm regime",
            "Left: the engine's correlation forecast at the last day. Right: the mean of its "
            "forecasts over the days whose most likely regime is calm. Same colour scale.",
            "no pair correlation rows in risk_metrics",
            lambda: figures.correlation(data.correlations(store, run_id, run.assets)),
        ),
        "correlation_breakdown": (
            "Correlation breakdown",
            "The forecast average pairwise correlation over time, with the days a correlation "
            "breakdown was detected marked by dashed red lines",
            "The average pairwise correlation of the engine's forecast for the next day. Dashed "
            "red: a correlation breakdown alarm (the average jumped above its half-year level), "
            "which tightens the limits; stressed days shaded.",
            "no average_correlation rows in risk_metrics",
            lambda: figures.correlation_breakdown(portfolio),
        ),
        "limits": (
            "Limits",
            "Gross and net portfolio limits (top) and per-asset position limits (bottom) over time",
            "Notional limits set each day; stressed days shaded.",
            "no limits rows",
            lambda: figures.limits(data.limits(store, run_id, run.assets), proba),
        ),
        "scenario_losses": (
            "Scenario losses",
            "Histogram of the scenario loss per spec with its VaR 99% and ES 97.5%",
            "Loss over the scenario horizon as a share of book value (positive = loss), one "
            "panel per scenario spec; VaR and ES from the scenario metrics.",
            "no scenario_results rows",
            lambda: figures.scenario_losses(data.loss_histograms(store, run_id), scenario_metrics),
        ),
        "execution_is": (
            "Execution: implementation shortfall",
            "Implementation shortfall in basis points by execution policy and regime, mean "
            "with 99% confidence interval",
            "Mean implementation shortfall per episode with a 99 % confidence interval "
            "(Student t), by policy and regime; lower is better.",
            "no execution_results rows",
            lambda: figures.execution_is(execution),
        ),
    }
    figure_html = {}
    for name, (title, alt, caption, missing, build) in sections.items():
        size = figures.save(build(), directory / f"{name}.png")
        figure_html[name] = (
            title,
            html.figure_html(html.Section(name, title, alt, caption, size, missing)),
        )

    blocks = [
        ("price_volatility", *figure_html["price_volatility"]),
        (
            "forecast_scores",
            "Forecast scores",
            html.caption(
                "Model against baseline; lower is better for every score but Mahalanobis (ideal 1)."
            )
            + "\n"
            + html.scores_table(data.score_rows(store, run_id)),
        ),
        ("var_exceptions", *figure_html["var_exceptions"]),
        ("backtests", "VaR backtests", html.backtests_table(data.backtest_rows(store, run_id))),
        ("correlation", *figure_html["correlation"]),
        ("correlation_breakdown", *figure_html["correlation_breakdown"]),
        ("limits", *figure_html["limits"]),
        ("scenario_losses", *figure_html["scenario_losses"]),
        (
            "scenario_metrics",
            "Scenario metrics",
            html.caption(
                "Losses as a share of book value (positive = loss); gross limits in currency, "
                "from the engine's limit chain fed each path's true risk."
            )
            + "\n"
            + html.scenario_table(scenario_metrics),
        ),
        ("execution_is", *figure_html["execution_is"]),
        ("execution_summary", "Execution summary", html.execution_table(execution)),
    ]
    index = directory / "index.html"
    temporary = directory / "index.html.tmp"
    counts = html.row_counts(store.row_counts(run_id))
    temporary.write_text(html.page(run, blocks, counts), encoding="utf-8")
    os.replace(temporary, index)
    return index
