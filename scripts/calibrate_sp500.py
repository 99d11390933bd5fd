"""Calibrate the ``sp500`` scenario spec to S&P 500 daily returns (1999-2018, from arch).

Two stages, each done by the library built for it:

1. **Regimes** -- hmmlearn's EM fits a Gaussian HMM with ``--regimes`` states to
   daily log returns (best of several seeded starts). States are ordered by
   volatility; the transition matrix, each state's mean and volatility come
   from this fit.
2. **Dynamics inside a regime** -- arch fits a zero-mean GARCH(1,1)-t by maximum
   likelihood to the returns standardised by their (Viterbi) regime's mean and
   volatility. Each regime keeps arch's ``alpha``, ``beta`` and ``nu`` and gets the
   ``omega`` that makes its long-run volatility the HMM state's volatility.

The script then simulates the calibrated spec and prints its moments next to
the data's (volatility, kurtosis, autocorrelation of |r|, regime occupancy).
It writes ``sims/sp500.toml`` and the calibration card
``models/sp500_calibration/card.json``.

Run: ``python scripts/calibrate_sp500.py [--regimes 3] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from arch import arch_model
from arch.data import sp500
from hmmlearn.hmm import GaussianHMM
from scipy import stats

from riskengine.sim import load_spec, simulate_market

ROOT = Path(__file__).resolve().parents[1]
REGIME_NAMES = {2: ["calm", "stressed"], 3: ["calm", "turbulent", "crisis"]}


def sp500_log_returns() -> tuple[np.ndarray, str, str]:
    prices = sp500.load()["Adj Close"]
    returns = np.log(prices).diff().dropna()
    return returns.to_numpy(), str(returns.index[0].date()), str(returns.index[-1].date())


def fit_regimes(returns: np.ndarray, n_regimes: int, seed: int, n_starts: int = 8) -> GaussianHMM:
    """Best-likelihood Gaussian HMM over ``n_starts`` seeded EM runs."""
    x = returns[:, None] * 100.0  # percent: keeps EM's variance floor meaningful
    best, best_score = None, -np.inf
    for start in range(n_starts):
        model = GaussianHMM(
            n_components=n_regimes,
            covariance_type="diag",
            n_iter=500,
            tol=1e-6,
            random_state=seed + start,
        )
        model.fit(x)
        score = model.score(x)
        if model.monitor_.converged and score > best_score:
            best, best_score = model, score
    if best is None:
        raise RuntimeError("no EM start converged; raise n_iter or n_starts")
    return best


def calibrate(n_regimes: int, seed: int) -> tuple[str, dict]:
    returns, first, last = sp500_log_returns()
    hmm = fit_regimes(returns, n_regimes, seed)
    means = hmm.means_[:, 0] / 100.0
    vols = np.sqrt(hmm.covars_[:, 0, 0]) / 100.0
    order = np.argsort(vols)
    means, vols = means[order], vols[order]
    transition = hmm.transmat_[np.ix_(order, order)]
    rank = np.empty(n_regimes, dtype=int)
    rank[order] = np.arange(n_regimes)
    regime = rank[hmm.predict(returns[:, None] * 100.0)]

    standardised = (returns - means[regime]) / vols[regime]
    garch = arch_model(standardised, mean="Zero", vol="GARCH", p=1, q=1, dist="t")
    fit = garch.fit(disp="off")
    if fit.convergence_flag != 0:
        raise RuntimeError(f"arch GARCH fit did not converge (flag {fit.convergence_flag})")
    alpha, beta, nu = (float(fit.params[k]) for k in ("alpha[1]", "beta[1]", "nu"))

    # Rows must sum to 1 exactly after rounding, so the last entry absorbs the error.
    rounded = np.round(transition, 6)
    rounded[:, -1] = 1.0 - rounded[:, :-1].sum(axis=1)
    names = REGIME_NAMES[n_regimes]
    lines = [
        'name = "sp500"',
        'description = """',
        f"S&P 500 daily log returns calibrated to {first}..{last} (arch.data.sp500): a "
        f"{n_regimes}-regime Gaussian HMM fitted by hmmlearn (EM) gives the regime chain, \\",
        "means and volatilities; arch fits GARCH(1,1)-t to the regime-standardised returns. \\",
        'Written by scripts/calibrate_sp500.py; do not edit by hand."""',
        "",
        "[market]",
        'assets = ["SPX"]',
        "periods_per_year = 252",
        "transition = [",
        *(f"    [{', '.join(f'{p:.6f}' for p in row)}]," for row in rounded),
        "]",
    ]
    for k in range(n_regimes):
        lines += [
            "",
            "[[market.regimes]]",
            f'name = "{names[k]}"',
            f"mu = {means[k]:.6g}",
            f"annual_vol = {vols[k] * np.sqrt(252):.6g}",
            f"alpha = {alpha:.6g}",
            f"beta = {beta:.6g}",
            f"nu = {nu:.6g}",
        ]
    card = {
        "model": "sp500 Markov-switching GARCH(1,1)-t scenario calibration",
        "data": {
            "source": "arch.data.sp500 (Adj Close)",
            "first": first,
            "last": last,
            "n_returns": int(returns.size),
        },
        "method": "hmmlearn GaussianHMM EM (best of 8 seeded starts) + arch GARCH(1,1)-t MLE "
        "on regime-standardised returns",
        "seed": seed,
        "hmm_log_likelihood": float(hmm.score(returns[:, None] * 100.0)),
        "garch": {
            "alpha": alpha,
            "beta": beta,
            "nu": nu,
            "loglikelihood": float(fit.loglikelihood),
        },
        "regimes": {
            names[k]: {
                "annual_vol": float(vols[k] * np.sqrt(252)),
                "mean_daily": float(means[k]),
                "expected_spell_days": float(1.0 / (1.0 - transition[k, k])),
                "viterbi_occupancy": float(np.mean(regime == k)),
            }
            for k in range(n_regimes)
        },
        "data_moments": moments(returns[None, :]),
    }
    return "\n".join(lines) + "\n", card


