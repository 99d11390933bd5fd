"""Tests of the JAX limit order book against its invariants and the plain-Python oracle."""

from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskengine.sim import orderbook as ob
from riskengine.sim.book_spec import BookSpec
from riskengine.sim.specs import load_spec
from tests.sim.reference_book import (
    ReferenceBook,
    SamplerTables,
    event_tuple,
    generate_events,
    jnp_action,
    recording_digest,
    replay,
    run_sampled,
    uniforms_of,
)

CALM = BookSpec(
    regimes=("calm",),
    limit_scale=2.0,
    market_rate=0.8,
    cancel_rate=0.2,
    cancel_decay=0.97,
)
STRESSED = BookSpec(
    regimes=("stressed",),
    limit_scale=1.2,
    market_rate=1.2,
    cancel_rate=0.6,
    cancel_decay=0.95,
    limit_exponent=0.3,
)
_SWITCHING_FIELDS = dict(
    regimes=("calm", "stressed"),
    limit_scale=[2.0, 1.2],
    limit_exponent=[0.5, 0.3],
    market_rate=[0.8, 1.2],
    cancel_rate=[0.2, 0.6],
    cancel_decay=[0.97, 0.95],
    transition=[[0.998, 0.002], [0.004, 0.996]],
    initial_regime_probs=[0.5, 0.5],
)
SWITCHING = BookSpec(**_SWITCHING_FIELDS)
# A tiny window so that re-centring, dropped orders and empty sides all happen.
TINY = BookSpec(
    regimes=("calm", "stressed"),
    levels=4,
    window_margin=2,
    recentre_trigger=1,
    limit_scale=[1.0, 0.6],
    market_rate=[0.6, 1.0],
    cancel_rate=[0.3, 0.8],
    market_size_probs=[0.3, 0.3, 0.2, 0.2],
    transition=[[0.9, 0.1], [0.2, 0.8]],
)


def _tree_equal(a, b) -> bool:
    leaves = jax.tree.leaves(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), a, b))
    return all(leaves)


def _jax_arrays(state: ob.BookState) -> dict:
    return {f.name: np.asarray(getattr(state, f.name)).tolist() for f in dataclasses.fields(state)}


# ----------------------------------------------------------------- invariants
def _random_action(key, max_qty):
    k = jax.random.split(key, 6)
    act = jax.random.bernoulli(k[0], 0.3)
    command = jax.random.randint(k[1], (2,), 0, 3) * act
    market = jax.random.randint(k[2], (2,), 0, max_qty + 1) * jax.random.bernoulli(k[3], 0.1, (2,))
    offset = jax.random.randint(k[4], (2,), -2, 3)
    qty = jax.random.randint(k[5], (2,), 0, max_qty + 1)
    return ob.BookAction(
        market_buy=market[0],
        market_sell=market[1],
        bid_command=command[0],
        bid_offset=offset[0],
        bid_qty=qty[0],
        ask_command=command[1],
        ask_offset=offset[1],
        ask_qty=qty[1],
    )


