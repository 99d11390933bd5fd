"""Run execution policies on the same held-out episodes and compare them, paired.

Every policy trades episode ``s`` of the evaluation stream from the same
book, side, size and liquidity draws, and the book's background order flow is
driven by the same random numbers (common random numbers), so the per-episode
difference in implementation shortfall between two policies is a paired
sample with the market's own noise largely cancelled.  The shadow book is on
(``track_impact``), so the IS splits exactly into spread, impact and timing
(see :mod:`riskengine.execution.env`).

Evaluation episodes come from their own stream: episode ``s`` starts from
``fold_in(key(EVALUATION_STREAM), s)``, while training draws every key by
splitting ``key(train_seed)``, so no evaluation episode is a training episode.

Episodes are grouped by the book regime they saw: ``calm`` (never stressed),
``stressed`` (stressed at every step) and ``switching`` (the regime changed
during the order).

Examples
--------
>>> from riskengine.execution.baselines import TWAP, VWAP
>>> result = evaluate({"twap": TWAP(), "vwap": VWAP()}, "regime_switching", range(64))
>>> sorted(result.summary())
['twap', 'vwap']
>>> row = result.summary()["vwap"]
>>> row["n_episodes"], 0.0 <= row["completion_rate"] <= 1.0
(64, True)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from scipy import stats

from riskengine._validation import as_float, as_int
from riskengine.execution.env import EnvParams, episode_info, make_params, reset_env, step_env
from riskengine.execution.policy import ExecutionPolicy
from riskengine.sim.devices import cached_jit, map_over_devices

__all__ = ["EVALUATION_STREAM", "REGIMES", "EvaluationResult", "evaluate", "run_episodes"]

#: Root of the evaluation episodes' keys (ASCII "EVAL").
EVALUATION_STREAM = 0x4556414C
REGIMES = ("calm", "stressed", "switching")
_METRICS = ("is_bps", "spread_bps", "impact_bps", "timing_bps")


def _episodes(seeds: jax.Array, params: EnvParams, *, policy: ExecutionPolicy) -> dict:
    """Run one policy on the episodes ``seeds`` (uint32), vmapped."""
    return jax.vmap(lambda seed: _episode(seed, params, policy.act))(seeds)


def _episodes_of_set(
    seeds: jax.Array, params: EnvParams, *, policies: tuple[ExecutionPolicy, ...]
) -> dict:
    """Every policy of ``policies`` on the episodes ``seeds``: arrays (policies, episodes).

    One program for the whole set: the environment is compiled once and the
    policies are branches of a switch (under vmap every branch runs, which
    costs little next to the book), instead of one compile per policy.
    """
    branches = [policy.act for policy in policies]

    def one(index, seed):
        def act(key, obs, state, params):
            return lax.switch(index, branches, key, obs, state, params)

        return _episode(seed, params, act)

    indices = jnp.arange(len(policies))
    return jax.vmap(lambda i: jax.vmap(lambda seed: one(i, seed))(seeds))(indices)


def _episode(seed: jax.Array, params: EnvParams, act: Any) -> dict:
    """One evaluation episode: ``act(key, obs, state, params)`` trades it."""
    key = jax.random.fold_in(jax.random.key(EVALUATION_STREAM), seed)
    reset_key, steps_key, act_key = jax.random.split(key, 3)
    obs, state = reset_env(reset_key, params)
    side, parent = state.side, state.parent

    def body(carry, keys):
        obs, state = carry
        step_key, action_key = keys
        action = act(action_key, obs, state, params)
        obs, state, reward, _done, _info = step_env(step_key, state, action, params)
        return (obs, state), reward

    keys = (
        jax.random.split(steps_key, params.horizon),
        jax.random.split(act_key, params.horizon),
    )
    (obs, state), rewards = lax.scan(body, (obs, state), keys)
    info = episode_info(state, params)
    always_calm = (state.stressed_steps == 0) & (state.initial_regime == 0)
    always_stressed = (state.stressed_steps == params.horizon) & (state.initial_regime != 0)
    regime = jnp.where(always_calm, 0, jnp.where(always_stressed, 1, 2))
    return {
        **{name: info[name] for name in _METRICS},
        "completed": info["completed"],
        "unfilled": info["unfilled"],
        "regime": regime.astype(jnp.int32),
        "side": side,
        "parent": parent,
        "return_bps": rewards.sum(),
    }


def _resolve_params(spec: Any) -> EnvParams:
    if isinstance(spec, EnvParams):
        return spec.with_impact(True)
    return make_params(spec, track_impact=True)


def _seed_array(seeds: Iterable[int]) -> np.ndarray:
    values = list(seeds)
    if not values:
        raise ValueError("seeds: expected at least one episode seed")
    checked = [as_int(s, field=f"seeds[{i}]", low=0, high=2**32 - 1) for i, s in enumerate(values)]
    return np.asarray(checked, dtype=np.uint32)


@dataclasses.dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Per-episode outcomes of every policy, and their paired comparison.

    Attributes
    ----------
    episodes : dict
        ``episodes[policy][field]`` is an array over episodes: ``is_bps``,
        ``spread_bps``, ``impact_bps``, ``timing_bps``, ``completed``,
        ``unfilled``, ``regime`` (index into :data:`REGIMES`), ``side``,
        ``parent`` (lots).
    seeds : ndarray
        The evaluation episode seeds.
    baselines : tuple of str
        Policies the others are compared against, pairwise.
    confidence : float
        Level of the confidence intervals of the paired differences.
    """

    episodes: dict[str, dict[str, np.ndarray]]
    seeds: np.ndarray
    baselines: tuple[str, ...]
    confidence: float = 0.99

    @property
    def policies(self) -> tuple[str, ...]:
        """Policy names, in evaluation order."""
        return tuple(self.episodes)

    def _stats(self, name: str, mask: np.ndarray) -> dict[str, float]:
        data = self.episodes[name]
        n = int(mask.sum())
        out: dict[str, float] = {"n_episodes": n}
        if n == 0:
            return out
        for metric in _METRICS:
            values = data[metric][mask].astype(np.float64)
            out[f"{metric}_mean"] = float(values.mean())
        values = data["is_bps"][mask].astype(np.float64)
        out["is_bps_std"] = float(values.std(ddof=1)) if n > 1 else 0.0
        out["is_bps_stderr"] = out["is_bps_std"] / math.sqrt(n)
        out["completion_rate"] = float(data["completed"][mask].mean())
        return out

    def paired(self, policy: str, baseline: str, mask: np.ndarray | None = None) -> dict:
        """Paired difference of IS (``policy - baseline``, bps): mean, CI, t-test p-value.

        Also the ratio of mean IS and the ratio of IS standard deviations
        (timing risk); negative differences mean ``policy`` is cheaper.
        """
        a = self.episodes[policy]["is_bps"].astype(np.float64)
        b = self.episodes[baseline]["is_bps"].astype(np.float64)
        if mask is not None:
            a, b = a[mask], b[mask]
        n = a.size
        diff = a - b
        if n < 2:
            return {"n_episodes": n}
        stderr = diff.std(ddof=1) / math.sqrt(n)
        mean = float(diff.mean())
        quantile = stats.t.ppf(0.5 + self.confidence / 2, n - 1)
        p_value = float(stats.ttest_rel(a, b).pvalue) if stderr > 0 else float(mean == 0.0)
        base_mean = float(b.mean())
        return {
            "n_episodes": n,
            "diff_bps_mean": mean,
            "diff_bps_ci": [mean - quantile * stderr, mean + quantile * stderr],
            "p_value": p_value,
            "is_ratio": float(a.mean() / base_mean) if base_mean != 0 else math.nan,
            "std_ratio": float(a.std(ddof=1) / b.std(ddof=1)) if b.std() > 0 else math.nan,
        }

    def summary(self) -> dict[str, dict[str, Any]]:
        """One JSON-ready dict per policy: overall stats, ``per_regime`` and ``versus`` baselines.

        The keys are what ``riskengine evaluate-execution --json`` prints:
        ``is_bps_mean``, ``is_bps_std`` (timing risk), ``impact_bps_mean``,
        ``spread_bps_mean``, ``timing_bps_mean``, ``completion_rate``, ...
        """
        out: dict[str, dict[str, Any]] = {}
        everything = np.ones(self.seeds.size, dtype=bool)
        for name in self.policies:
            row: dict[str, Any] = self._stats(name, everything)
            regimes = self.episodes[name]["regime"]
            row["per_regime"] = {}
            for index, regime in enumerate(REGIMES):
                mask = regimes == index
                regime_row: dict[str, Any] = self._stats(name, mask)
                regime_row["versus"] = {
                    base: self.paired(name, base, mask) for base in self.baselines if base != name
                }
                row["per_regime"][regime] = regime_row
            row["versus"] = {
                base: self.paired(name, base) for base in self.baselines if base != name
            }
            out[name] = row
        return out

    def table(self) -> list[tuple[str, list[str]]]:
        """The comparison table users read: rows of (metric, one cell per policy)."""
        summary = self.summary()
        names = self.policies

        def cells(key: str, regime: str | None = None) -> list[str]:
            out = []
            for name in names:
                row = summary[name] if regime is None else summary[name]["per_regime"][regime]
                value = row.get(key)
                out.append("-" if value is None else f"{value:.3f}")
            return out

        rows = [
            ("implementation shortfall (bps)", cells("is_bps_mean")),
            ("market impact cost (bps)", cells("impact_bps_mean")),
            ("spread cost (bps)", cells("spread_bps_mean")),
            ("timing cost (bps)", cells("timing_bps_mean")),
            ("timing risk (std of IS, bps)", cells("is_bps_std")),
            ("completion rate", cells("completion_rate")),
        ]
        for regime in REGIMES:
            rows.append((f"IS, {regime} episodes (bps)", cells("is_bps_mean", regime)))
        return rows


