"""The command line: tables on success, one-line errors with exit code 2 on bad input."""

from __future__ import annotations

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
def test_evaluate_execution_json_has_every_policy() -> None:
    import json

    result = runner.invoke(app, ["evaluate-execution", "--episodes", "16", "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert list(summary) == ["twap", "vwap", "almgren_chriss", "adaptive_ac", "rl"]
    for row in summary.values():
        for key in ("is_bps_mean", "is_bps_std", "impact_bps_mean", "completion_rate"):
            assert isinstance(row[key], float)
