"""The ``[execution]`` table of a scenario: parent orders drawn per episode.

An execution episode works one parent order (buy or sell ``X`` lots within
``horizon_steps`` decision steps) in the scenario's ``[book]``.  Everything a
scenario varies between episodes is drawn at reset from the ranges below, so
one spec describes a *distribution* of execution problems:

* the side (``buy_probability``);
* the order size, as a fraction of the typical market volume traded over the
  horizon (``order_size_fraction``, uniform);
* the book's liquidity (``depth_multiplier``, log-uniform, scales the
  limit-order rates, hence depth and resilience) and its activity
  (``activity_multiplier``, log-uniform, scales the market-order rates, hence
  volume and volatility);
* the book regime at the start (the book's ``initial_regime_probs``); it may
  switch during the episode (the book's per-event ``transition``).

Clock time is shaped by an intraday ``volume_profile``: step ``k`` runs
``round(events_per_step * profile[k])`` background events (the profile is
normalised to mean one), so busy steps see more order flow, which is what a
VWAP schedule is built to follow.

Examples
--------
>>> spec = ExecutionSpec.from_table({"horizon_steps": 10, "order_size_fraction": [0.1, 0.3]})
>>> spec.horizon_steps, spec.order_size_fraction
(10, (0.1, 0.3))
>>> int(spec.events_per_step_profile().sum()) == 10 * spec.events_per_step
True
>>> ExecutionSpec.from_table({"horizon": 10})
Traceback (most recent call last):
ValueError: execution: unknown key(s) ['horizon']; allowed: [...]
>>> ExecutionSpec(order_size_fraction=(0.5, 0.1))
Traceback (most recent call last):
ValueError: execution.order_size_fraction: low must be <= high, got (0.5, 0.1)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from riskengine._validation import as_float, as_int, check_keys

__all__ = ["ExecutionSpec"]


def _range(value: Any, *, field: str, low: float, high: float | None = None) -> tuple[float, float]:
    if isinstance(value, str) or not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{field}: expected [low, high], got {value!r}")
    lo = as_float(value[0], field=f"{field}[0]", low=low, low_open=True, high=high)
    hi = as_float(value[1], field=f"{field}[1]", low=low, low_open=True, high=high)
    if lo > hi:
        raise ValueError(f"{field}: low must be <= high, got ({lo}, {hi})")
    return lo, hi


def _u_shape(steps: int) -> tuple[float, ...]:
    """A U-shaped intraday profile: twice as busy at the ends as in the middle."""
    x = np.linspace(-1.0, 1.0, steps)
    return tuple(float(v) for v in 1.0 + x**2)


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class ExecutionSpec:
    """Validated parameters of the execution episodes of a scenario.

    Parameters
    ----------
    horizon_steps : int
        ``T``, decision steps per episode (2..500).
    events_per_step : int
        Mean background book events per step (>= 1; the book's own
        ``events_per_step`` is not used by the execution environment).
    volume_profile : sequence of float or None
        Relative activity of each step (length ``T``, > 0); normalised to mean
        one.  ``None`` is a U-shape, twice as busy at the open and close.
    order_size_fraction : (float, float)
        Range of the parent order, as a fraction of the typical market volume
        over the horizon.
    buy_probability : float
        Probability that the parent order is a buy.
    depth_multiplier, activity_multiplier : (float, float)
        Log-uniform ranges of the per-episode multipliers of the limit-order
        and market-order rates.
    warmup_events : int
        Background events run after the book's reset before the order
        arrives, so the episode starts from a book in its stationary state.
    risk_aversion : float
        Almgren-Chriss :math:`\\lambda` of the static schedule, per currency
        unit (the execution baselines' calm-market setting).
    """

    horizon_steps: int = 20
    events_per_step: int = 20
    volume_profile: Any = None
    order_size_fraction: Any = (0.1, 0.5)
    buy_probability: float = 0.5
    depth_multiplier: Any = (0.7, 1.4)
    activity_multiplier: Any = (0.7, 1.4)
    warmup_events: int = 100
    risk_aversion: float = 0.01

    def __post_init__(self) -> None:
        field = "execution"
        set_ = object.__setattr__
        steps = as_int(self.horizon_steps, field=f"{field}.horizon_steps", low=2, high=500)
        set_(self, "horizon_steps", steps)
        set_(
            self,
            "events_per_step",
            as_int(self.events_per_step, field=f"{field}.events_per_step", low=1, high=10_000),
        )
        profile = _u_shape(steps) if self.volume_profile is None else self.volume_profile
        if isinstance(profile, str) or not isinstance(profile, tuple | list):
            raise ValueError(f"{field}.volume_profile: expected a list of {steps} numbers")
        if len(profile) != steps:
            raise ValueError(
                f"{field}.volume_profile: expected {steps} values (horizon_steps), "
                f"got {len(profile)}"
            )
        values = [
            as_float(v, field=f"{field}.volume_profile[{i}]", low=0.0, low_open=True)
            for i, v in enumerate(profile)
        ]
        mean = sum(values) / steps
        if abs(mean - 1.0) > 1e-12:  # idempotent: a stored, normalised profile loads unchanged
            values = [v / mean for v in values]
        set_(self, "volume_profile", tuple(values))
        for name, low, high in (
            ("order_size_fraction", 0.0, 10.0),
            ("depth_multiplier", 0.0, 100.0),
            ("activity_multiplier", 0.0, 100.0),
        ):
            set_(
                self, name, _range(getattr(self, name), field=f"{field}.{name}", low=low, high=high)
            )
        set_(
            self,
            "buy_probability",
            as_float(self.buy_probability, field=f"{field}.buy_probability", low=0.0, high=1.0),
        )
        set_(
            self,
            "warmup_events",
            as_int(self.warmup_events, field=f"{field}.warmup_events", low=0, high=1_000_000),
        )
        set_(
            self,
            "risk_aversion",
            as_float(self.risk_aversion, field=f"{field}.risk_aversion", low=0.0),
        )

    @classmethod
    def from_table(cls, table: Mapping[str, Any], field: str = "execution") -> ExecutionSpec:
        """Parse a TOML ``[execution]`` table; every key is optional, unknown keys are refused."""
        check_keys(table, field=field, optional=[f.name for f in dataclasses.fields(cls)])
        return cls(**dict(table))

    def events_per_step_profile(self) -> np.ndarray:
        """Background events in each step, int (T,): ``round(events_per_step * profile)``, >= 1.

        The rounding error is pushed to the last step so the horizon runs
        exactly ``T * events_per_step`` events.
        """
        target = self.events_per_step * np.asarray(self.volume_profile)
        counts = np.maximum(np.round(target), 1).astype(np.int64)
        counts[-1] = max(1, counts[-1] + self.horizon_steps * self.events_per_step - counts.sum())
        return counts

    def to_table(self) -> dict[str, Any]:
        """The spec as a TOML-ready table (what model cards record)."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)
        }
