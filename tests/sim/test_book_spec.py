"""Tests of :class:`BookSpec`: every invalid field is rejected by name; the params it builds."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import pytest

from riskengine.sim.book_spec import BookSpec


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
