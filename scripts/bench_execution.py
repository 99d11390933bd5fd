"""Benchmark the execution stack (issue 5's targets).

- ``ppo_env_steps_per_s``: environment steps per second of the jitted PPO
  trainer (rollouts of 512 environments, GAE, 4 epochs x 8 minibatches of
  Adam updates), timed over whole chunks of updates after the one-off
  compile.  Each step runs ``events_per_step_mean`` background book events on
  average (the U-shaped intraday profile; the scan computes
  ``events_per_step_computed`` per step and masks the rest).
- ``sb3_env_steps_per_s`` and ``sb3_ratio``: stable-baselines3 PPO trained on
  the same environment through the gymnasium adapter, for ``--sb3-steps``
  steps in the same run (``scripts/_bench_execution_sb3.py``); the ratio is
  ours over theirs.  Needs the ``rl-baselines`` extra (``make bench-execution``
  installs it); without it the ratio is reported as missing.
- ``eval_2000_episodes_s``: wall time of ``evaluate`` for TWAP, VWAP,
  Almgren-Chriss, adaptive AC and the stored RL policy on 2,000 held-out
  episodes with the shadow book on, compiles and the impact estimation
  included: what a user of ``riskengine evaluate-execution`` waits.

Prints a table, or one JSON object with ``--json``.
Run: ``python scripts/bench_execution.py [--json] [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskengine.cli import use_cpu_devices
from scripts._bench import emit, machine, meets_targets
from scripts._bench_execution_sb3 import measure_sb3

TARGETS = {"ppo_env_steps_per_s": 20_000.0, "sb3_ratio": 50.0, "eval_2000_episodes_s": 120.0}


def measure_ppo(spec: str, n_chunks: int) -> dict:
    """Steady-state PPO training throughput (compile excluded)."""
    import jax

    from riskengine.execution.env import make_params
    from riskengine.execution.ppo import PPOConfig, make_train

    params = make_params(spec)
    config = PPOConfig()
    init, run_chunk = make_train(config, params)
    runner = init(jax.random.key(0))
    runner, _ = jax.block_until_ready(run_chunk(runner))  # compile
    start = time.perf_counter()
    for _ in range(n_chunks):
        runner, metrics = run_chunk(runner)
    jax.block_until_ready(metrics)
    seconds = time.perf_counter() - start
    steps = n_chunks * config.updates_per_call * config.n_envs * params.horizon
    events = params.events
    return {
        "ppo_env_steps_per_s": steps / seconds,
        "ppo_env_steps_timed": steps,
        "events_per_step_mean": float(events.mean()),
        "events_per_step_min": int(events.min()),
        "events_per_step_computed": params.max_events,
    }


def measure_evaluation(spec: str, episodes: int) -> dict:
    from riskengine.execution.evaluate import evaluate
    from riskengine.execution.policy_store import DEFAULT_POLICY_ID, available_policies
    from riskengine.execution.workflow import standard_policies

    start = time.perf_counter()
    stored = DEFAULT_POLICY_ID in available_policies()
    policies = standard_policies(spec, policy_id=DEFAULT_POLICY_ID if stored else None)
    if not stored:  # time an untrained network of the same shape instead
        import jax

        from riskengine.execution.ppo import PPOConfig, PPOPolicy, init_network

        policies["rl"] = PPOPolicy(init_network(jax.random.key(0), PPOConfig().hidden))
    evaluate(policies, spec, range(1_000_000, 1_000_000 + episodes))
    return {"eval_2000_episodes_s": time.perf_counter() - start, "eval_rl_stored": stored}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer chunks and sb3 steps")
    parser.add_argument("--spec", default="regime_switching")
    parser.add_argument("--sb3-steps", type=int, default=None)
    args = parser.parse_args()
    use_cpu_devices(None)
    chunks = 2 if args.quick else 5
    sb3_steps = args.sb3_steps or (2048 if args.quick else 8192)
    results = machine()
    results |= measure_ppo(args.spec, chunks)
    results |= measure_sb3(args.spec, total_timesteps=sb3_steps)
    if "sb3_env_steps_per_s" in results:
        results["sb3_ratio"] = results["ppo_env_steps_per_s"] / results["sb3_env_steps_per_s"]
    results |= measure_evaluation(args.spec, 2000)
    available = {k: v for k, v in TARGETS.items() if k in results}
    results["targets"] = TARGETS
    results["meets_targets"] = meets_targets(results, available)
    emit(results, args.json)


if __name__ == "__main__":
    main()
