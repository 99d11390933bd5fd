"""Generic checks run over every online model: add a factory and a model is covered.

Pickle round trip, clone, determinism, no look-ahead, bad input leaves the
state unchanged, and the batch replay path equals the streaming path.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from arch.data import sp500

from riskengine.base import OnlineModel
from riskengine.forecast import EWMAVol, OnlineGARCH

RETURNS = np.log(sp500.load()["Adj Close"]).diff().dropna().to_numpy()
FIT, STREAM = RETURNS[:600], RETURNS[600:900]

# Each factory returns a model ready for update() and the stream to feed it.
FACTORIES: dict[str, Callable[[], OnlineModel]] = {
    "garch": lambda: OnlineGARCH().fit(FIT),
    "gjr_refitting": lambda: OnlineGARCH(vol="GJR", refit_every=100, history=600).fit(FIT),
    "ewma": lambda: EWMAVol().fit(FIT),
}


def _forecasts(model: Any) -> np.ndarray:
    return np.append(model.forecast(5), model.variance())


def _feed(model: Any, stream: np.ndarray) -> list[np.ndarray]:
    out = []
    for x in stream:
        model.update(float(x))
        out.append(_forecasts(model))
    return out


@pytest.fixture(params=sorted(FACTORIES))
def make(request: pytest.FixtureRequest) -> Callable[[], OnlineModel]:
    return FACTORIES[request.param]


def test_update_returns_nothing(make: Callable[[], OnlineModel]) -> None:
    assert make().update(0.001) is None


def test_pickle_round_trip_continues_identically(make: Callable[[], OnlineModel]) -> None:
    model = make()
    _feed(model, STREAM[:50])
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        np.array(_feed(model, STREAM[50:])), np.array(_feed(restored, STREAM[50:]))
    )


def test_clone_keeps_hyper_parameters_and_drops_state(make: Callable[[], OnlineModel]) -> None:
    model = make()
    twin = model.clone()
    assert repr(twin) == repr(model)
    assert twin is not model
    assert pickle.dumps(twin) != pickle.dumps(model)  # the fitted state is not copied


def test_same_inputs_give_bit_identical_outputs(make: Callable[[], OnlineModel]) -> None:
    np.testing.assert_array_equal(np.array(_feed(make(), STREAM)), np.array(_feed(make(), STREAM)))


def test_no_look_ahead(make: Callable[[], OnlineModel]) -> None:
    # The forecast at t must not change when observations after t exist.
    full = _feed(make(), STREAM)
    for t in (0, 37, 149, 250):
        prefix = _feed(make(), STREAM[: t + 1])
        np.testing.assert_array_equal(prefix[-1], full[t])


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "0.01", None, True])
def test_bad_input_raises_and_leaves_state_unchanged(
    make: Callable[[], OnlineModel], bad: Any
) -> None:
    model = make()
    _feed(model, STREAM[:10])
    before = pickle.dumps(model)
    with pytest.raises((ValueError, TypeError), match="x:"):
        model.update(bad)
    assert pickle.dumps(model) == before


def test_replay_matches_streaming(make: Callable[[], OnlineModel]) -> None:
    streaming, batch = make(), make()
    expected = []
    for x in STREAM:
        expected.append(streaming.variance())
        streaming.update(float(x))
    got = batch.replay(STREAM)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=0)
    np.testing.assert_allclose(batch.variance(), streaming.variance(), rtol=1e-10)
    np.testing.assert_allclose(batch.forecast(5), streaming.forecast(5), rtol=1e-10)


def test_fit_does_not_mutate_its_input(make: Callable[[], OnlineModel]) -> None:
    data = FIT.copy()
    make().clone().fit(data)
    np.testing.assert_array_equal(data, FIT)
