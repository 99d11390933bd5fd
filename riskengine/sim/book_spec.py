"""Specification of the limit-order-book simulator (the ``[book]`` table of a scenario).

A :class:`BookSpec` is plain, validated data: the order-flow intensities of a
Cont-Stoikov-Talreja (2010) zero-intelligence book for each *book regime*
(e.g. calm / stressed), the per-event regime transition matrix, the order-size
distributions and the size of the simulation window.  :meth:`BookSpec.to_params`
turns it into the JAX :class:`~riskengine.sim.book_types.BookParams` pytree that
the kernel (:func:`~riskengine.sim.book_kernel.reset`,
:func:`~riskengine.sim.book_kernel.step`, ...) consumes.

Order-flow model (all rates are relative intensities per unit of model time;
the simulator runs in *event time*, one event per tick of event time, so only
ratios between rates matter):

* limit buy (sell) orders arrive at distance ``i = 1..levels`` ticks below the
  best ask (above the best bid) with rate
  ``lambda_r(i) = limit_scale[r] / i ** limit_exponent[r]`` per side;
* market buy (sell) orders arrive with rate ``market_rate[r]`` per side;
* each unit of resting volume at distance ``i`` from the opposite best price is
  cancelled with rate ``theta_r(i) = cancel_rate[r] * cancel_decay[r] ** (i - 1)``.

The geometric cancellation profile is a deliberate refinement of the free-form
``theta(i)`` of the paper: it is *separable* in window coordinates
(``decay ** (best - j) = decay ** best * decay ** -j``), so the simulator forms the
cancellation weights of all levels with two multiplications instead of a gather,
which is what keeps the hot path at several million events per second.
``cancel_decay = 1`` gives the flat per-unit cancellation of Smith-Farmer books.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from riskengine._validation import (
    as_array,
    as_float,
    as_int,
    check_keys,
    check_stochastic_matrix,
)

if TYPE_CHECKING:  # pragma: no cover - import only for annotations
    from riskengine.sim.book_types import BookParams

__all__ = ["BookSpec"]

_MIN_CANCEL_DECAY = 0.25  # keeps decay ** +-window inside float32 range


def _probabilities(value: Any, *, field: str) -> np.ndarray:
    """Validate a size distribution: non-negative, sums to one, length >= 1."""
    if isinstance(value, bool) or np.ndim(value) != 1:
        raise ValueError(f"{field}: expected a list of probabilities, got {value!r}")
    array = as_array(value, field=field, shape=(len(value),), low=0.0, high=1.0)
    if array.size == 0:
        raise ValueError(f"{field}: expected at least one probability")
    if abs(array.sum() - 1.0) > 1e-9:
        raise ValueError(f"{field}: probabilities sum to {array.sum():.12g}, not 1")
    return array


def _regime_names(value: Any, *, field: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise TypeError(f"{field}: expected a list of regime names, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{field}: expected at least one regime")
    for index, name in enumerate(value):
        if not isinstance(name, str) or not name:
            raise TypeError(f"{field}[{index}]: expected a non-empty string, got {name!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{field}: regime names must be unique, got {list(value)}")
    return tuple(value)


@dataclasses.dataclass(frozen=True, eq=False)
class BookSpec:
    """Validated parameters of the limit order book, one entry per book regime.

    Parameters
    ----------
    regimes : tuple of str
        Names of the book regimes (``R = len(regimes)``), e.g. ``("calm", "stressed")``.
    tick_size : float
        Price of one tick, in currency units per tick (> 0).
    initial_price : float
        Best ask at reset, in currency units; rounded to the nearest tick (> 0).
    levels : int
        ``L``, the number of price levels per side on which order flow acts
        (distances ``1..L`` ticks from the opposite best price), >= 2.
    window_margin : int
        ``M``, extra ticks per side in the simulation window, which spans
        ``G = 2 * (L + M)`` ticks; >= 2.
    recentre_trigger : int
        The window shifts by one tick per event towards the mid while the mid is
        more than this many ticks from the window centre; in ``[1, M]``.
    events_per_step : int
        Background order-book events simulated per agent ``step`` (>= 1).
    limit_scale : ndarray, shape (R,)
        ``k_r`` in ``lambda_r(i) = k_r / i ** a_r``, limit orders per unit time per side (> 0).
    limit_exponent : ndarray, shape (R,)
        ``a_r``, power-law decay of the limit-order rate with distance (>= 0, dimensionless).
    market_rate : ndarray, shape (R,)
        ``mu_r``, market orders per unit time per side (>= 0).
    cancel_rate : ndarray, shape (R,)
        ``theta_r(1)``, cancellations per unit of resting volume per unit time at
        distance 1 (>= 0).
    cancel_decay : ndarray, shape (R,)
        Ratio ``theta_r(i + 1) / theta_r(i)``, in ``[0.25, 1]`` (dimensionless).
    limit_size_probs, market_size_probs, cancel_size_probs : ndarray, shape (K,)
        Probability that an order has size ``1, 2, ..., K`` lots (each sums to one).
    transition : ndarray, shape (R, R)
        Per-event regime transition matrix, ``transition[r, s] = P(s | r)``.
    initial_regime_probs : ndarray, shape (R,)
        Distribution of the regime at reset.

    Examples
    --------
    >>> spec = BookSpec()
    >>> spec.regimes, spec.levels, spec.window
    (('calm',), 20, 64)
    >>> spec.initial_depth().shape
    (1, 20)
    >>> BookSpec(market_rate=[-1.0])
    Traceback (most recent call last):
    ValueError: BookSpec.market_rate: every value must be >= 0.0, got [-1.0]
    """

    regimes: tuple[str, ...] = ("calm",)
    tick_size: float = 0.01
    initial_price: float = 100.0
    levels: int = 20
    window_margin: int = 12
    recentre_trigger: int = 3
    events_per_step: int = 10
    limit_scale: Any = 1.9
    limit_exponent: Any = 0.5
    market_rate: Any = 1.0
    cancel_rate: Any = 0.25
    cancel_decay: Any = 0.97
    limit_size_probs: Any = (0.5, 0.3, 0.2)
    market_size_probs: Any = (0.5, 0.3, 0.2)
    cancel_size_probs: Any = (1.0,)
    transition: Any = None
    initial_regime_probs: Any = None

    def __post_init__(self) -> None:
        values = _validate({f.name: getattr(self, f.name) for f in _FIELDS}, field="BookSpec")
        for name, value in values.items():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_table(cls, table: Mapping[str, Any], field: str = "book") -> BookSpec:
        """Parse a TOML ``[book]`` table, naming the dotted field in every error.

        Every key is optional (defaults are a one-regime calm book); unknown keys
        are rejected.

        Examples
        --------
        >>> spec = BookSpec.from_table({"regimes": ["calm", "stressed"],
        ...     "market_rate": [1.0, 2.0], "transition": [[0.999, 0.001], [0.01, 0.99]]})
        >>> spec.market_rate.tolist(), spec.limit_scale.tolist()
        ([1.0, 2.0], [1.9, 1.9])
        >>> BookSpec.from_table({"regimes": ["a", "b"], "transition": [[0.5, 0.6], [0, 1]]})
        Traceback (most recent call last):
        ValueError: book.transition: row 0 sums to 1.1, not 1
        >>> BookSpec.from_table({"levels": 20, "spread": 1})
        Traceback (most recent call last):
        ValueError: book: unknown key(s) ['spread']; allowed: [...]
        """
        check_keys(table, field=field, optional=[f.name for f in _FIELDS])
        values = _validate(dict(table), field=field)
        return cls(**values)

    # ---------------------------------------------------------------- derived
    @property
    def n_regimes(self) -> int:
        """Number of book regimes ``R``."""
        return len(self.regimes)

    @property
    def window(self) -> int:
        """``G = 2 * (levels + window_margin)``, ticks in the simulation window."""
        return 2 * (self.levels + self.window_margin)

    def limit_rates(self) -> np.ndarray:
        """``lambda_r(i)`` per regime and distance, shape ``(R, L)``, per side.

        >>> BookSpec(levels=3, limit_exponent=[1.0]).limit_rates().round(3).tolist()
        [[1.9, 0.95, 0.633]]
        """
        distance = np.arange(1, self.levels + 1, dtype=np.float64)
        return self.limit_scale[:, None] / distance[None, :] ** self.limit_exponent[:, None]

    def cancel_rates(self) -> np.ndarray:
        """``theta_r(i)`` per regime and distance, shape ``(R, L)``, per unit volume."""
        distance = np.arange(self.levels, dtype=np.float64)
        return self.cancel_rate[:, None] * self.cancel_decay[:, None] ** distance[None, :]

    def initial_depth(self) -> np.ndarray:
        """Steady-state-like depth at reset, lots per level, shape ``(R, L)``, int.

        Balances arrival and cancellation at each distance,
        ``E[limit size] * lambda_r(i) = E[cancel size] * theta_r(i) * Q_r(i)``,
        rounded and at least one lot so that the book starts two-sided.  Market
        orders thin the first levels further once the simulation runs.
        """
        sizes = np.arange(1, 1 + max(len(self.limit_size_probs), len(self.cancel_size_probs)))
        mean_limit = float(sizes[: len(self.limit_size_probs)] @ self.limit_size_probs)
        mean_cancel = float(sizes[: len(self.cancel_size_probs)] @ self.cancel_size_probs)
        theta = np.maximum(self.cancel_rates(), 1e-12)
        depth = mean_limit * self.limit_rates() / (mean_cancel * theta)
        return np.clip(np.rint(depth), 1, 10_000).astype(np.int32)

    def to_params(self) -> BookParams:
        """Build the JAX :class:`~riskengine.sim.book_types.BookParams` pytree.

        The rates become the cumulative tables the kernel's inverse-CDF draws
        search (each ending in exactly 1, so a uniform below 1 always lands on
        a category), and the cancellation decay its separable factors.

        >>> params = BookSpec().to_params()
        >>> params.levels, params.window, params.limit_cdf.shape
        (20, 64, (1, 20))
        """
        # Lazy: the spec (and the scenario loader that imports it) stays jax-free.
        import jax.numpy as jnp

        from riskengine.sim.book_types import BookParams

        window = self.window
        rates = self.limit_rates()
        limit_cdf = np.cumsum(rates, axis=1) / rates.sum(axis=1, keepdims=True)
        limit_cdf[:, -1] = 1.0  # u < 1 always lands on a level
        offset = np.arange(window) - window // 2
        log_decay = np.log(self.cancel_decay)
        size_tables = (self.limit_size_probs, self.market_size_probs, self.cancel_size_probs)
        n_sizes = max(len(p) for p in size_tables)
        size_cdf = np.ones((3, n_sizes))
        for row, probs in enumerate(size_tables):
            size_cdf[row, : len(probs)] = np.cumsum(probs)
            size_cdf[row, len(probs) - 1 :] = 1.0
        # |best - 1 - G/2| < G + L + 2 for every reachable best price.
        n_bits = int(window + self.levels + 2).bit_length()
        bit_power = 2.0 ** np.arange(n_bits)
        decay_powers = np.stack(
            [
                np.exp(log_decay[:, None] * bit_power[None, :]),
                np.exp(-log_decay[:, None] * bit_power[None, :]),
            ],
            axis=1,
        ).clip(0.0, np.finfo(np.float32).max)  # unreachable high bits must not be inf
        transition_cdf = np.cumsum(self.transition, axis=1)
        transition_cdf[:, -1] = 1.0
        regime_cdf = np.cumsum(self.initial_regime_probs)
        regime_cdf[-1] = 1.0
        f32 = functools.partial(jnp.asarray, dtype=jnp.float32)
        return BookParams(
            limit_cdf=f32(limit_cdf),
            limit_total=f32(rates.sum(axis=1)),
            market_rate=f32(self.market_rate),
            cancel_rate=f32(self.cancel_rate),
            decay_powers=f32(decay_powers),
            profile_down=f32(np.exp(-log_decay[:, None] * offset[None, :])),
            profile_up=f32(np.exp(log_decay[:, None] * offset[None, :])),
            size_cdf=f32(size_cdf),
            transition_cdf=f32(transition_cdf),
            initial_regime_cdf=f32(regime_cdf),
            initial_depth=jnp.asarray(self.initial_depth(), dtype=jnp.int32),
            tick_size=f32(self.tick_size),
            initial_tick=jnp.asarray(round(self.initial_price / self.tick_size), dtype=jnp.int32),
            levels=self.levels,
            window=window,
            events_per_step=self.events_per_step,
            recentre_trigger=self.recentre_trigger,
        )


_FIELDS = dataclasses.fields(BookSpec)


def _validate(values: dict[str, Any], *, field: str) -> dict[str, Any]:
    """Normalise and validate every BookSpec field, naming ``field.key`` on error."""
    defaults = {f.name: f.default for f in _FIELDS}
    merged = {**defaults, **values}
    out: dict[str, Any] = {}
    out["regimes"] = _regime_names(merged["regimes"], field=f"{field}.regimes")
    n = len(out["regimes"])
    out["tick_size"] = as_float(
        merged["tick_size"], field=f"{field}.tick_size", low=0, low_open=True
    )
    out["initial_price"] = as_float(
        merged["initial_price"], field=f"{field}.initial_price", low=0, low_open=True
    )
    initial_tick = round(out["initial_price"] / out["tick_size"])
    if not 1 <= initial_tick <= 2**30:
        raise ValueError(
            f"{field}.initial_price: {out['initial_price']} / tick_size is {initial_tick} ticks;"
            " must be in [1, 2**30]"
        )
    out["levels"] = as_int(merged["levels"], field=f"{field}.levels", low=2, high=512)
    out["window_margin"] = as_int(
        merged["window_margin"], field=f"{field}.window_margin", low=2, high=512
    )
    out["recentre_trigger"] = as_int(
        merged["recentre_trigger"],
        field=f"{field}.recentre_trigger",
        low=1,
        high=out["window_margin"],
    )
    out["events_per_step"] = as_int(
        merged["events_per_step"], field=f"{field}.events_per_step", low=1, high=1_000_000
    )
    per_regime = {
        "limit_scale": dict(low=0.0, low_open=True),
        "limit_exponent": dict(low=0.0, high=5.0),
        "market_rate": dict(low=0.0),
        "cancel_rate": dict(low=0.0),
        "cancel_decay": dict(low=_MIN_CANCEL_DECAY, high=1.0),
    }
    for key, bounds in per_regime.items():
        out[key] = as_array(merged[key], field=f"{field}.{key}", shape=(n,), **bounds)
    for key in ("limit_size_probs", "market_size_probs", "cancel_size_probs"):
        out[key] = _probabilities(merged[key], field=f"{field}.{key}")
    if merged["transition"] is None:
        out["transition"] = np.eye(n)
    else:
        out["transition"] = as_array(
            merged["transition"], field=f"{field}.transition", shape=(n, n), low=0.0, high=1.0
        )
        check_stochastic_matrix(out["transition"], field=f"{field}.transition")
    if merged["initial_regime_probs"] is None:
        out["initial_regime_probs"] = np.eye(n)[0]
    else:
        probs = as_array(
            merged["initial_regime_probs"],
            field=f"{field}.initial_regime_probs",
            shape=(n,),
            low=0.0,
            high=1.0,
        )
        if abs(probs.sum() - 1.0) > 1e-9:
            raise ValueError(
                f"{field}.initial_regime_probs: probabilities sum to {probs.sum():.12g}, not 1"
            )
        out["initial_regime_probs"] = probs
    return out
