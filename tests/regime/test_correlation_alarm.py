"""CorrelationAlarm: one alarm per breakdown, a past-only baseline, batch equals loop."""

from __future__ import annotations

import numpy as np
import pytest

from riskengine.regime import CorrelationAlarm


def test_fires_once_per_breakdown_and_rearms_when_the_correlation_is_back() -> None:
    alarm = CorrelationAlarm(threshold=0.06, baseline_halflife=20).fit([0.3] * 100)
    fired = []
    # A breakdown, a plateau, a return to normal, then a second breakdown.
    path = [0.3] * 5 + [0.45] * 10 + [0.2] * 30 + [0.3] * 5 + [0.5] * 5
    for value in path:
        alarm.update(value)
        fired.append(alarm.alarm)
    assert np.flatnonzero(fired).tolist() == [5, 50]
    assert alarm.n_alarms == 2


def test_a_slow_drift_upwards_does_not_fire() -> None:
    """The baseline follows a gradual rise: only a jump above it is a breakdown."""
    alarm = CorrelationAlarm(threshold=0.06, baseline_halflife=20).fit([0.2])
    alarms = alarm.update_many(np.linspace(0.2, 0.6, 400))
    assert not alarms.any()


def test_update_many_equals_the_loop_and_the_baseline_uses_only_the_past() -> None:
    rng = np.random.default_rng(0)
    values = np.clip(0.3 + np.cumsum(rng.normal(0, 0.02, 300)), -0.05, 0.95)
    loop, batch = CorrelationAlarm().fit(values[:30]), CorrelationAlarm().fit(values[:30])
    alarms = []
    for value in values[30:]:
        before = loop.baseline
        loop.update(value)
        assert loop.gap == pytest.approx(value - before, abs=1e-15)
        alarms.append(loop.alarm)
    np.testing.assert_array_equal(batch.update_many(values[30:]), alarms)
    assert batch.baseline == loop.baseline and batch.n_alarms == loop.n_alarms > 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"threshold": 0.0}, "threshold"), ({"baseline_halflife": 0.5}, "baseline_halflife")],
)
def test_bad_settings_are_refused_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field}"):
        CorrelationAlarm(**kwargs)


def test_update_before_fit_is_refused() -> None:
    with pytest.raises(RuntimeError, match="fit"):
        CorrelationAlarm().update(0.3)