@functools.partial(jax.jit, static_argnames=("n_books", "n_events", "max_qty"))
def _checked_run(params, seed, n_books, n_events, max_qty=4):
    """Events interleaved with random agent actions; per-event invariant flags.

    Jitted with ``params`` as an argument, so specs of the same shapes (calm
    and stressed) share one compilation.
    """
    index = jnp.arange(params.window)

    def one_book(book):
        key = jax.random.fold_in(jax.random.key(seed), book)
        _, state = ob.reset(jax.random.fold_in(key, 2**31), params)

        def body(state, t):
            k_act, k_event = jax.random.split(jax.random.fold_in(key, t))
            state = ob._apply_action(state, _random_action(k_act, max_qty), params)
            event = ob.sample_event(k_event, state, params)
            state = ob._apply_event(state, event, params)
            raw_bid = jnp.max(jnp.where(state.bid > 0, index, -1))
            raw_ask = jnp.min(jnp.where(state.ask > 0, index, params.window))
            resting = state.bid.sum() + state.ask.sum()
            agent_index = state.agent_tick - state.ref
            agent_depth = jnp.where(
                jnp.arange(2) == 0,
                state.bid[jnp.clip(agent_index[0], 0, params.window - 1)],
                state.ask[jnp.clip(agent_index[1], 0, params.window - 1)],
            )
            queue_ok = (state.agent_qty == 0) | (
                (agent_index >= 0)
                & (agent_index < params.window)
                & (state.agent_ahead >= 0)
                & (state.agent_ahead + state.agent_qty <= agent_depth)
            )
            flags = {
                "not_crossed": (raw_bid < 0) | (raw_ask >= params.window) | (raw_bid < raw_ask),
                "depth_nonnegative": (state.bid.min() >= 0) & (state.ask.min() >= 0),
                "conserved": state.added == state.executed + state.cancelled + resting,
                "agent_fill_bounded": jnp.all(state.agent_filled <= state.agent_sent),
                "agent_queue_consistent": jnp.all(queue_ok),
            }
            return state, flags

        return jax.lax.scan(body, state, jnp.arange(n_events))

    return jax.vmap(one_book)(jnp.arange(n_books))


def _two_regimes(spec: BookSpec) -> BookSpec:
    """A one-regime book as a two-regime spec that never leaves regime 0.

    Every draw of the run is unchanged (regime 0 has the same tables, the
    initial regime and transition CDFs are ``[1, 1]``), but the parameters have
    the switching book's shapes, so the calm, stressed and switching runs share
    one compilation of :func:`_checked_run`.
    """
    if spec.n_regimes == 2:
        return spec
    per_regime = ("limit_scale", "limit_exponent", "market_rate", "cancel_rate", "cancel_decay")
    return dataclasses.replace(
        spec,
        regimes=(spec.regimes[0], "unused"),
        transition=[[1.0, 0.0], [0.0, 1.0]],
        initial_regime_probs=[1.0, 0.0],
        **{name: np.repeat(getattr(spec, name), 2) for name in per_regime},
    )


# The step-level tests run steps of 300 events on switching-shaped parameters
# (two regimes) and batches of 64 books, so that ``_step`` compiles once for
# one book and once for a batch; each new shape costs seconds of XLA compile.
_STEP_EVENTS = 300
_BATCH = 64
_reset_batch = jax.jit(jax.vmap(ob._reset, in_axes=(0, None)))
_step_batch = jax.jit(jax.vmap(ob._step, in_axes=(0, 0, None, None)))


def _step_params(spec: BookSpec) -> ob.BookParams:
    """``spec`` as two-regime parameters with ``_STEP_EVENTS`` events per step."""
    params = _two_regimes(spec).to_params()
    return dataclasses.replace(params, events_per_step=_STEP_EVENTS)


@pytest.mark.parametrize(
    "spec", [CALM, STRESSED, SWITCHING, TINY], ids=["calm", "stressed", "switching", "tiny"]
)
def test_invariants_hold_after_every_event(spec):
    final, flags = _checked_run(_two_regimes(spec).to_params(), seed=3, n_books=16, n_events=1500)
    for name, values in flags.items():
        assert bool(jnp.all(values)), f"{name} violated at {np.argwhere(~np.asarray(values))[:3]}"
    # The agent really traded and the run really exercised the book.
    assert int(final.agent_filled.sum()) > 0
    assert int(final.executed.sum()) > 0 and int(final.cancelled.sum()) > 0


# ----------------------------------------------------------------- oracle
_EVENT = st.tuples(
    st.just("event"),
    st.integers(0, 2),  # kind
    st.integers(0, 1),  # side
    st.integers(0, 7),  # distance (beyond L = 4 exercises dropped orders)
    st.integers(1, 5),  # size
    st.integers(0, 1),  # regime
)
_ACTION = st.tuples(
    st.just("action"),
    st.fixed_dictionaries(
        {
            "market_buy": st.integers(0, 8) | st.just(0),
            "market_sell": st.integers(0, 8) | st.just(0),
            "bid_command": st.integers(0, 2),
            "bid_offset": st.integers(-3, 4),
            "bid_qty": st.integers(0, 6),
            "ask_command": st.integers(0, 2),
            "ask_offset": st.integers(-3, 4),
            "ask_qty": st.integers(0, 6),
        }
    ),
)

