"""Replacing a run is atomic: the old run stays readable and whole until the new one commits.

Issue 17, item 1: the replace used to commit the deletion of the old run together
with the new run's ``running`` row, before the data transaction, so a kill during
the data transaction lost the old run. Each test here fails on that code.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from riskengine.store import open_store

ROOT = Path(__file__).resolve().parents[1]
OLD = 1000  # scenario_paths rows of the old run (it also has VAR_ROWS var rows)
VAR_ROWS = 5


def _clock():
    return dt.datetime(2026, 1, 2, 3, 4, 5)


def _paths(n: int) -> dict:
    return {
        "spec": ["crisis"] * n,
        "path": np.arange(n, dtype=np.int32),
        "step": np.zeros(n, dtype=np.int32),
        "asset": ["SPX"] * n,
        "return": np.zeros(n),
        "variance": np.zeros(n),
        "regime": np.zeros(n, dtype=np.int16),
    }


def _var_rows(n: int) -> dict:
    return {
        "as_of": (np.datetime64("2018-01-02") + np.arange(n)).astype("datetime64[ns]"),
        "scope": ["portfolio"] * n,
        "metric": ["var"] * n,
        "level": [0.99] * n,
        "value": [0.02] * n,
    }


def _old_store(path: Path) -> None:
    """A store with the run ``r1`` to be replaced and an unrelated run ``other``."""
    with open_store(path) as store:
        for run_id in ("other", "r1"):
            with store.record_run(
                run_id, config={"n": OLD}, seed=0, code_version="old", clock=_clock
            ) as run:
                run.write("scenario_paths", _paths(OLD))
                run.write("risk_metrics", _var_rows(VAR_ROWS))


def _state(path: Path) -> tuple[str, int, int, int, str]:
    """``r1``: status, path rows, var rows (table, view) and config; ``other`` is checked intact."""
    with open_store(path, read_only=True) as store:
        assert store.row_counts("other")["scenario_paths"] == OLD
        assert store.read_run("other").status == "succeeded"
        record = store.read_run("r1")
        counts = store.row_counts("r1")
        view = store.query("SELECT count(*) AS n FROM var_history WHERE run_id = 'r1'")
        return (
            record.status,
            counts["scenario_paths"],
            counts["risk_metrics"],
            view.column("n")[0].as_py(),
            record.config,
        )


def _old(path: Path) -> bool:
    return _state(path) == ("succeeded", OLD, VAR_ROWS, VAR_ROWS, f'{{"n": {OLD}}}')


def _new(path: Path, n: int) -> bool:
    return _state(path) == ("succeeded", n, 0, 0, f'{{"n": {n}}}')


def test_readers_see_the_old_run_whole_until_the_replacement_commits(tmp_path: Path) -> None:
    path = tmp_path / "risk.duckdb"
    _old_store(path)
    store = open_store(path)
    with store.record_run("r1", config={"n": 30}, seed=1, code_version="new", replace=True) as run:
        run.write("scenario_paths", _paths(10))
        run.write("scenario_paths", _paths(20))
        # mid-replace, in the writing process: the old run, complete and succeeded
        assert store.read_run("r1").status == "succeeded"
        assert store.row_counts("r1")["scenario_paths"] == OLD
        assert store.query("SELECT run_id FROM latest_run").column(0).to_pylist() == ["r1"]
        assert store.query("SELECT count(*) FROM var_history").column(0)[0].as_py() == 2 * VAR_ROWS
    store.close()
    assert _new(path, 30)


@pytest.mark.parametrize("fail_at", ["first_write", "bad_batch", "work"])
def test_a_failing_replacement_leaves_the_old_run_as_it_was(tmp_path: Path, fail_at: str) -> None:
    path = tmp_path / "risk.duckdb"
    _old_store(path)
    with (
        open_store(path) as store,
        pytest.raises((RuntimeError, ValueError)),
        store.record_run("r1", config={"n": 9}, seed=1, replace=True) as run,
    ):
        if fail_at != "first_write":
            run.write("scenario_paths", _paths(9))
        if fail_at == "bad_batch":  # refused by the recorder, raised out of the block
            run.write("scenario_paths", {**_paths(2), "step": ["a", "b"]})
        raise RuntimeError("the work died")
    assert _old(path)  # no 'failed' marker over the old run, no row lost


def test_a_replacement_without_rows_still_replaces(tmp_path: Path) -> None:
    path = tmp_path / "risk.duckdb"
    _old_store(path)
    with open_store(path) as store, store.record_run("r1", config={"n": 0}, seed=1, replace=True):
        pass
    assert _new(path, 0)


_CHILD = textwrap.dedent(
    """
    import os, sys, types
    # The store package alone (it imports no engine): a child starts in about a second.
    package = types.ModuleType("riskengine")
    package.__path__ = [os.path.join(sys.argv[2], "riskengine")]
    sys.modules["riskengine"] = package
    import numpy as np
    from riskengine.store import RunRecorder, open_store

    path, point, batches, rows = sys.argv[1], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

    def die(at):
        if point == at:
            os.kill(os.getpid(), 9)

    if point == "commit":  # after the status update, before the commit
        finish = RunRecorder._finish
        def finish_then_die(self, status):
            finish(self, status)
            os.kill(os.getpid(), 9)
        RunRecorder._finish = finish_then_die

    store = open_store(path)
    batch = {"spec": ["crisis"] * rows, "path": np.arange(rows, dtype=np.int32),
             "step": np.zeros(rows, np.int32), "asset": ["SPX"] * rows,
             "return": np.zeros(rows), "variance": np.zeros(rows),
             "regime": np.zeros(rows, np.int16)}
    n = batches * rows
    with store.record_run("r1", config={"n": n}, seed=1, code_version="new", replace=True) as run:
        die("before_write")
        for i in range(batches):
            run.write("scenario_paths", batch)
            if i == 0:
                print("writing", flush=True)
                die("first_write")
        die("last_write")
    die("after_commit")
    """
)


def _child(path: Path, point: str, batches: int, rows: int) -> subprocess.Popen:
    arguments = [str(path), str(ROOT), point, str(batches), str(rows)]
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.parametrize(
    ("point", "survivor"),
    [
        ("before_write", "old"),
        ("first_write", "old"),
        ("last_write", "old"),
        ("commit", "old"),
        ("after_commit", "new"),
    ],
)
def test_a_replacement_killed_at_each_step_loses_no_row(
    tmp_path: Path, point: str, survivor: str
) -> None:
    path = tmp_path / "risk.duckdb"
    _old_store(path)
    child = _child(path, point, batches=3, rows=20_000)
    _, stderr = child.communicate(timeout=300)
    assert child.returncode == -signal.SIGKILL, stderr.decode()
    assert _old(path) if survivor == "old" else _new(path, 3 * 20_000)


@pytest.mark.parametrize("delay", [0.0, 0.5, 1.0])
def test_a_replacement_killed_at_any_moment_keeps_one_whole_run(
    tmp_path: Path, delay: float
) -> None:
    """kill -9 from outside, once the store file changes (the issue's reproduction)."""
    path = tmp_path / "risk.duckdb"
    _old_store(path)
    before = os.stat(path).st_mtime_ns
    child = _child(path, "none", batches=40, rows=100_000)
    try:
        assert child.stdout.readline().strip() == b"writing", child.stderr.read().decode()
        deadline = time.monotonic() + 60
        while os.stat(path).st_mtime_ns == before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        child.kill()
    finally:
        child.communicate(timeout=300)
    # Whenever the kill landed, one whole run: the old one, or (had it committed) the new.
    assert _old(path) or _new(path, 40 * 100_000), _state(path)
    if delay == 0.0:  # 39 batches were still to come
        assert _old(path), _state(path)
