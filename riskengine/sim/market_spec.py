"""The ``[market]`` section of a scenario spec: a Markov-switching GARCH(1,1)-t model.

A spec has K regimes over N assets. Each regime k carries, per asset i, a drift
``mu[k, i]`` and GARCH(1,1) parameters ``omega, alpha, beta``; a Student-t
degrees of freedom ``nu[k]`` shared by the assets of the regime (a multivariate
t, so tail dependence rises with the regime's stress); a correlation matrix;
and an optional systemic jump (probability per step, mean and standard
deviation per asset). The regime follows a Markov chain with a row-stochastic
``transition`` matrix. The equations are in ``docs/simulators.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from riskengine._validation import (
    as_array,
    as_float,
    as_int,
    check_correlation,
    check_keys,
    check_stochastic_matrix,
)

__all__ = ["MarketSpec", "stationary_distribution"]

_REGIME_REQUIRED = ("name", "alpha", "beta", "nu")
_REGIME_OPTIONAL = (
    "mu",
    "omega",
    "annual_vol",
    "correlation",
    "jump_prob",
    "jump_mean",
    "jump_std",
)


def stationary_distribution(transition: np.ndarray) -> np.ndarray:
    """Stationary distribution ``pi = pi P`` of a row-stochastic matrix.

    >>> stationary_distribution(np.array([[0.9, 0.1], [0.3, 0.7]])).round(3).tolist()
    [0.75, 0.25]
    """
    k = transition.shape[0]
    # Solve (P' - I) pi = 0 with sum(pi) = 1 as a least-squares system, which is
    # well posed even when the chain has transient states.
    system = np.vstack([transition.T - np.eye(k), np.ones((1, k))])
    target = np.zeros(k + 1)
    target[-1] = 1.0
    pi, *_ = np.linalg.lstsq(system, target, rcond=None)
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class MarketSpec:
    """Parameters of the Markov-switching multi-asset GARCH(1,1)-t market.

    Shapes use K regimes and N assets. Returns are per-step log returns as
    decimals (0.01 = 1 %).

    Attributes
    ----------
    assets : tuple of str
        Asset names, length N.
    regime_names : tuple of str
        Regime names, length K, conventionally ordered calm -> stressed.
    periods_per_year : int
        Steps per year, used only to annualise volatilities in reports.
    transition : ndarray (K, K)
        ``transition[j, k] = P(regime_{t+1} = k | regime_t = j)``.
    initial_proba : ndarray (K,)
        Distribution of the first regime (default: the stationary distribution).
    mu : ndarray (K, N)
        Drift per step.
    omega, alpha, beta : ndarray (K, N)
        GARCH(1,1) parameters; ``alpha + beta < 1`` in every regime.
    nu : ndarray (K,)
        Student-t degrees of freedom (> 2) of the innovations.
    correlation : ndarray (K, N, N)
        Correlation of the innovations in each regime (positive definite).
    jump_prob : ndarray (K,)
        Probability per step of a systemic jump hitting every asset.
    jump_mean, jump_std : ndarray (K, N)
        Mean and standard deviation of the jump's log return per asset.
    initial_variance_scale : ndarray (K, N), optional
        Each path starts every regime's variance at ``scale`` times its long-run
        level (default 1: the long-run level). A forward scenario set uses it
        to start from today's forecasts rather than from the long run.

    Examples
    --------
    >>> spec = MarketSpec.from_table({
    ...     "assets": ["A", "B"],
    ...     "transition": [[1.0]],
    ...     "regimes": [{"name": "calm", "annual_vol": 0.16, "alpha": 0.05,
    ...                  "beta": 0.90, "nu": 8, "correlation": 0.5}],
    ... })
    >>> spec.n_regimes, spec.n_assets
    (1, 2)
    >>> round(float(np.sqrt(spec.unconditional_variance[0, 0] * 252)), 4)
    0.16
    """

    assets: tuple[str, ...]
    regime_names: tuple[str, ...]
    periods_per_year: int
    transition: np.ndarray
    initial_proba: np.ndarray
    mu: np.ndarray
    omega: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    nu: np.ndarray
    correlation: np.ndarray
    jump_prob: np.ndarray
    jump_mean: np.ndarray
    jump_std: np.ndarray
    initial_variance_scale: np.ndarray | None = None

    def __post_init__(self) -> None:
        shape = self.omega.shape
        if self.initial_variance_scale is None:
            object.__setattr__(self, "initial_variance_scale", np.ones(shape))
        else:
            scale = as_array(
                self.initial_variance_scale,
                field="initial_variance_scale",
                shape=shape,
                low=0,
                low_open=True,
            )
            object.__setattr__(self, "initial_variance_scale", scale)
        # A spec is shared by every simulation made from it, so its arrays are frozen too.
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                value.setflags(write=False)

    @property
    def n_regimes(self) -> int:
        return len(self.regime_names)

    @property
    def n_assets(self) -> int:
        return len(self.assets)

    @property
    def unconditional_variance(self) -> np.ndarray:
        """GARCH long-run variance ``omega / (1 - alpha - beta)`` per regime and asset, (K, N)."""
        return self.omega / (1.0 - self.alpha - self.beta)

    @property
    def cholesky(self) -> np.ndarray:
        """Lower Cholesky factors of the regime correlations, (K, N, N)."""
        return np.linalg.cholesky(self.correlation)

    @classmethod
    def from_table(cls, table: Mapping[str, Any], *, field: str = "market") -> MarketSpec:
        """Parse and validate a ``[market]`` TOML table; errors name the dotted field."""
        check_keys(
            table,
            field=field,
            required=("assets", "transition", "regimes"),
            optional=("periods_per_year", "initial_proba"),
        )
        assets = table["assets"]
        if (
            not isinstance(assets, list)
            or not assets
            or not all(isinstance(a, str) and a for a in assets)
        ):
            raise ValueError(f"{field}.assets: expected a non-empty list of names")
        if len(set(assets)) != len(assets):
            raise ValueError(f"{field}.assets: names must be unique, got {assets}")
        n = len(assets)
        regimes = table["regimes"]
        if not isinstance(regimes, list) or not regimes:
            raise ValueError(f"{field}.regimes: expected a non-empty array of tables")
        k = len(regimes)
        periods = as_int(
            table.get("periods_per_year", 252), field=f"{field}.periods_per_year", low=1
        )
        transition = as_array(
            table["transition"], field=f"{field}.transition", shape=(k, k), low=0, high=1
        )
        check_stochastic_matrix(transition, field=f"{field}.transition")
        if "initial_proba" in table:
            initial = as_array(
                table["initial_proba"], field=f"{field}.initial_proba", shape=(k,), low=0, high=1
            )
            if abs(initial.sum() - 1.0) > 1e-9:
                raise ValueError(f"{field}.initial_proba: must sum to 1, got {initial.sum():.12g}")
        else:
            initial = stationary_distribution(transition)

        parsed = [
            _parse_regime(regime, field=f"{field}.regimes[{j}]", n=n, periods=periods)
            for j, regime in enumerate(regimes)
        ]
        names = tuple(r["name"] for r in parsed)
        if len(set(names)) != k:
            raise ValueError(f"{field}.regimes: regime names must be unique, got {list(names)}")
        stacked = {key: np.stack([r[key] for r in parsed]) for key in parsed[0] if key != "name"}
        return cls(
            assets=tuple(assets),
            regime_names=names,
            periods_per_year=periods,
            transition=transition,
            initial_proba=initial,
            **stacked,
        )


def _parse_regime(table: Any, *, field: str, n: int, periods: int) -> dict[str, Any]:
    check_keys(table, field=field, required=_REGIME_REQUIRED, optional=_REGIME_OPTIONAL)
    name = table["name"]
    if not isinstance(name, str) or not name:
        raise ValueError(f"{field}.name: expected a non-empty string")
    alpha = as_array(table["alpha"], field=f"{field}.alpha", shape=(n,), low=0, high=1)
    beta = as_array(table["beta"], field=f"{field}.beta", shape=(n,), low=0, high=1)
    persistence = alpha + beta
    if np.any(persistence >= 1):
        raise ValueError(
            f"{field}.alpha + {field}.beta: must be < 1 for a stationary GARCH, "
            f"got {persistence.tolist()}"
        )
    has_omega, has_vol = "omega" in table, "annual_vol" in table
    if has_omega == has_vol:
        raise ValueError(f"{field}: give exactly one of 'omega' or 'annual_vol'")
    if has_omega:
        omega = as_array(table["omega"], field=f"{field}.omega", shape=(n,), low=0, low_open=True)
    else:
        annual_vol = as_array(
            table["annual_vol"], field=f"{field}.annual_vol", shape=(n,), low=0, low_open=True
        )
        # Chooses omega so that the regime's long-run variance hits the target.
        omega = annual_vol**2 / periods * (1.0 - persistence)
    nu = as_float(table["nu"], field=f"{field}.nu", low=2, low_open=True)
    correlation = table.get("correlation", 0.0)
    if isinstance(correlation, list):
        correlation = as_array(correlation, field=f"{field}.correlation", shape=(n, n))
    else:
        rho = as_float(correlation, field=f"{field}.correlation", low=-1, high=1)
        correlation = np.full((n, n), rho)
        np.fill_diagonal(correlation, 1.0)
    check_correlation(correlation, field=f"{field}.correlation")
    jump_prob = as_float(table.get("jump_prob", 0.0), field=f"{field}.jump_prob", low=0, high=1)
    return {
        "name": name,
        "mu": as_array(table.get("mu", 0.0), field=f"{field}.mu", shape=(n,)),
        "omega": omega,
        "alpha": alpha,
        "beta": beta,
        "nu": np.float64(nu),
        "correlation": correlation,
        "jump_prob": np.float64(jump_prob),
        "jump_mean": as_array(table.get("jump_mean", 0.0), field=f"{field}.jump_mean", shape=(n,)),
        "jump_std": as_array(
            table.get("jump_std", 0.0), field=f"{field}.jump_std", shape=(n,), low=0
        ),
    }
