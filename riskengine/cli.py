"""The ``riskengine`` command line: parses arguments, calls the library, renders tables.

The library never prints; everything shown here comes from result objects'
``summary()`` rows. Errors from bad input are one line on stderr with a
non-zero exit code, unless ``--debug`` asks for the traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="riskengine",
    help="Online-learning, regime-adaptive risk engine: simulators, models, engine, reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# Logs and pipes get a wide table instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 140)
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


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    devices: Annotated[
        int | None, typer.Option(help="CPU devices for JAX (default: one per core).", min=1)
    ] = None,
) -> None:
    """riskengine command line."""
    _state["debug"] = debug
    use_cpu_devices(devices)


def _run(action: Callable[[], None]) -> None:
    """Run ``action``; turn input errors into one line on stderr and exit code 2."""
    try:
        action()
    except (ValueError, TypeError, FileNotFoundError) as error:
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


def _market_table(spec_name: str, seed: int, paths: int, steps: int) -> Table:
    from riskengine.sim import load_spec, simulate_market

    spec = load_spec(spec_name)
    scenarios = simulate_market(spec, seed=seed, n_paths=paths, n_steps=steps)
    title = (
        f"market '{spec.name}': {paths} paths x {steps} steps, seed {seed} "
        "(volatilities annualised)"
    )
    return render_rows(title, scenarios.summary())


@app.command()
def simulate(
    spec: Annotated[str, typer.Option(help="Scenario name in sims/ or path to a TOML spec.")] = (
        "regime_switching"
    ),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    paths: Annotated[int, typer.Option(help="Number of paths.")] = 1000,
    steps: Annotated[int, typer.Option(help="Steps per path.")] = 252,
) -> None:
    """Simulate a market scenario and print its per-regime summary."""
    _run(lambda: console.print(_market_table(spec, seed, paths, steps)))


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


if __name__ == "__main__":
    app()
