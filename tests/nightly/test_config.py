"""NightlyConfig: defaults, JSON and TOML round trips, unknown keys and bad values named.

Every error names the dotted field a user would edit (``scenarios.paths``,
``book.notional['SPX']``); the engine table is the engine's own config
(without ``assets``) on top of the nightly defaults.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest

from riskengine.engine import EngineConfig
from riskengine.errors import InvalidConfig
from riskengine.nightly.config import (
    ENGINE_DEFAULTS,
    BacktestSection,
    BookSection,
    DataSection,
    ExecutionSection,
    NightlyConfig,
    ScenarioSection,
)

ASSETS = ("SPX", "NDX", "AAPL")

#: A config that changes something in every section.
FULL = {
    "seed": 11,
    "data": {"source": "prices.parquet", "assets": ["SPX", "NDX"], "start": "2014-01-01"},
    "book": {"notional": {"SPX": 4_000_000, "NDX": -1_500_000.5}},
    "engine": {"capital": 20_000_000.0, "hard": {"max_gross_notional": 40_000_000.0}},
    "backtest": {"warmup": 300, "var_levels": [0.99, 0.95], "es_level": 0.975, "window": 100},
    "scenarios": {"paths": 500, "horizon": 5, "stress": ["crisis"], "shard_paths": 100},
    "execution": {"spec": "calm", "episodes": 0, "shard_episodes": 8, "policy_id": None},
}

TOML = """
seed = 11

[data]
source = "prices.parquet"
assets = ["SPX", "NDX"]
start = "2014-01-01"

[book]
notional = { SPX = 4_000_000, NDX = -1_500_000.5 }

[engine]
capital = 20_000_000.0
[engine.hard]
max_gross_notional = 40_000_000.0

[backtest]
warmup = 300
var_levels = [0.99, 0.95]
es_level = 0.975
window = 100

[scenarios]
paths = 500
horizon = 5
stress = ["crisis"]
shard_paths = 100

