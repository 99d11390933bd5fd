"""The report's page: HTML tables of the run's rows and the page around the figures.

Every cell is escaped here; NULL and NaN show as an em dash. The page is UTF-8,
self-contained (inline CSS, no script, no external resource) and links only to
the PNGs beside it.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from riskengine.report.common import CI_LEVEL, NOT_IN_RUN, SCENARIO_ORDER, level_label, ordered
from riskengine.report.data import ReportRun, scenario_metric

__all__ = [
    "Section",
    "backtests_table",
    "caption",
    "execution_table",
    "figure_html",
    "page",
    "row_counts",
    "scenario_table",
    "scores_table",
]


@dataclass(frozen=True)
class Section:
    """One figure's place on the page: the PNG's pixel size, or why it is absent."""

    name: str
    title: str
    alt: str
    caption: str
    size: tuple[int, int] | None
    missing: str


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


def caption(text: str) -> str:
    return f'<p class="caption">{html.escape(text)}</p>'


def _outcome(value: Any) -> str:
    kind = {"pass": "good", "green": "good", "yellow": "warn", "reject": "bad", "red": "bad"}
    css = kind.get(str(value), "")
    return f'<span class="{css}">{_text(value)}</span>' if css else _text(value)


def backtests_table(rows: Sequence[tuple]) -> str:
    """The VaR backtests, from :func:`~riskengine.report.data.backtest_rows` (in page order)."""
    if not rows:
        return _missing("no backtests rows")
    cells = [
        (
            _text(model),
            _text(None if level is None else level_label(level)),
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


def scores_table(rows: Sequence[tuple]) -> str:
    """Forecast scores against their baseline, from :func:`~riskengine.report.data.score_rows`."""
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
        return scenario_metric(metrics, metric, level)
    value = metrics.loc[(metrics["metric"] == metric) & metrics["level"].isna(), "value"].dropna()
    return float(value.iloc[0]) if not value.empty else None


def scenario_table(metrics: pd.DataFrame) -> str:
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
    columns = known + [(m, lv, m if lv is None else f"{m} {level_label(lv)}") for m, lv in extra]
    rows = []
    for spec in ordered(metrics["spec"].unique(), SCENARIO_ORDER):
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


def execution_table(summary: pd.DataFrame) -> str:
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
        f"± {level_label(CI_LEVEL)} CI (bps)",
        "completed",
    )
    return _table(headers, rows, numeric={2, 3, 4, 5, 6})


def row_counts(counts: Mapping[str, int]) -> str:
    """How many rows each table holds for the run, as one line of the metadata table."""
    return ", ".join(f"{html.escape(table)}&nbsp;{n:,}" for table, n in counts.items())


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


def figure_html(section: Section) -> str:
    if section.size is None:
        return _missing(section.missing)
    width, height = section.size
    return (
        f'<img src="{html.escape(section.name)}.png" alt="{html.escape(section.alt)}" '
        f'width="{width}" height="{height}">\n{caption(section.caption)}'
    )


def page(run: ReportRun, blocks: Sequence[tuple[str, str, str]], counts: str) -> str:
    """The page: metadata, then ``blocks`` of (anchor, title, body HTML) in order."""
    meta_rows = [
        ("run id", _text(run.run_id)),
        ("status", _text(run.status)),
        ("started", _time(run.started_at)),
        ("finished", _time(run.finished_at)),
        ("code version", _text(run.code_version)),
        ("seed", _text(run.seed)),
        ("assets", _text(", ".join(run.assets) if run.assets else None)),
        ("rows", counts),
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
