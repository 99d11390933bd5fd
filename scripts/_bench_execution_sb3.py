"""Training throughput of stable-baselines3 PPO on the execution environment, via gymnasium.

``measure_sb3()`` trains PPO (``MlpPolicy``, CPU, ``n_steps=1024``, every
other setting sb3's default) on one :class:`~riskengine.execution.gym_adapter.ExecutionGymEnv`
for ``total_timesteps`` environment steps, and reports environment steps per
wall-clock second.  This is the reference point for the JAX learners: what a
user of a mainstream RL library gets on the same environment.

What the clock covers: building the PPO model (and sb3's ``Monitor`` /
``DummyVecEnv`` wrapping) and the whole of ``learn()`` -- one jitted JAX call
plus a device-to-host copy per environment step, the policy's forward pass
per step, the rollout buffer, and 10 epochs of minibatch gradient updates
after every 1024 steps.  What it leaves out: building the environment
parameters and the one-off JAX compilation of the adapter's reset and step,
paid by one reset and one step before the clock starts (they are cached per
process, so the adapter sb3 drives reuses them).

sb3 is in the ``rl-baselines`` extra only: without it the function returns
``{"sb3_available": False, "sb3_reason": ...}`` instead of failing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure_sb3(spec: str = "regime_switching", total_timesteps: int = 4096, seed: int = 0) -> dict:
    """Env steps/s of sb3 PPO training on the gymnasium adapter (JAX compile excluded)."""
    try:
        import stable_baselines3
        import torch
        from stable_baselines3 import PPO
    except ImportError as error:  # the rl-baselines extra is optional
        return {"sb3_available": False, "sb3_reason": f"stable_baselines3 not importable: {error}"}

    from riskengine.execution.gym_adapter import ExecutionGymEnv

    env = ExecutionGymEnv(spec, seed=seed)
    # Compile the jitted reset and step now (shared by every adapter with these params).
    env.reset(seed=seed)
    env.step(0)

    start = time.perf_counter()
    model = PPO("MlpPolicy", env, n_steps=1024, device="cpu", seed=seed, verbose=0)
    model.learn(total_timesteps=total_timesteps)
    seconds = time.perf_counter() - start

    # learn() rounds up to whole rollouts, so count the steps it actually took.
    steps = int(model.num_timesteps)
    return {
        "sb3_env_steps_per_s": steps / seconds,
        "sb3_total_timesteps": steps,
        "sb3_seconds": seconds,
        "sb3_version": stable_baselines3.__version__,
        "torch_threads": torch.get_num_threads(),
    }


if __name__ == "__main__":
    for key, value in measure_sb3().items():
        print(f"{key:<24}{value}")
