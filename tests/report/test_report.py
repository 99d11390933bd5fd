"""The HTML report of a run: links, images, HTML shape, a real browser render, missing data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import matplotlib
import numpy as np
import pytest
from PIL import Image

from riskengine.errors import InvalidInput
from riskengine.report import FIGURES, write_report
from riskengine.store import Store, open_store
from tests.nightly._report_data import (
    write_failed_run,
    write_sample_run,
    write_simulate_run,
)

#: Assets whose names need escaping in HTML (and are not ASCII).
AWKWARD_ASSETS = ("S&P<500>", "NDX", "Ü-bond")
VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                 "source", "track", "wbr"}  # fmt: skip


class _Page(HTMLParser):
    """Collects what the checks need and the tag nesting errors."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append(tag)
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "img":
            self.images.append(attributes)
        for name in ("href", "src"):
            if name in attributes:
                self.links.append(attributes[name])
        if tag == "title":
            self._in_title = True
        if tag not in VOID_ELEMENTS:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_ELEMENTS:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_ELEMENTS:
            self.errors.append(f"end tag of void element {tag}")
        elif not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _parse(index: Path) -> _Page:
    page = _Page()
    page.feed(index.read_text(encoding="utf-8"))
    page.close()
    return page


def _section(index: Path, anchor: str) -> str:
    match = re.search(
        rf'<section id="{anchor}">(.*?)</section>', index.read_text(encoding="utf-8"), re.S
    )
    assert match, f"no section {anchor}"
    return match.group(1)


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "risk.duckdb"
    with open_store(path) as store:
        write_sample_run(store, "nightly-test")
        write_sample_run(
            store, "nightly-noexec", seed=1, n_days=120, assets=AWKWARD_ASSETS, n_paths=300,
            omit=["execution_results"],
        )  # fmt: skip
        write_simulate_run(store, "simulate-test")
        write_failed_run(store, "nightly-failed")
    return path


@pytest.fixture(scope="module")
def store(store_path: Path):
    # Read-only, as the CLI opens it while another process may read the same file.
    with open_store(store_path, read_only=True) as store:
        yield store


