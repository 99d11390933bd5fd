"""Throughput of the JAX limit order book against the plain-Python oracle.

``measure()`` is called by ``scripts/bench_sim.py``; it compiles once, then times
``n_books`` books for ``n_events`` background events each (with
``jax.block_until_ready``), and the oracle replaying a sampled event sequence
one event at a time.  The oracle only *applies* events (the sampled sequence is
given), so the ratio understates the JAX book's advantage slightly.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax
import jax.numpy as jnp

from riskengine.sim import orderbook as ob
from riskengine.sim.book_spec import BookSpec
from tests.sim.reference_book import generate_events, replay


def measure(n_books: int = 1024, n_events: int = 2000, levels: int = 20) -> dict:
    """Return events/s of the JAX book and of the reference, their ratio and peak RSS."""
    spec = BookSpec(levels=levels)
    params = spec.to_params()
    record_every = n_events // 2

    def run(seed: int):
        out = ob._simulate(
            jnp.asarray(seed, dtype=jnp.uint32),
            params,
            n_books=n_books,
            n_records=n_events // record_every,
            record_every=record_every,
        )
        return jax.block_until_ready(out)

    run(0)  # compile
    start = time.perf_counter()
    run(1)
    jax_rate = n_books * n_events / (time.perf_counter() - start)

    initial, events, _ = generate_events(params, seed=0, n_events=20_000)
    start = time.perf_counter()
    replay(events, initial, params)
    reference_rate = len(events) / (time.perf_counter() - start)
    return {
        "lob_events_per_s": jax_rate,
        "lob_reference_events_per_s": reference_rate,
        "lob_reference_ratio": jax_rate / reference_rate,
        "levels_per_side": levels,
        "window_ticks": spec.window,
        "n_books": n_books,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    print(measure())
