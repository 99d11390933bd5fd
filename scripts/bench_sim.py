"""Benchmark the JAX simulators against the issue's targets.

- market: asset-steps per second for 10 assets x 4,096 paths x 252 steps
  (3 regimes), best of ``--repeats`` runs after a compile run, output copied to
  numpy (what a caller gets);
- order book: book-events per second for 1,024 books with 20 levels per side,
  and the ratio to the plain-Python reference book (tests/sim/reference_book.py)
  replaying events in the same run.

Prints a table, or one JSON object with ``--json``. Peak memory is the
process's maximum resident set size. By default JAX gets one CPU device per
core (``--devices 1`` measures a single core); the simulators split paths and
books over the devices.

Run: ``python scripts/bench_sim.py [--json] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.cli import use_cpu_devices
from riskengine.sim import MarketSpec, simulate_market
from scripts._bench import machine

TARGETS = {
    "lob_events_per_s": 5e6,
    "lob_reference_ratio": 50.0,
    "market_asset_steps_per_s": 20e6,
}


def ten_asset_spec() -> MarketSpec:
    regimes = [
        {"name": name, "annual_vol": vol, "alpha": 0.06, "beta": 0.9, "nu": nu, "correlation": rho}
        for name, vol, nu, rho in (
            ("calm", 0.12, 8.0, 0.4),
            ("turbulent", 0.25, 6.0, 0.6),
            ("crisis", 0.5, 4.5, 0.85),
        )
    ]
    return MarketSpec.from_table(
        {
            "assets": [f"A{i}" for i in range(10)],
            "transition": [[0.98, 0.015, 0.005], [0.03, 0.96, 0.01], [0.02, 0.05, 0.93]],
            "regimes": regimes,
        }
    )


def bench_market(repeats: int, n_paths: int = 4096, n_steps: int = 252) -> dict[str, float]:
    spec = ten_asset_spec()
    simulate_market(spec, seed=0, n_paths=n_paths, n_steps=n_steps)  # compile
    best = float("inf")
    for seed in range(1, repeats + 1):
        start = time.perf_counter()
        simulate_market(spec, seed=seed, n_paths=n_paths, n_steps=n_steps)
        best = min(best, time.perf_counter() - start)
    asset_steps = n_paths * n_steps * spec.n_assets
    return {
        "market_asset_steps_per_s": asset_steps / best,
        "market_seconds": best,
        "market_paths": n_paths,
        "market_steps": n_steps,
        "market_assets": spec.n_assets,
    }


def bench_book(repeats: int, quick: bool = False) -> dict[str, float]:
    from scripts._bench_lob import measure

    sizes = {"n_books": 8, "n_events": 200, "reference_events": 500} if quick else {}
    runs = [measure(**sizes) for _ in range(max(1, repeats // 2))]
    best = max(runs, key=lambda r: r["lob_events_per_s"])
    return {key: float(value) for key, value in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--devices", type=int, default=None, help="JAX CPU devices (default: one per core)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks the script runs, measures nothing"
    )
    args = parser.parse_args()
    use_cpu_devices(args.devices)

    results: dict[str, object] = {}
    if args.quick:
        results.update(bench_market(1, n_paths=16, n_steps=20))
        results.update(bench_book(1, quick=True))
    else:
        results.update(bench_market(args.repeats))
        results.update(bench_book(args.repeats))
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["machine"] = machine(jax=jax.__version__, jax_devices=len(jax.local_devices()))
    results["targets"] = TARGETS
    results["meets_targets"] = {k: results[k] >= v for k, v in TARGETS.items()}

    if args.json:
        print(json.dumps(results))
        return
    print(f"{'metric':<28}{'measured':>16}{'target':>14}  ok")
    for key, target in TARGETS.items():
        ok = "yes" if results["meets_targets"][key] else "NO"
        print(f"{key:<28}{results[key]:>16,.1f}{target:>14,.0f}  {ok}")
    print(f"{'peak_rss_mb':<28}{results['peak_rss_mb']:>16,.0f}")
    print(f"machine: {results['machine']}")


if __name__ == "__main__":
    main()
