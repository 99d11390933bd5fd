"""The risk engine a trading stack embeds: prices in, risk state and decisions out.

:class:`Engine` ties the parts together, one tick at a time:

1. **Validate** the tick (time strictly after the last and within
   1970..2262, one usable price per configured asset, and a finite log
   return from the last price for each) before anything changes: an update
   applies completely or not at all.
2. **Mark** the hard controls (:class:`~riskengine.risk.controls.PreTradeControls`):
   P&L, the day roll and the daily loss limit.
3. **Learn**: the log returns update every model
   (:class:`~riskengine.engine.model_stack.RiskModels`). Until the models are
   fitted (:meth:`Engine.warm_up`, or automatically once ``models.min_obs``
   returns have been seen) the engine is ``REDUCING``: fail closed.
4. **Derive** the dynamic limits (:func:`~riskengine.risk.limits.limit_chain`:
   vol target, VaR budget, regime haircut, change-point tightening, clamp,
   smoothing, hard caps) and the execution parameters.
5. **Answer** with an immutable :class:`~riskengine.engine.state.RiskState`.

Orders are checked against ``min(hard, dynamic)`` limits; the hard ones hold
whatever the models say. The clock is the data's: nothing reads wall time.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import statistics
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from riskengine import snapshot
from riskengine._time import to_nanoseconds
from riskengine.engine.config import EngineConfig
from riskengine.engine.input_checks import InputChecks
from riskengine.engine.model_stack import RiskModels
from riskengine.engine.restore import check_payload, restored_config
from riskengine.engine.snapshot_types import register_engine_types
from riskengine.engine.state import RiskHistory, RiskState
from riskengine.errors import (
    InvalidInput,
    InvalidPrice,
    UnknownAsset,
)
from riskengine.forecast.innovations import Innovations
from riskengine.risk.controls import PreTradeControls
from riskengine.risk.execution_params import execution_params, execution_params_batch
from riskengine.risk.limits import LimitChain, LimitInputs, Limits, limit_chain, unit_gross_var_at
from riskengine.risk.orders import Decision, Fill, Order, TradingState
from riskengine.snapshot import MAX_JSON_BYTES, MAX_TOTAL_BYTES

__all__ = ["Engine", "engine_limit_chain"]


def _nan_covariance(n_steps: int, n: int, existing: np.ndarray | None) -> np.ndarray:
    """The replay's covariance array, NaN until the models are fitted."""
    return existing if existing is not None else np.full((n_steps, n, n), np.nan)


def _derive(chain: Any, inputs: LimitInputs, unbounded: Limits, state: tuple) -> Any:
    return chain.explain(inputs, unbounded, state)[2]


SNAPSHOT_KIND = "engine"
_FIT_RETRY_TICKS = 21
_LARGEST = sys.float_info.max  # the update check's bound when the jump filter is off
# 2: working orders keep their limit price, the gate its order-time tolerance (issue 17).
# 3: the models keep a return window and a refit in flight (issue 13).
SNAPSHOT_VERSION = 3


def engine_limit_chain(config: EngineConfig) -> LimitChain:
    """The engine's limit chain for ``config``: its dynamic limits capped by its hard limits.

    The nightly run applies the same chain to simulated paths (the limits each
    scenario implies), starting from :attr:`Engine.limit_chain_state`.
    """
    return limit_chain(config.dynamic, config.hard.notional_limits(len(config.assets)))


