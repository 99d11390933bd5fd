"""Tests of :func:`simulate_book`: books independent of the batch, seeds, devices and x64."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from riskengine.sim import book_rollout
from riskengine.sim.book_rollout import simulate_book
from tests.sim.book_cases import CALM, STRESSED, SWITCHING, SWITCHING_FIELDS
from tests.sim.reference_book import recording_digest


def test_books_do_not_depend_on_batch_size():
    # simulate_book(n_books=n) runs the books 0..n-1; a book's path depends
    # only on its index, so any other batch holding it (here shuffled and
    # mixed with books 7 and 9) gives the same path.  One shape (5 books,
    # 400 / 100 events) is shared with other tests: each new shape is a
    # compilation of several seconds.
    rec = simulate_book(SWITCHING, seed=5, n_books=5, n_events=400, record_every=100)
    books = [3, 9, 0, 7, 1]
    # White box: the batched core runs any set of book indices, here shuffled.
    simulate_batched = jax.jit(
        book_rollout._simulate_batched, static_argnames=("n_records", "record_every")
    )
    _, other = simulate_batched(
        jnp.asarray(books, jnp.uint32),
        jnp.uint32(5),
        SWITCHING.to_params(),
        n_records=4,
        record_every=100,
    )
    for row, book in enumerate(books):
        if book < 5:
            assert np.asarray(other["mid2"])[row].tolist() == (rec.mid[book] * 200).round().tolist()
            np.testing.assert_array_equal(np.asarray(other["spread"])[row], rec.spread[book])
            np.testing.assert_array_equal(np.asarray(other["regime"])[row], rec.regime[book])


def test_same_seed_is_bit_identical_and_seeds_differ():
    a = simulate_book(SWITCHING, seed=9, n_books=5, n_events=400, record_every=100)
    b = simulate_book(SWITCHING, seed=9, n_books=5, n_events=400, record_every=100)
    c = simulate_book(SWITCHING, seed=10, n_books=5, n_events=400, record_every=100)
    for name in ("mid", "spread", "bid_depth", "ask_depth", "buy_volume", "sell_volume", "regime"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.mid, c.mid)
    assert a.mid.dtype == np.float64 and a.spread.dtype == np.int32


def test_results_do_not_depend_on_the_number_of_devices() -> None:
    # The device count is fixed when JAX starts, so the other count runs in a
    # subprocess, against this process's run (a shape other tests compile too).
    # Five books do not split evenly over two devices: the padding is dropped.
    here = len(jax.local_devices())
    other = 2 if here == 1 else 1
    script = (
        "import sys, jax\n"
        "jax.config.update('jax_num_cpu_devices', int(sys.argv[1]))\n"
        "from riskengine.sim import simulate_book\n"
        "from riskengine.sim.book_spec import BookSpec\n"
        "from tests.sim.reference_book import recording_digest\n"
        f"spec = BookSpec(**{SWITCHING_FIELDS!r})\n"
        "rec = simulate_book(spec, seed=4, n_books=5, n_events=400, record_every=100)\n"
        "print(len(jax.local_devices()), rec.mid.shape[0], recording_digest(rec))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(other)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert run.returncode == 0, run.stderr
    devices, n_books, digest = run.stdout.split()
    rec = simulate_book(SWITCHING, seed=4, n_books=5, n_events=400, record_every=100)
    assert (int(devices), int(n_books)) == (other, 5)
    assert digest == recording_digest(rec)


def test_results_do_not_depend_on_x64():
    base = simulate_book(SWITCHING, seed=1, n_books=5, n_events=400, record_every=100)
    jax.config.update("jax_enable_x64", True)
    try:
        wide = simulate_book(SWITCHING, seed=1, n_books=5, n_events=400, record_every=100)
    finally:
        jax.config.update("jax_enable_x64", False)
    np.testing.assert_array_equal(base.mid, wide.mid)
    np.testing.assert_array_equal(base.bid_depth, wide.bid_depth)


# ----------------------------------------------------------------- regimes
@pytest.mark.slow  # 2 x 256,000 book-events and their own compilation
def test_stressed_books_are_wider_and_thinner_than_calm_books():
    calm = simulate_book(CALM, seed=0, n_books=64, n_events=4000, record_every=100).summary()
    stressed = simulate_book(STRESSED, seed=0, n_books=64, n_events=4000, record_every=100)
    stressed = stressed.summary()
    assert stressed["mean_spread_ticks"] > 1.3 * calm["mean_spread_ticks"]
    assert stressed["mean_best_depth"] < 0.7 * calm["mean_best_depth"]


@pytest.mark.slow  # 640,000 book-events and their own compilation
def test_regime_switching_visits_both_regimes_with_persistence():
    rec = simulate_book(SWITCHING, seed=2, n_books=32, n_events=20_000, record_every=100)
    share = rec.regime.mean()
    # Stationary share of the stressed regime is 0.002 / 0.006 = 1/3.
    assert 0.2 < share < 0.5
    changes = (np.diff(rec.regime, axis=1) != 0).mean()
    assert changes < 0.3  # persistent: most 100-event intervals keep their regime
    spread_by_regime = [rec.spread[rec.regime == r].mean() for r in (0, 1)]
    assert spread_by_regime[1] > spread_by_regime[0]


# ----------------------------------------------------------------- validation
def test_simulate_book_rejects_bad_arguments():
    with pytest.raises(TypeError, match="seed"):
        simulate_book(CALM, seed=1.5, n_books=2, n_events=10, record_every=5)
    with pytest.raises(ValueError, match="seed"):
        simulate_book(CALM, seed=-1, n_books=2, n_events=10, record_every=5)
    with pytest.raises(ValueError, match="n_books"):
        simulate_book(CALM, seed=0, n_books=0, n_events=10, record_every=5)
    with pytest.raises(TypeError, match="n_events"):
        simulate_book(CALM, seed=0, n_books=2, n_events=10.0, record_every=5)
    with pytest.raises(ValueError, match="record_every"):
        simulate_book(CALM, seed=0, n_books=2, n_events=10, record_every=3)
    with pytest.raises(ValueError, match="book"):
        simulate_book(types.SimpleNamespace(book=None), seed=0, n_books=2, n_events=10)
    with pytest.raises(TypeError, match="spec"):
        simulate_book(42, seed=0, n_books=2, n_events=10)
    scenario = types.SimpleNamespace(book=SWITCHING)
    rec = simulate_book(scenario, seed=0, n_books=5, n_events=400, record_every=100)
    assert rec.mid.shape == (5, 4)
