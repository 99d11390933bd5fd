"""The execution comparison users read, and the impact curve the simulator implies.

Runs TWAP, VWAP, Almgren-Chriss, adaptive AC and the stored RL policy on the
same held-out episodes (``riskengine.execution.evaluate``), prints the table
of issue 5 with paired differences against every baseline (99 % confidence
intervals, paired t-test p-values) per regime, then measures the impact curve
(TWAP meta-orders from 5 % to 100 % of the horizon's typical volume) next to
the Almgren-Chriss prediction from the parameters estimated on the book.
``--json`` prints one JSON object: ``{"evaluation": ..., "impact_curve": ...,
"impact_estimate": ..., "targets": ...}``.
Run: ``python scripts/evaluate_execution.py [--json] [--episodes N] [--first-seed S]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.cli import use_cpu_devices

SIZES = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)


def targets(summary: dict) -> dict:
    """Issue 5's targets on this evaluation: IS ratios, significance, timing risk."""
    rl = summary["rl"]
    others = ("vwap", "almgren_chriss", "adaptive_ac")
    best = min(others, key=lambda name: summary[name]["is_bps_mean"])
    return {
        "rl_over_twap": rl["versus"]["twap"]["is_ratio"],
        "rl_over_best_other": rl["versus"][best]["is_ratio"],
        "best_other": best,
        "max_p_value": max(rl["versus"][name]["p_value"] for name in ("twap", *others)),
        "rl_std_over_twap_std": rl["is_bps_std"] / summary["twap"]["is_bps_std"],
        "met": {
            "is_vs_twap_le_0.7": rl["versus"]["twap"]["is_ratio"] <= 0.7,
            "is_vs_best_le_0.9": rl["versus"][best]["is_ratio"] <= 0.9,
            "significant_at_1pct": all(
                rl["versus"][name]["p_value"] < 0.01 for name in ("twap", *others)
            ),
            "timing_risk_le_twap": rl["is_bps_std"] <= summary["twap"]["is_bps_std"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default="regime_switching")
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--first-seed", type=int, default=1_000_000)
    parser.add_argument("--curve-episodes", type=int, default=1024)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    use_cpu_devices(None)

    from riskengine.execution.env import make_params
    from riskengine.execution.evaluate import evaluate
    from riskengine.execution.impact import impact_curve
    from riskengine.execution.workflow import IMPACT_SEED, standard_policies

    params = make_params(args.spec)
    policies = standard_policies(params)
    seeds = range(args.first_seed, args.first_seed + args.episodes)
    result = evaluate(policies, params, seeds)
    summary = result.summary()
    curve = impact_curve(params, SIZES, seed=IMPACT_SEED, n_episodes=args.curve_episodes)
    out = {
        "evaluation": summary,
        "targets": targets(summary),
        "impact_estimate": curve.estimate.summary(),
        "impact_curve": curve.summary(),
        "impact_exponent": curve.impact_exponent,
        "predicted_impact_exponent": curve.predicted_impact_exponent,
    }
    if args.json:
        print(json.dumps(out))
        return
    print(f"{'metric':<36}" + "".join(f"{name:>16}" for name in result.policies))
    for metric, cells in result.table():
        print(f"{metric:<36}" + "".join(f"{c:>16}" for c in cells))
    print("\npaired IS difference, rl - baseline (bps), 99% CI, p-value, by regime")
    for regime, row in [("all", summary["rl"]), *summary["rl"]["per_regime"].items()]:
        for base, paired in row["versus"].items():
            if "diff_bps_mean" not in paired:
                continue
            low, high = paired["diff_bps_ci"]
            print(
                f"  {regime:<10}{base:<16}{paired['diff_bps_mean']:>8.3f} "
                f"[{low:.3f}, {high:.3f}]  p={paired['p_value']:.2g}  n={paired['n_episodes']}"
            )
    print("\ntargets:", json.dumps(out["targets"], indent=2))
    print("\nimpact curve (TWAP meta-orders): size, lots, impact bps (measured, AC predicted)")
    for row in curve.summary():
        print(
            f"  {row['size_fraction']:>5.2f} {row['order_lots']:>4d} "
            f"{row['impact_bps']:>8.3f} +- {row['impact_bps_stderr']:.3f} "
            f"{row['predicted_impact_bps']:>8.3f}   "
            f"IS {row['is_bps']:.3f} vs {row['predicted_is_bps']:.3f}"
        )
    print(
        f"  impact exponent {curve.impact_exponent:.3f} "
        f"(AC model {curve.predicted_impact_exponent:.3f})"
    )


if __name__ == "__main__":
    main()
