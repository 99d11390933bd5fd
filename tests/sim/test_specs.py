"""Tests of the scenario-spec loader: every invalid field is rejected by name."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from riskengine.sim.specs import SIMS_ENV, ScenarioSpec, available_specs, load_spec

VALID: dict[str, Any] = {
    "name": "two_regimes",
    "description": "test",
    "market": {
        "assets": ["A", "B"],
        "transition": [[0.9, 0.1], [0.2, 0.8]],
        "regimes": [
            {"name": "calm", "omega": 1e-6, "alpha": 0.05, "beta": 0.9, "nu": 6},
            {
                "name": "stress",
                "annual_vol": [0.4, 0.5],
                "alpha": 0.1,
                "beta": 0.85,
                "nu": 4,
                "correlation": [[1.0, 0.8], [0.8, 1.0]],
                "jump_prob": 0.05,
                "jump_mean": -0.02,
                "jump_std": 0.01,
            },
        ],
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """VALID with the dotted ``path`` (list indices as integers) set to ``value``."""
    document = copy.deepcopy(VALID)
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    target = document
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return document


def test_valid_document_parses() -> None:
    spec = ScenarioSpec.from_dict(VALID)
    assert spec.market.regime_names == ("calm", "stress")
    assert spec.market.n_assets == 2
    assert spec.book is None


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("colour", "red", "unknown key"),
        ("market.volatility", 1, r"market: unknown key"),
        ("market.regimes.0.gamma", 0.1, r"market.regimes\[0\]: unknown key"),
        ("market.transition", [[0.9, 0.2], [0.2, 0.8]], r"market.transition: row 0"),
        ("market.transition", [[1.0]], r"market.transition: expected shape"),
        ("market.transition", [[1.1, -0.1], [0.2, 0.8]], r"market.transition"),
        ("market.regimes.1.correlation", [[1.0, 1.5], [1.5, 1.0]], "not positive definite"),
        ("market.regimes.1.correlation", [[1.0, 0.5], [0.4, 1.0]], "symmetric"),
        ("market.regimes.1.correlation", [[1.0, 0.5, 0], [0.5, 1.0, 0]], "correlation"),
        (
            "market.regimes.1.annual_vol",
            [0.4, 0.5, 0.6],
            r"regimes\[1\].annual_vol: expected shape",
        ),
        ("market.regimes.0.alpha", float("nan"), r"regimes\[0\].alpha: must be finite"),
        ("market.regimes.0.beta", 0.96, r"regimes\[0\].alpha \+ market.regimes\[0\].beta"),
        ("market.regimes.0.nu", 2.0, r"regimes\[0\].nu: must be > 2"),
        ("market.regimes.0.omega", -1e-6, r"regimes\[0\].omega"),
        ("market.regimes.1.jump_prob", 1.5, r"regimes\[1\].jump_prob"),
        ("market.regimes.1.jump_std", -0.01, r"regimes\[1\].jump_std"),
        ("market.regimes.1.name", "calm", "names must be unique"),
        ("market.assets", ["A", "A"], "market.assets: names must be unique"),
        ("market.assets", "AB", "market.assets"),
        ("market.initial_proba", [0.5, 0.6], "initial_proba: must sum to 1"),
        ("market.regimes.1.alpha", "high", r"regimes\[1\].alpha"),
    ],
)
def test_invalid_fields_are_named(path: str, value: Any, field: str) -> None:
    with pytest.raises((ValueError, TypeError), match=field):
        ScenarioSpec.from_dict(_with(path, value))


def test_both_omega_and_annual_vol_is_ambiguous() -> None:
    with pytest.raises(ValueError, match=r"regimes\[0\]: give exactly one"):
        ScenarioSpec.from_dict(_with("market.regimes.0.annual_vol", 0.2))


def test_missing_sections_and_keys() -> None:
    with pytest.raises(ValueError, match=r"needs a \[market\] or a \[book\]"):
        ScenarioSpec.from_dict({"name": "empty"})
    document = copy.deepcopy(VALID)
    del document["market"]["regimes"][0]["nu"]
    with pytest.raises(ValueError, match=r"regimes\[0\]: missing required key\(s\) \['nu'\]"):
        ScenarioSpec.from_dict(document)


def test_load_by_path_and_invalid_toml(tmp_path: Path) -> None:
    good = tmp_path / "mine.toml"
    good.write_text((Path(load_spec("calm").source)).read_text())
    assert load_spec(good).name == "calm"
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ValueError, match="invalid TOML"):
        load_spec(bad)
    with pytest.raises(FileNotFoundError, match="available"):
        load_spec(tmp_path / "missing.toml")


def test_catalogue_directory_can_be_redirected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "custom.toml").write_text((Path(load_spec("crisis").source)).read_text())
    monkeypatch.setenv(SIMS_ENV, str(tmp_path))
    assert available_specs() == ["custom"]
    assert load_spec("custom").name == "crisis"


def test_required_catalogue_is_shipped() -> None:
    required = {"calm", "volatile", "crisis", "flash_crash", "regime_switching", "sp500"}
    assert required <= set(available_specs())
