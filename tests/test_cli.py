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


# --- issue 17: hardening ---------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["nightly", "--seed", "abc"], "Invalid value for '--seed'"),
        (["backtest", "--seed", "abc"], "Invalid value for '--seed'"),
        (["simulate", "--seed", "abc"], "Invalid value for '--seed'"),
        (["nightly", "--workers", "0"], "Invalid value for '--workers'"),
        (["evaluate-execution", "--episodes", "0"], "Invalid value for '--episodes'"),
        (["--devices", "0", "backtest"], "Invalid value for '--devices'"),
        (["nightly", "--sed", "1"], "No such option: --sed"),
        (["report"], "Missing option '--run'"),
        (["no-such-command"], "No such command"),
    ],
)
def test_usage_errors_are_one_line_like_every_other_error(
    arguments: list[str], message: str, tmp_path, monkeypatch
) -> None:
    """Item 17: typer printed a 5-6 line boxed message for these."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("riskengine: error: ") and message in lines[0]
    assert "--help" in lines[0]  # where to look next
    assert list(tmp_path.iterdir()) == []


def test_help_and_no_arguments_still_show_help() -> None:
    assert runner.invoke(app, ["nightly", "--help"]).exit_code == 0
    bare = runner.invoke(app, [])
    assert "Usage" in bare.output and "nightly" in bare.output


@pytest.mark.parametrize("command", ["nightly", "backtest", "simulate", "evaluate-execution"])
@pytest.mark.parametrize("run_id", ["bad id", "", "../x", "a/b"])
def test_a_bad_run_id_is_refused_before_a_store_file_exists(
    command: str, run_id: str, tmp_path, monkeypatch
) -> None:
    """Item 17: a bad id left an empty store behind; ``--run-id ""`` used the default id."""
    monkeypatch.chdir(tmp_path)
    _one_line_error([command, "--run-id", run_id, "--db", "new.duckdb"], "run_id: expected")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def constant_csv(tmp_path):
    """Prices of three assets in which NDX never moves."""
    import numpy as np
    import pandas as pd

    dates = pd.bdate_range("2020-01-01", periods=400)
    rng = np.random.default_rng(0)
    prices = pd.DataFrame(
        {
            "date": dates,
            "SPX": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates)))),
            "NDX": 100.0,
            "AAPL": 50 * np.exp(np.cumsum(rng.normal(0, 0.02, len(dates)))),
        }
    )
    path = tmp_path / "constant.csv"
    prices.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("command", ["backtest", "nightly"])
def test_a_constant_price_column_is_refused_in_one_line(
    command: str, constant_csv, tmp_path, monkeypatch
) -> None:
    """Item 12: arch failed to converge on it, with a traceback (exit 1)."""
    monkeypatch.chdir(tmp_path)
    _one_line_error(
        [command, "--data", str(constant_csv), "--db", "risk.duckdb"], "prices['NDX']: constant"
    )
    assert not (tmp_path / "risk.duckdb").exists()


def test_export_of_a_corrupt_store_is_one_line(tmp_path) -> None:
    """Item 12: a block-corrupted store made export print a traceback."""
    import numpy as np

    from riskengine.store import open_store

    clean = tmp_path / "clean.duckdb"
    n = 300_000
    with (
        open_store(clean) as store,
        store.record_run("r1", config={}, seed=0, code_version="t") as run,
    ):
        run.write(
            "scenario_paths",
            {
                "spec": ["crisis"] * n,
                "path": np.arange(n, dtype=np.int32),
                "step": np.zeros(n, np.int32),
                "asset": ["SPX"] * n,
                "return": np.random.default_rng(0).normal(size=n),
                "variance": np.zeros(n),
                "regime": np.zeros(n, np.int16),
            },
        )
    data = clean.read_bytes()
    exported_half_way = 0
    for offset in range(1 << 18, len(data), 1 << 18):  # one 256 KiB block damaged per copy
        copy = tmp_path / f"corrupt-{offset}.duckdb"
        damaged = bytearray(data)
        damaged[offset + 1000 : offset + 1064] = bytes(range(64))
        copy.write_bytes(bytes(damaged))
        out = tmp_path / f"out-{offset}"
        result = runner.invoke(app, ["export", "--run", "r1", "--to", str(out), "--db", str(copy)])
        assert "Traceback" not in result.output + result.stderr
        if result.exit_code == 0:
            continue  # the damaged block held no row of the run
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "store" in lines[0], result.stderr
        if out.exists():
            exported_half_way += 1
            assert list(out.iterdir()) == []  # nothing half-written
    assert exported_half_way > 0


@pytest.mark.parametrize("name", ["o'brien", "inj' (FORMAT CSV); --"])
def test_export_to_a_directory_with_a_quote_writes_parquet_there(
    store_path, tmp_path, name: str
) -> None:
    """Item 7: ``--to`` was pasted into SQL: a quote crashed, a crafted name injected SQL."""
    import pyarrow.parquet as pq

    out = tmp_path / "exports" / name
    result = runner.invoke(
        app, ["export", "--run", "r1", "--to", str(out), "--db", str(store_path)]
    )
    assert result.exit_code == 0, result.stderr
    assert pq.read_table(out / "scenario_paths").num_rows == 6
    assert [p.name for p in (tmp_path / "exports").iterdir()] == [name]


def _store_with_run_id_edited_to(store_path, run_id: str) -> None:
    import duckdb

    from riskengine.store import TABLES

    con = duckdb.connect(str(store_path))
    for table in ("runs", *TABLES):
        con.execute(f"UPDATE {table} SET run_id = ? WHERE run_id = 'r1'", [run_id])
    con.close()


def test_report_refuses_a_run_id_edited_in_the_store_file(
    store_path, tmp_path, monkeypatch
) -> None:
    """Item 8: an id edited to ``../../../tmp/escaped`` made report write outside reports/."""
    evil = "../../../../escaped"  # from reports/ under work/, up to tmp_path
    _store_with_run_id_edited_to(store_path, evil)
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = sorted(tmp_path.rglob("*"))
    _one_line_error(["report", "--run", evil, "--db", str(store_path)], "run: expected letters")
    target = tmp_path / "chosen"
    _one_line_error(
        ["report", "--run", evil, "--db", str(store_path), "--to", str(target)], "run: expected"
    )
    assert sorted(tmp_path.rglob("*")) == before  # no file, no directory, anywhere


def test_report_refuses_a_reports_directory_that_resolves_elsewhere(
    store_path, tmp_path, monkeypatch
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    work = tmp_path / "work"
    (work / "reports").mkdir(parents=True)
    (work / "reports" / "r1").symlink_to(outside)
    monkeypatch.chdir(work)
    _one_line_error(["report", "--run", "r1", "--db", str(store_path)], "resolves outside")
    assert list(outside.iterdir()) == []


def test_query_cannot_write_a_file_through_explain_analyze(store_path, tmp_path) -> None:
    """Item 6: this exited 0 and wrote the file."""
    evil = tmp_path / "evil.sh"
    sql = f"EXPLAIN ANALYZE COPY (SELECT 'echo pwned' AS l) TO '{evil}' (HEADER false, QUOTE '')"
    _one_line_error(["query", sql, "--db", str(store_path)], "EXPLAIN only of a read")
    assert not evil.exists()
    _one_line_error(
        ["query", "SELECT content FROM read_text('/etc/passwd')", "--db", str(store_path)],
        "Permission Error",
    )
