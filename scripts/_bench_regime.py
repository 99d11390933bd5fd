"""Per-observation cost of the regime models, for ``scripts/bench_models.py``.

``measure()`` returns median microseconds per call, each timed in batches of
1,000 calls (median over batches), on seeded data from a 4-regime Markov
chain of 4 assets (numpy only: nothing here touches JAX):

- ``hmm_update_us``: :meth:`OnlineRegimeHMM.update` with 4 regimes on rows of
  4 float64 returns (the engine's case; the issue's target is 10);
- ``hmm_update_scalar_us``: the same model shape fitted on one asset, fed floats;
- ``hmm_replay_per_obs_us``: the batch path (:meth:`OnlineRegimeHMM.replay`), per row;
- ``bocpd_update_us``: :meth:`BOCPD.update` with ``max_run_length=200``;
- ``drift_adwin_update_us``, ``drift_page_hinkley_update_us``: :class:`DriftDetector`;
- ``regime_switch_update_us``: :class:`RegimeSwitchDetector` (HMM + BOCPD gate).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.regime import BOCPD, DriftDetector, OnlineRegimeHMM, RegimeSwitchDetector

TARGETS = {"hmm_update_us": 10.0}
N_REGIMES = 4


def regime_returns(seed: int, n_steps: int, n_assets: int = 4) -> np.ndarray:
    """Returns of a persistent 4-regime chain with daily vols 0.5 %, 1 %, 2 %, 4 %."""
    rng = np.random.default_rng(seed)
    stay = 0.97
    states = np.zeros(n_steps, dtype=np.int64)
    moves = rng.random(n_steps) > stay
    jumps = rng.integers(1, N_REGIMES, n_steps)
    for t in range(1, n_steps):
        states[t] = (states[t - 1] + jumps[t]) % N_REGIMES if moves[t] else states[t - 1]
    vol = np.array([0.005, 0.01, 0.02, 0.04])[states]
    return rng.standard_normal((n_steps, n_assets)) * vol[:, None]


def per_call_us(update: Any, observations: list[Any], batch: int = 1000) -> float:
    timings = []
    for start in range(0, len(observations) - batch + 1, batch):
        chunk = observations[start : start + batch]
        t0 = time.perf_counter_ns()
        for x in chunk:
            update(x)
        timings.append((time.perf_counter_ns() - t0) / batch / 1000)
    return statistics.median(timings)


def measure(n_calls: int = 20_000) -> dict[str, float]:
    history = regime_returns(0, 3000)
    rows = regime_returns(1, n_calls)
    observations = list(rows)  # float64 rows, as the engine feeds them
    portfolio = rows.mean(axis=1).tolist()

    hmm = OnlineRegimeHMM(n_regimes=N_REGIMES, history=100_000).fit(history)
    scalar = OnlineRegimeHMM(n_regimes=N_REGIMES, history=100_000).fit(history[:, 0])
    replayed = OnlineRegimeHMM(n_regimes=N_REGIMES, history=100_000).fit(history)
    t0 = time.perf_counter()
    replayed.replay(rows)
    replay_us = (time.perf_counter() - t0) / n_calls * 1e6

    prior = float(np.mean(history.mean(axis=1) ** 2))
    detector = RegimeSwitchDetector(hmm, BOCPD(prior_variance=prior))
    results = {
        "hmm_update_us": per_call_us(hmm.update, observations),
        "hmm_update_scalar_us": per_call_us(scalar.update, rows[:, 0].tolist()),
        "hmm_replay_per_obs_us": replay_us,
        "bocpd_update_us": per_call_us(BOCPD(prior_variance=prior).update, portfolio),
        "drift_adwin_update_us": per_call_us(DriftDetector("adwin").update, portfolio),
        "drift_page_hinkley_update_us": per_call_us(
            DriftDetector("page_hinkley").update, portfolio
        ),
        "regime_switch_update_us": per_call_us(detector.update, observations),
    }
    return results


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key:<30}{value:>10.2f}")
