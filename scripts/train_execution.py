"""Train the PPO execution policy into ``models/``, or check that a stored one reproduces.

``python scripts/train_execution.py`` trains with the default PPO config on
``regime_switching`` (seed 0), evaluates it against the four baselines on
2,000 held-out episodes and writes ``models/execution_ppo_v1/`` (weights,
``card.json``, ``README.md``).  ``--reproduce ID`` retrains from the card of a
stored policy alone and reports whether the weights' SHA-256 matches (exit
code 1 if not).  The CLI equivalent of training is ``riskengine train-execution``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.cli import use_cpu_devices


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spec", default="regime_switching")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy-id", default="execution_ppo_v1")
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--reproduce", metavar="ID", help="retrain a stored policy from its card")
    args = parser.parse_args()
    use_cpu_devices(None)  # the same device set-up as the CLI, so the bits match

    from riskengine.execution.ppo import PPOConfig
    from riskengine.execution.workflow import reproduce_policy, train_policy

    def progress(done: int, total: int, metrics: dict[str, float]) -> None:
        print(f"update {done}/{total}: IS {metrics['mean_is_bps']:.3f} bps", file=sys.stderr)

    if args.reproduce:
        report = reproduce_policy(args.reproduce, progress=progress)
        print(json.dumps(report, indent=2))
        return 0 if report["identical"] else 1
    _, evaluation, path = train_policy(
        args.spec,
        seed=args.seed,
        config=PPOConfig(),
        policy_id=args.policy_id,
        eval_episodes=args.episodes,
        overwrite=args.overwrite,
        progress=progress,
    )
    for metric, cells in evaluation.table():
        print(f"{metric:<36}" + "".join(f"{c:>16}" for c in cells))
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