def run_episodes(
    policies: Mapping[str, ExecutionPolicy], spec: Any, seeds: Iterable[int]
) -> dict[str, dict[str, np.ndarray]]:
    """Every policy on the evaluation episodes ``seeds``, in one program on the default device.

    ``out[policy]`` holds the per-episode arrays of :attr:`EvaluationResult.episodes`.
    Unlike :func:`evaluate` it compiles the environment once for all the
    policies (a switch, not a program per policy) and never splits the batch
    over devices, so a shard of episodes gives the same bits in any process
    (the nightly run's shards). Build the comparison with
    ``EvaluationResult(episodes, seeds, baselines)``.
    """
    params = _resolve_params(spec)
    seed_array = _seed_array(seeds)
    names = tuple(policies)
    out = cached_jit(_episodes_of_set, ("policies",))(
        jnp.asarray(seed_array, dtype=jnp.uint32),
        params,
        policies=tuple(policies[name] for name in names),
    )
    arrays = {key: np.asarray(value) for key, value in jax.device_get(out).items()}
    return {name: {key: value[i] for key, value in arrays.items()} for i, name in enumerate(names)}


def evaluate(
    policies: Mapping[str, ExecutionPolicy],
    spec: Any,
    seeds: Iterable[int],
    *,
    baselines: Iterable[str] | None = None,
    confidence: float = 0.99,
) -> EvaluationResult:
    """Run every policy on the same held-out episodes.

    Parameters
    ----------
    policies : mapping of name to policy
        Each follows :class:`~riskengine.execution.policy.ExecutionPolicy`.
    spec : str, ScenarioSpec or EnvParams
        The execution scenario (``[book]`` and ``[execution]`` sections).
    seeds : iterable of int
        Evaluation episode seeds (``range(first, first + n)`` is typical).
    baselines : iterable of str, optional
        Names compared against pairwise (default: every policy except ``rl``).
    confidence : float
        Level of the paired-difference confidence intervals.
    """
    if not isinstance(policies, Mapping) or not policies:
        raise ValueError("policies: expected a non-empty mapping of name to policy")
    for name, policy in policies.items():
        if not isinstance(policy, ExecutionPolicy):
            raise TypeError(f"policies[{name!r}]: expected an ExecutionPolicy, got {policy!r}")
        try:
            hash(policy)
        except TypeError:
            # The policy is a static argument of the jitted episode runner.
            raise TypeError(
                f"policies[{name!r}]: must be hashable (a frozen dataclass, or eq=False)"
            ) from None
    params = _resolve_params(spec)
    seed_array = _seed_array(seeds)
    confidence = as_float(
        confidence, field="confidence", low=0.0, high=1.0, low_open=True, high_open=True
    )
    names = tuple(policies)
    base = tuple(baselines) if baselines is not None else tuple(n for n in names if n != "rl")
    unknown = sorted(set(base) - set(names))
    if unknown:
        raise ValueError(f"baselines: {unknown} are not among the policies {list(names)}")
    n = seed_array.size
    episodes = {}
    for name in names:
        out = map_over_devices(
            _episodes,
            lambda m: jnp.asarray(np.resize(seed_array, m), dtype=jnp.uint32),
            n,
            params,
            policy=policies[name],
        )
        episodes[name] = {key: np.asarray(value)[:n] for key, value in jax.device_get(out).items()}
    return EvaluationResult(episodes, seed_array, base, confidence)
