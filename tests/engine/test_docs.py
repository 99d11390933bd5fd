"""docs/engine.md is the embedding guide: its examples must run as written."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from riskengine.engine import EngineConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_the_guide_runs() -> None:
    result = doctest.testfile(
        str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 10 and result.failed == 0


def test_the_guides_toml_is_a_valid_config() -> None:
    text = DOC.read_text()
    toml = text.split("```toml\n", 1)[1].split("```", 1)[0]
    config = EngineConfig.from_toml(toml)
    assert config.assets == ("SPX", "NDX") and config.models.vol == "GJR"
    with pytest.raises(ValueError):
        EngineConfig.from_toml(toml.replace("max_daily_loss", "max_daily_losses"))
