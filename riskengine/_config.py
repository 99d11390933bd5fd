"""Building a frozen config dataclass from a TOML table: one rule for every section.

Unknown keys are refused (a typo must never leave a limit at its default),
missing required keys are named, and an error raised by the dataclass's own
validation is re-raised under the section's dotted path (``hard.max_daily_loss``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from riskengine.errors import InvalidConfig

__all__ = ["config_from_mapping"]

T = TypeVar("T")


def config_from_mapping(cls: type[T], table: Any, field: str) -> T:
    """``cls(**table)`` with unknown, missing and invalid fields named under ``field``.

    >>> @dataclasses.dataclass(frozen=True, kw_only=True)
    ... class Section:
    ...     size: int = 1
    >>> config_from_mapping(Section, {"size": 2}, "section")
    Section(size=2)
    >>> config_from_mapping(Section, {"sise": 2}, "section")
    Traceback (most recent call last):
    riskengine.errors.InvalidConfig: section: unknown key(s) ['sise']; allowed: ['size']
    """
    if not isinstance(table, Mapping):
        raise InvalidConfig(field, f"expected a table, got {type(table).__name__}")
    fields = [item for item in dataclasses.fields(cls) if item.init]  # type: ignore[arg-type]
    allowed = sorted(item.name for item in fields)
    unknown = sorted(str(key) for key in table if key not in allowed)
    if unknown:
        raise InvalidConfig(field, f"unknown key(s) {unknown}; allowed: {allowed}")
    missing = [
        item.name
        for item in fields
        if item.default is dataclasses.MISSING
        and item.default_factory is dataclasses.MISSING
        and item.name not in table
    ]
    if missing:
        raise InvalidConfig(field, f"missing required key(s) {missing}")
    try:
        return cls(**table)
    except InvalidConfig as error:
        if error.field == field or error.field.startswith(f"{field}."):
            raise
        raise InvalidConfig(f"{field}.{error.field}", error.problem) from None
