"""What the engine answers after every update: :class:`RiskState`, and a replay's history of them.

A state is immutable and self-contained: a trading stack may keep it, pass it
to another thread, or log it, and its numbers never change underneath.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from riskengine.errors import InvalidInput, UnknownAsset
from riskengine.forecast.innovations import Innovations
from riskengine.risk.execution_params import ExecutionParams
from riskengine.risk.limits import LimitDerivation, Limits
from riskengine.risk.orders import TradingState
from riskengine.risk.var import portfolio_es, portfolio_var

__all__ = ["RiskHistory", "RiskState"]


@dataclasses.dataclass(frozen=True)
class RiskState:
    """The book's risk after an update: forecasts, limits, execution parameters, trading state.

    Forecasts are for the NEXT period's log returns. VaR and ES are positive
    loss fractions of portfolio value. ``limits`` are the dynamic limits in
    force, already capped by the hard ones (currency notional, per-asset
    fields in ``assets`` order): the chain's output, and what the pre-trade
    gate checks orders against. :attr:`limit_derivation` says which input
    moved each of them.
    """

    timestamp: int  # nanoseconds since the epoch (UTC), from the data
    assets: tuple[str, ...]
    prices: np.ndarray
    covariance: np.ndarray
    mean: np.ndarray
    regime_proba: np.ndarray
    stressed_regime: int
    changepoint: bool
    correlation_alarm: bool
    innovations: Innovations
    limits: Limits
    execution: ExecutionParams
    trading_state: TradingState
    positions: np.ndarray  # units per asset
    equity: float
    models_ready: bool
    # How to derive the limits' explanation when someone asks: the hot path does not
    # build it (a replay's states and a restored engine's have it too).
    explain_limits: Callable[[], LimitDerivation] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )

    @property
    def limit_derivation(self) -> LimitDerivation | None:
        """Which stage of the limit chain moved each limit, and why (``.summary(assets)``).

        None for a state that cannot replay its step (a replay's states before the last).
        """
        return None if self.explain_limits is None else self.explain_limits()

    @property
    def max_position(self) -> dict[str, float]:
        """The position limit per asset (currency notional)."""
        return dict(zip(self.assets, np.asarray(self.limits.position).tolist(), strict=True))

    @property
    def max_order(self) -> dict[str, float]:
        """The order notional limit per asset."""
        return dict(zip(self.assets, np.asarray(self.limits.order).tolist(), strict=True))

    @property
    def variance(self) -> dict[str, float]:
        """Forecast variance of each asset's next-period log return."""
        return dict(zip(self.assets, np.diag(self.covariance).tolist(), strict=True))

    @property
    def correlation(self) -> np.ndarray:
        scale = 1.0 / np.sqrt(np.diag(self.covariance))
        correlation = self.covariance * np.outer(scale, scale)
        np.fill_diagonal(correlation, 1.0)
        return correlation

    @property
    def average_correlation(self) -> float:
        """The forecast's average pairwise correlation (1 for a single asset)."""
        n = len(self.assets)
        if n == 1:
            return 1.0
        return float((self.correlation.sum() - n) / (n * (n - 1)))

    @property
    def regime(self) -> int:
        """The most likely regime (0 = calmest)."""
        return int(np.argmax(self.regime_proba))

    @property
    def stressed_proba(self) -> float:
        return float(np.sum(self.regime_proba[self.stressed_regime :]))

    def weights(self, weights: Mapping[str, float] | np.ndarray | None = None) -> np.ndarray:
        """Portfolio weights in config order: given, or the current positions' value shares."""
        n = len(self.assets)
        if weights is None:
            if not self.equity > 0:
                return np.zeros(n)
            return self.positions * self.prices / self.equity
        if isinstance(weights, Mapping):
            out = np.zeros(n)
            index = {asset: i for i, asset in enumerate(self.assets)}
            for asset, value in weights.items():
                if asset not in index:
                    raise UnknownAsset(f"weights[{asset!r}]", f"not one of {list(self.assets)}")
                out[index[asset]] = float(value)
        else:
            out = np.asarray(weights, dtype=np.float64)
            if out.shape != (n,):
                raise InvalidInput("weights", f"expected shape ({n},), got {out.shape}")
        if not np.all(np.isfinite(out)):
            raise InvalidInput("weights", "must all be finite")
        return out

    def var(
        self, level: float = 0.99, weights: Mapping[str, float] | np.ndarray | None = None
    ) -> float:
        """Next-period VaR at ``level`` (positive loss fraction of portfolio value)."""
        return portfolio_var(
            self.weights(weights), self.covariance, self.mean, self.innovations, level
        )

    def es(
        self, level: float = 0.975, weights: Mapping[str, float] | np.ndarray | None = None
    ) -> float:
        """Next-period expected shortfall at ``level`` (positive loss fraction)."""
        return portfolio_es(
            self.weights(weights), self.covariance, self.mean, self.innovations, level
        )

    def summary(self) -> str:
        """A few lines a risk manager reads: vols, regime, VaR, limits, trading state."""
        vols = ", ".join(
            f"{a} {v:.2%}"
            for a, v in zip(self.assets, np.sqrt(np.diag(self.covariance)), strict=True)
        )
        proba = ", ".join(f"{p:.2f}" for p in self.regime_proba)
        return "\n".join(
            [
                f"trading state {self.trading_state}; models ready: {self.models_ready}",
                f"volatility (next period): {vols}",
                f"regime {self.regime} (probabilities {proba}); change point: {self.changepoint}",
                f"average correlation {self.average_correlation:.2f}; "
                f"correlation breakdown: {self.correlation_alarm}",
                f"VaR 99 % {self.var(0.99):.4%}, ES 97.5 % {self.es(0.975):.4%} of equity "
                f"{self.equity:,.0f}",
                f"limits: gross {self.limits.gross:,.0f}, net {self.limits.net:,.0f}",
            ]
        )


@dataclasses.dataclass(frozen=True)
class RiskHistory:
    """The states of a replay, stored column-wise; ``history[t]`` is the state after step ``t``."""

    timestamps: np.ndarray  # (T,) int64 ns
    assets: tuple[str, ...]
    prices: np.ndarray  # (T, N)
    covariance: np.ndarray  # (T, N, N)
    mean: np.ndarray  # (T, N)
    regime_proba: np.ndarray  # (T, K)
    stressed_regime: np.ndarray  # (T,)
    changepoint: np.ndarray  # (T,)
    correlation_alarm: np.ndarray  # (T,)
    innovations: tuple[Innovations, ...]  # (T,)
    position_limits: np.ndarray  # (T, N)
    gross_limits: np.ndarray  # (T,)
    net_limits: np.ndarray  # (T,)
    order_limits: np.ndarray  # (T, N)
    execution: tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]
    trading_state: tuple[TradingState, ...]
    positions: np.ndarray  # (N,): constant during a replay (no fills)
    equity: np.ndarray  # (T,)
    models_ready: np.ndarray  # (T,)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.timestamps.size)

    def __getitem__(self, t: int) -> RiskState:
        if not -len(self) <= t < len(self):
            raise IndexError(f"t: {t} is outside 0..{len(self) - 1}")
        risk_aversion, participation, urgency, policy = self.execution
        return RiskState(
            timestamp=int(self.timestamps[t]),
            assets=self.assets,
            prices=self.prices[t],
            covariance=self.covariance[t],
            mean=self.mean[t],
            regime_proba=self.regime_proba[t],
            stressed_regime=int(self.stressed_regime[t]),
            changepoint=bool(self.changepoint[t]),
            correlation_alarm=bool(self.correlation_alarm[t]),
            innovations=self.innovations[t],
            limits=Limits(
                self.position_limits[t],
                float(self.gross_limits[t]),
                float(self.net_limits[t]),
                self.order_limits[t],
            ),
            execution=ExecutionParams(
                float(risk_aversion[t]), float(participation[t]), float(urgency[t]), policy[t]
            ),
            trading_state=self.trading_state[t],
            positions=self.positions,
            equity=float(self.equity[t]),
            models_ready=bool(self.models_ready[t]),
        )

    def __iter__(self) -> Iterator[RiskState]:
        for t in range(len(self)):
            yield self[t]
