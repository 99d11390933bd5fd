"""OnlineRegimeHMM: the forward filter against hmmlearn, labels, refits, replay, bad input.

The generic checks (pickle, clone, determinism, no look-ahead, bad input,
replay == streaming) run in ``tests/test_protocol.py``.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hmmlearn.hmm import GaussianHMM

from riskengine.regime import HMMParams, OnlineRegimeHMM


def _regime_returns(seed: int, n: int, n_assets: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Returns from a 3-regime Markov chain (daily vols 0.5 %, 1 %, 2.5 %)."""
    rng = np.random.default_rng(seed)
    transition = np.array([[0.97, 0.02, 0.01], [0.04, 0.93, 0.03], [0.03, 0.07, 0.90]])
    states = np.zeros(n, dtype=int)
    for t in range(1, n):
        states[t] = rng.choice(3, p=transition[states[t - 1]])
    vol = np.array([0.005, 0.01, 0.025])[states]
    return rng.standard_normal((n, n_assets)) * vol[:, None], states


RETURNS, STATES = _regime_returns(0, 1500)


def _features(model: OnlineRegimeHMM, rows: np.ndarray) -> np.ndarray:
    """The documented feature map, written out independently of the model."""
    rows = rows.reshape(len(rows), -1)
    scaled = rows / model.params.scale
    v = np.log(np.mean(scaled**2, axis=1) + model.floor)
    if model.features == "log_square":
        return v[:, None]
    return np.column_stack([np.mean(scaled, axis=1), v])


def _hmmlearn_twin(params: HMMParams, covariance_type: str) -> GaussianHMM:
    twin = GaussianHMM(params.transmat.shape[0], covariance_type=covariance_type, init_params="")
    twin.startprob_ = params.startprob.copy()
    twin.transmat_ = params.transmat.copy()
    twin.means_ = params.means.copy()
    twin.covars_ = (
        params.covars.copy()
        if covariance_type == "full"
        else np.diagonal(params.covars, axis1=1, axis2=2).copy()
    )
    return twin


@pytest.mark.parametrize(
    ("features", "covariance_type"),
    [("log_square", "full"), ("return_and_log_square", "full"), ("return_and_log_square", "diag")],
)
def test_filtered_probabilities_equal_hmmlearn_posterior_at_the_last_step(
    features: str, covariance_type: str
) -> None:
    # At the last step the smoothed posterior conditions on the same data as the
    # filter, so hmmlearn's forward-backward must agree with our forward filter.
    fit, stream = RETURNS[:1000], RETURNS[1000:1200]
    model = OnlineRegimeHMM(features=features, covariance_type=covariance_type).fit(fit)
    twin = _hmmlearn_twin(model.params, covariance_type)
    np.testing.assert_allclose(
        model.regime_proba(), twin.predict_proba(_features(model, fit))[-1], rtol=1e-9, atol=1e-12
    )
    for t, x in enumerate(stream):
        model.update(x)
        if t in (0, 17, 199):
            seen = np.vstack([fit, stream[: t + 1]])
            posterior = twin.predict_proba(_features(model, seen))[-1]
            np.testing.assert_allclose(model.regime_proba(), posterior, rtol=1e-9, atol=1e-12)


def test_earlier_filtered_probabilities_ignore_the_future_unlike_smoothed_ones() -> None:
    fit, stream = RETURNS[:1000], RETURNS[1000:1300]
    model = OnlineRegimeHMM().fit(fit)
    filtered = pickle.loads(pickle.dumps(model)).replay(stream, output="filtered")
    prefix = pickle.loads(pickle.dumps(model)).replay(stream[:150], output="filtered")
    np.testing.assert_array_equal(prefix, filtered[:150])  # appending data changes nothing
    twin = _hmmlearn_twin(model.params, "full")
    smoothed = twin.predict_proba(_features(model, np.vstack([fit, stream])))[1000:]
    assert np.max(np.abs(smoothed[:-1] - filtered[:-1])) > 0.1  # smoothing looks ahead
    np.testing.assert_allclose(smoothed[-1], filtered[-1], rtol=1e-9, atol=1e-12)


