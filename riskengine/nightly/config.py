"""NightlyConfig: what the nightly run does, frozen, with every section's unknown keys refused.

A TOML file reads like the run (every key is optional; the defaults are the
embedded run ``make run`` performs):

.. code-block:: toml

    seed = 0

    [data]        # the book's price history (default: the data shipped with arch and river)
    source = "prices.parquet"
    assets = ["SPX", "NDX", "AAPL"]

    [book]        # currency notional held per asset (default: capital split equally)
    notional = { SPX = 4_000_000, NDX = 4_000_000, AAPL = 2_000_000 }

    [engine]      # an EngineConfig without `assets` (they come from the data)
    capital = 10_000_000
    [engine.hard]
    max_daily_loss = 1_000_000

    [backtest]
    warmup = 500

    [scenarios]
    paths = 10_000
    horizon = 10

    [execution]
    episodes = 512
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from riskengine._config import config_from_mapping
from riskengine._validation import as_int
from riskengine.engine import EngineConfig
from riskengine.errors import InvalidConfig
from riskengine.nightly.budget import MAX_SHARD_PATH_STEPS, check_scenario_memory
from riskengine.sim.specs import load_spec

__all__ = [
    "BacktestSection",
    "BookSection",
    "DataSection",
    "ExecutionSection",
    "NightlyConfig",
    "ScenarioSection",
]

#: What the nightly engine changes from EngineConfig's defaults, and why.
ENGINE_DEFAULTS: dict[str, Any] = {
    # Refit once a trading year inside the replay, as the nightly job does on its
    # schedule, so the backtest never uses parameters fitted on its own future.
    "models": {"refit_every": 252},
    # A loss limit a 10M book can live with on a -4 % day; the replay shows the
    # limits moving rather than one halt.
    "hard": {"max_daily_loss": 1_000_000.0},
}
#: Daily steps per year (stress specs finer than this run for one trading day).
TRADING_DAYS = 252


def _check(condition: bool, field: str, problem: str) -> None:
    if not condition:
        raise InvalidConfig(field, problem)


def _int(value: Any, field: str, low: int, high: int | None = None) -> int:
    try:
        return as_int(value, field=field, low=low, high=high)
    except (TypeError, ValueError) as error:
        raise InvalidConfig(field, str(error).partition(": ")[2] or str(error)) from None


def _names(value: Any, field: str) -> tuple[str, ...]:
    _check(
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and all(isinstance(v, str) and v for v in value),
        field,
        f"expected a list of non-empty names, got {value!r}",
    )
    return tuple(value)


def _check_spec(name: str, field: str, *sections: str) -> None:
    """A catalogue scenario (or TOML path) that exists and has the ``sections`` the run uses."""
    try:
        spec = load_spec(name)
    except (FileNotFoundError, ValueError) as error:
        raise InvalidConfig(field, str(error).partition(": ")[2] or str(error)) from None
    missing = [section for section in sections if getattr(spec, section, None) is None]
    _check(not missing, field, f"scenario {name!r} has no {missing} section")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSection:
    """Where the history comes from: ``source`` None is the shipped data (see ``history``)."""

    source: str | None = None
    table: str | None = None
    assets: tuple[str, ...] | None = None
    date_column: str = "date"
    start: str | None = None
    end: str | None = None

    def __post_init__(self) -> None:
        for name in ("source", "table", "start", "end"):
            value = getattr(self, name)
            _check(
                value is None or (isinstance(value, str) and value != ""),
                f"data.{name}",
                f"expected a non-empty string, got {value!r}",
            )
        if self.assets is not None:
            assets = _names(self.assets, "data.assets")
            _check(len(assets) >= 2, "data.assets", f"need at least two assets, got {list(assets)}")
            _check(len(set(assets)) == len(assets), "data.assets", f"duplicates in {list(assets)}")
            object.__setattr__(self, "assets", assets)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BookSection:
    """Currency notional bought per asset at the end of the warm-up (None: capital / N each)."""

    notional: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if self.notional is None:
            return
        _check(isinstance(self.notional, Mapping), "book.notional", "expected a table")
        for asset, value in self.notional.items():
            field = f"book.notional[{asset!r}]"
            _check(
                isinstance(value, int | float) and not isinstance(value, bool),
                field,
                f"expected a number, got {value!r}",
            )
            _check(math.isfinite(value), field, f"must be finite, got {value}")
        object.__setattr__(self, "notional", {k: float(v) for k, v in self.notional.items()})


@dataclasses.dataclass(frozen=True, kw_only=True)
class BacktestSection:
    """The out-of-sample replay: warm-up rows, VaR / ES levels, traffic-light window."""

    warmup: int = 500
    var_levels: tuple[float, ...] = (0.99, 0.975)
    es_level: float = 0.975
    window: int = 250

    def __post_init__(self) -> None:
        # The historical-simulation baseline needs 250 past days before the first forecast.
        object.__setattr__(self, "warmup", _int(self.warmup, "backtest.warmup", low=250))
        object.__setattr__(self, "window", _int(self.window, "backtest.window", low=20))
        levels = self.var_levels
        _check(
            isinstance(levels, Sequence) and not isinstance(levels, str) and len(levels) > 0,
            "backtest.var_levels",
            f"expected a non-empty list of levels, got {levels!r}",
        )
        for level in (*levels, self.es_level):
            _check(
                isinstance(level, float) and 0.5 < level < 1.0,
                "backtest.var_levels" if level in levels else "backtest.es_level",
                f"levels must be floats in (0.5, 1), got {level!r}",
            )
        _check(
            len(set(levels)) == len(levels),
            "backtest.var_levels",
            f"duplicate levels in {list(levels)}",
        )
        object.__setattr__(self, "var_levels", tuple(levels))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScenarioSection:
    """Forward scenarios from today's state, and the stress scenarios.

    ``shard_paths`` fixes the unit of work (and of randomness): results do not
    depend on how many processes or machines run the shards.
    """

    paths: int = 10_000
    horizon: int = 10
    stress: tuple[str, ...] = ("crisis", "flash_crash")
    stress_paths: int = 2_000
    shard_paths: int = 1_000
    store_paths: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "paths", _int(self.paths, "scenarios.paths", low=1, high=10_000_000)
        )
        object.__setattr__(
            self, "horizon", _int(self.horizon, "scenarios.horizon", low=1, high=2_520)
        )
        object.__setattr__(
            self,
            "stress_paths",
            _int(self.stress_paths, "scenarios.stress_paths", low=1, high=10_000_000),
        )
        object.__setattr__(
            self,
            "shard_paths",
            _int(self.shard_paths, "scenarios.shard_paths", low=1, high=1_000_000),
        )
        stress = _names(self.stress, "scenarios.stress")
        _check(len(set(stress)) == len(stress), "scenarios.stress", f"duplicates in {list(stress)}")
        for i, name in enumerate(stress):
            _check_spec(name, f"scenarios.stress[{i}]", "market")
        object.__setattr__(self, "stress", stress)
        _check(isinstance(self.store_paths, bool), "scenarios.store_paths", "expected a boolean")
        longest = max(self.steps())
        _check(
            self.shard_paths * longest <= MAX_SHARD_PATH_STEPS,
            "scenarios.shard_paths",
            f"{self.shard_paths} paths x {longest} steps per shard cannot be represented by "
            f"the simulator (32-bit indices: at most {MAX_SHARD_PATH_STEPS} path-steps per "
            f"shard); use shard_paths <= {MAX_SHARD_PATH_STEPS // longest}",
        )

    def steps(self) -> list[int]:
        """Steps of each set: the forward horizon, then each stress run's (``stress_horizon``)."""
        out = [self.horizon]
        for name in self.stress:
            market = load_spec(name).market
            ppy = market.periods_per_year if market is not None else TRADING_DAYS
            # An intraday spec runs one trading day, a daily one the forward horizon.
            out.append(max(1, round(ppy / TRADING_DAYS)) if ppy > TRADING_DAYS else self.horizon)
        return out

    def check_memory(self, n_assets: int, budget: int | None = None) -> None:
        """Refuse sets that will not fit in memory for ``n_assets`` (``budget`` module)."""
        check_scenario_memory(
            paths=[self.paths] + [self.stress_paths] * len(self.stress),
            shard_paths=self.shard_paths,
            steps=self.steps(),
            n_assets=n_assets,
            store_paths=self.store_paths,
            budget=budget,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecutionSection:
    """Execution policies evaluated on the order book in today's regime (``episodes`` 0: skip)."""

    spec: str = "regime_switching"
    episodes: int = 512
    shard_episodes: int = 128
    policy_id: str | None = "execution_ppo_v1"

    def __post_init__(self) -> None:
        _check(isinstance(self.spec, str) and self.spec != "", "execution.spec", "expected a name")
        object.__setattr__(
            self, "episodes", _int(self.episodes, "execution.episodes", low=0, high=1_000_000)
        )
        object.__setattr__(
            self,
            "shard_episodes",
            _int(self.shard_episodes, "execution.shard_episodes", low=1, high=100_000),
        )
        _check(
            self.policy_id is None or (isinstance(self.policy_id, str) and self.policy_id != ""),
            "execution.policy_id",
            f"expected an artifact id, got {self.policy_id!r}",
        )
        if self.episodes > 0:  # a disabled step need not name a usable scenario
            _check_spec(self.spec, "execution.spec", "book", "execution")


_SECTIONS = {
    "data": DataSection,
    "book": BookSection,
    "backtest": BacktestSection,
    "scenarios": ScenarioSection,
    "execution": ExecutionSection,
}


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base``, table by table, as a new tree sharing no dict with them."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class NightlyConfig:
    """The nightly run's configuration; every field has a default.

    ``engine`` is the engine's TOML table without ``assets``: the assets are
    the history's columns, known only once the data are loaded
    (:meth:`engine_config`).

    Examples
    --------
    >>> config = NightlyConfig.from_mapping({"seed": 7, "scenarios": {"paths": 500}})
    >>> config.seed, config.scenarios.paths, config.scenarios.horizon
    (7, 500, 10)
    >>> config.engine_config(["SPX", "NDX"]).models.refit_every
    252
    >>> NightlyConfig.from_mapping({"scenarios": {"path": 500}})
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: scenarios: unknown key(s) ['path']; ...
    """

    seed: int = 0
    data: DataSection = dataclasses.field(default_factory=DataSection)
    book: BookSection = dataclasses.field(default_factory=BookSection)
    engine: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    backtest: BacktestSection = dataclasses.field(default_factory=BacktestSection)
    scenarios: ScenarioSection = dataclasses.field(default_factory=ScenarioSection)
    execution: ExecutionSection = dataclasses.field(default_factory=ExecutionSection)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seed", _int(self.seed, "seed", low=0, high=2**32 - 1))
        _check(isinstance(self.engine, Mapping), "engine", "expected a table")
        _check("assets" not in self.engine, "engine.assets", "comes from the data (data.assets)")
        allowed = sorted(field.name for field in dataclasses.fields(EngineConfig))
        allowed.remove("assets")
        unknown = sorted(str(key) for key in self.engine if key not in allowed)
        _check(not unknown, "engine", f"unknown key(s) {unknown}; allowed: {allowed}")
        object.__setattr__(self, "engine", _merge(ENGINE_DEFAULTS, self.engine))
        # Validate the engine table now (with placeholder assets), not after the data load.
        self.engine_config(["_a", "_b"])
        # The fewest assets a run can have: what cannot fit even then is refused now
        # (the run checks again with the history's assets before allocating anything).
        self.scenarios.check_memory(len(self.data.assets) if self.data.assets else 2)

    def engine_config(self, assets: Sequence[str]) -> EngineConfig:
        """The EngineConfig for these assets (errors name ``engine.<field>``)."""
        try:
            return EngineConfig.from_mapping({**self.engine, "assets": list(assets)})
        except InvalidConfig as error:
            if error.field in ("assets",) or error.field.startswith("assets["):
                raise
            raise InvalidConfig(f"engine.{error.field}", error.problem) from None

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> NightlyConfig:
        """Build from nested mappings (a parsed TOML document), refusing unknown keys."""
        if not isinstance(table, Mapping):
            raise InvalidConfig("config", f"expected a table, got {type(table).__name__}")
        allowed = {"seed", "engine", *_SECTIONS}
        unknown = sorted(str(k) for k in set(table) - allowed)
        if unknown:
            raise InvalidConfig("config", f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        sections = {
            name: config_from_mapping(section, table[name], name)
            for name, section in _SECTIONS.items()
            if name in table
        }
        extra = {key: table[key] for key in ("seed", "engine") if key in table}
        return cls(**extra, **sections)

    @classmethod
    def from_toml(cls, path: str | Path) -> NightlyConfig:
        """Load a TOML file; a missing file or bad TOML is an error naming the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config: no such file {path}")
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise InvalidConfig("config", f"{path}: {error}") from None
        return cls.from_mapping(document)

    def with_seed(self, seed: int | None) -> NightlyConfig:
        """This config with ``seed`` replaced (``None``: unchanged), e.g. from ``--seed``."""
        return self if seed is None else dataclasses.replace(self, seed=seed)

    def to_mapping(self) -> dict[str, Any]:
        """Plain nested dicts (JSON-ready) that :meth:`from_mapping` turns back into this config."""
        out = dataclasses.asdict(self)
        out["engine"] = copy.deepcopy(dict(self.engine))
        return out