_TINY_PARAMS = TINY.to_params()
_apply_event_jit = jax.jit(ob._apply_event)
_apply_action_jit = jax.jit(ob._apply_action)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=st.lists(st.one_of(_EVENT, _EVENT, _ACTION), min_size=1, max_size=40))
def test_jax_book_matches_reference_oracle(sequence):
    params = _TINY_PARAMS
    _, state = ob.reset(jax.random.key(0), params)
    oracle = ReferenceBook.from_state(state, params)
    for item in sequence:
        if item[0] == "event":
            event = ob.BookEvent(*(jnp.asarray(v, dtype=jnp.int32) for v in item[1:]))
            state = _apply_event_jit(state, event, params)
            oracle.apply_event(*item[1:])
        else:
            state = _apply_action_jit(state, jnp_action(item[1]), params)
            oracle.apply_action(item[1])
        assert _jax_arrays(state) == oracle.as_arrays(), item


@pytest.mark.parametrize("spec", [TINY, SWITCHING], ids=["tiny", "switching"])
def test_sampled_event_sequence_replays_identically_in_oracle(spec):
    params = spec.to_params()
    initial, events, final = generate_events(params, seed=11, n_events=3000)
    kinds = {e[0] for e in events}
    assert kinds == {ob.LIMIT, ob.MARKET, ob.CANCEL}
    assert replay(events, initial, params).as_arrays() == _jax_arrays(final)
    # The oracle's own sampler, fed the same uniforms, draws the same events.
    book = ReferenceBook.from_state(initial, params)
    sampled = run_sampled(
        book, uniforms_of(jax.random.key(11), 3000), SamplerTables.from_params(params)
    )
    assert sampled == events
    assert book.as_arrays() == _jax_arrays(final)


_SAMPLER_SPECS = (TINY, SWITCHING)
_SAMPLER_PARAMS = [spec.to_params() for spec in _SAMPLER_SPECS]
_SAMPLER_TABLES = [SamplerTables.from_params(params) for params in _SAMPLER_PARAMS]
_sample_jit = jax.jit(ob._sample_from_uniforms)
_UNIFORM = st.floats(0.0, 1.0, exclude_max=True, width=32) | st.just(
    float(np.nextafter(np.float32(1.0), np.float32(0.0)))
)


@st.composite
def _sampler_case(draw):
    """A random uncrossed book (gaps, empty sides, agent orders) and four uniforms."""
    which = draw(st.integers(0, len(_SAMPLER_SPECS) - 1))
    params = _SAMPLER_PARAMS[which]
    window = params.window
    split = draw(st.integers(0, window))  # bids below, asks at or above
    lots = st.integers(0, 6)
    bid = [draw(lots) if j < split else 0 for j in range(window)]
    ask = [draw(lots) if j >= split else 0 for j in range(window)]
    agent_index = [draw(st.integers(0, window - 1)) for _ in range(2)]
    depth_there = (bid[agent_index[0]], ask[agent_index[1]])
    agent_qty = [draw(st.integers(0, depth)) for depth in depth_there]
    ref = draw(st.integers(9_000, 11_000))
    zero, pair = jnp.zeros((), jnp.int32), jnp.zeros((2,), jnp.int32)
    state = ob.BookState(
        bid=jnp.asarray(bid, jnp.int32),
        ask=jnp.asarray(ask, jnp.int32),
        ref=jnp.asarray(ref, jnp.int32),
        regime=jnp.asarray(draw(st.integers(0, params.transition_cdf.shape[0] - 1)), jnp.int32),
        time=zero,
        agent_tick=jnp.asarray([ref + i for i in agent_index], jnp.int32),
        agent_qty=jnp.asarray(agent_qty, jnp.int32),
        agent_ahead=pair,
        agent_sent=pair,
        agent_filled=pair,
        fill_qty=pair,
        fill_ticks=pair,
        added=zero,
        executed=zero,
        cancelled=zero,
        market_buy_volume=zero,
        market_sell_volume=zero,
    )
    uniforms = [draw(_UNIFORM) for _ in range(ob.N_UNIFORMS)]
    return which, state, uniforms


