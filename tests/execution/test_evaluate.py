"""Evaluation: common random numbers, paired comparisons, and a summary users can trust.

The policies are defined here (a TWAP-like market schedule and a random
policy that uses its key), so these tests do not depend on the baselines
module.  Each policy compiles one program; every evaluation uses 8 seeds so
that program is reused.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from riskengine.execution import env as E
from riskengine.execution.evaluate import REGIMES, EvaluationResult, evaluate
from riskengine.execution.policy import ExecutionPolicy
from riskengine.sim.specs import ScenarioSpec, spec_directory

BOOK = tomllib.loads((spec_directory() / "regime_switching.toml").read_text())["book"]
SMALL = {"horizon_steps": 4, "events_per_step": 10, "warmup_events": 20}
SMALL["order_size_fraction"] = [1.0, 3.0]
FIELDS = ("is_bps", "spread_bps", "impact_bps", "timing_bps", "completed", "unfilled")
FIELDS += ("regime", "side", "parent", "return_bps")


@dataclasses.dataclass(frozen=True)
class MarketSchedule:
    """TWAP-like: an even share of what is left, at market, every step."""

    name: str = "twap"

    def act(self, key, obs, state: E.EnvState, params: E.EnvParams) -> E.ExecutionAction:
        steps_left = jnp.maximum(params.horizon - state.step, 1).astype(jnp.float32)
        return E.ExecutionAction(fraction=1.0 / steps_left, style=jnp.int32(E.MARKET))


@dataclasses.dataclass(frozen=True)
class RandomOrders:
    """Random size and style from the action key (so the key stream matters)."""

    name: str = "random"

    def act(self, key, obs, state: E.EnvState, params: E.EnvParams) -> E.ExecutionAction:
        size_key, style_key = jax.random.split(key)
        fraction = jax.random.uniform(size_key, dtype=jnp.float32)
        style = jax.random.randint(style_key, (), 0, E.N_STYLES, dtype=jnp.int32)
        return E.ExecutionAction(fraction=fraction, style=style)


TWAP, RANDOM = MarketSchedule(), RandomOrders()


@pytest.fixture(scope="module")
def params() -> E.EnvParams:
    spec = ScenarioSpec.from_dict({"name": "tiny_execution", "book": BOOK, "execution": SMALL})
    return E.make_params(spec)


@pytest.fixture(scope="module")
def both(params: E.EnvParams) -> EvaluationResult:
    return evaluate({"twap": TWAP, "random": RANDOM}, params, range(8))


def _same_episodes(a: dict, b: dict) -> None:
    assert set(a) == set(b) == set(FIELDS)
    for field in FIELDS:
        np.testing.assert_array_equal(a[field], b[field], err_msg=field)


def test_local_policies_follow_the_protocol() -> None:
    assert isinstance(TWAP, ExecutionPolicy) and isinstance(RANDOM, ExecutionPolicy)


# --------------------------------------------------------------------------- pairing
@pytest.mark.parametrize("names", [("first", "second"), ("rl", "twap")])
def test_one_policy_under_two_names_is_its_own_twin(params: E.EnvParams, names) -> None:
    result = evaluate(dict.fromkeys(names, TWAP), params, range(8))
    a, b = (result.episodes[n] for n in names)
    _same_episodes(a, b)
    assert np.ptp(a["is_bps"]) > 0  # eight different episodes, not one repeated
    summary = result.summary()
    # "rl" is never a baseline by default; any other name is.
    expected_baselines = tuple(n for n in names if n != "rl")
    assert result.baselines == expected_baselines
    versus = summary[names[0]]["versus"][names[1]]
    assert versus["n_episodes"] == 8
    assert versus["diff_bps_mean"] == 0.0 and versus["diff_bps_ci"] == [0.0, 0.0]
    assert versus["p_value"] == 1.0
    assert versus["is_ratio"] == pytest.approx(1.0, abs=1e-12)
    assert versus["std_ratio"] == pytest.approx(1.0, abs=1e-12)
    if names[1] != "rl":
        assert names[1] not in summary[names[1]]["versus"]  # never against itself


def test_episodes_do_not_depend_on_the_other_policies(params, both) -> None:
    alone = evaluate({"random": RANDOM}, params, range(8))
    _same_episodes(alone.episodes["random"], both.episodes["random"])
    swapped = evaluate({"random": RANDOM, "twap": TWAP}, params, range(8))
    for name in ("twap", "random"):
        _same_episodes(swapped.episodes[name], both.episodes[name])
    # Common random numbers: every policy trades the same order in the same episode...
    for field in ("side", "parent"):
        np.testing.assert_array_equal(both.episodes["twap"][field], both.episodes["random"][field])
    # ... but the policies do trade differently.
    assert not np.array_equal(both.episodes["twap"]["is_bps"], both.episodes["random"]["is_bps"])


def test_episode_s_is_the_same_whatever_the_seed_range(params, both) -> None:
    later = evaluate({"twap": TWAP, "random": RANDOM}, params, range(4, 12))
    backwards = evaluate({"twap": TWAP, "random": RANDOM}, params, list(range(7, -1, -1)))
    np.testing.assert_array_equal(later.seeds, np.arange(4, 12, dtype=np.uint32))
    for name in ("twap", "random"):
        for field in FIELDS:
            first, shifted = both.episodes[name][field], later.episodes[name][field]
            np.testing.assert_array_equal(first[4:], shifted[:4], err_msg=(name, field))
            reversed_ = backwards.episodes[name][field][::-1]
            np.testing.assert_array_equal(first, reversed_, err_msg=(name, field))
        # The new seeds are new episodes.
        assert not np.array_equal(
            both.episodes[name]["is_bps"][:4], later.episodes[name]["is_bps"][4:]
        )


def test_per_episode_accounting_is_consistent(both) -> None:
    for name in both.policies:
        data = both.episodes[name]
        assert (data["completed"] == (data["unfilled"] == 0)).all()
        np.testing.assert_allclose(data["return_bps"], -data["is_bps"], rtol=0, atol=1e-3)
        split = data["spread_bps"] + data["impact_bps"] + data["timing_bps"]
        np.testing.assert_allclose(split, data["is_bps"], rtol=0, atol=1e-4)
        assert set(np.unique(data["side"])) <= {-1, 1}
        assert (data["parent"] >= 1).all()
        assert set(np.unique(data["regime"])) <= set(range(len(REGIMES)))


# --------------------------------------------------------------------------- summary
def test_summary_has_what_users_read(both) -> None:
    summary = both.summary()
    assert list(summary) == ["twap", "random"]
    for name, row in summary.items():
        data = both.episodes[name]
        for key in ("is_bps_mean", "is_bps_std", "impact_bps_mean", "completion_rate"):
            assert isinstance(row[key], float) and math.isfinite(row[key]), key
        assert row["n_episodes"] == 8
        assert row["is_bps_mean"] == pytest.approx(float(np.mean(data["is_bps"], dtype=np.float64)))
        assert row["is_bps_std"] == pytest.approx(
            float(np.std(data["is_bps"].astype(float), ddof=1))
        )
        assert row["impact_bps_mean"] == pytest.approx(
            float(np.mean(data["impact_bps"].astype(float)))
        )
        assert row["completion_rate"] == float(np.mean(data["completed"]))
        assert 0.0 <= row["completion_rate"] <= 1.0
        assert set(row["per_regime"]) == set(REGIMES) == {"calm", "stressed", "switching"}
        counts = [row["per_regime"][r]["n_episodes"] for r in REGIMES]
        assert sum(counts) == 8
        assert counts == [int((data["regime"] == i).sum()) for i in range(len(REGIMES))]
        other = "random" if name == "twap" else "twap"
        assert set(row["versus"]) == {other}
        paired = row["versus"][other]
        diff = data["is_bps"].astype(float) - both.episodes[other]["is_bps"].astype(float)
        assert paired["diff_bps_mean"] == pytest.approx(diff.mean())
        low, high = paired["diff_bps_ci"]
        assert low < paired["diff_bps_mean"] < high
        assert 0.0 <= paired["p_value"] <= 1.0
    rows = both.table()
    assert len(rows) == 6 + len(REGIMES) and all(len(cells) == 2 for _, cells in rows)


# --------------------------------------------------------------------------- bad input
def test_bad_inputs_are_refused_by_field(params: E.EnvParams) -> None:
    policies = {"twap": TWAP}
    cases = [
        (ValueError, r"seeds", ({**policies}, params, [])),
        (ValueError, r"seeds\[1\]", (policies, params, [0, -1])),
        (ValueError, r"seeds\[0\]", (policies, params, [2**32])),
        (TypeError, r"seeds\[2\]", (policies, params, [0, 1, 2.0])),
        (TypeError, r"policies\['bad'\]", ({"twap": TWAP, "bad": object()}, params, range(8))),
        (TypeError, r"policies\['fn'\]", ({"fn": TWAP.act}, params, range(8))),
        (ValueError, r"policies", ({}, params, range(8))),
        (ValueError, r"policies", ([TWAP], params, range(8))),
        (TypeError, r"spec", (policies, 42, range(8))),
    ]
    for error, field, args in cases:
        with pytest.raises(error, match=field):
            evaluate(*args)
    with pytest.raises(ValueError, match=r"baselines: \['vwap'\]"):
        evaluate(policies, params, range(8), baselines=["vwap"])
    for confidence in (0.0, 1.0, float("nan")):
        with pytest.raises(ValueError, match="confidence"):
            evaluate(policies, params, range(8), confidence=confidence)
