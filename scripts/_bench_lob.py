"""Throughput of the JAX limit order book against the plain-Python oracle.

``measure()`` is called by ``scripts/bench_sim.py``; it compiles once, then
times :func:`~riskengine.sim.book_rollout.simulate_book` on ``n_books`` books
for ``n_events`` background events each (split over every local device, and
copied back to numpy, as a caller gets them).  The JAX figure includes
drawing the uniforms, computing each book's event rates from its state,
choosing the event and applying it.

The oracle is timed like for like: :func:`tests.sim.reference_book.run_sampled`
samples every event from the same kind of uniforms (rates from its dicts, float32
arithmetic in numpy scalars) and applies it, one event at a time on one core.
Its uniforms are drawn before the clock starts, which favours the oracle
slightly.  The older replay-only figure (the oracle applies an event sequence
the JAX sampler drew) is kept as ``lob_reference_replay_events_per_s``.

Nothing here touches a JAX backend at import time, so a caller can still set
``jax_num_cpu_devices`` after importing this module.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax

from riskengine.sim.book_rollout import simulate_book
from riskengine.sim.book_spec import BookSpec
from tests.sim.reference_book import (
    ReferenceBook,
    SamplerTables,
    generate_events,
    replay,
    run_sampled,
    uniforms_of,
)


def measure(
    n_books: int = 1024,
    n_events: int = 2000,
    levels: int = 20,
    repeats: int = 3,
    reference_events: int = 20_000,
) -> dict:
    """Events/s of the JAX book (best of ``repeats``) and of the oracle, ratios, peak RSS.

    Examples
    --------
    >>> out = measure(n_books=4, n_events=100, levels=4, repeats=1, reference_events=200)
    >>> out["lob_devices"] >= 1 and out["lob_reference_ratio"] > 0
    True
    """
    spec = BookSpec(levels=levels)
    params = spec.to_params()
    record_every = n_events // 2

    def run(seed: int) -> float:
        # The public entry point, numpy conversion included: what a caller gets.
        start = time.perf_counter()
        simulate_book(spec, seed, n_books, n_events, record_every=record_every)
        return time.perf_counter() - start

    run(0)  # compile
    jax_rate = n_books * n_events / min(run(seed) for seed in range(1, repeats + 1))

    initial, events, _ = generate_events(params, seed=0, n_events=reference_events)
    uniforms = uniforms_of(jax.random.key(0), reference_events).tolist()
    tables = SamplerTables.from_params(params)
    book = ReferenceBook.from_state(initial, params)
    start = time.perf_counter()
    run_sampled(book, uniforms, tables)
    reference_rate = reference_events / (time.perf_counter() - start)

    start = time.perf_counter()
    replay(events, initial, params)
    replay_rate = len(events) / (time.perf_counter() - start)
    return {
        "lob_events_per_s": jax_rate,
        "lob_devices": len(jax.local_devices()),
        "lob_reference_events_per_s": reference_rate,
        "lob_reference_ratio": jax_rate / reference_rate,
        "lob_reference_replay_events_per_s": replay_rate,
        "lob_reference_replay_ratio": jax_rate / replay_rate,
        "levels_per_side": levels,
        "window_ticks": spec.window,
        "n_books": n_books,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    print(measure())
