"""The store's named reads: one run's rows, shaped as the report and the CLI ask for them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from riskengine.store import TABLES, RunRecord, Store, open_store
from tests.nightly._report_data import write_failed_run, write_sample_run, write_simulate_run

ASSETS = ("SPX", "NDX", "AAPL")
N_DAYS = 120
N_PATHS = 300


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("reads") / "risk.duckdb"
    with open_store(path) as writer:
        write_sample_run(writer, "a", n_days=N_DAYS, n_paths=N_PATHS)
        write_sample_run(writer, "b", seed=1, n_days=60, n_paths=100, omit=["execution_results"])
        write_simulate_run(writer, "sim")
        write_failed_run(writer, "dead")
    with open_store(path, read_only=True) as reader:  # every read works read-only
        yield reader


def test_read_run_and_list_runs(store: Store) -> None:
    record = store.read_run("a")
    assert isinstance(record, RunRecord)
    assert (record.run_id, record.status, record.seed) == ("a", "succeeded", 0)
    assert record.started_at == dt.datetime(2026, 1, 2, 22, 30)
    assert (
        record.code_version == "0.1.0+test" and '"assets": ["SPX", "NDX", "AAPL"]' in record.config
    )
    assert store.read_run("dead").status == "failed"
    assert store.read_run("nope") is None
    runs = store.list_runs()
    assert runs.column_names == [
        "run_id", "started_at", "finished_at", "status", "code_version", "seed",
    ]  # fmt: skip
    assert sorted(runs.column("run_id").to_pylist()) == ["a", "b", "dead", "sim"]


def test_row_counts_cover_every_table_for_one_run_only(store: Store) -> None:
    counts = store.row_counts("a")
    assert list(counts) == list(TABLES)
    assert counts["scenario_results"] == 3 * N_PATHS
    assert counts["execution_results"] > 0
    assert store.row_counts("b")["execution_results"] == 0
    simulated = store.row_counts("sim")
    assert simulated["scenario_paths"] > 0
    assert sum(simulated.values()) == simulated["scenario_paths"]
    assert set(store.row_counts("nope").values()) == {0}


def test_portfolio_and_var_are_one_row_per_day(store: Store) -> None:
    portfolio = store.read_portfolio("a")
    assert portfolio.column_names == [
        "as_of",
        "equity",
        "stressed_proba",
        "realised_return",
        "average_correlation",
        "correlation_alarm",
    ]
    assert portfolio.num_rows == N_DAYS
    days = portfolio.column("as_of").to_pylist()
    assert days == sorted(days)
    equity = store.query(
        "SELECT value FROM risk_metrics WHERE run_id = ? AND scope = 'portfolio' "
        "AND metric = 'equity' ORDER BY as_of",
        ["a"],
    )
    assert portfolio.column("equity").to_pylist() == equity.column("value").to_pylist()
    var = store.read_portfolio_var("a")
    assert var.column_names == ["as_of", "level", "value"]
    assert sorted(set(var.column("level").to_pylist())) == [0.975, 0.99]
    assert var.num_rows == 2 * N_DAYS


def test_asset_metrics_correlations_and_limits(store: Store) -> None:
    volatility = store.read_asset_metric("a", "volatility")
    assert set(volatility.column("scope").to_pylist()) == set(ASSETS)
    assert volatility.num_rows == N_DAYS * len(ASSETS)
    assert store.read_asset_metric("a", "no_such_metric").num_rows == 0
    pairs = store.read_correlations("a")
    assert set(pairs.column("metric").to_pylist()) == {"correlation", "correlation_calm"}
    assert all("|" in scope for scope in pairs.column("scope").to_pylist())
    assert len(set(pairs.column("as_of").to_pylist())) == 1  # the last day only
    limits = store.read_limits("a").to_pandas()
    portfolio = limits[limits["scope"] == "portfolio"]
    assert set(portfolio["limit_type"]) == {"gross", "net"}
    assert set(limits.loc[limits["scope"] != "portfolio", "limit_type"]) == {"position"}


def test_loss_histograms_are_bins_not_paths(store: Store) -> None:
    histograms = store.read_loss_histograms("a", 60).to_pandas()
    assert list(histograms.columns) == ["spec", "lo", "hi", "paths", "bin", "count"]
    for spec, group in histograms.groupby("spec"):
        assert group["count"].sum() == group["paths"].iloc[0] == N_PATHS, spec
        assert group["bin"].between(0, 59).all() and group["bin"].is_unique
        assert (group["lo"] <= group["hi"]).all()
    one_bin = store.read_loss_histograms("a", 1).to_pandas()
    assert (one_bin["count"] == N_PATHS).all()
    with pytest.raises(ValueError, match="bins"):
        store.read_loss_histograms("a", 0)


def test_execution_summary_is_per_policy_and_regime(store: Store) -> None:
    summary = store.read_execution_summary("a").to_pandas()
    assert list(summary.columns) == [
        "policy", "regime", "episodes", "mean_bps", "std_bps", "completed",
    ]  # fmt: skip
    assert len(summary) == 5 * 3
    episodes = store.query(
        "SELECT count(*) AS n FROM execution_results WHERE run_id = ? AND isfinite(is_bps)", ["a"]
    )
    assert summary["episodes"].sum() == episodes.column("n")[0].as_py()
    assert store.read_execution_summary("b").num_rows == 0


def test_backtests_scores_and_scenario_metrics(store: Store) -> None:
    backtests = store.read_backtests("a")
    assert backtests.column_names == [
        "model", "level", "test", "exceptions", "n", "statistic", "p_value", "outcome",
    ]  # fmt: skip
    assert backtests.num_rows == 26
    scores = store.read_forecast_scores("a").to_pandas()
    keys = list(zip(scores["target"], scores["score"], scores["model"], strict=True))
    assert keys == sorted(keys) and len(keys) > 0
    metrics = store.read_scenario_metrics("a").to_pandas()
    assert set(metrics["spec"]) == {"forward", "crisis", "flash_crash"}
    assert np.isfinite(metrics["value"]).all()
    for read in (store.read_backtests, store.read_forecast_scores, store.read_scenario_metrics):
        assert read("sim").num_rows == 0
