"""The ``riskengine`` command line: parses arguments, calls the library, renders tables.

The library never prints; everything shown here comes from result objects'
``summary()`` rows. Errors from bad input are one line on stderr with a
non-zero exit code, unless ``--debug`` asks for the traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from riskengine.store import StoreBusy, check_run_id


@contextlib.contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    """A bad option value, a missing or unknown option: one line, and the usage exit code 2.

    Like every other input error (``_run``), instead of typer's usage text and
    boxed panel. Help (``--help``, or no arguments) is not an error and passes
    through; ``--debug`` keeps typer's own rendering.
    """
    try:
        yield
    except typer.TyperException as error:
        # Typer's own test, too: "no arguments" is raised as an error but means "show help".
        if _state["debug"] or type(error).__name__ == "NoArgsIsHelpError":
            raise
        message = " ".join(error.format_message().split())
        context = getattr(error, "ctx", None)
        command = context.command_path if context is not None else "riskengine"
        print(f"riskengine: error: {message} (see {command} --help)", file=sys.stderr)
        raise typer.Exit(code=getattr(error, "exit_code", 2)) from None


class _OneLineErrors(TyperGroup):
    """The command group: usage errors, of the group's options or a command's, in one line."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _one_line_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)


app = typer.Typer(
    name="riskengine",
    help="Online-learning, regime-adaptive risk engine: simulators, models, engine, reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_OneLineErrors,
)
# Logs and pipes get a wide table instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 140)
# Progress bars go to stderr, so --json output on stdout stays parseable.
err_console = Console(stderr=True)
_state = {"debug": False}


def use_cpu_devices(count: int | None) -> None:
    """Give XLA one CPU device per core, so the simulators' path/book sharding uses them all.

    Must run before JAX creates its first array; later calls are ignored.
    Only entry points (CLI, scripts) call this; the library never configures JAX.
    """
    import jax

    # RuntimeError: the backend is already initialised (embedded use); keep its setting.
    with contextlib.suppress(RuntimeError):
        jax.config.update("jax_num_cpu_devices", count or os.cpu_count() or 1)


# Commands whose JAX work is a few fixed-size programs: one device compiles each program
# once, where one per core would compile a copy per device (the nightly run measured 49 s
# on one device against 74 s on two).
_ONE_DEVICE_COMMANDS = {"nightly", "backtest", "report"}


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    devices: Annotated[
        int | None,
        typer.Option(
            help="CPU devices for JAX (default: one per core; one for nightly, backtest, report).",
            min=1,
        ),
    ] = None,
) -> None:
    """riskengine command line."""
    _state["debug"] = debug
    if devices is None and ctx.invoked_subcommand in _ONE_DEVICE_COMMANDS:
        devices = 1
    use_cpu_devices(devices)


def _run(action: Callable[[], None], run_id: str | None = None) -> None:
    """Run ``action``; turn input errors into one line on stderr and exit code 2.

    A ``--run-id`` given is checked first, before any work and before a store
    file is created: ``""`` is refused, not taken for "the default".
    """
    try:
        if run_id is not None:
            check_run_id(run_id)
        action()
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, StoreBusy) as error:
        if _state["debug"]:
            raise
        print(f"riskengine: error: {error}", file=sys.stderr)
        raise typer.Exit(code=2) from None


def render_rows(title: str, rows: Sequence[dict[str, Any]]) -> Table:
    """A rich table from summary rows (dicts sharing keys); floats get 4 significant digits."""
    table = Table(title=title, title_justify="left")
    columns = list(rows[0]) if rows else []
    for column in columns:
        table.add_column(column, justify="left" if column == columns[0] else "right")
    for row in rows:
        table.add_row(
            *(f"{v:.4g}" if isinstance(v, float) else str(v) for v in (row.get(c) for c in columns))
        )
    return table


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Nightly TOML config (docs/nightly.md); flags override it."),
]
SeedOption = Annotated[int | None, typer.Option(help="Run seed (overrides the config's).")]
DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="Price history: CSV, Parquet or DuckDB file (default: shipped)."),
]
TableOption = Annotated[str | None, typer.Option(help="Table in a DuckDB --data file.")]
AssetsOption = Annotated[
    str | None, typer.Option(help="Comma-separated assets to use (default: every column).")
]
StartOption = Annotated[str | None, typer.Option(help="First date (ISO) of the history.")]
EndOption = Annotated[str | None, typer.Option(help="Last date (ISO) of the history.")]
DbOption = Annotated[Path, typer.Option(help="The store (DuckDB file).")]
RunIdOption = Annotated[
    str | None, typer.Option(help="Run id (default nightly-<last date>-s<seed>).")
]
ReplaceOption = Annotated[bool, typer.Option(help="Replace an existing run with that id.")]


