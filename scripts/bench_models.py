"""Benchmark the online models' per-observation cost (issue 3's targets).

- ``garch_update_us``: median microseconds per ``OnlineGARCH.update`` (timed in
  batches of 1,000 calls on S&P 500 returns, median over batches).
- ``garch_refit_ratio``: the cost of one arch refit on the expanding history
  (what a refit-from-scratch forecaster pays per new observation) divided by
  one online update.
- ``ewma_update_us``: the same for the RiskMetrics baseline.
- ``garch_replay_per_obs_us``: the vectorised history-replay path per observation.
- ``cov10_update_us``: median microseconds per ``OnlineDCC.update`` with ten
  assets (river's ten S&P 500 stocks); ``ewma_cov10_update_us`` the same for
  ``EWMACovariance`` (river's estimator underneath).
- ``learned_update_us``: ``LearnedVolForecaster.update`` (river pipeline).
- ``hmm_update_us`` and the other regime models' timings: ``scripts/_bench_regime.py``
  (4 regimes, rows of 4 returns).

Prints a table, or one JSON object with ``--json``.
Run: ``python scripts/bench_models.py [--json]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from arch import arch_model
from arch.data import sp500
from river import datasets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.forecast import (
    EWMACovariance,
    EWMAVol,
    LearnedVolForecaster,
    OnlineDCC,
    OnlineGARCH,
)
from scripts._bench import emit, machine, meets_targets
from scripts._bench_regime import measure as measure_regime

TARGETS = {
    "garch_update_us": 5.0,
    "garch_refit_ratio": 1000.0,
    "hmm_update_us": 10.0,
    "cov10_update_us": 20.0,
}


def per_update_us(model: object, stream: np.ndarray, batch: int = 1000) -> float:
    values = [float(x) for x in stream] if stream.ndim == 1 else list(stream)
    timings = []
    for start in range(0, len(values) - batch + 1, batch):
        chunk = values[start : start + batch]
        t0 = time.perf_counter_ns()
        for x in chunk:
            model.update(x)
        timings.append((time.perf_counter_ns() - t0) / batch / 1000)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    returns = np.log(sp500.load()["Adj Close"]).diff().dropna().to_numpy()
    history, stream = returns[:2500], np.tile(returns[2500:], 10)[:20_000]

    garch = OnlineGARCH(history=100_000).fit(history)
    garch_us = per_update_us(garch, stream)
    ewma_us = per_update_us(EWMAVol().fit(history), stream)

    learned_us = per_update_us(LearnedVolForecaster().fit(history), stream)

    stocks = np.array([list(x.values()) for x, _ in datasets.SP500Stocks()]) / 100
    stock_stream = np.tile(stocks[500:], (8, 1))
    cov10_us = per_update_us(OnlineDCC(history=100_000).fit(stocks[:500]), stock_stream)
    ewma_cov10_us = per_update_us(EWMACovariance().fit(stocks[:500]), stock_stream)

    regime = measure_regime()

    refits = []
    for _ in range(3):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = arch_model(returns * 100, mean="Zero", vol="GARCH", p=1, q=1, dist="t")
            model.fit(disp="off", show_warning=False)
        refits.append(time.perf_counter() - t0)
    refit_us = min(refits) * 1e6

    replay_model = OnlineGARCH().fit(history)
    t0 = time.perf_counter()
    replay_model.replay(stream)
    replay_us = (time.perf_counter() - t0) / stream.size * 1e6

    results = {
        "garch_update_us": garch_us,
        "garch_refit_us": refit_us,
        "garch_refit_ratio": refit_us / garch_us,
        "garch_replay_per_obs_us": replay_us,
        "ewma_update_us": ewma_us,
        "learned_update_us": learned_us,
        **regime,
        "cov10_update_us": cov10_us,
        "ewma_cov10_update_us": ewma_cov10_us,
        "refit_sample_size": int(returns.size),
        "machine": machine(),
        "targets": TARGETS,
    }
    results["meets_targets"] = meets_targets(results, TARGETS)
    emit(results, args.json, width=26)


if __name__ == "__main__":
    main()