def moments(returns: np.ndarray) -> dict[str, float]:
    """Moments pooled over paths (rows) of daily returns."""
    centred = returns - returns.mean(axis=1, keepdims=True)
    absolute = np.abs(returns) - np.abs(returns).mean(axis=1, keepdims=True)

    def acf(x: np.ndarray, lag: int) -> float:
        return float((x[:, lag:] * x[:, :-lag]).sum() / (x * x).sum())

    return {
        "annual_vol": float(returns.std() * np.sqrt(252)),
        "excess_kurtosis": float(stats.kurtosis(returns.ravel())),
        "acf_abs_lag1": acf(absolute, 1),
        "acf_abs_lag10": acf(absolute, 10),
        "acf_lag1": acf(centred, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regimes", type=int, choices=(2, 3), default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    toml_text, card = calibrate(args.regimes, args.seed)
    spec_path = ROOT / "sims" / "sp500.toml"
    spec_path.write_text(toml_text)
    simulated = simulate_market(load_spec(spec_path), seed=args.seed, n_paths=200, n_steps=5000)
    card["simulated_moments"] = moments(simulated.returns[..., 0].astype(np.float64))
    card["simulated_occupancy"] = simulated.regime_occupancy().tolist()
    card_dir = ROOT / "models" / "sp500_calibration"
    card_dir.mkdir(parents=True, exist_ok=True)
    (card_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")

    print(f"wrote {spec_path.relative_to(ROOT)} and {(card_dir / 'card.json').relative_to(ROOT)}")
    print(f"{'moment':<18}{'data':>10}{'simulated':>12}")
    for key, value in card["data_moments"].items():
        print(f"{key:<18}{value:>10.4f}{card['simulated_moments'][key]:>12.4f}")
    for name, regime in card["regimes"].items():
        print(
            f"{name:<10} vol {regime['annual_vol']:.3f}  spell {regime['expected_spell_days']:.1f}d"
            f"  occupancy {regime['viterbi_occupancy']:.3f}"
        )


if __name__ == "__main__":
    main()
