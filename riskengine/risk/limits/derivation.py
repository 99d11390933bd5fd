"""Why the limits are what they are: :class:`LimitDerivation`, made by ``LimitChain.explain``.

It holds the limits after every stage of a chain, tells which stage moved
which limit by which factor, prints a text :meth:`~LimitDerivation.summary`,
and attributes the change since an earlier derivation to the stages
(:meth:`~LimitDerivation.change_from`; the factors multiply to the change).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from riskengine.errors import InvalidInput
from riskengine.risk.limits.types import LimitInputs, Limits, format_notional

__all__ = ["LimitChange", "LimitDerivation", "LimitMove"]


def _labels(n_assets: int, assets: Sequence[str] | None) -> tuple[str, ...]:
    if assets is None:
        assets = [str(i) for i in range(n_assets)]
    elif len(assets) != n_assets:
        raise InvalidInput("assets", f"expected {n_assets} names, got {len(assets)}")
    return (
        *(f"position[{a}]" for a in assets),
        "gross",
        "net",
        *(f"order[{a}]" for a in assets),
    )


def _multiplier(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """What a stage did to a limit, as a factor.

    1 if it left the limit alone; ``after`` if it set an unbounded one (a
    builder); ``after / before`` between positive finite values; NaN when
    that is not a multiplication (to or from 0, to inf, NaN).
    """
    before, after = np.asarray(before, dtype=np.float64), np.asarray(after, dtype=np.float64)
    positive = (after > 0.0) & (after < np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(positive & (before > 0.0) & (before < np.inf), after / before, np.nan)
    ratio = np.where(positive & (before == np.inf), after, ratio)
    return np.where(after == before, 1.0, ratio)


class LimitMove(NamedTuple):
    """One stage changing one limit."""

    limit: str
    stage: str
    before: float
    after: float

    @property
    def factor(self) -> float:
        """``after / before``; ``after`` when ``before`` was unbounded; NaN to or from 0."""
        return float(_multiplier(self.before, self.after))


class LimitChange(NamedTuple):
    """A limit's change between two derivations, attributed to the stages.

    Attributes
    ----------
    limit : str
        The label, e.g. ``"position[AAPL]"``.
    before, after : float
        The final limit then and now.
    factors : tuple of (stage, factor), or None
        How much each stage's own multiplier changed; they multiply to
        ``after / before``. None when a stage went to or from 0 or inf then or
        now (no multiplicative account exists): read ``stages`` instead.
    stages : tuple of (stage, before, after)
        The stages that moved the limit now (as :meth:`LimitDerivation.moves`).
    """

    limit: str
    before: float
    after: float
    factors: tuple[tuple[str, float], ...] | None
    stages: tuple[tuple[str, float, float], ...]

    def __str__(self) -> str:
        if self.factors is not None:
            moved = ", ".join(f"{stage} x{f:.3g}" for stage, f in self.factors if f != 1.0)
        else:
            moved = "now " + ", ".join(
                f"{stage} {format_notional(then)} -> {format_notional(now)}"
                for stage, then, now in self.stages
            )
        return (
            f"{self.limit} {format_notional(self.before)} -> {format_notional(self.after)}: {moved}"
        )


@dataclasses.dataclass(frozen=True, eq=False)
class LimitDerivation:
    """How one step's limits were derived: the limits after every stage of a chain.

    Made by :meth:`LimitChain.explain`. Limits are addressed by label:
    ``position[i]``, ``gross``, ``net``, ``order[i]`` (``i`` an asset name when
    ``assets`` is given, else its index).

    Examples
    --------
    >>> from riskengine.risk.limits import chain, regime_haircut, smooth, var_budget, vol_target
    >>> rules = chain(vol_target(21_600.0, 0.1), var_budget(50_000.0), regime_haircut(0.5),
    ...               smooth(5.0))
    >>> state = rules.init(1)
    >>> calm = LimitInputs(np.array([0.018]), 0.02, 0.0, False)
    >>> _, state, before = rules.explain(calm, Limits.unbounded(1), state)
    >>> stressed = LimitInputs(np.array([0.018]), 0.02, 0.36, False)
    >>> _, state, derivation = rules.explain(stressed, Limits.unbounded(1), state)
    >>> derivation.moved_by("position[AAPL]", assets=["AAPL"])
    ('vol_target', 'regime_haircut')
    >>> print(derivation.change_from(before, assets=["AAPL"])[0])
    position[AAPL] 1.2M -> 984k: regime_haircut x0.82
    >>> print(derivation.summary(assets=["AAPL"]))
    Limit derivation: P(stressed) = 0.36, change point: no, correlation alarm: no, VaR ... = 2.000%
    limit           input            vol_target  var_budget  regime_haircut  smooth  final
    position[AAPL]  sigma 1.80%      1.2M        .           984k            .       984k
    gross           VaR/gross 2.00%  .           2.5M        2.05M           .       2.05M
    net             VaR/gross 2.00%  .           2.5M        2.05M           .       2.05M
    order[AAPL]     sigma 1.80%      120k        .           98.4k           .       98.4k
    vol_target: position = 21,600 / sigma, order = 0.1 x position
    var_budget: gross = net = 50,000 / VaR per gross 2.000%
    regime_haircut: x0.820 (P(stressed) = 0.36)
    smooth: EMA, halflife 5 steps, tightening at once, loosening smoothed
    """

    inputs: LimitInputs
    initial: Limits
    stage_names: tuple[str, ...]
    stage_limits: tuple[Limits, ...]
    _describers: tuple[Callable[[], str], ...] = dataclasses.field(default=(), repr=False)

    @property
    def final(self) -> Limits:
        """The chain's output."""
        return self.stage_limits[-1] if self.stage_limits else self.initial

    @functools.cached_property
    def notes(self) -> tuple[str, ...]:
        """Each stage's own account of what it did (computed on first access)."""
        return tuple(describe() for describe in self._describers)

    def after(self, stage: str) -> Limits:
        """The limits after ``stage``."""
        return self.stage_limits[self._index(stage)]

    def before(self, stage: str) -> Limits:
        """The limits entering ``stage``."""
        index = self._index(stage)
        return self.stage_limits[index - 1] if index else self.initial

    def _index(self, stage: str) -> int:
        if stage not in self.stage_names:
            raise InvalidInput("stage", f"unknown stage {stage!r}; stages: {self.stage_names}")
        return self.stage_names.index(stage)

    def table(self) -> np.ndarray:
        """Every limit (rows, in :meth:`labels` order) entering the chain and after each stage."""
        return np.stack([self.initial.columns(), *(s.columns() for s in self.stage_limits)], axis=1)

    def labels(self, assets: Sequence[str] | None = None) -> tuple[str, ...]:
        """The row labels of :meth:`table`."""
        return _labels(np.size(self.initial.position), assets)

    def moves(self, assets: Sequence[str] | None = None) -> tuple[LimitMove, ...]:
        """Every (limit, stage) where the stage changed the limit, in chain order."""
        table, labels = self.table(), self.labels(assets)
        moved = table[:, 1:] != table[:, :-1]
        moved &= ~(np.isnan(table[:, 1:]) & np.isnan(table[:, :-1]))
        return tuple(
            LimitMove(
                labels[row],
                self.stage_names[col],
                float(table[row, col]),
                float(table[row, col + 1]),
            )
            for row, col in zip(*np.nonzero(moved), strict=True)
        )

    def moved_by(self, limit: str, assets: Sequence[str] | None = None) -> tuple[str, ...]:
        """The stages that changed ``limit`` (a label such as ``"position[AAPL]"``)."""
        if limit not in self.labels(assets):
            raise InvalidInput("limit", f"unknown limit {limit!r}")
        return tuple(move.stage for move in self.moves(assets) if move.limit == limit)

    def multipliers(self) -> np.ndarray:
        """Each stage's factor on each limit (rows as :meth:`table`, one column a stage)."""
        table = self.table()
        return _multiplier(table[:, :-1], table[:, 1:])

    def change_from(
        self, previous: LimitDerivation, assets: Sequence[str] | None = None
    ) -> tuple[LimitChange, ...]:
        """Attribute the change of every final limit since ``previous`` to the stages.

        A stage's contribution is the ratio of its multipliers now and then;
        they multiply to ``after / before``, so "position[AAPL] 1.2M -> 984k:
        regime_haircut x0.82" says the haircut did it. A limit that went
        through 0 (an unusable model) is explained by the stage outputs instead.
        """
        if previous.stage_names != self.stage_names:
            raise InvalidInput(
                "previous", f"stages {previous.stage_names} differ from {self.stage_names}"
            )
        labels = self.labels(assets)
        now, then = self.multipliers(), previous.multipliers()
        ratio = now / then
        table = self.table()
        final_now, final_then = self.final.columns(), previous.final.columns()
        changes = []
        for row in np.flatnonzero(final_now != final_then):
            factors = None
            if np.all(np.isfinite(ratio[row]) & (ratio[row] > 0.0)):
                factors = tuple(zip(self.stage_names, ratio[row].tolist(), strict=True))
            stages = tuple(
                (stage, float(table[row, col]), float(table[row, col + 1]))
                for col, stage in enumerate(self.stage_names)
                if table[row, col] != table[row, col + 1]
            )
            changes.append(
                LimitChange(
                    labels[row], float(final_then[row]), float(final_now[row]), factors, stages
                )
            )
        return tuple(changes)

    def summary(self, assets: Sequence[str] | None = None) -> str:
        """A text table: the value after each stage that moved it ("." if unchanged)."""
        inputs, labels, table = self.inputs, self.labels(assets), self.table()
        volatility = np.asarray(inputs.volatility, dtype=np.float64)
        var_per_gross = float(inputs.var_per_gross)
        header = (
            f"Limit derivation: P(stressed) = {float(inputs.stressed_proba):.2f}, "
            f"change point: {'yes' if inputs.changepoint else 'no'}, "
            f"correlation alarm: {'yes' if inputs.correlation_alarm else 'no'}, "
            f"VaR per gross = {var_per_gross:.3%}"
        )
        sigma = [f"sigma {v:.2%}" if np.isfinite(v) else f"sigma {v}" for v in volatility]
        var = f"VaR/gross {var_per_gross:.2%}"
        source = [*sigma, var, var, *sigma]
        rows = [["limit", "input", *self.stage_names, "final"]]
        for row, label in enumerate(labels):
            cells = [label, source[row]]
            for col in range(len(self.stage_names)):
                before, after = table[row, col], table[row, col + 1]
                changed = before != after and not (math.isnan(before) and math.isnan(after))
                cells.append(format_notional(after) if changed else ".")
            rows.append([*cells, format_notional(table[row, -1])])
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = [header]
        lines += [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines += [
            f"{name}: {note}" for name, note in zip(self.stage_names, self.notes, strict=True)
        ]
        return "\n".join(lines)
