"""Composition: :func:`chain` applies limit transforms in order, with the same interface as one.

The state is a tuple with one entry per transform, as in optax, and
:meth:`LimitChain.explain` returns, next to the limits, the
:class:`~riskengine.risk.limits.derivation.LimitDerivation` of the step.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from riskengine._validation import as_int
from riskengine.errors import InvalidConfig, InvalidInput
from riskengine.risk.limits.derivation import LimitDerivation
from riskengine.risk.limits.types import LimitInputs, Limits, LimitTransform
from riskengine.risk.limits.validation import config_value, stage_name

__all__ = ["LimitChain", "chain"]


def _check_batch(inputs: LimitInputs, limits: Limits) -> tuple[LimitInputs, Limits, int, int]:
    """Batch inputs and limits as float arrays of consistent (T, N) / (T,) shapes."""
    volatility = np.asarray(inputs.volatility, dtype=np.float64)
    if volatility.ndim != 2:
        raise InvalidInput("volatility", f"expected shape (T, N), got {volatility.shape}")
    n_steps, n_assets = volatility.shape
    checked = LimitInputs(
        volatility,
        np.asarray(inputs.var_per_gross, dtype=np.float64),
        np.asarray(inputs.stressed_proba, dtype=np.float64),
        np.asarray(inputs.changepoint, dtype=bool),
        # Not given (the default False) on a batch: no alarm on any step.
        np.asarray(inputs.correlation_alarm, dtype=bool)
        if np.ndim(inputs.correlation_alarm)
        else np.zeros(n_steps, dtype=bool) | bool(inputs.correlation_alarm),
    )
    for field in ("var_per_gross", "stressed_proba", "changepoint", "correlation_alarm"):
        if getattr(checked, field).shape != (n_steps,):
            shape = getattr(checked, field).shape
            raise InvalidInput(field, f"expected shape ({n_steps},), got {shape}")
    arrays = []
    for field, value in zip(Limits._fields, limits, strict=True):
        shape = (n_steps, n_assets) if field in ("position", "order") else (n_steps,)
        array = np.asarray(value, dtype=np.float64)
        if array.shape != shape:
            raise InvalidInput(f"limits.{field}", f"expected shape {shape}, got {array.shape}")
        arrays.append(array)
    return checked, Limits(*arrays), n_steps, n_assets


@dataclasses.dataclass(frozen=True, eq=False)
class LimitChain:
    """Transforms applied in order; the same interface as one transform (so chains nest).

    The state is a tuple with one entry per transform, as in optax. Build it
    with :func:`chain`.

    Examples
    --------
    >>> from riskengine.risk.limits import regime_haircut, vol_target
    >>> rules = chain(vol_target(20_000.0, 0.1), regime_haircut(0.5))
    >>> rules.names
    ('vol_target', 'regime_haircut')
    >>> inputs = LimitInputs(np.array([0.01]), 0.02, 1.0, False)
    >>> limits, state, derivation = rules.explain(inputs, Limits.unbounded(1), rules.init(1))
    >>> limits.position.tolist(), derivation.moved_by("position[0]")
    ([1000000.0], ('vol_target', 'regime_haircut'))
    """

    transforms: tuple[LimitTransform | LimitChain, ...]
    name: str = "chain"
    _updates: tuple = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = [transform.name for transform in self.transforms]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise InvalidConfig("transforms", f"stage names must be unique, got {duplicates} twice")
        object.__setattr__(self, "_updates", tuple(t.update for t in self.transforms))

    @property
    def names(self) -> tuple[str, ...]:
        """The stages' names, in order."""
        return tuple(transform.name for transform in self.transforms)

    def init(self, n_assets: int) -> tuple:
        """The initial state: one entry per transform."""
        n_assets = config_value(as_int, n_assets, "n_assets", low=1)
        return tuple(transform.init(n_assets) for transform in self.transforms)

    def update(self, inputs: LimitInputs, limits: Limits, state: tuple) -> tuple[Limits, tuple]:
        """One step: ``(limits, state)`` after every transform. No input checks (hot path)."""
        new_state = []
        for update, transform_state in zip(self._updates, state, strict=True):
            limits, transform_state = update(inputs, limits, transform_state)
            new_state.append(transform_state)
        return limits, tuple(new_state)

    def update_batch(
        self, inputs: LimitInputs, limits: Limits, state: tuple
    ) -> tuple[Limits, tuple]:
        """Many steps (leading time axis): equals :meth:`update` in a loop to 1e-10."""
        inputs, limits, _, _ = _check_batch(inputs, limits)
        new_state = []
        for transform, transform_state in zip(self.transforms, state, strict=True):
            limits, transform_state = transform.update_batch(inputs, limits, transform_state)
            new_state.append(transform_state)
        return limits, tuple(new_state)

    def explain(
        self, inputs: LimitInputs, limits: Limits, state: tuple
    ) -> tuple[Limits, tuple, LimitDerivation]:
        """:meth:`update`, plus the :class:`LimitDerivation` of the result."""
        initial, stages, new_state = limits, [], []
        for transform, transform_state in zip(self.transforms, state, strict=True):
            limits, transform_state = transform.update(inputs, limits, transform_state)
            stages.append(limits)
            new_state.append(transform_state)
        new_state = tuple(new_state)
        derivation = LimitDerivation(
            inputs=inputs,
            initial=initial,
            stage_names=self.names,
            stage_limits=tuple(stages),
            _describers=tuple(
                functools.partial(t.describe, inputs, s)
                for t, s in zip(self.transforms, new_state, strict=True)
            ),
        )
        return limits, new_state, derivation

    def describe(self, inputs: LimitInputs, state: tuple) -> str:
        """The stages' descriptions, joined (when this chain is a stage of another)."""
        return "; ".join(
            f"{t.name}: {t.describe(inputs, s)}"
            for t, s in zip(self.transforms, state, strict=True)
        )


def chain(*transforms: LimitTransform | LimitChain, name: str = "chain") -> LimitChain:
    """Compose transforms, applied left to right; stage names must be unique.

    >>> from riskengine.risk.limits import smooth
    >>> chain(smooth(2.0), smooth(4.0))
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: transforms: stage names must be unique, got ['smooth'] twice
    """
    return LimitChain(tuple(transforms), name=stage_name(name))
