"""Scenario specs: the TOML catalogue in ``sims/`` and its loader.

A scenario file has a name, a description and up to two sections: ``[market]``
(the regime-switching multi-asset market, :class:`MarketSpec`) and ``[book]``
(the limit order book, :class:`BookSpec`). At least one must be present.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from typing import Any

from riskengine._validation import check_keys
from riskengine.sim.book_spec import BookSpec
from riskengine.sim.execution_spec import ExecutionSpec
from riskengine.sim.market_spec import MarketSpec

__all__ = ["ScenarioSpec", "available_specs", "load_spec", "spec_directory"]

#: Environment variable that points the loader at another catalogue directory.
SIMS_ENV = "RISKENGINE_SIMS"


def spec_directory() -> Path:
    """The scenario catalogue: ``$RISKENGINE_SIMS`` if set, else the repository's ``sims/``."""
    override = os.environ.get(SIMS_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "sims"


def available_specs() -> list[str]:
    """Names of the specs in the catalogue, sorted.

    >>> {"calm", "crisis", "flash_crash", "regime_switching", "sp500"} <= set(available_specs())
    True
    """
    return sorted(p.stem for p in spec_directory().glob("*.toml"))


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class ScenarioSpec:
    """A named scenario: a market model, an order-book model, or both.

    Attributes
    ----------
    name : str
        Catalogue name (the file stem for catalogue specs).
    description : str
        One paragraph a risk manager can read.
    market : MarketSpec or None
        The regime-switching market section.
    book : BookSpec or None
        The limit-order-book section.
    execution : ExecutionSpec or None
        The parent orders of the execution environment (needs ``book``).
    source : str
        Where the spec was loaded from.
    """

    name: str
    description: str
    market: MarketSpec | None
    book: BookSpec | None
    execution: ExecutionSpec | None = None
    source: str = "<memory>"

    @classmethod
    def from_dict(cls, document: dict[str, Any], *, source: str = "<memory>") -> ScenarioSpec:
        """Validate a parsed TOML document; every error names the offending field."""
        check_keys(
            document,
            field="spec",
            required=("name",),
            optional=("description", "market", "book", "execution"),
        )
        name = document["name"]
        if not isinstance(name, str) or not name:
            raise ValueError("spec.name: expected a non-empty string")
        description = document.get("description", "")
        if not isinstance(description, str):
            raise ValueError("spec.description: expected a string")
        if "market" not in document and "book" not in document:
            raise ValueError("spec: needs a [market] or a [book] section (or both)")
        market = MarketSpec.from_table(document["market"]) if "market" in document else None
        book = BookSpec.from_table(document["book"], field="book") if "book" in document else None
        execution = None
        if "execution" in document:
            if book is None:
                raise ValueError("spec.execution: needs a [book] section to trade in")
            execution = ExecutionSpec.from_table(document["execution"], field="execution")
        return cls(
            name=name,
            description=description,
            market=market,
            book=book,
            execution=execution,
            source=source,
        )


def load_spec(name_or_path: str | os.PathLike[str]) -> ScenarioSpec:
    """Load a scenario spec by catalogue name (``"calm"``) or by path to a TOML file.

    Parameters
    ----------
    name_or_path : str or path-like
        A name in :func:`available_specs` or a path to a ``.toml`` file.

    Raises
    ------
    FileNotFoundError
        No such spec.
    ValueError
        Invalid TOML or an invalid field; the message names the field.

    Examples
    --------
    >>> spec = load_spec("regime_switching")
    >>> spec.market.regime_names
    ('calm', 'turbulent', 'crisis')
    """
    if not isinstance(name_or_path, str | os.PathLike):
        raise TypeError(
            f"name_or_path: expected a spec name or path, got {type(name_or_path).__name__}"
        )
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.suffix != ".toml" and os.sep not in text:
        path = spec_directory() / f"{text}.toml"
    if not path.is_file():
        raise FileNotFoundError(
            f"name_or_path: no scenario spec {text!r} (looked for {path}); "
            f"available: {available_specs()}"
        )
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: invalid TOML ({error})") from None
    return ScenarioSpec.from_dict(document, source=str(path))