def _market_table(spec_name: str, seed: int, paths: int, steps: int) -> Table:
    from riskengine.nightly.jobs import simulate_job

    job = simulate_job(spec_name, seed=seed, n_paths=paths, n_steps=steps)
    title = (
        f"market '{job.spec}': {paths} paths x {steps} steps, seed {seed} (volatilities annualised)"
    )
    return render_rows(title, job.scenarios.summary())


@app.command()
def simulate(
    spec: Annotated[str, typer.Option(help="Scenario name in sims/ or path to a TOML spec.")] = (
        "regime_switching"
    ),
    seed: Annotated[int | None, typer.Option(help="Random seed (default: --config's, or 0).")] = (
        None
    ),
    paths: Annotated[int, typer.Option(help="Number of paths.")] = 1000,
    steps: Annotated[int, typer.Option(help="Steps per path.")] = 252,
    config: Annotated[
        Path | None, typer.Option(help="Nightly TOML config: its seed is the default.")
    ] = None,
    db: Annotated[
        Path | None, typer.Option(help="Also write the paths to this store, as one run.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Run id in the store (default simulate-SPEC-SEED).")
    ] = None,
    replace: Annotated[bool, typer.Option(help="Replace an existing run with that id.")] = False,
) -> None:
    """Simulate a market scenario and print its per-regime summary (optionally store the paths)."""

    def action() -> None:
        from riskengine.nightly.jobs import simulate_job

        chosen = _nightly_config(config, seed).seed
        if db is None:
            console.print(_market_table(spec, chosen, paths, steps))
            return
        job = simulate_job(
            spec, seed=chosen, n_paths=paths, n_steps=steps, db=db, run_id=run_id, replace=replace
        )
        title = f"market '{job.spec}': {paths} paths x {steps} steps, seed {chosen}"
        console.print(render_rows(title, job.scenarios.summary()))
        console.print(f"wrote {job.rows} rows to {db} as run {job.run_id!r}")

    _run(action, run_id)


@app.command()
def demo(seed: Annotated[int, typer.Option(help="Random seed.")] = 0) -> None:
    """Scenario demo: regime occupancy, realised vs true volatility, book spread and depth."""

    def action() -> None:
        from riskengine.sim import simulate_book

        for name, steps in (("regime_switching", 2520), ("flash_crash", 390)):
            console.print(_market_table(name, seed, 1000, steps))
        rows = []
        for name in ("calm", "volatile", "regime_switching", "crisis"):
            recording = simulate_book(name, seed=seed, n_books=256, n_events=20_000)
            rows.append({"spec": name} | recording.summary())
        title = f"order books: 256 books x 20,000 events each, seed {seed}"
        console.print(render_rows(title, rows))

    _run(action)


def _ppo_config(config_path: Path | None, updates: int | None, envs: int | None) -> Any:
    from riskengine.execution.ppo import PPOConfig

    table: dict[str, Any] = {}
    if config_path is not None:
        if not config_path.is_file():
            raise FileNotFoundError(f"--config: no such file {config_path}")
        try:
            table = json.loads(config_path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"--config: invalid JSON ({error})") from None
        if not isinstance(table, dict):
            raise ValueError("--config: expected a JSON object of PPO settings")
    if updates is not None:
        table["n_updates"] = updates
    if envs is not None:
        table["n_envs"] = envs
    return PPOConfig.from_mapping(table)


