"""Background refits (issue 13): launched on a schedule or an alarm, fitted off the hot path,
adopted between two updates; deterministic, reported, and never raising out of ``update``."""

from __future__ import annotations

import os

import numpy as np
import pytest

from riskengine.engine import Engine, EngineConfig, refit_runner
from riskengine.engine.model_stack import ModelConfig, RefitJob, propose_refit
from riskengine.errors import InvalidConfig
from riskengine.forecast import OnlineGARCH

from .conftest import WARM, ticks


def _engine(**models: object) -> Engine:
    engine = Engine(EngineConfig.from_mapping({"assets": ["SPX", "NDX"], "models": models}))
    engine.warm_up(WARM)
    return engine


def _assert_same_state(a: Engine, b: Engine) -> None:
    np.testing.assert_allclose(a.state.covariance, b.state.covariance, rtol=1e-10, atol=0)
    np.testing.assert_allclose(a.state.regime_proba, b.state.regime_proba, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(a.state.limits.position, b.state.limits.position, rtol=1e-10)
    assert a.state.innovations == b.state.innovations
    assert a.models.garch_params == b.models.garch_params


def _log(engine: Engine) -> list[tuple]:
    return [
        (o.launched_at, o.adopted_at, o.trigger, o.adopted, o.kept) for o in engine.models.refit_log
    ]


def test_the_default_engine_refits_by_itself_in_the_background() -> None:
    config = ModelConfig()
    assert config.refit_every == 21 and config.refit_on_changepoint
    assert config.refit_runner == "process" and config.refit_lag == 1
    assert config.refit_when_late == "wait"


def test_a_live_run_with_a_worker_equals_the_batch_replay() -> None:
    """The worker fits what an inline fit would, and adopts it at the same step."""
    live = _engine(refit_every=25, refit_lag=3)
    batch = _engine(refit_every=25, refit_lag=3)
    stream = ticks(0, 80)
    for stamp, prices in stream:
        live.update(stamp, prices)
    stamps = [stamp for stamp, _ in stream]
    batch.replay(stamps, np.array([[p["SPX"], p["NDX"]] for _, p in stream]))
    assert _log(live) == _log(batch)
    assert [o.trigger for o in live.models.refit_log][:3] == ["schedule"] * 3
    assert live.models.refit_log[0].launched_at == 25
    assert live.models.refit_log[0].adopted_at == 28
    _assert_same_state(live, batch)


def test_a_refit_in_flight_survives_a_snapshot() -> None:
    engine = _engine(refit_every=10, refit_lag=5)
    for stamp, prices in ticks(0, 12):  # launched at 10, due at 15
        engine.update(stamp, prices)
    assert engine.models.refit_pending
    restored = Engine.restore(engine.snapshot())
    assert restored.models.refit_pending
    for stamp, prices in ticks(12, 30):
        engine.update(stamp, prices)
        restored.update(stamp, prices)
    assert _log(engine) == _log(restored)
    assert engine.models.refit_log[0].adopted_at == 15
    _assert_same_state(engine, restored)


def test_with_defer_the_update_does_not_wait_for_the_worker() -> None:
    refit_runner.start().result()  # the worker's imports are not what is measured
    engine = _engine(
        refit_every=5, refit_lag=1, refit_when_late="defer", refit_on_changepoint=False
    )
    for stamp, prices in ticks(0, 8):
        engine.update(stamp, prices)
    # A fit takes well over the microseconds of these updates: still running, not adopted.
    assert engine.models.refit_pending and engine.models.refit_log == ()
    engine.models.settle()
    stamp, prices = ticks(8, 9)[0]
    engine.update(stamp, prices)
    (outcome,) = engine.models.refit_log
    assert outcome.launched_at == 5 and outcome.adopted_at == 9 and outcome.late == 3


def test_a_failed_estimation_is_reported_and_never_raises_out_of_update(monkeypatch) -> None:
    def broken(self, *args, **kwargs):
        raise RuntimeError("optimizer exploded")

    engine = _engine(refit_every=5, refit_runner="inline", refit_on_changepoint=False)
    params = engine.models.garch_params
    monkeypatch.setattr(OnlineGARCH, "estimate", broken)
    for stamp, prices in ticks(0, 7):
        state = engine.update(stamp, prices)
    assert state.models_ready
    (outcome,) = engine.models.refit_log
    assert outcome.adopted == () and outcome.kept == ("all: RuntimeError: optimizer exploded",)
    assert engine.models.garch_params == params


def test_a_boundary_fit_keeps_the_old_parameters_and_says_so() -> None:
    engine = _engine(refit_every=5, refit_runner="inline", refit_on_changepoint=False)
    original = OnlineGARCH.estimate

    def boundary_for_the_first_asset(self, returns, start=None, at_update=None):
        params, report = original(self, returns, start, at_update)
        if start is engine.models.garch_params[0]:
            return None, type(report)(returns.size, report.at_update, False, "boundary fit")
        return params, report

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OnlineGARCH, "estimate", boundary_for_the_first_asset)
        before = engine.models.garch_params
        for stamp, prices in ticks(0, 6):
            engine.update(stamp, prices)
    (outcome,) = engine.models.refit_log
    assert outcome.kept == ("garch[0]: boundary fit",)
    assert "garch[1]" in outcome.adopted and "dcc" in outcome.adopted
    assert engine.models.garch_params[0] == before[0]
    assert engine.models.garch_params[1] != before[1]


