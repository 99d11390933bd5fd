"""Tests of the JAX limit order book against its invariants and the plain-Python oracle."""

from __future__ import annotations

import dataclasses
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskengine.sim import orderbook as ob
from riskengine.sim.book_spec import BookSpec
from riskengine.sim.specs import load_spec
from tests.sim.reference_book import ReferenceBook, generate_events, jnp_action, replay

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
SWITCHING = BookSpec(
    regimes=("calm", "stressed"),
    limit_scale=[2.0, 1.2],
    limit_exponent=[0.5, 0.3],
    market_rate=[0.8, 1.2],
    cancel_rate=[0.2, 0.6],
    cancel_decay=[0.97, 0.95],
    transition=[[0.998, 0.002], [0.004, 0.996]],
    initial_regime_probs=[0.5, 0.5],
)
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


def _checked_run(params, seed, n_books, n_events, max_qty=4):
    """Events interleaved with random agent actions; per-event invariant flags."""
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

    return jax.jit(jax.vmap(one_book))(jnp.arange(n_books))


@pytest.mark.parametrize(
    "spec", [CALM, STRESSED, SWITCHING, TINY], ids=["calm", "stressed", "switching", "tiny"]
)
def test_invariants_hold_after_every_event(spec):
    final, flags = _checked_run(spec.to_params(), seed=3, n_books=16, n_events=1500)
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


def test_reference_replay_has_the_step_semantics():
    """step == apply_action then the sampled events; the oracle agrees on fills."""
    params = dataclasses.replace(SWITCHING.to_params(), events_per_step=25)
    _, state = ob.reset(jax.random.key(4), params)
    action = {"market_buy": 3, "market_sell": 0, "bid_command": 1, "bid_offset": 0}
    action |= {"bid_qty": 2, "ask_command": 0, "ask_offset": 0, "ask_qty": 0}
    oracle = ReferenceBook.from_state(state, params)
    oracle.start_step()
    oracle.apply_action(action)
    after_action = ob.apply_action(state, jnp_action(action), params)
    assert _jax_arrays(after_action) == oracle.as_arrays()
    _obs, stepped, reward, done, info = ob.step(
        jax.random.key(5), state, jnp_action(action), params
    )
    assert int(stepped.time) == 25 and float(reward) == 0.0 and not bool(done)
    # The market buy's three lots, plus any fills of the resting bid during the events.
    assert int(info["fill_qty"][0]) >= oracle.fill_qty[0] == 3
    assert int(stepped.agent_sent[0]) == oracle.agent_sent[0] == 5


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
    spec = dataclasses.replace(CALM, events_per_step=300)
    params = spec.to_params()
    _, state = ob.reset(jax.random.key(0), params)
    depth = params.initial_depth[0]
    size = int(depth[:4].sum())
    obs, state, *_, info = ob.step(jax.random.key(1), state, ob.BookAction.market(buy=size), params)
    expected = float((depth[:4] * (10_000 + jnp.arange(4))).sum() / size) * 0.01
    assert int(info["fill_qty"][0]) == size
    assert float(info["fill_price"][0]) == pytest.approx(expected, rel=1e-6)
    # Impact from consuming depth, then resilience: averaged over books the spread
    # right after the sweep is wide and relaxes back towards one tick.
    keys = jax.random.split(jax.random.key(2), 64)
    _, states = jax.vmap(ob.reset, in_axes=(0, None))(keys, params)
    sweep = ob.BookAction.market(buy=size)
    swept = jax.vmap(ob._apply_action, in_axes=(0, None, None))(states, sweep, params)
    spread_now = jax.vmap(ob._observe, in_axes=(0, None))(swept, params).spread
    step_all = jax.vmap(ob._step, in_axes=(0, 0, None, None))
    obs, *_ = step_all(keys, swept, ob.BookAction.null(), params)
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
    params = SWITCHING.to_params()
    keys = jax.random.split(jax.random.key(3), 4)
    _, states = jax.vmap(ob.reset, in_axes=(0, None))(keys, params)
    action = ob.BookAction.make(bid_command=ob.PLACE, bid_qty=2, market_sell=1)
    batched = jax.vmap(ob._step, in_axes=(0, 0, None, None))(keys, states, action, params)
    for b in range(4):
        state_b = jax.tree.map(lambda x, b=b: x[b], states)
        single = ob.step(keys[b], state_b, action, params)
        assert _tree_equal(jax.tree.map(lambda x, b=b: x[b], batched), single)
    small = ob.simulate_book(SWITCHING, seed=5, n_books=2, n_events=400, record_every=100)
    large = ob.simulate_book(SWITCHING, seed=5, n_books=5, n_events=400, record_every=100)
    np.testing.assert_array_equal(small.mid, large.mid[:2])
    np.testing.assert_array_equal(small.spread, large.spread[:2])


def test_same_seed_is_bit_identical_and_seeds_differ():
    a = ob.simulate_book(SWITCHING, seed=9, n_books=3, n_events=500, record_every=50)
    b = ob.simulate_book(SWITCHING, seed=9, n_books=3, n_events=500, record_every=50)
    c = ob.simulate_book(SWITCHING, seed=10, n_books=3, n_events=500, record_every=50)
    for name in ("mid", "spread", "bid_depth", "ask_depth", "buy_volume", "sell_volume", "regime"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.mid, c.mid)
    assert a.mid.dtype == np.float64 and a.spread.dtype == np.int32


def test_results_do_not_depend_on_x64():
    base = ob.simulate_book(CALM, seed=1, n_books=2, n_events=300, record_every=100)
    jax.config.update("jax_enable_x64", True)
    try:
        wide = ob.simulate_book(CALM, seed=1, n_books=2, n_events=300, record_every=100)
    finally:
        jax.config.update("jax_enable_x64", False)
    np.testing.assert_array_equal(base.mid, wide.mid)
    np.testing.assert_array_equal(base.bid_depth, wide.bid_depth)


# ----------------------------------------------------------------- regimes
def test_stressed_books_are_wider_and_thinner_than_calm_books():
    calm = ob.simulate_book(CALM, seed=0, n_books=64, n_events=4000, record_every=100).summary()
    stressed = ob.simulate_book(STRESSED, seed=0, n_books=64, n_events=4000, record_every=100)
    stressed = stressed.summary()
    assert stressed["mean_spread_ticks"] > 1.3 * calm["mean_spread_ticks"]
    assert stressed["mean_best_depth"] < 0.7 * calm["mean_best_depth"]


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
    scenario = types.SimpleNamespace(book=CALM)
    rec = ob.simulate_book(scenario, seed=0, n_books=2, n_events=10, record_every=5)
    assert rec.mid.shape == (2, 2)


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
