"""Ledoit-Wolf constant-correlation shrinkage: intensity behaves as the theory says."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from riskengine.forecast import constant_correlation_shrinkage

TRUTH = np.kron(np.eye(2), np.full((4, 4), 0.5)) + 0.2
np.fill_diagonal(TRUTH, 1.0)


def _draw(n_obs: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_obs, 8)) @ np.linalg.cholesky(TRUTH).T


def test_intensity_falls_as_the_sample_grows() -> None:
    intensities = [
        np.mean([constant_correlation_shrinkage(_draw(n, s)).intensity for s in range(20)])
        for n in (20, 100, 1000, 10000)
    ]
    assert all(a > b for a, b in itertools.pairwise(intensities))
    assert intensities[-1] < 0.05


def test_shrinkage_beats_the_sample_covariance_when_data_are_short() -> None:
    # Correlations scattered in [0.2, 0.6] and unequal variances: near the
    # target, not on it, as for a basket of stocks.
    rng = np.random.default_rng(42)
    corr = rng.uniform(0.2, 0.6, (8, 8))
    corr = (corr + corr.T) / 2
    np.fill_diagonal(corr, 1.0)
    sd = np.linspace(0.5, 2.0, 8)
    truth = corr * np.outer(sd, sd)
    root = np.linalg.cholesky(truth)
    for n_obs in (25, 60):
        shrunk, sample = [], []
        for seed in range(50):
            x = np.random.default_rng(seed).standard_normal((n_obs, 8)) @ root.T
            shrunk.append(np.sum((constant_correlation_shrinkage(x).covariance - truth) ** 2))
            sample.append(np.sum((np.cov(x.T) - truth) ** 2))
        assert np.mean(shrunk) < 0.8 * np.mean(sample), n_obs


def test_target_keeps_variances_and_fixed_intensity_interpolates() -> None:
    x = _draw(200, 0)
    sample = np.cov(x.T)
    none = constant_correlation_shrinkage(x, intensity=0.0)
    full = constant_correlation_shrinkage(x, intensity=1.0)
    np.testing.assert_allclose(none.covariance, sample, rtol=1e-12)
    np.testing.assert_allclose(np.diag(full.covariance), np.diag(sample), rtol=1e-12)
    off = ~np.eye(8, dtype=bool)
    d = np.sqrt(np.diag(sample))
    np.testing.assert_allclose((full.covariance / np.outer(d, d))[off], full.mean_correlation)


@pytest.mark.parametrize(
    ("x", "kwargs", "message"),
    [
        (np.zeros((1, 3)), {}, "^observations: expected shape"),
        (np.full((5, 3), np.nan), {}, "^observations: must all be finite"),
        (np.c_[np.ones(5), np.arange(5.0)], {}, "^observations: a column has zero variance"),
        (np.random.default_rng(0).standard_normal((5, 3)), {"intensity": 2.0}, "^intensity"),
    ],
)
def test_bad_input_is_named(x: np.ndarray, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        constant_correlation_shrinkage(x, **kwargs)