def _aimed(uniforms: list[float], sums: tuple, aim: tuple) -> list[float]:
    """``uniforms`` with the class or level draw moved to within a few ulps of a boundary.

    Random uniforms almost never land within an ulp of a cumulative sum, so a
    sum added up in another order than the JAX code's would go unnoticed; near
    a boundary it picks the neighbouring event.
    """
    mode, index, side, ulps = aim
    cumulative, sides = sums
    below_one = np.nextafter(np.float32(1.0), np.float32(0.0))

    def near(boundary, total):
        u = np.float32(float(boundary) / float(total))
        for _ in range(abs(ulps)):
            u = np.nextafter(u, np.float32(1.0 if ulps > 0 else 0.0))
        return float(min(u, below_one))

    out = list(uniforms)
    if mode == "class" and cumulative[-1] > 0:
        out[0] = near(cumulative[index % 5], cumulative[-1])
    elif mode == "level" and cumulative[4 + side] > cumulative[3 + side]:
        # The cancel class of that side (its interval's midpoint), then a level boundary.
        out[0] = float(
            np.float32(
                (float(cumulative[3 + side]) + float(cumulative[4 + side]))
                / 2
                / float(cumulative[-1])
            )
        )
        prefix = sides[side]
        out[1] = near(prefix[index % len(prefix)][1], prefix[-1][1])
    return out


_AIM = st.tuples(
    st.sampled_from(["none", "class", "level", "level"]),
    st.integers(0, 63),  # which boundary (modulo their number)
    st.integers(0, 1),  # cancel side
    st.integers(-2, 2),  # ulps from the boundary
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_sampler_case(), aim=_AIM)
def test_jax_sampler_matches_the_oracle_sampler(case, aim):
    which, state, uniforms = case
    params, tables = _SAMPLER_PARAMS[which], _SAMPLER_TABLES[which]
    oracle = ReferenceBook.from_state(state, params)
    uniforms = _aimed(uniforms, oracle.sampler_sums(tables), aim)
    event = _sample_jit(jnp.asarray(uniforms, jnp.float32), state, params)
    assert oracle.sample(uniforms, tables) == event_tuple(event)


# ----------------------------------------------------------------- agent mechanics
def _event(kind, side, distance, size, regime=0):
    return ob.BookEvent.make(kind, side, distance=distance, size=size, regime=regime)


def test_agent_fills_only_after_the_volume_ahead_and_reports_price_and_time():
    params = CALM.to_params()
    _, state = ob.reset(jax.random.key(0), params)
    ahead = int(params.initial_depth[0, 0])
    state = ob.apply_action(state, ob.BookAction.make(bid_command=ob.PLACE, bid_qty=3), params)
    assert state.agent_ahead.tolist() == [ahead, 0]
    # Market sells smaller than the queue ahead leave the agent unfilled.
    state = ob.apply_event(state, _event(ob.MARKET, ob.SELL, 0, ahead - 1), params)
    assert state.agent_filled.tolist() == [0, 0] and int(state.agent_ahead[0]) == 1
    # The next lots fill the agent (one ahead, then two of its three lots).
    state = ob.apply_event(state, _event(ob.MARKET, ob.SELL, 0, 3), params)
    assert state.agent_filled.tolist() == [2, 0] and state.agent_qty.tolist() == [1, 0]
    obs = ob.observe(state, params)
    assert obs.fill_qty.tolist() == [2, 0]
    assert float(obs.fill_price[0]) == pytest.approx(99.99)
    assert int(obs.time) == 2


