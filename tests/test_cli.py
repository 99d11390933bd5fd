"""The command line: tables on success, one-line errors with exit code 2 on bad input."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from riskengine.cli import app

runner = CliRunner()


def test_simulate_prints_a_regime_table() -> None:
    result = runner.invoke(app, ["simulate", "--spec", "calm", "--paths", "8", "--steps", "20"])
    assert result.exit_code == 0, result.output
    assert "realised_vol" in result.output
    assert "calm" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["simulate", "--spec", "no_such_spec"], "no scenario spec 'no_such_spec'"),
        (["simulate", "--paths", "0"], "n_paths: must be >= 1"),
        (["simulate", "--seed", "-3"], "seed: must be >= 0"),
        (["evaluate-execution", "--spec", "no_such_spec"], "no scenario spec 'no_such_spec'"),
        (["evaluate-execution", "--spec", "calm"], "needs both a [book] and an [execution]"),
        (["evaluate-execution", "--policy-id", "missing_v1"], "no execution policy 'missing_v1'"),
        (["evaluate-execution", "--policy-id", "../x"], "policy_id: expected letters"),
        (["train-execution", "--config", "/no/such.json"], "--config: no such file"),
        (["train-execution", "--updates", "0"], "ppo.n_updates: must be >= 1"),
        (["train-execution", "--policy-id", "execution_ppo_v1"], "already exists"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_debug_shows_the_exception() -> None:
    result = runner.invoke(app, ["--debug", "simulate", "--spec", "no_such_spec"])
    assert isinstance(result.exception, FileNotFoundError)


@pytest.mark.slow
def test_evaluate_execution_json_has_every_policy(tmp_path) -> None:
    db = tmp_path / "risk.duckdb"
    arguments = ["evaluate-execution", "--episodes", "16", "--json", "--db", str(db)]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.stderr
    rows = runner.invoke(
        app, ["query", "SELECT count(*) AS n FROM execution_results", "--db", str(db), "--json"]
    )
    assert json.loads(rows.stdout) == [{"n": 5 * 16}]
    summary = json.loads(result.stdout)
    assert list(summary) == ["twap", "vwap", "almgren_chriss", "adaptive_ac", "rl"]
    for row in summary.values():
        for key in ("is_bps_mean", "is_bps_std", "impact_bps_mean", "completion_rate"):
            assert isinstance(row[key], float)


@pytest.fixture
def store_path(tmp_path):
    import numpy as np

    from riskengine.store import open_store

    path = tmp_path / "risk.duckdb"
    with (
        open_store(path) as store,
        store.record_run("r1", config={}, seed=0, code_version="t") as run,
    ):
        n = 6
        run.write(
            "scenario_paths",
            {
                "spec": ["crisis"] * n,
                "path": np.zeros(n, np.int32),
                "step": np.arange(n, dtype=np.int32),
                "asset": ["SPX"] * n,
                "return": np.linspace(-0.02, 0.01, n),
                "variance": np.full(n, 1e-4),
                "regime": np.zeros(n, np.int16),
            },
        )
    return path


def test_query_prints_rows_as_json(store_path) -> None:
    import json

    sql = "SELECT run_id, count(*) AS n FROM scenario_paths GROUP BY run_id"
    result = runner.invoke(app, ["query", sql, "--db", str(store_path), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{"run_id": "r1", "n": 6}]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM runs", "only read statements are allowed, got DELETE"),
        ("SELECT * FROM no_such_table", "sql: Catalog Error"),
        ("SELEC 1", "sql:"),
    ],
)
def test_query_errors_are_one_line(store_path, sql: str, message: str) -> None:
    result = runner.invoke(app, ["query", sql, "--db", str(store_path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    check = runner.invoke(app, ["query", "SELECT count(*) AS n FROM runs", "--db", str(store_path)])
    assert check.exit_code == 0  # nothing was changed


def test_query_refuses_a_missing_or_corrupt_database(tmp_path) -> None:
    result = runner.invoke(app, ["query", "SELECT 1", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 2 and "no store at" in result.stderr
    corrupt = tmp_path / "corrupt.duckdb"
    corrupt.write_bytes(b"not a database" * 100)
    result = runner.invoke(app, ["query", "SELECT 1", "--db", str(corrupt)])
    assert result.exit_code == 2 and "not a readable riskengine store" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_export_writes_parquet(store_path, tmp_path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["export", "--run", "r1", "--to", str(out), "--db", str(store_path)]
    )
    assert result.exit_code == 0, result.stderr
    assert (out / "scenario_paths" / "spec=crisis").is_dir()
    missing = runner.invoke(
        app, ["export", "--run", "r9", "--to", str(out), "--db", str(store_path)]
    )
    assert missing.exit_code == 2 and "no run 'r9'" in missing.stderr


def test_simulate_writes_its_paths_to_the_store_as_one_run(tmp_path) -> None:
    import json

    db = str(tmp_path / "risk.duckdb")
    arguments = ["simulate", "--spec", "calm", "--paths", "3", "--steps", "5", "--db", db]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.stderr
    sql = (
        "SELECT run_id, count(*) AS n, count(DISTINCT asset) AS assets "
        "FROM scenario_paths GROUP BY 1"
    )
    rows = json.loads(runner.invoke(app, ["query", sql, "--db", db, "--json"]).stdout)
    assert rows == [{"run_id": "simulate-calm-0", "n": 3 * 5 * 4, "assets": 4}]
    again = runner.invoke(app, arguments)
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert runner.invoke(app, [*arguments, "--replace"]).exit_code == 0


COMMANDS = (
    "nightly",
    "simulate",
    "train-execution",
    "evaluate-execution",
    "backtest",
    "export",
    "query",
    "report",
)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.fixture()
def corrupt_db(tmp_path):
    path = tmp_path / "corrupt.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    return path


def _one_line_error(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.output + result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nightly", "--config", "/no/such.toml"], "config: no such file /no/such.toml"),
        (["nightly", "--data", "/no/such.csv"], "source: no such file"),
        (["nightly", "--assets", "SPX,NOPE"], "assets: "),
        (["nightly", "--seed", "-1"], "seed: must be >= 0"),
        (["nightly", "--backend", "spark"], "backend: expected one of ['local', 'ray']"),
        (["nightly", "--address", "ray://x:1"], "address: only used with --backend ray"),
        (["nightly", "--start", "not-a-date"], "start: "),
        (["backtest", "--data", "/no/such.parquet"], "source: no such file"),
        (["backtest", "--assets", "SPX"], "assets: "),
        (["report", "--run", "nope", "--db", "/no/such.duckdb"], "path: no store at"),
    ],
)
def test_nightly_backtest_and_report_errors_are_one_line(
    arguments: list[str], message: str, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may be left behind in the working directory
    _one_line_error(arguments, message)
    assert not (tmp_path / "risk.duckdb").exists()


def test_nightly_refuses_a_bad_config_and_a_corrupt_store(tmp_path, corrupt_db) -> None:
    config = tmp_path / "nightly.toml"
    config.write_text("[scenarios]\npath = 10\n", encoding="utf-8")
    _one_line_error(["nightly", "--config", str(config)], "scenarios: unknown key(s) ['path']")
    config.write_text("[scenarios\n", encoding="utf-8")
    _one_line_error(["nightly", "--config", str(config)], "config: ")
    config.write_text("[engine.hard]\nmax_daily_loss = -5\n", encoding="utf-8")
    _one_line_error(["nightly", "--config", str(config)], "engine.hard.max_daily_loss")
    before = corrupt_db.read_bytes()
    _one_line_error(["nightly", "--db", str(corrupt_db)], "not a readable riskengine store")
    _one_line_error(["report", "--run", "x", "--db", str(corrupt_db)], "not a readable")
    assert corrupt_db.read_bytes() == before


def test_report_of_an_unknown_run_is_one_line(store_path, tmp_path) -> None:
    _one_line_error(
        ["report", "--run", "missing", "--db", str(store_path), "--to", str(tmp_path / "r")],
        "run: no run 'missing'",
    )


def test_backtest_prints_and_stores_its_tables(tmp_path) -> None:
    db = tmp_path / "risk.duckdb"
    arguments = ["backtest", "--assets", "SPX,NDX", "--db", str(db), "--run-id", "bt"]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.stderr
    assert "exceptions" in result.output and "mahalanobis" in result.output
    assert "green" in result.output or "yellow" in result.output or "red" in result.output
    again = runner.invoke(app, arguments)
    assert again.exit_code == 2 and "run 'bt' already exists" in again.stderr
    sql = "SELECT count(*) AS n FROM backtests WHERE run_id = 'bt' AND model = 'engine'"
    query = runner.invoke(app, ["query", sql, "--db", str(db), "--json"])
    assert query.exit_code == 0, query.stderr
    # Kupiec, independence, conditional coverage, traffic light at 2 levels, and the ES test.
    assert json.loads(query.stdout) == [{"n": 9}]


def test_simulate_and_evaluate_execution_read_a_nightly_config(tmp_path) -> None:
    config = tmp_path / "nightly.toml"
    config.write_text('seed = 7\n[execution]\nspec = "calm"\n', encoding="utf-8")
    # The config's execution scenario is the default, and it is checked: calm has no order book
    # execution section, so the command stops with the field named.
    _one_line_error(["evaluate-execution", "--config", str(config)], "execution.spec")
    config.write_text("seed = 7\n", encoding="utf-8")
    db = tmp_path / "risk.duckdb"
    arguments = ["simulate", "--spec", "calm", "--paths", "4", "--steps", "5", "--db", str(db)]
    result = runner.invoke(app, [*arguments, "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    assert "simulate-calm-7" in result.output  # the run id carries the config's seed
