"""The nightly run end to end on a small book: one atomic run in the store, and its report.

One run (three assets of the shipped data, small scenario sets) is shared by
the module. The execution step is off here: compiling the order-book program
costs half a minute, and tests/nightly/test_execution_today.py runs it and
stores its rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from riskengine.nightly import run as nightly_run
from riskengine.nightly.config import NightlyConfig
from riskengine.nightly.history import load_history
from riskengine.nightly.run import default_run_id, run_nightly
from riskengine.report import write_report
from riskengine.store import TABLES, RunRecorder, StoreBusy, open_store

ASSETS = ["SPX", "NDX", "AAPL"]
SMALL = {
    "data": {"assets": ASSETS},
    "scenarios": {"paths": 128, "horizon": 5, "stress_paths": 64, "shard_paths": 64},
    "execution": {"episodes": 0},
}


def _config(**overrides) -> NightlyConfig:
    table = json.loads(json.dumps(SMALL))
    for section, values in overrides.items():
        table[section] = table.get(section, {}) | values
    return NightlyConfig.from_mapping(table)


def _clock():
    return dt.datetime(2026, 11, 22, 6, 0, 0)


class Stages:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.units = 0

    def stage(self, name: str, total: int | None):
        self.names.append(name)

        def advance(units: int) -> None:
            self.units += units

        return advance


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    db = tmp_path_factory.mktemp("nightly") / "risk.duckdb"
    stages = Stages()
    result = run_nightly(_config(), db=db, progress=stages, clock=_clock)
    return result, db, stages


def test_the_run_is_stored_as_one_succeeded_run_with_every_table(nightly) -> None:
    result, db, _ = nightly
    assert result.run_id == "nightly-2018-02-06-s0"
    with open_store(db, read_only=True) as store:
        assert store.list_runs().column("run_id").to_pylist() == [result.run_id]
        record = store.read_run(result.run_id)
        assert (record.status, record.seed) == ("succeeded", 0)
        assert record.started_at == record.finished_at == _clock()
        stored = json.loads(record.config)
        assert stored["assets"] == ASSETS and stored["scenarios"]["paths"] == 128
        counts = store.row_counts(result.run_id)
        for table in TABLES:
            assert counts[table] == result.rows.get(table, 0), table
            assert (counts[table] > 0) == (table != "execution_results"), table
        specs = store.read_scenario_metrics(result.run_id).column("spec").to_pylist()
        assert sorted(set(specs)) == ["crisis", "flash_crash", "forward"]
        assert counts["scenario_paths"] == 3 * (128 * 5 + 64 * 5 + 64 * 78)
        latest = store.query("SELECT run_id FROM latest_run").column("run_id").to_pylist()
        assert latest == [result.run_id]


def test_var_history_marks_exactly_the_backtest_exceptions(nightly) -> None:
    result, db, _ = nightly
    with open_store(db, read_only=True) as store:
        flagged = store.query(
            "SELECT count(*) FILTER (WHERE exception) AS exceptions, count(realised_return) AS n "
            "FROM var_history WHERE level = 0.99"
        ).to_pylist()
        kupiec = store.query(
            "SELECT exceptions, n FROM var_exceptions WHERE model = 'engine' AND level = 0.99"
        ).to_pylist()
    assert flagged == kupiec
    kupiec = (kupiec[0]["exceptions"], kupiec[0]["n"])
    report = result.backtest.backtests[("engine", 0.99)]
    assert kupiec == (report.exceptions, report.n)


def test_the_summary_answers_today_and_the_progress_saw_every_stage(nightly) -> None:
    result, _, stages = nightly
    rows = {row["measure"]: row["value"] for row in result.summary()}
    assert rows["as of"] == "2018-02-06"
    assert any(measure.startswith("forward (5 steps)") for measure in rows)
    assert "execution IS, bps" not in " ".join(rows)  # the step was off
    assert stages.names[0].startswith("backtest")
    assert stages.names[-1].startswith("store")
    # Shards: 2 forward, 1 + 1 stress; then one unit per table batch written:
    # 4 from the backtest and 3 per scenario set.
    assert stages.units == (2 + 1 + 1) + (4 + 3 * 3)


def test_the_report_of_the_stored_run_has_every_figure(nightly, tmp_path: Path) -> None:
    result, db, _ = nightly
    with open_store(db, read_only=True) as store:
        page = write_report(store, result.run_id, tmp_path / "report")
    text = page.read_text(encoding="utf-8")
    for figure in ("price_volatility", "var_exceptions", "correlation", "limits"):
        assert f'src="{figure}.png"' in text
    assert 'src="scenario_losses.png"' in text and 'src="execution_is.png"' not in text


def test_a_reused_run_id_is_refused_before_any_work(nightly, monkeypatch) -> None:
    _, db, _ = nightly

    def never(*args, **kwargs):
        raise AssertionError("the backtest ran although the run id was taken")

    monkeypatch.setattr(nightly_run, "backtest_history", never)
    with pytest.raises(FileExistsError, match=r"^run_id: run 'nightly-2018-02-06-s0' already"):
        run_nightly(_config(), db=db)


def test_a_busy_store_is_refused_before_any_work(tmp_path: Path, monkeypatch) -> None:
    def busy(*args, **kwargs):
        raise StoreBusy("risk.duckdb: database busy (another process writes it), retry")

    monkeypatch.setattr(nightly_run, "open_store", busy)
    monkeypatch.setattr(nightly_run, "backtest_history", lambda *a, **k: pytest.fail("ran"))
    with pytest.raises(StoreBusy, match="database busy"):
        run_nightly(_config(), db=tmp_path / "risk.duckdb")


def test_a_failure_while_writing_leaves_no_rows_and_earlier_runs_intact(
    nightly, tmp_path: Path, monkeypatch
) -> None:
    _, db, _ = nightly
    copy = tmp_path / "risk.duckdb"
    copy.write_bytes(db.read_bytes())
    original = RunRecorder.write
    calls = {"n": 0}

    def failing(self, table, data):
        calls["n"] += 1
        if calls["n"] == 5:  # after the backtest tables, in the middle of the scenarios
            raise OSError("disk full")
        return original(self, table, data)

    monkeypatch.setattr(RunRecorder, "write", failing)
    config = _config()
    with pytest.raises(OSError, match="disk full"):
        run_nightly(config, db=copy, run_id="second", clock=_clock)
    with open_store(copy, read_only=True) as store:
        runs = store.list_runs().to_pydict()
        statuses = dict(zip(runs["run_id"], runs["status"], strict=True))
        assert statuses == {"nightly-2018-02-06-s0": "succeeded", "second": "failed"}
        assert store.row_counts("second") == dict.fromkeys(TABLES, 0)
        latest = store.query("SELECT run_id FROM latest_run").column("run_id").to_pylist()
        assert latest == ["nightly-2018-02-06-s0"]


def test_a_replace_failing_while_writing_keeps_the_old_run_whole(
    nightly, tmp_path: Path, monkeypatch
) -> None:
    """Issue 17, item 1 (``make run`` uses ``--replace``): the old run survives a failed redo.

    A kill at every step of a replace is tested on the store (tests/test_store_replace.py).
    """
    result, db, _ = nightly
    copy = tmp_path / "risk.duckdb"
    copy.write_bytes(db.read_bytes())
    original = RunRecorder.write
    calls = {"n": 0}

    def failing(self, table, data):
        calls["n"] += 1
        if calls["n"] == 5:  # the old run's rows were already deleted in the replace
            raise OSError("disk full")
        return original(self, table, data)

    monkeypatch.setattr(RunRecorder, "write", failing)
    with pytest.raises(OSError, match="disk full"):
        run_nightly(_config(), db=copy, replace=True, clock=lambda: dt.datetime(2027, 1, 1))
    with open_store(copy, read_only=True) as store:
        record = store.read_run(result.run_id)
        assert (record.status, record.finished_at) == ("succeeded", _clock())
        assert store.row_counts(result.run_id) == result.rows | {
            t: 0 for t in TABLES if t not in result.rows
        }
        latest = store.query("SELECT run_id FROM latest_run").column("run_id").to_pylist()
        assert latest == [result.run_id]


@pytest.mark.parametrize("run_id", ["bad id", "", "../x"])
def test_a_bad_run_id_is_refused_before_any_work_and_leaves_no_file(
    tmp_path: Path, monkeypatch, run_id: str
) -> None:
    """Issue 17, item 17: a bad id left an empty store behind; ``""`` used the default id."""
    monkeypatch.setattr(nightly_run, "load_history", lambda *a, **k: pytest.fail("loaded"))
    with pytest.raises(ValueError, match=r"^run_id: expected letters"):
        run_nightly(_config(), db=tmp_path / "new.duckdb", run_id=run_id)
    assert list(tmp_path.iterdir()) == []


def test_the_same_seed_gives_the_same_run_and_another_seed_another(nightly, tmp_path: Path) -> None:
    result, _, _ = nightly
    config = _config()
    again = run_nightly(config, db=tmp_path / "a.duckdb")
    for mine, theirs in zip(result.scenarios, again.scenarios, strict=True):
        assert mine.scenarios.returns.tobytes() == theirs.scenarios.returns.tobytes()
        assert mine.per_path["pnl"].tobytes() == theirs.per_path["pnl"].tobytes()
    other = run_nightly(config.with_seed(1), db=tmp_path / "b.duckdb")
    assert other.run_id == "nightly-2018-02-06-s1"
    assert not np.array_equal(other.scenarios[0].losses, result.scenarios[0].losses)


def test_a_user_history_runs_and_bad_input_names_its_field(tmp_path: Path) -> None:
    history = load_history(assets=ASSETS, start="2013-06-01")
    csv = tmp_path / "prices.csv"
    history.prices.to_csv(csv)
    config = dataclasses.replace(
        _config(),
        data=dataclasses.replace(_config().data, source=str(csv), assets=None),
    )
    result = run_nightly(config, db=tmp_path / "risk.duckdb")
    assert result.history.assets == tuple(ASSETS)
    assert result.run_id == default_run_id(history, 0)
    bad = dataclasses.replace(config, data=dataclasses.replace(config.data, assets=("SPX", "XYZ")))
    with pytest.raises(ValueError, match=r"^assets: "):
        run_nightly(bad, db=tmp_path / "risk.duckdb")
    unknown = NightlyConfig.from_mapping({**SMALL, "book": {"notional": {"SPX": 1e6, "XYZ": 1e6}}})
    with pytest.raises(ValueError, match=r"^book\['XYZ'\]"):
        run_nightly(unknown, db=tmp_path / "other.duckdb")
