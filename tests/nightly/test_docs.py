"""The configuration examples in docs/nightly.md and the config module parse as documented."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from riskengine.nightly import config as config_module
from riskengine.nightly.config import NightlyConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "nightly.md"


def _toml_blocks(text: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL)


@pytest.mark.parametrize(
    "text", [DOC.read_text(encoding="utf-8"), config_module.__doc__], ids=["docs", "module"]
)
def test_every_documented_config_is_a_valid_nightly_config(text: str) -> None:
    blocks = _toml_blocks(text) or re.findall(
        r"\.\. code-block:: toml\n\n(.*?)\n\"\"\"", text + '\n"""', flags=re.DOTALL
    )
    assert blocks
    for block in blocks:
        document = tomllib.loads(re.sub(r"^    ", "", block, flags=re.MULTILINE))
        config = NightlyConfig.from_mapping(document)
        assert config.engine_config(["SPX", "NDX"]).models.refit_every == 252


def test_the_documented_defaults_are_the_code_defaults() -> None:
    (block,) = _toml_blocks(DOC.read_text(encoding="utf-8"))
    document = tomllib.loads(block)
    defaults = NightlyConfig()
    for section in ("backtest", "scenarios", "execution"):
        for key, value in document[section].items():
            expected = getattr(getattr(defaults, section), key)
            assert (list(expected) if isinstance(expected, tuple) else expected) == value, key
