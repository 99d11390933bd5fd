"""Rows of a read-only query as tuples of Python values (None for NULL), for assertions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def rows(store: Any, sql: str, parameters: Sequence[Any] | None = None) -> list[tuple]:
    """``store.query(sql, parameters)`` (an Arrow table) as a list of row tuples."""
    table = store.query(sql, parameters)
    return list(zip(*(column.to_pylist() for column in table.columns), strict=True))
