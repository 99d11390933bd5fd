"""EngineConfig: everything the engine needs, frozen, keyword-only, unknown fields rejected.

Sections mirror the engine's parts, so a TOML file reads like the system:

.. code-block:: toml

    assets = ["SPX", "NDX"]
    capital = 10_000_000

    [hard]       # PreTradeControls: hold whatever the models say
    max_position_notional = 5_000_000

    [dynamic]    # the regime-adaptive limit chain
    var_budget = 150_000

    [execution]  # parameters for the execution layer

    [models]     # GARCH / DCC / HMM / change detection
    vol = "GJR"
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from riskengine.engine.model_stack import ModelConfig
from riskengine.errors import InvalidConfig
from riskengine.risk.execution_params import ExecutionConfig
from riskengine.risk.limits import DynamicLimitsConfig
from riskengine.risk.pretrade import HardLimits

__all__ = ["EngineConfig"]

_SECTIONS = {
    "hard": HardLimits,
    "dynamic": DynamicLimitsConfig,
    "execution": ExecutionConfig,
    "models": ModelConfig,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """The engine's configuration; every field but ``assets`` has a default.

    Parameters
    ----------
    assets : sequence of str
        The instruments, in the order every array uses (one or more; with
        one, the correlation is 1 and the covariance is its GARCH variance).
    capital : float
        Starting cash; equity is cash plus positions at the last prices, and
        default VaR weights are positions' value over equity.
    max_abs_log_return : float or None
        The jump filter: a price whose log return from the asset's previous
        price is larger than this in absolute value (default ``log(10)``: a
        tenfold rise or a fall to a tenth in one step) is treated as bad data
        and refused with :class:`~riskengine.errors.InvalidPrice`, which
        quotes the tick (time, previous and new price) for review; the engine
        is unchanged. A real crash of that size in one step is rarer than a
        fat-fingered or unadjusted price, and a crash is what the models are
        for: raise the filter (or set None) for instruments that can move so
        far. Applies to ``update``, ``replay`` and ``warm_up``.
    missing_prices : {"carry_forward", "refuse"}
        What a price of NaN (or None in ``update``) means: no price that day
        (an exchange holiday in a book across markets), so the asset's last
        price carries forward and its return that day is 0 (the default); or
        bad data, refused with :class:`~riskengine.errors.InvalidPrice`. Either
        way a NaN with no earlier price (the first row of a history), or a
        row where every asset is NaN, is refused naming it; infinities, zeros
        and negative prices are always refused.
    hard, dynamic, execution, models
        The sections (see each class).

    Examples
    --------
    >>> config = EngineConfig(assets=["SPX", "NDX"])
    >>> config.models.vol, config.capital
    ('GJR', 10000000.0)
    >>> EngineConfig.from_mapping({"assets": ["SPX", "NDX"], "hard": {"max_orders": 5}})
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: hard: unknown key(s) ['max_orders']; ...
    """

    assets: tuple[str, ...]
    capital: float = 10_000_000.0
    max_abs_log_return: float | None = math.log(10.0)
    missing_prices: str = "carry_forward"
    hard: HardLimits = dataclasses.field(default_factory=HardLimits)
    dynamic: DynamicLimitsConfig = dataclasses.field(default_factory=DynamicLimitsConfig)
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)
    models: ModelConfig = dataclasses.field(default_factory=ModelConfig)

    def __post_init__(self) -> None:
        assets = self.assets
        if isinstance(assets, str) or not isinstance(assets, Sequence):
            raise InvalidConfig("assets", f"expected a list of names, got {type(assets).__name__}")
        assets = tuple(assets)
        if len(assets) < 1:
            raise InvalidConfig("assets", "need at least one asset, got none")
        for i, asset in enumerate(assets):
            if not isinstance(asset, str) or not asset:
                raise InvalidConfig(f"assets[{i}]", f"expected a non-empty string, got {asset!r}")
        if len(set(assets)) != len(assets):
            raise InvalidConfig("assets", f"duplicate names in {list(assets)}")
        object.__setattr__(self, "assets", assets)
        capital = self.capital
        if isinstance(capital, bool) or not isinstance(capital, int | float):
            raise InvalidConfig("capital", f"expected a number, got {type(capital).__name__}")
        if not (math.isfinite(capital) and capital > 0):
            raise InvalidConfig("capital", f"must be finite and > 0, got {capital}")
        object.__setattr__(self, "capital", float(capital))
        jump = self.max_abs_log_return
        if jump is not None:
            if isinstance(jump, bool) or not isinstance(jump, int | float):
                raise InvalidConfig(
                    "max_abs_log_return", f"expected a number or None, got {type(jump).__name__}"
                )
            if not (math.isfinite(jump) and jump > 0):
                raise InvalidConfig("max_abs_log_return", f"must be finite and > 0, got {jump}")
            object.__setattr__(self, "max_abs_log_return", float(jump))
        if self.missing_prices not in ("carry_forward", "refuse"):
            raise InvalidConfig(
                "missing_prices",
                f"expected 'carry_forward' or 'refuse', got {self.missing_prices!r}",
            )
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise InvalidConfig(name, f"expected a {cls.__name__}")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> EngineConfig:
        """Build from nested mappings (a parsed TOML document), rejecting unknown keys."""
        allowed = {"assets", "capital", "max_abs_log_return", "missing_prices", *_SECTIONS}
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise InvalidConfig("config", f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        if "assets" not in table:
            raise InvalidConfig("assets", "missing (the one field without a default)")
        sections = {}
        for name, section in _SECTIONS.items():
            if name in table:
                if not isinstance(table[name], Mapping):
                    raise InvalidConfig(name, f"expected a table, got {type(table[name]).__name__}")
                sections[name] = section.from_mapping(table[name], field=name)
        scalars = ("capital", "max_abs_log_return", "missing_prices")
        extra = {key: table[key] for key in scalars if key in table}
        return cls(assets=table["assets"], **extra, **sections)

    @classmethod
    def from_toml(cls, source: str | Path) -> EngineConfig:
        """Load from a TOML file path, or from TOML text when ``source`` is not a file."""
        path = Path(source) if isinstance(source, Path) or "\n" not in str(source) else None
        try:
            text = path.read_text() if path is not None and path.is_file() else str(source)
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise InvalidConfig("toml", str(error)) from None
        return cls.from_mapping(document)

    def to_mapping(self) -> dict[str, Any]:
        """Plain nested dicts that :meth:`from_mapping` turns back into this config."""
        return dataclasses.asdict(self) | {"assets": list(self.assets)}