[execution]
spec = "calm"
episodes = 0
shard_episodes = 8
"""


def _field(table: dict) -> str:
    with pytest.raises(InvalidConfig) as caught:
        NightlyConfig.from_mapping(table)
    return caught.value.field


# ---------------------------------------------------------------------- defaults


def test_defaults_are_the_embedded_run() -> None:
    config = NightlyConfig()
    assert config.seed == 0
    assert config.data == DataSection()
    assert config.data.source is None and config.data.assets is None
    assert config.book.notional is None
    assert config.backtest == BacktestSection(
        warmup=500, var_levels=(0.99, 0.975), es_level=0.975, window=250
    )
    assert config.scenarios == ScenarioSection(
        paths=10_000,
        horizon=10,
        stress=("crisis", "flash_crash"),
        stress_paths=2_000,
        shard_paths=1_000,
        store_paths=True,
    )
    assert config.execution == ExecutionSection(
        spec="regime_switching", episodes=512, shard_episodes=128, policy_id="execution_ppo_v1"
    )
    # The engine table holds exactly the nightly defaults.
    assert config.engine == ENGINE_DEFAULTS
    assert NightlyConfig.from_mapping({}) == config


def test_sections_are_frozen() -> None:
    config = NightlyConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.scenarios.paths = 1  # type: ignore[misc]


# ---------------------------------------------------------------------- round trips


def test_from_mapping_reads_every_section() -> None:
    config = NightlyConfig.from_mapping(FULL)
    assert config.seed == 11
    assert config.data.assets == ("SPX", "NDX")
    assert config.data.start == "2014-01-01"
    assert config.book.notional == {"SPX": 4_000_000.0, "NDX": -1_500_000.5}
    assert all(isinstance(v, float) for v in config.book.notional.values())
    assert config.backtest.var_levels == (0.99, 0.95)
    assert config.backtest.window == 100
    assert config.scenarios.stress == ("crisis",)
    assert config.scenarios.paths == 500
    assert config.execution.policy_id is None
    assert config.execution.episodes == 0
    assert config.engine["capital"] == 20_000_000.0
    assert config.engine["hard"] == {"max_gross_notional": 40_000_000.0, "max_daily_loss": 1e6}


@pytest.mark.parametrize("table", [{}, FULL], ids=["defaults", "full"])
def test_to_mapping_json_round_trip_is_equal(table: dict) -> None:
    config = NightlyConfig.from_mapping(table)
    document = json.loads(json.dumps(config.to_mapping()))
    again = NightlyConfig.from_mapping(document)
    assert again == config
    assert again.to_mapping() == config.to_mapping()


def test_from_toml_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "nightly.toml"
    path.write_text(TOML, encoding="utf-8")
    # TOML has no null: the file keeps the default policy_id.
    expected = NightlyConfig.from_mapping(
        FULL | {"execution": {k: v for k, v in FULL["execution"].items() if k != "policy_id"}}
    )
    assert expected.execution.policy_id == ExecutionSection().policy_id
    assert NightlyConfig.from_toml(path) == expected
    assert NightlyConfig.from_toml(str(path)) == expected


def test_an_empty_toml_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("", encoding="utf-8")
    assert NightlyConfig.from_toml(path) == NightlyConfig()


def test_a_missing_file_is_file_not_found_naming_config(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(FileNotFoundError, match=r"^config: no such file .*absent\.toml"):
        NightlyConfig.from_toml(path)
    with pytest.raises(FileNotFoundError, match=r"^config: "):
        NightlyConfig.from_toml(tmp_path)  # a directory is not a config file


@pytest.mark.parametrize(
    "text",
    [
        "seed = ",  # no value
        "[scenarios]\npaths = 1\npaths = 2\n",  # duplicate key
        "[data\nsource = 'x'\n",  # unclosed table header
    ],
)
def test_bad_toml_is_invalid_config_naming_config(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidConfig) as caught:
        NightlyConfig.from_toml(path)
    assert caught.value.field == "config"
    assert str(path) in str(caught.value)


def test_non_utf8_toml_is_invalid_config_naming_config(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes("seed = 1 # \xe9t\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidConfig) as caught:
        NightlyConfig.from_toml(path)
    assert caught.value.field == "config"


def test_with_seed_replaces_only_the_seed() -> None:
    config = NightlyConfig.from_mapping(FULL)
    seeded = config.with_seed(3)
    assert seeded.seed == 3
    assert dataclasses.replace(seeded, seed=config.seed) == config
    assert config.seed == 11  # unchanged
    assert config.with_seed(None) is config
    with pytest.raises(InvalidConfig) as caught:
        config.with_seed(-1)
    assert caught.value.field == "seed"


# ---------------------------------------------------------------------- unknown keys


@pytest.mark.parametrize("section", ["data", "book", "backtest", "scenarios", "execution"])
def test_every_section_refuses_unknown_keys(section: str) -> None:
    with pytest.raises(InvalidConfig, match=rf"^{section}: unknown key\(s\) \['typo'\]"):
        NightlyConfig.from_mapping({section: {"typo": 1}})


def test_top_level_unknown_keys_name_config() -> None:
    with pytest.raises(InvalidConfig, match=r"^config: unknown key\(s\) \['paths'\]") as caught:
        NightlyConfig.from_mapping({"paths": 10})
    assert caught.value.field == "config"


def test_engine_section_refuses_unknown_keys_naming_engine() -> None:
    with pytest.raises(InvalidConfig, match=r"^engine: unknown key\(s\) \['typo'\]") as caught:
        NightlyConfig.from_mapping({"engine": {"typo": 1}})
    assert caught.value.field == "engine"
    assert "'assets'" not in caught.value.problem


@pytest.mark.parametrize("table", ["hard", "models", "dynamic", "execution"])
def test_engine_subtables_refuse_unknown_keys_naming_them(table: str) -> None:
    with pytest.raises(InvalidConfig, match=rf"^engine\.{table}: unknown key\(s\) \['typo'\]"):
        NightlyConfig.from_mapping({"engine": {table: {"typo": 1}}})


# ---------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("table", "field"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"scenarios": {"paths": 0}}, "scenarios.paths"),
        ({"scenarios": {"paths": 1.0}}, "scenarios.paths"),
        ({"scenarios": {"paths": 10_000_001}}, "scenarios.paths"),
        ({"scenarios": {"horizon": 0}}, "scenarios.horizon"),
        ({"scenarios": {"stress_paths": 0}}, "scenarios.stress_paths"),
        ({"scenarios": {"shard_paths": 0}}, "scenarios.shard_paths"),
        ({"scenarios": {"stress": "crisis"}}, "scenarios.stress"),
        ({"scenarios": {"stress": ["crisis", ""]}}, "scenarios.stress"),
        ({"scenarios": {"store_paths": 1}}, "scenarios.store_paths"),
        ({"scenarios": 5}, "scenarios"),
        ({"backtest": {"var_levels": [1.5]}}, "backtest.var_levels"),
        ({"backtest": {"var_levels": [0.99, 0.5]}}, "backtest.var_levels"),
        ({"backtest": {"var_levels": [0.99, 1]}}, "backtest.var_levels"),
        ({"backtest": {"var_levels": []}}, "backtest.var_levels"),
        ({"backtest": {"var_levels": 0.99}}, "backtest.var_levels"),
        ({"backtest": {"var_levels": "0.99"}}, "backtest.var_levels"),
        ({"backtest": {"es_level": 0.3}}, "backtest.es_level"),
        ({"backtest": {"warmup": 1}}, "backtest.warmup"),
        ({"backtest": {"window": 19}}, "backtest.window"),
        ({"book": {"notional": {"SPX": "x"}}}, "book.notional['SPX']"),
        ({"book": {"notional": {"SPX": float("nan")}}}, "book.notional['SPX']"),
        ({"book": {"notional": {"SPX": float("inf")}}}, "book.notional['SPX']"),
        ({"book": {"notional": {"SPX": True}}}, "book.notional['SPX']"),
        ({"book": {"notional": 5}}, "book.notional"),
        ({"data": {"assets": "SPX"}}, "data.assets"),
        ({"data": {"assets": ["SPX", ""]}}, "data.assets"),
        ({"data": {"source": ""}}, "data.source"),
        ({"data": {"table": 3}}, "data.table"),
        ({"execution": {"episodes": -1}}, "execution.episodes"),
        ({"execution": {"shard_episodes": 0}}, "execution.shard_episodes"),
        ({"execution": {"spec": ""}}, "execution.spec"),
        ({"execution": {"policy_id": ""}}, "execution.policy_id"),
        ({"engine": 5}, "engine"),
        ({"engine": {"assets": ["SPX"]}}, "engine.assets"),
        ({"engine": {"hard": 5}}, "engine.hard"),
        ({"engine": {"hard": {"max_daily_loss": -1.0}}}, "engine.hard.max_daily_loss"),
        ({"engine": {"capital": -1.0}}, "engine.capital"),
        ({"engine": {"dynamic": {"var_level": 1.5}}}, "engine.dynamic.var_level"),
    ],
)
def test_bad_values_name_the_dotted_field(table: dict, field: str) -> None:
    assert _field(table) == field


def test_a_bad_value_message_names_the_field_first() -> None:
    with pytest.raises(InvalidConfig, match=r"^scenarios\.paths: must be >= 1, got 0$"):
        NightlyConfig.from_mapping({"scenarios": {"paths": 0}})
    with pytest.raises(InvalidConfig, match=r"^book\.notional\['SPX'\]: expected a number"):
        NightlyConfig.from_mapping({"book": {"notional": {"SPX": "x"}}})
    with pytest.raises(InvalidConfig, match=r"^engine\.hard"):
        NightlyConfig.from_mapping({"engine": {"hard": {"max_daily_loss": -1.0}}})


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        NightlyConfig.from_mapping({"scenarios": {"paths": 0}})


def test_a_non_mapping_document_names_config() -> None:
    with pytest.raises(InvalidConfig) as caught:
        NightlyConfig.from_mapping([("seed", 1)])  # type: ignore[arg-type]
    assert caught.value.field == "config"


def test_sections_validate_when_built_directly() -> None:
    with pytest.raises(InvalidConfig, match=r"^scenarios\.horizon"):
        ScenarioSection(horizon=2_521)
    with pytest.raises(InvalidConfig, match=r"^book\.notional\['X'\]"):
        BookSection(notional={"X": float("nan")})
    with pytest.raises(InvalidConfig, match=r"^seed"):
        NightlyConfig(seed=-3)


def test_duplicate_var_levels_are_refused_naming_backtest_var_levels() -> None:
    assert _field({"backtest": {"var_levels": [0.99, 0.99]}}) == "backtest.var_levels"


def test_an_unknown_stress_name_is_refused_naming_scenarios_stress() -> None:
    assert _field({"scenarios": {"stress": ["crsis"]}}) == "scenarios.stress[0]"


# ---------------------------------------------------------------------- engine config


def test_engine_config_applies_the_nightly_defaults() -> None:
    engine = NightlyConfig().engine_config(ASSETS)
    defaults = EngineConfig(assets=ASSETS)
    assert engine.assets == ASSETS
    assert engine.models.refit_every == ENGINE_DEFAULTS["models"]["refit_every"] == 252
    assert engine.hard.max_daily_loss == ENGINE_DEFAULTS["hard"]["max_daily_loss"]
    # Everything else is EngineConfig's default.
    assert engine.dynamic == defaults.dynamic
    assert engine.capital == defaults.capital
    assert dataclasses.replace(engine.hard, max_daily_loss=defaults.hard.max_daily_loss) == (
        defaults.hard
    )
    assert dataclasses.replace(engine.models, refit_every=defaults.models.refit_every) == (
        defaults.models
    )


def test_a_users_engine_table_overrides_one_default_and_keeps_the_others() -> None:
    config = NightlyConfig.from_mapping(
        {"engine": {"models": {"refit_every": 63}, "hard": {"max_gross_notional": 3e7}}}
    )
    engine = config.engine_config(ASSETS)
    defaults = EngineConfig(assets=ASSETS)
    assert engine.models.refit_every == 63
    assert engine.hard.max_gross_notional == 3e7
    assert engine.hard.max_daily_loss == ENGINE_DEFAULTS["hard"]["max_daily_loss"]
    assert dataclasses.replace(engine.models, refit_every=defaults.models.refit_every) == (
        defaults.models
    )
    # The defaults themselves are untouched by a user's override.
    assert NightlyConfig().engine_config(ASSETS).models.refit_every == 252
    assert ENGINE_DEFAULTS["models"] == {"refit_every": 252}


def test_engine_config_takes_the_assets_from_the_data() -> None:
    config = NightlyConfig()
    assert config.engine_config(["A", "B"]).assets == ("A", "B")
    with pytest.raises(InvalidConfig) as caught:
        config.engine_config(["A", "A"])
    assert caught.value.field.startswith("assets")  # the data's assets, not engine.*


def test_with_seed_keeps_the_engine_table() -> None:
    config = NightlyConfig.from_mapping({"engine": {"models": {"refit_every": 63}}})
    assert config.with_seed(5).engine == config.engine
    assert config.with_seed(5).engine_config(ASSETS).models.refit_every == 63


def test_to_mapping_results_do_not_alias_the_defaults() -> None:
    saved = copy.deepcopy(ENGINE_DEFAULTS)
    try:
        document = NightlyConfig().to_mapping()
        document["engine"]["models"]["refit_every"] = 1
        assert NightlyConfig().engine_config(ASSETS).models.refit_every == 252
    finally:
        # In place: configs built earlier in this process hold these very dicts.
        for key, table in saved.items():
            ENGINE_DEFAULTS[key].clear()
            ENGINE_DEFAULTS[key].update(table)


# ---------------------------------------------------------------- issue 17, items 13 and 14
def test_a_shard_the_simulator_cannot_index_is_refused_naming_shard_paths():
    from riskengine.nightly.budget import MAX_SHARD_PATH_STEPS

    with pytest.raises(InvalidConfig, match=r"scenarios\.shard_paths: 1000000 paths x 2520"):
        NightlyConfig.from_mapping({"scenarios": {"shard_paths": 1_000_000, "horizon": 2520}})
    # The largest representable shard is the limit, not the example.
    assert 426_088 * 2520 <= MAX_SHARD_PATH_STEPS < 426_089 * 2520


def test_a_run_too_big_for_memory_is_refused_before_anything_is_allocated(monkeypatch):
    monkeypatch.delenv("RISKENGINE_MEMORY_GIB", raising=False)
    with pytest.raises(InvalidConfig, match=r"^scenarios\.paths: needs about \d+ GiB") as error:
        NightlyConfig.from_mapping({"scenarios": {"paths": 10_000_000, "horizon": 2520}})
    assert "\n" not in str(error.value)


def test_memory_estimate_counts_every_set_and_the_stored_paths():
    from riskengine.nightly.budget import scenario_memory

    small = scenario_memory(paths=10_000, shard_paths=1_000, steps=[10], n_assets=2)
    both = scenario_memory(paths=[10_000, 10_000], shard_paths=1_000, steps=[10, 10], n_assets=2)
    unstored = scenario_memory(
        paths=10_000, shard_paths=1_000, steps=[10], n_assets=2, store_paths=False
    )
    assert both.kept == 2 * small.kept and both.shard == small.shard
    assert unstored.kept < small.kept
    # returns + variances alone are 8 bytes per path-step-asset: the estimate covers them
    big = scenario_memory(paths=10_000_000, shard_paths=1_000, steps=[2520], n_assets=2)
    assert big.kept >= 10_000_000 * 2520 * 2 * 8


def test_memory_budget_override(monkeypatch):
    from riskengine.nightly.budget import memory_budget

    table = {"scenarios": {"paths": 100_000, "horizon": 2520}}  # ~33 GiB kept
    monkeypatch.setenv("RISKENGINE_MEMORY_GIB", "1")
    assert memory_budget() == 2**30
    with pytest.raises(InvalidConfig, match=r"RISKENGINE_MEMORY_GIB\)"):
        NightlyConfig.from_mapping(table)
    monkeypatch.setenv("RISKENGINE_MEMORY_GIB", "100")
    assert NightlyConfig.from_mapping(table).scenarios.paths == 100_000
    monkeypatch.setenv("RISKENGINE_MEMORY_GIB", "lots")
    with pytest.raises(InvalidConfig, match=r"^RISKENGINE_MEMORY_GIB: expected a positive"):
        NightlyConfig.from_mapping(table)


def test_the_run_checks_memory_again_with_the_historys_assets(monkeypatch):
    monkeypatch.setenv("RISKENGINE_MEMORY_GIB", "4")
    # Fits for the two assets assumed at validation, not for 200 (the N x N oracle covariances).
    config = NightlyConfig.from_mapping({"scenarios": {"paths": 20_000, "horizon": 250}})
    with pytest.raises(InvalidConfig, match=r"^scenarios\.(shard_)?paths: .* for 200 assets"):
        config.scenarios.check_memory(200)


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("paths = 10_000_000\nhorizon = 2520", "scenarios.paths"),
        ("shard_paths = 1_000_000\nhorizon = 2520", "scenarios.shard_paths"),
    ],
)
def test_cli_refuses_unrepresentable_or_oversized_scenarios_in_one_line(
    tmp_path, monkeypatch, toml, field
):
    from typer.testing import CliRunner

    from riskengine.cli import app

    monkeypatch.delenv("RISKENGINE_MEMORY_GIB", raising=False)
    path = tmp_path / "big.toml"
    path.write_text(f"[scenarios]\n{toml}\n")
    db = tmp_path / "new.duckdb"
    result = CliRunner().invoke(app, ["nightly", "--config", str(path), "--db", str(db)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert f"error: {field}:" in result.output
    assert not db.exists()  # refused before the store or any array exists