class Engine:
    """Streaming risk state, dynamic limits and hard pre-trade controls for a set of assets.

    Parameters
    ----------
    config : EngineConfig

    Examples
    --------
    >>> import pandas as pd
    >>> from arch.data import nasdaq, sp500
    >>> closes = pd.concat(
    ...     {"SPX": sp500.load()["Adj Close"], "NDX": nasdaq.load()["Adj Close"]}, axis=1
    ... ).dropna()
    >>> engine = Engine(EngineConfig(assets=["SPX", "NDX"]))
    >>> engine.warm_up(closes.iloc[:1000])
    >>> day = closes.index[1000]
    >>> state = engine.update(day, closes.iloc[1000].to_dict())
    >>> state.trading_state
    <TradingState.ACTIVE: 'ACTIVE'>
    >>> 0 < state.var(0.99, weights={"SPX": 0.5, "NDX": 0.5}) < 0.1
    True
    >>> engine.check(Order("SPX", "buy", 10, closes["SPX"].iloc[1000])).approved
    True
    >>> engine.check(Order("SPX", "buy", 10, 2 * closes["SPX"].iloc[1000])).reason
    <ReasonCode.PRICE_COLLAR: 'PRICE_COLLAR'>
    """

    def __init__(self, config: EngineConfig) -> None:
        if not isinstance(config, EngineConfig):
            raise InvalidInput("config", f"expected an EngineConfig, got {type(config).__name__}")
        self.config = config
        self._assets = config.assets
        self._index = {asset: i for i, asset in enumerate(config.assets)}
        n = len(config.assets)
        hard = config.hard
        self._chain = engine_limit_chain(config)
        self._inputs = InputChecks(config)
        self._models = RiskModels(n, config.models)
        self._controls = PreTradeControls(config.assets, hard, cash=config.capital)
        self._controls.models_ok = False
        self._chain_state = self._chain.init(n)
        self._last_inputs: LimitInputs | None = None
        self._previous_chain_state = self._chain_state
        self._last_ns: int | None = None
        self._prices = np.full(n, np.nan)
        self._pending: deque[np.ndarray] = deque(maxlen=config.models.min_obs)
        self._fit_error: str | None = None
        self._since_fit_attempt = 0
        self._state: RiskState | None = None
        self._z_level = statistics.NormalDist().inv_cdf(config.dynamic.var_level)
        self._unbounded = Limits.unbounded(n)

    # ------------------------------------------------------------------ warm-up
    def warm_up(self, history: Any) -> None:
        """Fit the models on a price history: a DataFrame, timestamp index, one column per asset.

        The history's last row becomes the engine's last prices and clock, so
        the next :meth:`update` continues from it. Raises an ``InvalidInput``
        subclass for bad data (the engine is unchanged) and ``RuntimeError``
        if a model fit fails.
        """
        timestamps, prices = self._inputs.history(history, self._last_ns)
        dates = history.index
        returns = self._inputs.log_returns(
            prices, lambda row, asset: (f"history[{asset!r}]", f" on {dates[row]} (row {row})")
        )
        if returns.shape[0] < self.config.models.min_obs:
            raise InvalidInput(
                "history",
                f"need at least {self.config.models.min_obs + 1} rows (models.min_obs returns), "
                f"got {prices.shape[0]}",
            )
        flat = np.flatnonzero(np.all(returns == returns[:1], axis=0))
        if flat.size:
            raise InvalidPrice(
                f"history[{self._assets[int(flat[0])]!r}]",
                "the price never moves over the warm-up window: no volatility to estimate",
            )
        self._models.fit(returns)
        self._pending.clear()
        self._controls.mark(int(timestamps[-1]), prices[-1].tolist())
        self._last_ns = int(timestamps[-1])
        self._prices = prices[-1].copy()
        self._fit_error = None
        self._state = self._compute_state()

    def refit(self) -> None:
        """Refit every model on its kept history (for a nightly job, off the hot path).

        :attr:`state` is recomputed with the refitted models (same prices, same step).
        """
        if not self._models.fitted:
            raise RuntimeError("refit: the models are not fitted yet (warm_up or more updates)")
        self._models.refit()
        if self._state is not None:
            # The state now answers with the refitted models: the last step's limits are
            # recomputed from the chain state before that step, so the chain does not
            # advance twice.
            self._chain_state = self._previous_chain_state
            self._state = self._compute_state()

    # ------------------------------------------------------------------ streaming
    def update(self, timestamp: Any, prices: Mapping[str, float]) -> RiskState:
        """Take one tick (every asset's last price at ``timestamp``) and return the new state."""
        ns = self._inputs.time(timestamp, self._last_ns)
        values = self._inputs.prices(prices, self._prices)
        returns = None
        if not np.isnan(self._prices[0]):
            returns = np.log(values / self._prices)
            jump = self.config.max_abs_log_return
            # One reduction for both checks: NaN propagates into the max and fails <=, and
            # without a jump filter the bound is the largest float, which inf exceeds.
            if not np.abs(returns).max() <= (_LARGEST if jump is None else jump):
                pair = np.vstack([self._prices, values])
                when = f" at {np.datetime64(ns, 'ns')}"
                self._inputs.log_returns(pair, lambda row, asset: (f"prices[{asset!r}]", when))
        # Valid: from here on the engine changes.
        self._controls.mark(ns, values.tolist())
        self._last_ns = ns
        self._prices = values
        if returns is not None:
            if self._models.fitted:
                self._models.update(returns)
            else:
                self._learn_before_fit(returns)
        self._state = self._compute_state()
        return self._state

    def _learn_before_fit(self, returns: np.ndarray) -> None:
        self._pending.append(returns)
        self._since_fit_attempt += 1
        if len(self._pending) == self._pending.maxlen and (
            self._fit_error is None or self._since_fit_attempt >= _FIT_RETRY_TICKS
        ):
            self._since_fit_attempt = 0
            try:
                self._models.fit(np.array(self._pending))
                self._fit_error = None
            except (ValueError, RuntimeError) as error:
                # Fail closed: stay REDUCING, and retry after a few more ticks
                # rather than on every one (a fit costs seconds, a tick microseconds).
                self._fit_error = str(error)

    def _compute_state(self) -> RiskState:
        models, n = self._models, len(self._assets)
        controls = self._controls
        positions = np.array(controls.positions)
        if models.fitted:
            covariance = models.covariance()
            regime_proba = models.regime_proba()
            mean, innovations = models.mean, models.innovations
            stressed, changepoint = models.stressed_regime, models.changepoint
            correlation_alarm = models.correlation_alarm
        else:
            covariance = np.full((n, n), np.nan)
            regime_proba = np.full(self.config.models.n_regimes, np.nan)
            mean, innovations = np.zeros(n), Innovations("normal")
            stressed, changepoint = self.config.models.n_regimes - 1, False
            correlation_alarm = False
        ready = bool(
            models.fitted and np.all(np.isfinite(covariance)) and np.all(np.isfinite(regime_proba))
        )
        controls.models_ok = ready
        stressed_proba = float(np.sum(regime_proba[stressed:]))
        inputs = LimitInputs(
            volatility=np.sqrt(np.diag(covariance)),
            var_per_gross=self._var_per_gross(covariance, positions * self._prices, innovations),
            stressed_proba=stressed_proba,
            changepoint=bool(changepoint),
            correlation_alarm=bool(correlation_alarm),
        )
        self._previous_chain_state = self._chain_state
        limits, self._chain_state = self._chain.update(inputs, self._unbounded, self._chain_state)
        self._last_inputs = inputs
        regime = int(np.argmax(regime_proba)) if ready else stressed
        execution = execution_params(
            self.config.execution,
            self._volatility_ratio(covariance),
            stressed_proba,
            min(regime, len(self.config.execution.policy_ids) - 1),
        )
        return RiskState(
            timestamp=self._last_ns if self._last_ns is not None else 0,
            assets=self._assets,
            prices=self._prices.copy(),
            covariance=covariance,
            mean=mean,
            regime_proba=regime_proba,
            stressed_regime=stressed,
            changepoint=bool(changepoint),
            correlation_alarm=bool(correlation_alarm),
            innovations=innovations,
            limits=Limits(limits.position, float(limits.gross), float(limits.net), limits.order),
            execution=execution,
            trading_state=controls.trading_state,
            positions=positions,
            equity=controls.equity,
            models_ready=ready,
            explain_limits=self._explainer(inputs, self._previous_chain_state),
        )

    def _explainer(self, inputs: LimitInputs, state: tuple) -> Any:
        """Build the limit derivation on demand: replaying one chain step costs ~20 us."""
        chain, unbounded = self._chain, self._unbounded
        return functools.partial(_derive, chain, inputs, unbounded, state)

    def _var_per_gross(
        self, covariance: np.ndarray, direction: np.ndarray, innovations: Innovations
    ) -> Any:
        """VaR of a unit-gross portfolio in the book's direction, with the fitted tail.

        The limits' helper uses the normal quantile; rescaling by the fitted
        innovation's quantile keeps it exact for a Student-t or skewed-t tail.
        """
        z = self._z_level
        return unit_gross_var_at(covariance, direction, z) * self._tail_scale(innovations)

    def _tail_scale(self, innovations: Innovations) -> float:
        return -innovations.quantile(1.0 - self.config.dynamic.var_level) / self._z_level

    def _volatility_ratio(self, covariance: Any) -> Any:
        """Equal-weight portfolio volatility over its long-run level (1 = normal)."""
        if not self._models.fitted:
            return math.nan
        w = self._models.weights
        return np.sqrt((covariance @ w @ w) / self._models.long_run_variance)

    # ------------------------------------------------------------------ orders
    def check(self, order: Order) -> Decision:
        """Approve or deny ``order`` against the hard limits and the current dynamic ones.

        ``order.timestamp`` (default: the engine's clock) must lie within
        ``hard.order_time_tolerance_seconds`` of the clock (else
        ``InvalidTimestamp``). See docs/engine.md, "Pre-trade controls".
        """
        if not isinstance(order, Order):
            raise InvalidInput("order", f"expected an Order, got {type(order).__name__}")
        if order.asset not in self._index:
            raise UnknownAsset("asset", f"{order.asset!r} is not one of {list(self._assets)}")
        now = self._order_time(order.timestamp)
        limits = None if self._state is None else self._state.limits
        return self._controls.check(order, now, limits)

    def on_fill(self, fill: Fill) -> None:
        """Book an execution: position, cash, reservations, daily P&L.

        A price worse than the order's limit, outside the price collar (on the
        favourable side for an order's fill, either side for a manual one), or
        for an asset with no price yet raises ``InvalidFill`` and books nothing.
        """
        if not isinstance(fill, Fill):
            raise InvalidInput("fill", f"expected a Fill, got {type(fill).__name__}")
        if fill.asset not in self._index:
            raise UnknownAsset("asset", f"{fill.asset!r} is not one of {list(self._assets)}")
        self._controls.on_fill(fill, self._order_time(None))
        self._refresh_book()

    def cancel(self, order_id: str) -> None:
        """Release what remains of a working order's reserved exposure."""
        self._controls.cancel(order_id)

    def halt(self, reason: str) -> None:
        """Kill switch: deny everything but risk-reducing orders until :meth:`resume`."""
        self._controls.halt(reason)
        self._refresh_book()

    def resume(self) -> None:
        """Lift a halt (a daily loss still above its limit keeps the engine halted)."""
        self._controls.resume()
        self._refresh_book()

    def _refresh_book(self) -> None:
        if self._state is not None:
            self._state = dataclasses.replace(
                self._state,
                positions=np.array(self._controls.positions),
                equity=self._controls.equity,
                trading_state=self._controls.trading_state,
            )

    def _order_time(self, timestamp: Any) -> int:
        if timestamp is None:
            return self._last_ns if self._last_ns is not None else 0
        return to_nanoseconds(timestamp, field="timestamp")

    # ------------------------------------------------------------------ queries
    @property
    def state(self) -> RiskState | None:
        """The latest state (None before the first tick or warm-up)."""
        return self._state

    @property
    def models(self) -> RiskModels:
        """The fitted models, for reading (parameters for reports and scenario calibration).

        Update the engine, never the models directly: the engine keeps its
        state and the models' in step.
        """
        return self._models

    @property
    def limit_chain_state(self) -> tuple:
        """The limit chain's state now (immutable NamedTuples): where a what-if path starts."""
        return self._chain_state

    @property
    def assets(self) -> tuple[str, ...]:
        return self._assets

    @property
    def fit_error(self) -> str | None:
        """Why the last automatic model fit failed (None when it did not): the REDUCING reason."""
        return self._fit_error

    # ------------------------------------------------------------------ replay
    def replay(self, timestamps: Sequence[Any] | np.ndarray, prices: np.ndarray) -> RiskHistory:
        """Process a whole price history at once: the same states as :meth:`update` in a loop.

        ``timestamps`` (T,) strictly increasing and after the engine's clock;
        ``prices`` (T, N) finite and positive, columns in config order. The
        models, limits and execution parameters run through their batch paths;
        the engine ends in the same state as after T updates (to 1e-10).
        """
        times, matrix = self._inputs.replay(timestamps, prices, self._last_ns, self._prices)
        n_steps, n = matrix.shape
        previous = self._prices[None] if not np.isnan(self._prices[0]) else None
        stacked = matrix if previous is None else np.vstack([previous, matrix])
        offset = 0 if previous is None else -1  # rows named as in `prices`
        returns = self._inputs.log_returns(
            stacked, lambda row, asset: (f"prices[{row + offset}][{asset!r}]", "")
        )
        first_return_step = 0 if previous is not None else 1  # step whose return is returns[0]

        covariance = None  # (T, N, N): the models' own array when fitted throughout
        regime_proba = np.full((n_steps, self.config.models.n_regimes), np.nan)
        changepoint = np.zeros(n_steps, dtype=bool)
        correlation_alarm = np.zeros(n_steps, dtype=bool)
        mean = np.zeros((n_steps, n))
        stressed = np.full(n_steps, self.config.models.n_regimes - 1, dtype=np.int64)
        innovations: list[Innovations] = [Innovations("normal")] * n_steps
        fitted = np.zeros(n_steps, dtype=bool)
        long_run = np.full(n_steps, np.nan)

        done = 0  # returns consumed
        while done < returns.shape[0]:
            step = done + first_return_step
            if self._models.fitted:
                path = self._models.replay(returns[done:])
                if step == 0:
                    covariance = path.covariance
                else:
                    covariance = _nan_covariance(n_steps, n, covariance)
                    covariance[step:] = path.covariance
                regime_proba[step:] = path.regime_proba
                changepoint[step:] = path.changepoint
                correlation_alarm[step:] = path.correlation_alarm
                mean[step:] = path.mean
                stressed[step:] = path.stressed_regime
                innovations[step:] = path.innovations
                long_run[step:] = path.long_run_variance
                fitted[step:] = True
                done = returns.shape[0]
            else:
                self._learn_before_fit(returns[done])
                if self._models.fitted:
                    covariance = _nan_covariance(n_steps, n, covariance)
                    covariance[step] = self._models.covariance()
                    regime_proba[step] = self._models.regime_proba()
                    mean[step] = self._models.mean
                    stressed[step] = self._models.stressed_regime
                    innovations[step] = self._models.innovations
                    long_run[step] = self._models.long_run_variance
                    fitted[step] = True
                done += 1

        if covariance is None:  # never fitted during this replay
            covariance = _nan_covariance(n_steps, n, None)
        controls = self._controls
        equity, halted = controls.mark_batch(times, matrix)
        positions = np.array(controls.positions)
        ready = (
            fitted
            & np.all(np.isfinite(covariance), axis=(1, 2))
            & np.all(np.isfinite(regime_proba), axis=1)
        )
        trading_states = [
            TradingState.HALTED if h else TradingState.ACTIVE if r else TradingState.REDUCING
            for h, r in zip(halted.tolist(), ready.tolist(), strict=True)
        ]
        controls.models_ok = bool(ready[-1])
        regimes = np.arange(regime_proba.shape[1])
        stressed_proba = np.sum(np.where(regimes >= stressed[:, None], regime_proba, 0.0), axis=1)
        scales = {id(inn): self._tail_scale(inn) for inn in set(innovations)}
        tail_scale = np.array([scales[id(inn)] for inn in innovations])
        z = self._z_level
        var_per_gross = unit_gross_var_at(covariance, positions * matrix, z) * tail_scale
        diagonal = np.diagonal(covariance, axis1=1, axis2=2)
        inputs = LimitInputs(
            volatility=np.sqrt(diagonal),
            var_per_gross=var_per_gross,
            stressed_proba=stressed_proba,
            changepoint=changepoint,
            correlation_alarm=correlation_alarm,
        )
        # The batch path for every step but the last, then one step: the chain state
        # before the last step is what the last state's derivation replays from.
        last_inputs = LimitInputs(*(np.asarray(field)[-1] for field in inputs))
        last_inputs = last_inputs._replace(
            var_per_gross=float(last_inputs.var_per_gross),
            stressed_proba=float(last_inputs.stressed_proba),
            changepoint=bool(last_inputs.changepoint),
            correlation_alarm=bool(last_inputs.correlation_alarm),
        )
        state_before_last = self._chain_state
        if n_steps > 1:
            head = LimitInputs(*(np.asarray(field)[:-1] for field in inputs))
            head_limits, state_before_last = self._chain.update_batch(
                head, Limits.unbounded(n, n_steps - 1), self._chain_state
            )
        last_limits, self._chain_state = self._chain.update(
            last_inputs, self._unbounded, state_before_last
        )
        if n_steps > 1:
            limits = Limits(
                np.vstack([head_limits.position, last_limits.position[None]]),
                np.append(head_limits.gross, last_limits.gross),
                np.append(head_limits.net, last_limits.net),
                np.vstack([head_limits.order, last_limits.order[None]]),
            )
        else:
            limits = Limits(
                last_limits.position[None],
                np.array([last_limits.gross]),
                np.array([last_limits.net]),
                last_limits.order[None],
            )
        self._previous_chain_state = state_before_last
        self._last_inputs = last_inputs

        regime = np.where(ready, np.argmax(np.nan_to_num(regime_proba, nan=-1.0), axis=1), stressed)
        regime = np.minimum(regime, len(self.config.execution.policy_ids) - 1)
        w = self._models.weights
        volatility_ratio = np.sqrt((covariance @ w @ w) / long_run)
        execution = execution_params_batch(
            self.config.execution, volatility_ratio, stressed_proba, regime
        )

        self._last_ns = int(times[-1])
        self._prices = matrix[-1].copy()
        history = RiskHistory(
            timestamps=times,
            assets=self._assets,
            prices=matrix,
            covariance=covariance,
            mean=mean,
            regime_proba=regime_proba,
            stressed_regime=stressed,
            changepoint=changepoint,
            correlation_alarm=correlation_alarm,
            innovations=tuple(innovations),
            position_limits=limits.position,
            gross_limits=limits.gross,
            net_limits=limits.net,
            order_limits=limits.order,
            execution=(
                execution.risk_aversion,
                execution.participation_cap,
                execution.urgency,
                tuple(execution.policy_id),
            ),
            trading_state=tuple(trading_states),
            positions=positions,
            equity=equity,
            models_ready=ready,
        )
        self._state = self._restate_last(history)
        return history

    def _restate_last(self, history: RiskHistory) -> RiskState:
        last = history[-1]
        explain = self._explainer(self._last_inputs, self._previous_chain_state)
        return dataclasses.replace(last, explain_limits=explain)

    # ------------------------------------------------------------------ persistence
    def snapshot(self) -> bytes:
        """The complete state as bytes in a safe format (no pickle; see riskengine.snapshot)."""
        self._models.settle()  # a refit in flight is part of the state: wait for it
        state = self._state
        if state is not None:  # the explainer holds functions: rebuilt on restore
            state = dataclasses.replace(state, explain_limits=None)
        payload = {
            "config": self.config.to_mapping(),
            "models": self._models,
            "controls": self._controls,
            "chain_state": self._chain_state,
            "previous_chain_state": self._previous_chain_state,
            "last_inputs": self._last_inputs,
            "last_ns": self._last_ns,
            "prices": self._prices,
            "pending": list(self._pending),
            "fit_error": self._fit_error,
            "since_fit_attempt": self._since_fit_attempt,
            "state": state,
        }
        register_engine_types()
        return snapshot.dumps(payload, kind=SNAPSHOT_KIND, version=SNAPSHOT_VERSION)

    @classmethod
    def restore(
        cls,
        blob: bytes,
        *,
        max_total_bytes: int = MAX_TOTAL_BYTES,
        max_json_bytes: int = MAX_JSON_BYTES,
    ) -> Engine:
        """An engine that continues exactly where the snapshotted one stopped.

        Parameters
        ----------
        blob : bytes
            What :meth:`snapshot` returned.
        max_total_bytes, max_json_bytes : int
            Caps on what the snapshot may unpack to, in all and for its
            ``state.json``, checked from the zip directory before anything is
            read (:func:`riskengine.snapshot.loads`). The defaults hold an
            engine about twenty times the size of ten assets with
            ``models.history = 2520`` (0.7 MB); raise them for larger books.

        Raises
        ------
        InvalidSnapshot
            Bytes that are not a snapshot, or too large, or of another kind or
            version; or a payload that does not fit its own config, naming the
            field (``config.assets``, ``controls.limits``, ``state.covariance``;
            see :mod:`riskengine.engine.restore`).
        """
        register_engine_types()
        payload = snapshot.loads(
            blob,
            kind=SNAPSHOT_KIND,
            version=SNAPSHOT_VERSION,
            max_total_bytes=max_total_bytes,
            max_json_bytes=max_json_bytes,
        )
        config = restored_config(payload)
        engine = cls(config)
        check_payload(payload, config, engine._chain_state)
        engine._models = payload["models"]
        engine._controls = payload["controls"]
        engine._chain_state = payload["chain_state"]
        engine._previous_chain_state = payload["previous_chain_state"]
        engine._last_inputs = payload["last_inputs"]
        engine._last_ns = payload["last_ns"]
        engine._prices = payload["prices"]
        engine._pending.extend(payload["pending"])
        engine._fit_error = payload["fit_error"]
        engine._since_fit_attempt = payload["since_fit_attempt"]
        state = payload["state"]
        if state is not None and engine._last_inputs is not None:
            explain = engine._explainer(engine._last_inputs, engine._previous_chain_state)
            state = dataclasses.replace(state, explain_limits=explain)
        engine._state = state
        return engine