def test_cancellations_ahead_shrink_the_queue_proportionally():
    params = CALM.to_params()
    _, state = ob.reset(jax.random.key(0), params)
    ahead = int(params.initial_depth[0, 1])  # second level below the ask
    place = ob.BookAction.make(bid_command=ob.PLACE, bid_offset=-1, bid_qty=2)
    state = ob.apply_action(state, place, params)
    state = ob.apply_event(state, _event(ob.LIMIT, ob.BUY, 2, 4), params)  # joins behind
    others = ahead + 4
    state = ob.apply_event(state, _event(ob.CANCEL, ob.BUY, 2, 3), params)
    assert int(state.agent_ahead[0]) == ahead - (3 * ahead) // others
    assert int(state.agent_qty[0]) == 2  # the background never cancels the agent


def test_market_order_walks_levels_and_the_book_refills():
    params = _step_params(CALM)  # the calm book, 300 events per step
    depth = params.initial_depth[0]
    size = int(depth[:4].sum())
    sweep = ob.BookAction.market(buy=size)
    keys = jax.random.split(jax.random.key(2), _BATCH)
    # Each stage is one jitted program over the batch: an eager vmap would
    # dispatch (and compile) every primitive separately.
    _, states = _reset_batch(keys, params)
    swept_obs = jax.jit(jax.vmap(lambda s: ob._observe(ob._apply_action(s, sweep, params), params)))
    spread_now = swept_obs(states).spread
    obs, *_, info = _step_batch(keys, states, sweep, params)
    # Every calm book starts from the same depth, so every sweep fills the same.
    expected = float((depth[:4] * (10_000 + jnp.arange(4))).sum() / size) * 0.01
    assert info["fill_qty"][:, 0].tolist() == [size] * len(keys)
    np.testing.assert_allclose(np.asarray(info["fill_price"][:, 0]), expected, rtol=1e-6)
    # Impact from consuming depth, then resilience: averaged over books the spread
    # right after the sweep is wide and relaxes back towards one tick.
    assert float(spread_now.mean()) == 5.0
    assert float(obs.spread.mean()) < 2.0


def test_market_order_on_empty_side_fills_nothing_and_stays_finite():
    params = TINY.to_params()
    _, state = ob.reset(jax.random.key(0), params)
    state = ob.apply_action(state, ob.BookAction.market(buy=10_000), params)
    assert int(state.ask.sum()) == 0
    again = ob.apply_action(state, ob.BookAction.market(buy=5), params)
    assert int(again.agent_filled[0]) == int(state.agent_filled[0])
    obs = ob.observe(again, params)
    assert int(obs.spread) == params.levels and np.isfinite(float(obs.mid))


# ----------------------------------------------------------------- jit / vmap / seeds
@pytest.mark.slow  # ~8 s: without jit every primitive is dispatched and compiled alone
def test_jit_and_no_jit_agree():
    params = SWITCHING.to_params()
    action = ob.BookAction.make(market_buy=2, ask_command=ob.PLACE, ask_offset=1, ask_qty=3)

    def run():
        _, state = ob.reset(jax.random.key(7), params)
        outputs = []
        for t in range(2):
            out = ob.step(jax.random.key(t), state, action, params)
            state = out[1]
            outputs.append(out)
        return outputs

    jitted = run()
    with jax.disable_jit():
        eager = run()
    assert _tree_equal(jitted, eager)