@app.command("train-execution")
def train_execution(
    spec: Annotated[
        str, typer.Option(help="Execution scenario in sims/ (with book and execution).")
    ] = ("regime_switching"),
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    policy_id: Annotated[str, typer.Option(help="Artifact id under models/.")] = (
        "execution_ppo_v1"
    ),
    config: Annotated[
        Path | None,
        typer.Option(help="JSON file of PPO settings (riskengine.execution.PPOConfig)."),
    ] = None,
    updates: Annotated[int | None, typer.Option(help="PPO updates (overrides --config).")] = None,
    envs: Annotated[int | None, typer.Option(help="Parallel environments.")] = None,
    episodes: Annotated[int, typer.Option(help="Held-out evaluation episodes.")] = 2000,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing artifact.")] = False,
) -> None:
    """Train the PPO execution policy, evaluate it against the baselines, store it in models/."""

    def action() -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        from riskengine.execution.workflow import check_training_target, train_policy

        ppo = _ppo_config(config, updates, envs)
        check_training_target(spec, policy_id, overwrite=overwrite)
        columns = (
            TextColumn("[bold]PPO[/bold]"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} updates"),
            TextColumn("IS {task.fields[is_bps]:.3f} bps, entropy {task.fields[entropy]:.2f}"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err_console) as bar:
            task = bar.add_task("train", total=ppo.n_updates, is_bps=float("nan"), entropy=0.0)

            def report(done: int, total: int, metrics: dict[str, float]) -> None:
                bar.update(
                    task, completed=done, is_bps=metrics["mean_is_bps"], entropy=metrics["entropy"]
                )

            _, evaluation, path = train_policy(
                spec,
                seed=seed,
                config=ppo,
                policy_id=policy_id,
                eval_episodes=episodes,
                overwrite=overwrite,
                progress=report,
            )
        console.print(_execution_table(evaluation, f"held-out evaluation, {episodes} episodes"))
        console.print(f"saved {path}")

    _run(action)


def _execution_table(evaluation: Any, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for name in evaluation.policies:
        table.add_column(name, justify="right")
    for metric, cells in evaluation.table():
        table.add_row(metric, *cells)
    return table


@app.command("evaluate-execution")
def evaluate_execution(
    spec: Annotated[
        str | None,
        typer.Option(
            help="Execution scenario in sims/ (default: --config's, or regime_switching)."
        ),
    ] = None,
    episodes: Annotated[int, typer.Option(help="Episodes per policy.", min=1)] = 2000,
    config: Annotated[
        Path | None,
        typer.Option(help="Nightly TOML config: its [execution] spec and policy_id are defaults."),
    ] = None,
    first_seed: Annotated[
        int,
        typer.Option(
            "--first-seed",
            "--seed",
            help="First evaluation episode seed (held out from training).",
            min=0,
        ),
    ] = 1_000_000,
    policy_id: Annotated[
        str | None,
        typer.Option(help="Trained policy in models/ used as 'rl' (default execution_ppo_v1)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    db: Annotated[
        Path | None, typer.Option(help="Also store the episodes (execution_results) as one run.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Run id (default evaluate-execution-SPEC-SEED).")
    ] = None,
    replace: ReplaceOption = False,
) -> None:
    """Run TWAP, VWAP, Almgren-Chriss, adaptive AC and the trained policy on the same episodes."""

    def action() -> None:
        from riskengine.nightly.jobs import evaluate_execution_job

        section = _nightly_config(config, None).execution
        chosen = spec or section.spec
        if first_seed + episodes > 2**32:
            raise ValueError("--first-seed: first_seed + episodes must be <= 2**32")
        job = evaluate_execution_job(
            chosen,
            episodes=episodes,
            first_seed=first_seed,
            policy_id=policy_id or section.policy_id or "execution_ppo_v1",
            db=db,
            run_id=run_id,
            replace=replace,
        )
        result = job.result
        if as_json:
            print(json.dumps(result.summary(), allow_nan=False, default=_json_default))
            return
        console.print(
            _execution_table(result, f"'{chosen}': {episodes} episodes from seed {first_seed}")
        )
        rows = []
        for name, row in result.summary().items():
            for base, paired in row["versus"].items():
                low, high = paired["diff_bps_ci"]
                rows.append(
                    {
                        "policy": name,
                        "versus": base,
                        "IS ratio": paired["is_ratio"],
                        "diff (bps)": paired["diff_bps_mean"],
                        "99% CI": f"[{low:.3f}, {high:.3f}]",
                        "p-value": paired["p_value"],
                        "std ratio": paired["std_ratio"],
                    }
                )
        console.print(render_rows("paired differences of IS (policy - baseline)", rows))

    _run(action, run_id)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _nightly_config(config: Path | None, seed: int | None) -> Any:
    from riskengine.nightly.config import NightlyConfig

    loaded = NightlyConfig() if config is None else NightlyConfig.from_toml(config)
    return loaded.with_seed(seed)


def _with_data(
    config: Any,
    data: Path | None,
    table: str | None,
    assets: str | None,
    start: str | None,
    end: str | None,
) -> Any:
    """The config with the data flags given on the command line laid over its [data]."""
    import dataclasses

    changes: dict[str, Any] = {}
    if data is not None:
        changes["source"] = str(data)
    if table is not None:
        changes["table"] = table
    if assets is not None:
        changes["assets"] = tuple(a.strip() for a in assets.split(",") if a.strip())
    if start is not None:
        changes["start"] = start
    if end is not None:
        changes["end"] = end
    if not changes:
        return config
    return dataclasses.replace(config, data=dataclasses.replace(config.data, **changes))


class _RichProgress:
    """The nightly run's stages as rich progress bars on stderr."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._task: Any = None

    def stage(self, name: str, total: int | None) -> Callable[[int], None]:
        if self._task is not None:
            task = self._bar.tasks[self._task]
            self._bar.update(self._task, completed=task.total or 1, total=task.total or 1)
        self._task = self._bar.add_task(name, total=total)
        task_id = self._task
        return lambda units: self._bar.advance(task_id, units)

    def close(self) -> None:
        if self._task is not None:
            task = self._bar.tasks[self._task]
            self._bar.update(self._task, completed=task.total or 1, total=task.total or 1)


@app.command()
def nightly(
    config: ConfigOption = None,
    seed: SeedOption = None,
    db: DbOption = Path("risk.duckdb"),
    run_id: RunIdOption = None,
    replace: ReplaceOption = False,
    data: DataOption = None,
    table: TableOption = None,
    assets: AssetsOption = None,
    start: StartOption = None,
    end: EndOption = None,
    backend: Annotated[
        str, typer.Option(help="Where scenario and execution shards run: local or ray.")
    ] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local one).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="CPUs of a local Ray instance (default: all).", min=1)
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Report directory (default reports/<run id>); --no-report skips it."),
    ] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Do not write the report.")] = (
        False
    ),
) -> None:
    """The nightly risk run: refit, backtest, scenarios, stress, execution; store and report."""

    def action() -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from riskengine.nightly.run import run_nightly
        from riskengine.nightly.shards import make_backend
        from riskengine.report import report_directory, write_report
        from riskengine.store import open_store

        settings = _with_data(_nightly_config(config, seed), data, table, assets, start, end)
        runner = make_backend(backend, address=address, workers=workers)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        try:
            with Progress(*columns, console=err_console) as bar:
                stages = _RichProgress(bar)
                result = run_nightly(
                    settings,
                    db=db,
                    run_id=run_id,
                    replace=replace,
                    backend=runner,
                    progress=stages,
                )
                stages.close()
        finally:
            runner.close()
        console.print(render_rows(f"nightly run {result.run_id!r} -> {db}", result.summary()))
        if not no_report:
            directory = report or report_directory(result.run_id)
            with open_store(db, read_only=True) as store:
                page = write_report(store, result.run_id, directory)
            console.print(f"report: {page}")

    _run(action, run_id)


class _Spinner:
    """A stage as a rich spinner on stderr, until ``stack`` closes."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack

    def stage(self, name: str, total: int | None) -> Callable[[int], None]:
        self._stack.enter_context(err_console.status(name))
        return lambda units: None


@app.command()
def backtest(
    config: ConfigOption = None,
    seed: SeedOption = None,
    db: Annotated[
        Path | None, typer.Option(help="Also store the backtest as one run in this store.")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Run id (default backtest-<last date>-s<seed>).")
    ] = None,
    replace: ReplaceOption = False,
    data: DataOption = None,
    table: TableOption = None,
    assets: AssetsOption = None,
    start: StartOption = None,
    end: EndOption = None,
) -> None:
    """Replay the history out of sample and backtest the engine's VaR / ES and forecasts."""

    def action() -> None:
        from riskengine.nightly.jobs import backtest_job

        settings = _with_data(_nightly_config(config, seed), data, table, assets, start, end)
        with contextlib.ExitStack() as spinner:
            job = backtest_job(
                settings, db=db, run_id=run_id, replace=replace, progress=_Spinner(spinner)
            )
        result, history = job.result, job.history
        rows = result.summary()
        tests = [
            {k: v for k, v in r.items() if k != "table"} for r in rows if r["table"] == "backtests"
        ]
        scores = [
            {k: v for k, v in r.items() if k != "table"} for r in rows if r["table"] != "backtests"
        ]
        first, last = result.dates[0], result.dates[-1]
        title = f"VaR / ES backtests, {first:%Y-%m-%d} .. {last:%Y-%m-%d} ({history.source})"
        console.print(render_rows(title, tests))
        console.print(render_rows("forecast scores (lower is better; Mahalanobis ideal 1)", scores))
        if db is not None:
            console.print(f"stored as run {job.run_id!r} in {db}")

    _run(action, run_id)


@app.command()
def report(
    run: Annotated[str, typer.Option("--run", help="Run id to report on.")],
    db: DbOption = Path("risk.duckdb"),
    to: Annotated[
        Path | None, typer.Option("--to", help="Directory (default reports/<run id>).")
    ] = None,
) -> None:
    """Write the HTML report (with PNG figures) of one run."""

    def action() -> None:
        from riskengine.report import report_directory, write_report
        from riskengine.store import open_store

        # The id is checked, and the default directory kept under reports/, before the
        # store is opened: an id is untrusted, typed or read from a store file.
        directory = to or report_directory(run)
        with open_store(db, read_only=True) as store:
            page = write_report(store, run, directory)
        console.print(f"report: {page}")

    _run(action)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="One read-only SQL statement (SELECT / WITH).")],
    db: Annotated[Path, typer.Option(help="The store (DuckDB file).")] = Path("risk.duckdb"),
    as_json: Annotated[bool, typer.Option("--json", help="Print rows as JSON objects.")] = False,
) -> None:
    """Run read-only SQL against the store and print a table; writes are refused."""

    def action() -> None:
        from riskengine.store import open_store

        with open_store(db, read_only=True) as store:
            result = store.query(sql)
        columns = result.column_names
        rows = result.to_pylist()
        if as_json:
            print(json.dumps(rows, default=str))
            return
        table = Table(title=f"{db}: {len(rows)} rows", title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(str(row[c]) for c in columns))
        console.print(table)

    _run(action)


@app.command()
def export(
    run: Annotated[str, typer.Option("--run", help="Run id to export.")],
    to: Annotated[Path, typer.Option("--to", help="Directory for the Parquet files.")],
    db: Annotated[Path, typer.Option(help="The store (DuckDB file).")] = Path("risk.duckdb"),
) -> None:
    """Write one run's tables as Parquet (scenario and execution tables partitioned by spec)."""

    def action() -> None:
        from riskengine.store import open_store

        with open_store(db, read_only=True) as store:
            written = store.export(run, to)
        console.print(f"exported run {run!r}: {', '.join(p.name for p in written)} under {to}")

    _run(action)


if __name__ == "__main__":
    app()
