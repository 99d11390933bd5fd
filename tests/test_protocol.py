"""Generic checks run over every online model: add a case and a model is covered.

Pickle round trip, clone, determinism, no look-ahead, bad input leaves the
state unchanged, inputs are not mutated, and the batch replay path equals the
streaming path.

A :class:`Case` says how to build a model ready for ``update``, which stream
to feed it (one observation per row), how to read every query it answers, and
which inputs ``update`` must refuse.

No look-ahead is checked where it can fail: a batch ``replay`` sees the whole
input at once, so its outputs up to step t are compared, bit for bit, with
those of the same replay after every later row was changed. The models' and
the engine's replay paths are both covered.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from arch.data import nasdaq, sp500
from river import datasets

from riskengine.base import OnlineModel
from riskengine.engine import Engine, EngineConfig
from riskengine.forecast import (
    EWMACovariance,
    EWMAVol,
    LearnedVolForecaster,
    OnlineDCC,
    OnlineGARCH,
)
from riskengine.regime import (
    BOCPD,
    CorrelationAlarm,
    DriftAdaptedForecaster,
    DriftDetector,
    OnlineRegimeHMM,
    RegimeSwitchDetector,
)

RETURNS = np.log(sp500.load()["Adj Close"]).diff().dropna().to_numpy()
FIT, STREAM = RETURNS[:600], RETURNS[600:900]

SCALAR_BAD: tuple[Any, ...] = (float("nan"), float("inf"), -float("inf"), "0.01", None, True)

# Ten S&P 500 stocks, percent returns in river's dataset, as decimals.
STOCKS = np.array([list(x.values()) for x, _ in datasets.SP500Stocks()])[:700] / 100
STOCKS_FIT, STOCKS_STREAM = STOCKS[:400], STOCKS[400:]
VECTOR_BAD: tuple[Any, ...] = (
    np.full(10, np.nan),
    np.r_[np.zeros(9), np.inf],
    np.zeros(9),
    np.zeros((2, 10)),
    ["0.01"] * 10,
    "0.01",
    None,
    np.zeros(10, dtype=bool),
)
ONE_ASSET_BAD: tuple[Any, ...] = (
    np.array([np.nan]),
    np.array([np.inf]),
    np.zeros(2),
    ["0.01"],
    "0.01",
    None,
    np.zeros(1, dtype=bool),
)


def _variance_path(model: Any) -> np.ndarray:
    return np.append(model.forecast(5), model.variance())


def _covariance_path(model: Any) -> np.ndarray:
    return np.concatenate([model.forecast(3).ravel(), model.covariance().ravel()])


def _regime_path(model: Any) -> np.ndarray:
    return np.concatenate([model.regime_proba(), model.forecast(3).ravel(), [model.regime()]])


def _changepoint_path(model: Any) -> np.ndarray:
    head = [model.drift_detected, model.changepoint_proba(), model.map_run_length]
    return np.concatenate([head, model.run_length_proba()])


def _drift_path(model: Any) -> list[float]:
    return [model.drift_detected, model.statistic, model.n_detections]


def _switch_path(model: Any) -> np.ndarray:
    head = [model.drift_detected, model.high_volatility_proba(), model.changepoint_proba()]
    return np.concatenate([head, model.regime_proba()])


def _correlation_alarm_path(model: Any) -> list[float]:
    return [model.alarm, model.gap, model.baseline, model.n_alarms]


# Average correlations: a calm level, then a breakdown and its recovery.
CORRELATIONS = np.concatenate(
    [0.25 + 0.02 * np.sin(np.arange(150)), np.full(20, 0.45), np.linspace(0.45, 0.2, 60)]
)

# Returns scaled to about unit variance, as the drift detectors expect residuals.
Z_STREAM = STREAM / FIT.std()
# One fitted HMM shared by the switch detector's cases: the detector copies it.
STOCKS_HMM = OnlineRegimeHMM(n_regimes=2).fit(STOCKS_FIT)


@dataclasses.dataclass(frozen=True)
class Case:
    make: Callable[[], OnlineModel]
    stream: np.ndarray
    read: Callable[[Any], np.ndarray] = _variance_path
    bad: tuple[Any, ...] = SCALAR_BAD
    # What replay() returns for each observation, read before that observation
    # is fed; None when the model has no replay path.
    replay_read: Callable[[Any], Any] | None = None
    fit_data: np.ndarray | None = None
    # The keyword arguments that make replay() report what the model says
    # after each observation instead (None when it reports only before).
    replay_after: dict[str, str] | None = None


def _dcc_case(make: Callable[[], OnlineModel], assets: int | None = None) -> Case:
    """A covariance model on the stocks (the first ``assets`` columns, or all of them)."""
    columns = slice(None, assets)
    return Case(
        make,
        STOCKS_STREAM[:, columns],
        read=_covariance_path,
        bad=ONE_ASSET_BAD if assets == 1 else VECTOR_BAD,
        replay_read=lambda m: m.covariance(),
        fit_data=STOCKS_FIT[:, columns],
        replay_after={"forecasts": "after"},
    )


CASES: dict[str, Case] = {
    "garch": Case(
        lambda: OnlineGARCH().fit(FIT),
        STREAM,
        replay_read=lambda m: m.variance(),
        fit_data=FIT,
    ),
    "gjr_refitting": Case(
        lambda: OnlineGARCH(vol="GJR", refit_every=100, history=600).fit(FIT),
        STREAM,
        replay_read=lambda m: m.variance(),
        fit_data=FIT,
    ),
    "gjr_skewt_refitting": Case(
        lambda: OnlineGARCH(vol="GJR", dist="skewt", refit_every=100, history=600).fit(FIT),
        STREAM,
        read=lambda m: np.append(
            _variance_path(m), [m.value_at_risk(0.01), m.expected_shortfall(0.025)]
        ),
        replay_read=lambda m: m.variance(),
        fit_data=FIT,
    ),
    "ewma": Case(
        lambda: EWMAVol().fit(FIT), STREAM, replay_read=lambda m: m.variance(), fit_data=FIT
    ),
    "learned_har": Case(lambda: LearnedVolForecaster().fit(FIT), STREAM, fit_data=FIT),
    "dcc": _dcc_case(lambda: OnlineDCC().fit(STOCKS_FIT)),
    "dcc_gjr_refitting": _dcc_case(
        lambda: OnlineDCC(vol="GJR", refit_every=60, history=400).fit(STOCKS_FIT)
    ),
    "dcc_blended_one_asset": _dcc_case(
        lambda: OnlineDCC(vol="GJR", blend=0.5, blend_halflife=10).fit(STOCKS_FIT[:, :1]),
        assets=1,
    ),
    "dcc_blended_refitting": _dcc_case(
        lambda: OnlineDCC(vol="GJR", refit_every=60, history=400, blend=0.5).fit(STOCKS_FIT)
    ),
    "correlation_alarm": Case(
        lambda: CorrelationAlarm().fit(CORRELATIONS[:50]),
        CORRELATIONS[50:],
        read=_correlation_alarm_path,
    ),
    "ewma_covariance": Case(
        lambda: EWMACovariance(shrinkage=0.1).fit(STOCKS_FIT),
        STOCKS_STREAM,
        read=_covariance_path,
        bad=VECTOR_BAD,
        fit_data=STOCKS_FIT,
    ),
    "regime_hmm": Case(
        lambda: OnlineRegimeHMM(n_regimes=2).fit(FIT),
        STREAM,
        read=_regime_path,
        replay_read=lambda m: m.forecast(1)[0],
        fit_data=FIT,
        replay_after={"output": "filtered"},
    ),
    "regime_hmm_stocks_refitting": Case(
        lambda: OnlineRegimeHMM(features="return_and_log_square", refit_every=60, history=400).fit(
            STOCKS_FIT
        ),
        STOCKS_STREAM,
        read=_regime_path,
        bad=VECTOR_BAD,
        replay_read=lambda m: m.forecast(1)[0],
        fit_data=STOCKS_FIT,
        replay_after={"output": "filtered"},
    ),
    "bocpd": Case(
        lambda: BOCPD(prior_variance=1e-4, direction="up"), STREAM, read=_changepoint_path
    ),
    "adapted_ewma": Case(
        lambda: DriftAdaptedForecaster(EWMAVol().fit(FIT), BOCPD(prior_variance=1.0)), STREAM
    ),
    "adapted_garch": Case(
        lambda: DriftAdaptedForecaster(
            OnlineGARCH(history=600).fit(FIT), DriftDetector("page_hinkley")
        ),
        STREAM,
    ),
    "drift_adwin": Case(lambda: DriftDetector("adwin"), Z_STREAM, read=_drift_path),
    "drift_page_hinkley": Case(
        lambda: DriftDetector("page_hinkley", transform="log_square", direction="both"),
        Z_STREAM,
        read=_drift_path,
    ),
    "regime_switch": Case(
        lambda: RegimeSwitchDetector(STOCKS_HMM, BOCPD(prior_variance=1e-4), threshold=0.3),
        STOCKS_STREAM,
        read=_switch_path,
        bad=VECTOR_BAD,
    ),
}


def _observation(row: np.ndarray) -> Any:
    return float(row) if np.ndim(row) == 0 else row.copy()


def _feed(case: Case, model: Any, stream: np.ndarray) -> list[np.ndarray]:
    out = []
    for row in stream:
        model.update(_observation(row))
        out.append(np.asarray(case.read(model), dtype=np.float64))
    return out


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


def test_update_returns_nothing(case: Case) -> None:
    assert case.make().update(_observation(case.stream[0])) is None


def test_pickle_round_trip_continues_identically(case: Case) -> None:
    model = case.make()
    _feed(case, model, case.stream[:50])
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        np.array(_feed(case, model, case.stream[50:])),
        np.array(_feed(case, restored, case.stream[50:])),
    )


def test_clone_keeps_hyper_parameters_and_drops_state(case: Case) -> None:
    model = case.make()
    _feed(case, model, case.stream[:5])
    twin = model.clone()
    assert repr(twin) == repr(model)
    assert twin is not model
    assert pickle.dumps(twin) != pickle.dumps(model)  # the learned state is not copied


def test_same_inputs_give_bit_identical_outputs(case: Case) -> None:
    np.testing.assert_array_equal(
        np.array(_feed(case, case.make(), case.stream)),
        np.array(_feed(case, case.make(), case.stream)),
    )


def _with_rows_changed(stream: np.ndarray, first: int) -> np.ndarray:
    """``stream`` with rows ``first`` onwards replaced by other valid observations."""
    changed = stream.copy()
    changed[first:] = -3.0 * stream[first:][::-1]  # reversed, sign flipped and scaled
    return changed


def _assert_ignores_later_rows(before: Any, changed: Any, t: int) -> None:
    """Outputs 0..t bit-identical; some later output moved (the change reached the model)."""
    before, changed = np.asarray(before), np.asarray(changed)
    np.testing.assert_array_equal(
        changed[: t + 1], before[: t + 1], err_msg=f"outputs up to step {t} read later rows"
    )
    assert not np.array_equal(changed[t + 1 :], before[t + 1 :]), "the change had no effect"


@pytest.mark.parametrize("reads", ["before", "after"])
def test_replay_does_not_look_ahead(case: Case, reads: str) -> None:
    # replay() sees the whole batch: its output for step t must not move when
    # the rows it has not yet been fed at t change. Read before observation t,
    # those are rows t onwards; read after it, rows t + 1 onwards.
    if case.replay_read is None:
        pytest.skip("no replay path")
    kwargs = {} if reads == "before" else case.replay_after
    if kwargs is None:
        pytest.skip("replay reads only before each observation")
    fitted = pickle.dumps(case.make())  # one fit; each replay starts from a copy
    reference = pickle.loads(fitted).replay(case.stream, **kwargs)
    for t in (0, 37, 149, len(case.stream) - 50):
        first_unseen = t if reads == "before" else t + 1
        stream = _with_rows_changed(case.stream, first_unseen)
        _assert_ignores_later_rows(reference, pickle.loads(fitted).replay(stream, **kwargs), t)


def test_update_outputs_do_not_depend_on_later_observations(case: Case) -> None:
    # A model fed one row at a time cannot read ahead in its own stream; what
    # can leak later rows is state shared between models (a class-level
    # buffer, or a fitted model handed in and mutated, as the switch
    # detector's HMM could be): a run after one on another future would differ.
    t = len(case.stream) // 2
    reference = _feed(case, case.make(), case.stream)
    changed = _feed(case, case.make(), _with_rows_changed(case.stream, t + 1))
    _assert_ignores_later_rows(reference, changed, t)


def test_bad_input_raises_and_leaves_state_unchanged(case: Case) -> None:
    model = case.make()
    _feed(case, model, case.stream[:10])
    before = pickle.dumps(model)
    for bad in case.bad:
        with pytest.raises((ValueError, TypeError), match=r"^x[\[:.]"):
            model.update(bad)
        assert pickle.dumps(model) == before, f"state changed by {bad!r}"


def test_update_does_not_mutate_its_input(case: Case) -> None:
    model = case.make()
    for row in case.stream[:20]:
        observation = _observation(row)
        kept = np.copy(observation)
        model.update(observation)
        np.testing.assert_array_equal(observation, kept)


def test_replay_matches_streaming(case: Case) -> None:
    if case.replay_read is None:
        pytest.skip("no replay path")
    streaming, batch = case.make(), case.make()
    expected = []
    for row in case.stream:
        expected.append(case.replay_read(streaming))
        streaming.update(_observation(row))
    got = batch.replay(case.stream)
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-10, atol=0)
    np.testing.assert_allclose(case.read(batch), case.read(streaming), rtol=1e-10)


def test_fit_does_not_mutate_its_input(case: Case) -> None:
    if case.fit_data is None:
        pytest.skip("no fit step")
    data = case.fit_data.copy()
    case.make().clone().fit(data)
    np.testing.assert_array_equal(data, case.fit_data)


# ---------------------------------------------------------------- the engine
CLOSES = pd.concat(
    {"SPX": sp500.load()["Adj Close"], "NDX": nasdaq.load()["Adj Close"]}, axis=1
).dropna()
ENGINE_WARM, ENGINE_LIVE = CLOSES.iloc[:600], CLOSES.iloc[600:800]
ENGINE_CUTS = (0, 37, 149)


@pytest.fixture(scope="module")
def engine_replays() -> tuple[Any, dict[int, Any]]:
    """The engine's replay of 200 days (refit every 60); one per cut with later prices moved."""
    config = EngineConfig.from_mapping({"assets": ["SPX", "NDX"], "models": {"refit_every": 60}})
    engine = Engine(config)
    engine.warm_up(ENGINE_WARM)
    blob = engine.snapshot()
    timestamps, prices = ENGINE_LIVE.index.to_numpy(), ENGINE_LIVE.to_numpy()
    reference = Engine.restore(blob).replay(timestamps, prices)
    changed = {}
    for t in ENGINE_CUTS:
        moved = prices.copy()
        moved[t + 1 :] *= np.exp(np.random.default_rng(t).normal(0.0, 0.02, moved[t + 1 :].shape))
        changed[t] = Engine.restore(blob).replay(timestamps, moved)
    return reference, changed