@pytest.fixture(scope="module")
def reports(store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reports")
    return {
        run_id: write_report(store, run_id, root / run_id / "html")
        for run_id in ("nightly-test", "nightly-noexec", "simulate-test")
    }


def test_report_of_a_read_only_store_is_index_html_in_a_new_directory(store, reports) -> None:
    assert store.read_only
    index = reports["nightly-test"]
    assert index.name == "index.html" and index.is_file()
    page = _parse(index)
    assert page.title.strip() == "Nightly risk report: nightly-test"
    assert '<meta charset="utf-8">' in index.read_text(encoding="utf-8")


def test_every_image_exists_decodes_is_not_blank_and_has_alt_text(reports) -> None:
    index = reports["nightly-test"]
    page = _parse(index)
    assert [image["src"] for image in page.images] == [f"{name}.png" for name in FIGURES]
    for image in page.images:
        path = index.parent / image["src"]
        assert path.is_file(), image["src"]
        pixels = _pixels(path)
        assert pixels.std() > 0, f"{image['src']} is blank"
        assert len(image.get("alt") or "") > 20, f"{image['src']} has no useful alt text"
        height, width, _ = pixels.shape
        assert (int(image["width"]), int(image["height"])) == (width, height)
        assert 600 <= width <= 1400 and 300 <= height <= 1000  # readable at 100 dpi


def test_every_link_is_relative_and_resolves(reports) -> None:
    for index in reports.values():
        page = _parse(index)
        assert page.links
        for link in page.links:
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc and not link.startswith("/"), link
            if parts.path:
                assert (index.parent / parts.path).is_file(), link
            if parts.fragment:
                assert parts.fragment in page.ids, link
        # Self-contained: nothing to fetch but the PNGs next to the page.
        assert not {"script", "link", "iframe", "object"} & set(page.tags)
        assert "@import" not in index.read_text(encoding="utf-8")


def test_html_parses_with_balanced_tags(reports) -> None:
    for index in reports.values():
        page = _parse(index)
        assert page.errors == []
        assert page.stack == []
        assert page.tags[:3] == ["html", "head", "meta"]


def test_metadata_config_and_tables(reports) -> None:
    index = reports["nightly-test"]
    text = index.read_text(encoding="utf-8")
    for field in ("run id", "status", "started", "finished", "code version", "seed"):
        assert f"<td>{field}</td>" in text
    assert "<td>succeeded</td>" in text and "2026-01-02 22:30:00" in text
    assert "0.1.0+test" in text
    assert re.search(r"<details><summary>[^<]*</summary>\s*<pre>\{", text)  # collapsed config
    backtests = _section(index, "backtests")
    for test in ("kupiec", "christoffersen_cc", "traffic_light", "acerbi_szekely"):
        assert f"<td>{test}</td>" in backtests
    assert backtests.count("<tr>") == 1 + 26
    assert "variance:SPX" in _section(index, "forecast_scores")
    scenarios = _section(index, "scenario_metrics")
    assert scenarios.count("<tr>") == 1 + 3 and "VaR 99%" in scenarios
    execution = _section(index, "execution_summary")
    assert execution.count("<tr>") == 1 + 5 * 3  # policy x regime
    assert "<td>adaptive_ac</td><td>stressed</td>" in execution


def test_renders_in_headless_chromium(reports, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium not found; the Makefile's test target installs it")
    index = reports["nightly-test"]
    shot = tmp_path / "shot.png"
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,3000",
        f"--screenshot={shot}", index.resolve().as_uri(),
    ]  # fmt: skip
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert shot.is_file(), f"no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    pixels = _pixels(shot)
    assert pixels.shape[:2] == (3000, 1280)
    assert pixels.std() > 10
    colours = np.unique(pixels.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 200, "a page of text only: the figures did not render"
    # The equity line's colour (matplotlib's C0) comes only from price_volatility.png.
    equity_blue = np.abs(pixels.astype(int) - (31, 119, 180)).sum(axis=2) < 30
    assert equity_blue.sum() > 500


def test_missing_tables_give_notes_not_figures(reports) -> None:
    index = reports["simulate-test"]  # scenario_paths only
    page = _parse(index)
    assert page.images == []
    assert not list(index.parent.glob("*.png"))
    text = index.read_text(encoding="utf-8")
    assert text.count('<p class="note">Not in this run') == len(FIGURES) + 4  # + 4 tables
    for name in FIGURES:
        assert "Not in this run" in _section(index, name)

    index = reports["nightly-noexec"]  # a nightly run without execution results
    page = _parse(index)
    assert [image["src"] for image in page.images] == [
        f"{name}.png" for name in FIGURES if name != "execution_is"
    ]
    assert "Not in this run: no execution_results rows" in _section(index, "execution_is")
    assert "Not in this run" in _section(index, "execution_summary")
    assert not (index.parent / "execution_is.png").exists()


def test_values_are_escaped(reports) -> None:
    text = reports["nightly-noexec"].read_text(encoding="utf-8")
    assert "S&amp;P&lt;500&gt;" in text and "Ü-bond" in text
    assert "S&P<500>" not in text


def test_unknown_run_is_a_missing_file_naming_run(store, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"^run: no run 'nope' in .*risk\.duckdb"):
        write_report(store, "nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_failed_run_is_refused_naming_run(store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^run: run 'nightly-failed' did not succeed") as error:
        write_report(store, "nightly-failed", tmp_path / "out")
    assert isinstance(error.value, InvalidInput) and error.value.field == "run"


def test_same_run_gives_identical_files_and_leaves_matplotlib_alone(
    store, reports, tmp_path: Path
) -> None:
    rc_before = dict(matplotlib.rcParams)
    pyplot_loaded = "matplotlib.pyplot" in sys.modules
    index = write_report(store, "nightly-test", tmp_path / "again")
    first = reports["nightly-test"].parent
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in index.parent.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (index.parent / name).read_bytes(), name
    assert dict(matplotlib.rcParams) == rc_before
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_loaded


def test_report_overwrites_an_older_report_of_the_run(tmp_path: Path) -> None:
    directory = tmp_path / "report"
    with open_store(tmp_path / "risk.duckdb") as store:
        write_sample_run(store, "r", n_days=80, n_paths=200)
        write_report(store, "r", directory)
        (directory / "limits.png").write_bytes(b"not a png")
        (directory / "notes.txt").write_text("mine")
        # The run is redone without execution results: its old figure must go.
        write_sample_run(
            store, "r", n_days=80, n_paths=200, omit=["execution_results"], replace=True
        )
        index = write_report(store, "r", directory)
    assert _pixels(directory / "limits.png").std() > 0
    assert not (directory / "execution_is.png").exists()
    assert "Not in this run" in _section(index, "execution_is")
    assert (directory / "notes.txt").read_text() == "mine"  # other files are left alone
    assert not list(directory.glob("*.tmp"))


def test_reads_are_parametrised_and_never_pull_scenario_paths(
    store, tmp_path: Path, monkeypatch
) -> None:
    # Every named read of the store runs its SQL through Store._select: record those calls.
    calls: list[tuple[str, list]] = []
    select = Store._select

    def recording(self, sql: str, parameters=()):
        calls.append((sql, list(parameters)))
        return select(self, sql, parameters)

    monkeypatch.setattr(Store, "_select", recording)
    monkeypatch.setattr(Store, "query", lambda *a, **k: pytest.fail("the report ran user SQL"))
    write_report(store, "nightly-test", tmp_path / "out")
    assert calls
    for sql, parameters in calls:
        assert "nightly-test" in parameters and "nightly-test" not in sql
        if "scenario_paths" in sql:
            assert "count(*)" in sql  # the row count only
        if "scenario_results" in sql:  # histogram bins or a count, never one row per path
            assert "GROUP BY" in sql or "count(*)" in sql


def test_partial_rows_still_draw(tmp_path: Path) -> None:
    """VaR without realised returns, a correlation without its calm twin, NULL labels."""
    days = np.array(["2024-01-02", "2024-01-03", "2024-01-04"], dtype="datetime64[ns]")
    with open_store(tmp_path / "risk.duckdb") as store:
        with store.record_run(
            "partial", config={"assets": ["A", "B"]}, seed=0, code_version="t"
        ) as run:
            run.write(
                "risk_metrics",
                {
                    "as_of": np.concatenate([days, days[-1:]]),
                    "scope": ["portfolio"] * 3 + ["A|B"],
                    "metric": ["var"] * 3 + ["correlation"],
                    "level": [0.99] * 3 + [None],
                    "value": [0.02, 0.021, 0.03, 0.4],
                },
            )
            run.write(
                "execution_results",
                {
                    "spec": ["x"] * 3, "policy": ["twap", None, "twap"], "episode": [0, 1, 2],
                    "regime": [None, "calm", None], "is_bps": [1.0, 2.0, float("nan")],
                    "spread_bps": [0.0] * 3, "impact_bps": [0.0] * 3, "timing_bps": [0.0] * 3,
                    "completed": [True] * 3,
                },
            )  # fmt: skip
        index = write_report(store, "partial", tmp_path / "out")
    drawn = {image["src"] for image in _parse(index).images}
    assert drawn == {"var_exceptions.png", "correlation.png", "execution_is.png"}
    for src in drawn:
        assert _pixels(index.parent / src).std() > 0
    assert "Not in this run" in _section(index, "limits")