def test_an_explicit_refit_supersedes_the_one_in_flight() -> None:
    engine = _engine(refit_every=5, refit_lag=10, refit_runner="inline")
    for stamp, prices in ticks(0, 6):
        engine.update(stamp, prices)
    assert engine.models.refit_pending
    engine.refit()
    assert not engine.models.refit_pending
    assert [o.trigger for o in engine.models.refit_log] == ["explicit"]


def test_a_dead_worker_fails_its_job_and_the_next_job_gets_a_new_worker() -> None:
    with pytest.raises(RuntimeError, match="refit worker failed"):
        refit_runner.submit(os._exit, 3).result(timeout=120)
    assert refit_runner.submit(abs, -2).result(timeout=120) == 2


def test_the_proposal_does_not_depend_on_where_it_is_computed() -> None:
    engine = _engine(refit_runner="inline")
    models = engine.models
    job = RefitJob(
        config=models.config,
        returns=np.log(WARM.to_numpy()[1:] / WARM.to_numpy()[:-1]),
        garch=models.garch_params,
        dcc=models.dcc_params,
        hmm=models.hmm_params,
        weights=models.weights,
        at_update=0,
    )
    here, there = propose_refit(job), refit_runner.submit(propose_refit, job).result(timeout=300)
    assert here.error is None and there.error is None
    assert [p for p, _ in here.dcc.garch] == [p for p, _ in there.dcc.garch]
    assert here.dcc.correlation[0].a == there.dcc.correlation[0].a
    np.testing.assert_array_equal(here.hmm.params.transmat, there.hmm.params.transmat)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("refit_every", 0),
        ("refit_lag", -1),
        ("refit_lag", 1.5),
        ("refit_on_changepoint", "yes"),
        ("refit_runner", "thread"),
        ("refit_when_late", "skip"),
    ],
)
def test_bad_refit_settings_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidConfig, match=rf"^models\.{field}"):
        ModelConfig(**{field: value})


def test_a_one_asset_book_warms_up_streams_refits_and_restores() -> None:
    """A desk with one instrument is a legitimate user (issue 13, item 4)."""
    config = EngineConfig.from_mapping(
        {"assets": ["SPX"], "models": {"refit_every": 20, "refit_runner": "inline"}}
    )
    live, batch = Engine(config), Engine(config)
    live.warm_up(WARM[["SPX"]])
    batch.warm_up(WARM[["SPX"]])
    stream = ticks(0, 45)
    for stamp, prices in stream:
        state = live.update(stamp, {"SPX": prices["SPX"]})
    history = batch.replay([s for s, _ in stream], np.array([[p["SPX"]] for _, p in stream]))
    assert state.models_ready and state.covariance.shape == (1, 1)
    assert len(live.models.refit_log) == 2 and "dcc" in live.models.refit_log[0].adopted
    np.testing.assert_allclose(history.covariance[-1], state.covariance, rtol=1e-10)
    assert 0 < state.var(0.99, weights={"SPX": 1.0}) < 0.2
    restored = Engine.restore(live.snapshot())
    np.testing.assert_array_equal(restored.state.covariance, state.covariance)
