"""Book specs shared by the order-book tests: calm, stressed, switching and a tiny window."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from riskengine.sim.book_spec import BookSpec

__all__ = ["CALM", "STRESSED", "SWITCHING", "SWITCHING_FIELDS", "TINY", "tree_equal", "two_regimes"]

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
SWITCHING_FIELDS = dict(
    regimes=("calm", "stressed"),
    limit_scale=[2.0, 1.2],
    limit_exponent=[0.5, 0.3],
    market_rate=[0.8, 1.2],
    cancel_rate=[0.2, 0.6],
    cancel_decay=[0.97, 0.95],
    transition=[[0.998, 0.002], [0.004, 0.996]],
    initial_regime_probs=[0.5, 0.5],
)
SWITCHING = BookSpec(**SWITCHING_FIELDS)
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


def tree_equal(a, b) -> bool:
    """Every leaf of two pytrees equal (shape and values)."""
    leaves = jax.tree.leaves(jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), a, b))
    return all(leaves)


def two_regimes(spec: BookSpec) -> BookSpec:
    """A one-regime book as a two-regime spec that never leaves regime 0.

    Every draw of the run is unchanged (regime 0 has the same tables, the
    initial regime and transition CDFs are ``[1, 1]``), but the parameters have
    the switching book's shapes, so the calm, stressed and switching runs share
    one compilation of ``_checked_run`` (tests/sim/test_book_kernel.py).
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