def test_vmap_matches_a_loop_and_books_do_not_depend_on_batch_size():
    params = _step_params(SWITCHING)
    keys = jax.random.split(jax.random.key(3), _BATCH)
    _, states = _reset_batch(keys, params)
    action = ob.BookAction.make(bid_command=ob.PLACE, bid_qty=2, market_sell=1)
    batched = _step_batch(keys, states, action, params)
    for b in range(4):  # the loop runs a few of the batch's books
        state_b = jax.tree.map(lambda x, b=b: x[b], states)
        single = ob.step(keys[b], state_b, action, params)
        assert _tree_equal(jax.tree.map(lambda x, b=b: x[b], batched), single)
    # simulate_book(n_books=n) runs the books 0..n-1; a book's path depends
    # only on its index, so any other batch holding it (here shuffled and
    # mixed with books 7 and 9) gives the same path.  One shape (5 books,
    # 400 / 100 events) is shared with other tests: each new shape is a
    # compilation of several seconds.
    rec = ob.simulate_book(SWITCHING, seed=5, n_books=5, n_events=400, record_every=100)
    books = [3, 9, 0, 7, 1]
    simulate_batched = jax.jit(ob._simulate_batched, static_argnames=("n_records", "record_every"))
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
    a = ob.simulate_book(SWITCHING, seed=9, n_books=5, n_events=400, record_every=100)
    b = ob.simulate_book(SWITCHING, seed=9, n_books=5, n_events=400, record_every=100)
    c = ob.simulate_book(SWITCHING, seed=10, n_books=5, n_events=400, record_every=100)
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
        "from riskengine.sim import orderbook as ob\n"
        "from riskengine.sim.book_spec import BookSpec\n"
        "from tests.sim.reference_book import recording_digest\n"
        f"spec = BookSpec(**{_SWITCHING_FIELDS!r})\n"
        "rec = ob.simulate_book(spec, seed=4, n_books=5, n_events=400, record_every=100)\n"
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
    rec = ob.simulate_book(SWITCHING, seed=4, n_books=5, n_events=400, record_every=100)
    assert (int(devices), int(n_books)) == (other, 5)
    assert digest == recording_digest(rec)


def test_results_do_not_depend_on_x64():
    base = ob.simulate_book(SWITCHING, seed=1, n_books=5, n_events=400, record_every=100)
    jax.config.update("jax_enable_x64", True)
    try:
        wide = ob.simulate_book(SWITCHING, seed=1, n_books=5, n_events=400, record_every=100)
    finally:
        jax.config.update("jax_enable_x64", False)
    np.testing.assert_array_equal(base.mid, wide.mid)
    np.testing.assert_array_equal(base.bid_depth, wide.bid_depth)


# ----------------------------------------------------------------- regimes
@pytest.mark.slow  # 2 x 256,000 book-events and their own compilation
def test_stressed_books_are_wider_and_thinner_than_calm_books():
    calm = ob.simulate_book(CALM, seed=0, n_books=64, n_events=4000, record_every=100).summary()
    stressed = ob.simulate_book(STRESSED, seed=0, n_books=64, n_events=4000, record_every=100)
    stressed = stressed.summary()
    assert stressed["mean_spread_ticks"] > 1.3 * calm["mean_spread_ticks"]
    assert stressed["mean_best_depth"] < 0.7 * calm["mean_best_depth"]


@pytest.mark.slow  # 640,000 book-events and their own compilation
def test_regime_switching_visits_both_regimes_with_persistence():
    rec = ob.simulate_book(SWITCHING, seed=2, n_books=32, n_events=20_000, record_every=100)
    share = rec.regime.mean()
    # Stationary share of the stressed regime is 0.002 / 0.006 = 1/3.
    assert 0.2 < share < 0.5
    changes = (np.diff(rec.regime, axis=1) != 0).mean()
    assert changes < 0.3  # persistent: most 100-event intervals keep their regime
    spread_by_regime = [rec.spread[rec.regime == r].mean() for r in (0, 1)]
    assert spread_by_regime[1] > spread_by_regime[0]