def test_states_are_sorted_by_volatility_and_track_the_true_regime() -> None:
    model = OnlineRegimeHMM().fit(RETURNS[:1000])
    params = model.params
    assert np.all(np.diff(params.means[:, -1]) > 0)
    assert np.all(np.diff(params.volatility) > 0)
    filtered = model.replay(RETURNS[1000:], output="filtered")
    accuracy = np.mean(filtered.argmax(axis=1) == STATES[1000:])
    assert accuracy > 0.8, accuracy


def test_update_is_the_filter_recursion() -> None:
    model = OnlineRegimeHMM(features="return_and_log_square").fit(RETURNS[:1000])
    params, x = model.params, RETURNS[1000]
    predicted = model.regime_proba() @ params.transmat
    f = _features(model, x[None, :])[0]
    density = np.array(
        [
            np.exp(-0.5 * (f - m) @ np.linalg.solve(c, f - m))
            / np.sqrt(np.linalg.det(2 * np.pi * c))
            for m, c in zip(params.means, params.covars, strict=True)
        ]
    )
    model.update(x)
    expected = predicted * density / np.sum(predicted * density)
    np.testing.assert_allclose(model.regime_proba(), expected, rtol=1e-10)


def test_forecast_is_alpha_times_powers_of_the_transition_matrix() -> None:
    model = OnlineRegimeHMM().fit(RETURNS[:1000])
    alpha, transmat = model.regime_proba(), model.params.transmat
    forecast = model.forecast(50)
    np.testing.assert_allclose(forecast[0], alpha @ transmat, rtol=1e-12)
    np.testing.assert_allclose(forecast[4], alpha @ np.linalg.matrix_power(transmat, 5))
    np.testing.assert_allclose(forecast.sum(axis=1), 1.0)
    assert model.regime() == int(np.argmax(alpha))


def test_replay_filtered_and_predicted_match_streaming_with_refits() -> None:
    stream = RETURNS[1000:1400]
    streaming = OnlineRegimeHMM(refit_every=150, history=800).fit(RETURNS[:1000])
    batch = pickle.loads(pickle.dumps(streaming))
    predicted, filtered = [], []
    for x in stream:
        predicted.append(streaming.forecast(1)[0])
        streaming.update(x)
        filtered.append(streaming.regime_proba())
    assert streaming.last_refit.at_update == 300
    first = pickle.loads(pickle.dumps(batch))
    np.testing.assert_allclose(first.replay(stream), predicted, rtol=1e-10, atol=0)
    np.testing.assert_allclose(batch.replay(stream, output="filtered"), filtered, rtol=1e-10)
    np.testing.assert_allclose(batch.params.transmat, streaming.params.transmat, rtol=1e-8)


def test_refit_warm_starts_keeps_the_order_and_carries_the_probabilities() -> None:
    model = OnlineRegimeHMM().fit(RETURNS[:1000])
    for x in RETURNS[1000:1100]:
        model.update(x)
    params, alpha = model.params, model.regime_proba()
    # Relabel the states in reverse (an equivalent model) to force a re-sort.
    reverse = HMMParams(
        startprob=params.startprob[::-1],
        transmat=params.transmat[::-1, ::-1],
        means=params.means[::-1],
        covars=params.covars[::-1],
        scale=params.scale,
    )
    model._adopt(reverse)
    model._alpha = alpha[::-1].tolist()
    report = model.refit()
    assert report.converged, report
    assert np.all(np.diff(model.params.means[:, -1]) > 0)  # calmest first again
    # Each probability followed its state; EM from a converged start moves little.
    np.testing.assert_allclose(model.regime_proba(), alpha, rtol=1e-12)
    np.testing.assert_allclose(model.params.means, params.means, atol=0.05)