def _state_fields(history: Any, t: int, *, limits: bool) -> dict[str, bytes]:
    """The state after step ``t`` field by field, as bytes: bit-identity for any field type."""
    state = history[t]
    return {
        field.name: pickle.dumps(getattr(state, field.name))
        for field in dataclasses.fields(state)
        if (field.name == "limits") == limits
    }


@pytest.mark.parametrize("t", ENGINE_CUTS)
def test_engine_replay_does_not_look_ahead(engine_replays: tuple, t: int) -> None:
    # The engine's replay runs the models, the limit chain and the controls over
    # the whole batch: the states up to step t must not move when later prices do.
    reference, changed = engine_replays
    for s in range(t + 1):
        assert _state_fields(changed[t], s, limits=False) == _state_fields(
            reference, s, limits=False
        ), f"state {s} read prices after step {t}"
    assert not np.array_equal(changed[t].covariance[t + 1 :], reference.covariance[t + 1 :])


@pytest.mark.parametrize("t", ENGINE_CUTS)
def test_engine_replay_limits_do_not_look_ahead(engine_replays: tuple, t: int) -> None:
    reference, changed = engine_replays
    for s in range(t + 1):
        assert _state_fields(changed[t], s, limits=True) == _state_fields(
            reference, s, limits=True
        ), f"the limits after step {s} read prices after step {t}"