# ----------------------------------------------------------------- impact
def _metaorder_impact(
    spec: BookSpec, sizes: list[int], n_books: int, horizon: int, warm_steps: int, seed: int = 0
) -> np.ndarray:
    """Mean mid move (ticks) caused by buying Q lots in ``horizon`` equal market-order slices.

    Each size is run on the same books and keys as a baseline without the
    meta-order, and the impact is the difference (common random numbers), so
    the book's own mid noise cancels instead of needing thousands of books.
    """
    params = spec.to_params()
    keys = jax.random.split(jax.random.key(seed), n_books)
    fields = ob.BookAction._FIELDS

    def run(key: jax.Array, child: jax.Array) -> jax.Array:
        reset_key, warm_key, trade_key = jax.random.split(key, 3)
        _, state = ob._reset(reset_key, params)
        null = ob.BookAction(**{f: jnp.int32(0) for f in fields})

        def warm(state, k):
            return ob._step(k, state, null, params)[1], None

        state, _ = jax.lax.scan(warm, state, jax.random.split(warm_key, warm_steps))
        start = ob._observe(state, params).mid

        def trade(state, inputs):
            k, lots = inputs
            action = ob.BookAction(**{f: jnp.int32(0) for f in fields} | {"market_buy": lots})
            return ob._step(k, state, action, params)[1], None

        state, _ = jax.lax.scan(trade, state, (jax.random.split(trade_key, horizon), child))
        return ob._observe(state, params).mid - start

    run_books = jax.jit(jax.vmap(run, in_axes=(0, None)))
    baseline = run_books(keys, jnp.zeros(horizon, jnp.int32))
    impacts = []
    for q in sizes:
        child = np.full(horizon, q // horizon, np.int32)
        child[: q % horizon] += 1
        impacts.append(float(jnp.mean(run_books(keys, jnp.asarray(child)) - baseline)))
    return np.array(impacts) / spec.tick_size


def test_metaorder_impact_is_concave_square_root_like() -> None:
    # Meta-orders of 32-1,024 lots (2-60 times the ~17-lot best queue; below that
    # the tick grid makes impact linear) against the calm catalogue book, whose
    # depth rises away from the touch, executed over 5 steps (50 events).
    # Measured: delta 0.71-0.73 over seeds 0-2, local slope falling from 1.0 to 0.5.
    sizes = [32, 64, 128, 256, 512, 1024]
    impact = _metaorder_impact(
        load_spec("calm").book, sizes, n_books=192, horizon=5, warm_steps=100
    )
    assert np.all(np.diff(impact) > 0), impact
    delta = np.polyfit(np.log(sizes), np.log(impact), 1)[0]
    assert 0.3 < delta < 0.8, (delta, impact)


def test_metaorder_impact_is_linear_when_the_book_thins_away_from_the_touch() -> None:
    # The control: concavity comes from the depth profile, not from the measurement.
    thinning = BookSpec(limit_exponent=0.5, cancel_decay=1.0)
    sizes = [16, 64, 256]
    impact = _metaorder_impact(thinning, sizes, n_books=192, horizon=5, warm_steps=100)
    delta = np.polyfit(np.log(sizes), np.log(impact), 1)[0]
    assert delta > 0.9, (delta, impact)


# ----------------------------------------------------------------- validation
def test_simulate_book_rejects_bad_arguments():
    with pytest.raises(TypeError, match="seed"):
        ob.simulate_book(CALM, seed=1.5, n_books=2, n_events=10, record_every=5)
    with pytest.raises(ValueError, match="seed"):
        ob.simulate_book(CALM, seed=-1, n_books=2, n_events=10, record_every=5)
    with pytest.raises(ValueError, match="n_books"):
        ob.simulate_book(CALM, seed=0, n_books=0, n_events=10, record_every=5)
    with pytest.raises(TypeError, match="n_events"):
        ob.simulate_book(CALM, seed=0, n_books=2, n_events=10.0, record_every=5)
    with pytest.raises(ValueError, match="record_every"):
        ob.simulate_book(CALM, seed=0, n_books=2, n_events=10, record_every=3)
    with pytest.raises(ValueError, match="book"):
        ob.simulate_book(types.SimpleNamespace(book=None), seed=0, n_books=2, n_events=10)
    with pytest.raises(TypeError, match="spec"):
        ob.simulate_book(42, seed=0, n_books=2, n_events=10)
    scenario = types.SimpleNamespace(book=SWITCHING)
    rec = ob.simulate_book(scenario, seed=0, n_books=5, n_events=400, record_every=100)
    assert rec.mid.shape == (5, 4)


def test_env_functions_reject_bad_arguments():
    params = CALM.to_params()
    _, state = ob.reset(jax.random.key(0), params)
    with pytest.raises(TypeError, match="key"):
        ob.reset(0, params)
    with pytest.raises(TypeError, match="params"):
        ob.reset(jax.random.key(0), CALM)
    with pytest.raises(TypeError, match="action"):
        ob.step(jax.random.key(0), state, {"market_buy": 1}, params)
    with pytest.raises(TypeError, match="state"):
        ob.step(jax.random.key(0), params, ob.BookAction.null(), params)
    with pytest.raises(TypeError, match="event"):
        ob.apply_event(state, (0, 0, 1, 1, 0), params)
    with pytest.raises(ValueError, match="key"):
        ob.sample_event(jax.random.split(jax.random.key(0), 2), state, params)
    with pytest.raises(ValueError, match=r"action\.bid_qty"):
        ob.BookAction.make(bid_qty=-2)
    with pytest.raises(ValueError, match="action: unknown"):
        ob.BookAction.make(quantity=1)
    with pytest.raises(ValueError, match="size"):
        ob.BookEvent.make(ob.LIMIT, ob.BUY, distance=1, size=0, regime=0)


@pytest.mark.parametrize(
    ("table", "error", "match"),
    [
        ({"depth": 3}, ValueError, r"book: unknown key\(s\) \['depth'\]"),
        ({"market_rate": float("nan")}, ValueError, "book.market_rate: must be finite"),
        ({"cancel_rate": -0.1}, ValueError, "book.cancel_rate"),
        ({"limit_scale": 0.0}, ValueError, "book.limit_scale"),
        ({"regimes": ["a", "b"], "market_rate": [1, 2, 3]}, ValueError, "book.market_rate"),
        (
            {"regimes": ["a", "b"], "transition": [[0.9, 0.2], [0.5, 0.5]]},
            ValueError,
            "book.transition",
        ),
        ({"regimes": ["a"], "transition": [[0.5, 0.5]]}, ValueError, "book.transition"),
        ({"levels": 2.5}, TypeError, "book.levels"),
        ({"levels": 1}, ValueError, "book.levels"),
        ({"tick_size": -0.01}, ValueError, "book.tick_size"),
        ({"cancel_decay": 0.1}, ValueError, "book.cancel_decay"),
        ({"market_size_probs": [0.5, 0.6]}, ValueError, "book.market_size_probs"),
        ({"limit_size_probs": [-0.5, 1.5]}, ValueError, "book.limit_size_probs"),
        ({"regimes": "calm"}, TypeError, "book.regimes"),
        ({"regimes": ["a", "a"]}, ValueError, "book.regimes"),
        ({"recentre_trigger": 99}, ValueError, "book.recentre_trigger"),
        ({"initial_regime_probs": [0.5]}, ValueError, "book.initial_regime_probs"),
        ({"events_per_step": True}, TypeError, "book.events_per_step"),
    ],
)
def test_book_spec_from_table_names_the_bad_field(table, error, match):
    with pytest.raises(error, match=match):
        BookSpec.from_table(table, field="book")


def test_book_spec_round_trip_and_immutability():
    spec = BookSpec.from_table({"regimes": ["calm", "stressed"], "market_rate": [1.0, 2.0]})
    assert spec.n_regimes == 2 and spec.transition.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(ValueError):
        spec.market_rate[0] = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.levels = 3
    params = spec.to_params()
    assert params.limit_cdf.dtype == jnp.float32 and params.initial_depth.dtype == jnp.int32
    assert float(params.limit_cdf[0, -1]) == 1.0