def test_refit_that_does_not_converge_keeps_the_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = OnlineRegimeHMM(refit_every=50).fit(RETURNS[:1000])
    params = model.params
    monkeypatch.setattr(model, "n_iter", 1)  # EM stops after one step
    for x in RETURNS[1000:1050]:
        model.update(x)
    report = model.last_refit
    assert not report.converged
    assert report.at_update == 50
    assert "did not converge" in report.message
    assert model.params is params


def test_refit_that_raises_keeps_the_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    model = OnlineRegimeHMM().fit(RETURNS[:1000])
    params, alpha = model.params, model.regime_proba()

    def broken(self: GaussianHMM, X: np.ndarray, lengths: object = None) -> GaussianHMM:
        raise ValueError("rows of transmat_ must sum to 1.0")

    monkeypatch.setattr(GaussianHMM, "fit", broken)
    report = model.refit()
    assert not report.converged
    assert report.message.startswith("hmmlearn failed: rows of transmat_")
    assert model.params is params
    np.testing.assert_array_equal(model.regime_proba(), alpha)


def test_fit_needs_min_obs_rows_and_converged_em() -> None:
    with pytest.raises(ValueError, match=r"^data: need at least 250 rows, got 249$"):
        OnlineRegimeHMM().fit(RETURNS[:249])
    with pytest.raises(ValueError, match=r"^min_obs: must be >= 60"):
        OnlineRegimeHMM(n_regimes=3, min_obs=59)
    with pytest.raises(RuntimeError, match=r"^data: hmmlearn EM did not converge in 2 iter"):
        OnlineRegimeHMM(n_iter=2, tol=1e-12).fit(RETURNS[:1000])
    with pytest.raises(ValueError, match=r"^data: must all be finite"):
        OnlineRegimeHMM().fit(np.r_[RETURNS[:999, 0], np.nan])
    with pytest.raises(ValueError, match=r"^data: every return is zero"):
        OnlineRegimeHMM().fit(np.zeros(300))
    with pytest.raises(RuntimeError, match="call fit"):
        OnlineRegimeHMM().update(0.01)


def test_hyper_parameters_are_validated() -> None:
    with pytest.raises(ValueError, match=r"^features: expected one of"):
        OnlineRegimeHMM(features="returns")
    with pytest.raises(ValueError, match=r"^covariance_type: expected one of"):
        OnlineRegimeHMM(covariance_type="spherical")
    with pytest.raises(ValueError, match=r"^n_regimes: must be >= 2"):
        OnlineRegimeHMM(n_regimes=1)
    with pytest.raises(ValueError, match=r"^output: expected one of"):
        OnlineRegimeHMM().fit(RETURNS[:1000]).replay(RETURNS[1000:1010], output="smoothed")


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (np.array([0.01, np.nan, 0.0]), ValueError, r"^x\[1\]: must be finite, got nan$"),
        ([0.01, 0.02], ValueError, r"^x: expected shape \(3,\), got \(2,\)$"),
        (0.01, ValueError, r"^x: expected shape \(3,\), got \(\)$"),
        (["a", "b", "c"], TypeError, r"^x: expected 3 numbers"),
        (np.array([1e200, 1e200, 0.0]), ValueError, r"^x: too large to square"),
    ],
)
def test_bad_vectors_name_x_and_change_nothing(bad: object, error: type, message: str) -> None:
    model = OnlineRegimeHMM().fit(RETURNS[:1000])
    before = pickle.dumps(model)
    with pytest.raises(error, match=message):
        model.update(bad)
    assert pickle.dumps(model) == before


def test_a_model_fitted_on_a_series_takes_floats() -> None:
    model = OnlineRegimeHMM(n_regimes=2).fit(RETURNS[:1000, 0])
    model.update(0.01)
    with pytest.raises(TypeError, match=r"^x: expected a number, got ndarray"):
        model.update(np.array([0.01]))
    with pytest.raises(ValueError, match=r"^data: the model was fitted on a 1-d series"):
        model.replay(RETURNS[:10])
