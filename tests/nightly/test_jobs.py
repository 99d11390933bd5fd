"""The CLI's recorded jobs as library calls: one run each, reused ids refused before work."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from riskengine.nightly import jobs
from riskengine.nightly.config import NightlyConfig
from riskengine.store import open_store


def _clock() -> dt.datetime:
    return dt.datetime(2026, 3, 4, 5, 6, 7)


def test_simulate_job_records_its_paths_as_one_run(tmp_path: Path) -> None:
    db = tmp_path / "risk.duckdb"
    job = jobs.simulate_job("calm", seed=3, n_paths=2, n_steps=4, db=db, clock=_clock)
    assert (job.spec, job.run_id, job.rows) == ("calm", "simulate-calm-3", 2 * 4 * 4)
    with open_store(db, read_only=True) as store:
        record = store.read_run("simulate-calm-3")
        assert (record.status, record.seed, record.started_at) == ("succeeded", 3, _clock())
        assert json.loads(record.config) == {
            "command": "simulate", "spec": "calm", "paths": 2, "steps": 4,
        }  # fmt: skip
        assert store.row_counts(job.run_id)["scenario_paths"] == job.rows
    with pytest.raises(FileExistsError, match="run 'simulate-calm-3' already exists"):
        jobs.simulate_job("calm", seed=3, n_paths=2, n_steps=4, db=db)
    again = jobs.simulate_job("calm", seed=3, n_paths=3, n_steps=4, db=db, replace=True)
    assert again.rows == 3 * 4 * 4
    unstored = jobs.simulate_job("calm", seed=3, n_paths=2, n_steps=4)
    assert unstored.run_id is None and unstored.rows == 0
    assert unstored.scenarios.returns.tobytes() == job.scenarios.returns.tobytes()


def test_evaluate_execution_refuses_a_reused_id_before_any_work(tmp_path, monkeypatch) -> None:
    db = tmp_path / "risk.duckdb"
    jobs.simulate_job("calm", seed=0, n_paths=1, n_steps=2, db=db, run_id="taken")
    monkeypatch.setattr(jobs, "standard_policies", lambda *a, **k: pytest.fail("work ran"))
    with pytest.raises(FileExistsError, match="run 'taken' already exists"):
        jobs.evaluate_execution_job(
            "regime_switching", episodes=2, first_seed=0, policy_id="x", db=db, run_id="taken"
        )


def test_backtest_job_refuses_a_reused_id_before_any_work(tmp_path, monkeypatch) -> None:
    db = tmp_path / "risk.duckdb"
    config = NightlyConfig.from_mapping({"data": {"assets": ["SPX", "NDX"]}})
    jobs.simulate_job("calm", seed=0, n_paths=1, n_steps=2, db=db, run_id="taken")
    monkeypatch.setattr(jobs, "configured_backtest", lambda *a, **k: pytest.fail("work ran"))
    with pytest.raises(FileExistsError, match="run 'taken' already exists"):
        jobs.backtest_job(config, db=db, run_id="taken")
    with open_store(db, read_only=True) as store:
        assert store.list_runs().column("run_id").to_pylist() == ["taken"]


def test_a_failing_job_leaves_no_trace_and_its_id_free(tmp_path, monkeypatch) -> None:
    db = tmp_path / "risk.duckdb"

    def broken(*args, **kwargs):
        raise RuntimeError("the replay died")

    config = NightlyConfig.from_mapping({"data": {"assets": ["SPX", "NDX"]}})
    monkeypatch.setattr(jobs, "configured_backtest", broken)
    with pytest.raises(RuntimeError, match="the replay died"):
        jobs.backtest_job(config, db=db, run_id="bt")
    with open_store(db, read_only=True) as store:
        assert store.read_run("bt") is None
