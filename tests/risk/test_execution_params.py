"""Execution parameters: monotone and bounded responses, batch == step, config validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskengine.errors import InvalidConfig, InvalidInput
from riskengine.risk.execution_params import (
    ExecutionConfig,
    ExecutionParams,
    execution_params,
    execution_params_batch,
)

CONFIG = ExecutionConfig(
    base_risk_aversion=2.0,
    max_risk_aversion_multiplier=5.0,
    base_participation_cap=0.2,
    min_participation_cap=0.05,
    stressed_boost=0.7,
    policy_ids=("twap", "ac", "ppo-stressed"),
)
ratios = st.one_of(
    st.floats(0.0, 50.0), st.sampled_from([np.nan, np.inf, -1.0, 1e-300, 1e300, 0.0])
)
probas = st.one_of(st.floats(-0.5, 1.5), st.just(np.nan))


@settings(max_examples=300, deadline=None)
@given(ratio=ratios, proba=probas, regime=st.integers(0, 2))
def test_parameters_stay_within_their_bounds(ratio, proba, regime):
    params = execution_params(CONFIG, ratio, proba, regime)
    assert 0.0 <= params.urgency <= 1.0
    assert 2.0 <= params.risk_aversion <= 10.0
    assert 0.05 <= params.participation_cap <= 0.2
    assert params.policy_id == CONFIG.policy_ids[regime]


def test_higher_volatility_raises_urgency_and_risk_aversion_and_lowers_the_cap():
    grid = np.linspace(0.0, 10.0, 2001)
    params = [execution_params(CONFIG, r, 0.2, 0) for r in grid]
    urgency = np.array([p.urgency for p in params])
    assert np.all(np.diff(urgency) >= 0) and urgency[-1] > urgency[0] + 0.5
    assert np.all(np.diff([p.risk_aversion for p in params]) >= 0)
    assert np.all(np.diff([p.participation_cap for p in params]) <= 0)
    # Smooth: no jump on a fine grid.
    assert np.max(np.diff(urgency)) < 0.01


def test_a_stressed_regime_raises_urgency_smoothly():
    grid = np.linspace(0.0, 1.0, 1001)
    urgency = np.array([execution_params(CONFIG, 1.0, p, 1).urgency for p in grid])
    assert np.all(np.diff(urgency) > 0)
    assert np.max(np.diff(urgency)) < 0.001
    calm, stressed = execution_params(CONFIG, 1.0, 0.0, 0), execution_params(CONFIG, 1.0, 1.0, 2)
    assert stressed.risk_aversion > calm.risk_aversion
    assert stressed.participation_cap < calm.participation_cap
    assert (calm.policy_id, stressed.policy_id) == ("twap", "ppo-stressed")


def test_volatility_pressure_is_one_half_at_the_midpoint():
    config = dataclasses.replace(CONFIG, stressed_boost=0.0)
    assert execution_params(config, 2.0, 0.9, 0).urgency == pytest.approx(0.5, abs=1e-15)
    assert execution_params(config, 0.0, 0.0, 0).urgency == 0.0


@pytest.mark.parametrize(("ratio", "proba"), [(np.nan, 0.0), (-1.0, 0.0), (np.inf, 0.0)])
def test_unusable_volatility_is_treated_as_the_worst_case(ratio, proba):
    params = execution_params(CONFIG, ratio, proba, 0)
    assert params.urgency == 1.0
    assert params.participation_cap == pytest.approx(0.05, rel=1e-15)


def test_nan_stressed_probability_counts_as_stressed():
    nan = execution_params(CONFIG, 1.0, np.nan, 0)
    assert nan == execution_params(CONFIG, 1.0, 1.0, 0)


@pytest.mark.parametrize("regime", [-1, 3, True, 1.0, "1"])
def test_regime_out_of_range_or_not_an_integer_is_rejected(regime):
    with pytest.raises(InvalidInput) as error:
        execution_params(CONFIG, 1.0, 0.0, regime)
    assert error.value.field == "regime"


def test_params_are_frozen():
    params = execution_params(CONFIG, 1.0, 0.0, np.int64(1))
    assert isinstance(params, ExecutionParams) and params.policy_id == "ac"
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.urgency = 0.0  # type: ignore[misc]


# ------------------------------------------------------------------------------- batch


@settings(max_examples=100, deadline=None)
@given(data=st.lists(st.tuples(ratios, probas, st.integers(0, 2)), max_size=30))
def test_batch_equals_step_loop(data):
    ratio = np.array([d[0] for d in data], dtype=float)
    proba = np.array([d[1] for d in data], dtype=float)
    regime = np.array([d[2] for d in data], dtype=int)
    batch = execution_params_batch(CONFIG, ratio, proba, regime)
    assert len(batch) == len(data)
    for t, (r, p, k) in enumerate(data):
        step, row = execution_params(CONFIG, r, p, k), batch[t]
        assert row.policy_id == step.policy_id
        for field in ("risk_aversion", "participation_cap", "urgency"):
            assert getattr(row, field) == pytest.approx(getattr(step, field), rel=1e-10, abs=0)


def test_batch_validates_shapes_and_regimes_naming_the_field():
    with pytest.raises(InvalidInput) as error:
        execution_params_batch(CONFIG, [1.0, 2.0], [0.0], [0, 0])
    assert error.value.field == "stressed_proba"
    with pytest.raises(InvalidInput) as error:
        execution_params_batch(CONFIG, [1.0, 2.0], [0.0, 0.0], [0, 5])
    assert error.value.field == "regime" and "got 5" in str(error.value)
    with pytest.raises(InvalidInput) as error:
        execution_params_batch(CONFIG, [1.0], [0.0], [0.5])
    assert error.value.field == "regime"


# ------------------------------------------------------------------------------ config


def test_config_from_mapping_reads_every_field():
    table = {
        "base_risk_aversion": 1e-5,
        "max_risk_aversion_multiplier": 3.0,
        "base_participation_cap": 0.15,
        "min_participation_cap": 0.03,
        "volatility_midpoint": 1.5,
        "volatility_steepness": 2.0,
        "stressed_boost": 0.5,
        "policy_ids": ["twap", "ppo"],
    }
    config = ExecutionConfig.from_mapping(table)
    assert {name: getattr(config, name) for name in table} == table | {
        "policy_ids": ("twap", "ppo")
    }


def test_config_rejects_unknown_keys_naming_the_table():
    with pytest.raises(InvalidConfig, match=r"unknown key\(s\) \['urgency'\]") as error:
        ExecutionConfig.from_mapping({"urgency": 0.5}, field="engine.execution")
    assert error.value.field == "engine.execution"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_risk_aversion", 0.0),
        ("max_risk_aversion_multiplier", 0.5),
        ("base_participation_cap", 0.0),
        ("base_participation_cap", 1.5),
        ("min_participation_cap", 0.0),
        ("min_participation_cap", 0.5),
        ("volatility_midpoint", -1.0),
        ("volatility_steepness", 0.0),
        ("stressed_boost", 1.1),
        ("stressed_boost", np.nan),
        ("policy_ids", []),
        ("policy_ids", "twap"),
        ("base_risk_aversion", "high"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(InvalidConfig) as error:
        ExecutionConfig.from_mapping({field: value})
    assert error.value.field == f"execution.{field}"
    with pytest.raises(InvalidConfig) as error:
        ExecutionConfig(**{field: value})
    assert error.value.field == field


def test_config_names_the_bad_policy_id():
    with pytest.raises(InvalidConfig) as error:
        ExecutionConfig.from_mapping({"policy_ids": ["twap", ""]})
    assert error.value.field == "execution.policy_ids[1]"
