"""Long store tables built in blocks: (as_of, scope, name, [level,] value) rows.

The store's ``risk_metrics`` and ``limits`` tables are long: one row per day,
scope (the portfolio, an asset, a pair) and metric. :class:`LongRows` collects
whole metrics as numpy blocks and builds the Arrow table once, with the
scope and name columns dictionary-encoded.

>>> rows = LongRows(["portfolio", "SPX"], ["var", "price"])
>>> days = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[ns]")
>>> rows.add(days, "portfolio", "var", [0.02, 0.03], level=0.99)
>>> rows.add(days, ["SPX"], "price", np.array([[4700.0], [4710.0]]))
>>> table = rows.table("metric", with_level=True)
>>> table.num_rows, table.column_names
(4, ['as_of', 'scope', 'metric', 'level', 'value'])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["LongRows", "dictionary_array"]


def dictionary_array(codes: np.ndarray, words: Sequence[str]) -> pa.DictionaryArray:
    """Codes (int32) into ``words``: a dictionary-encoded string column."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(list(words)))


class LongRows:
    """Blocks of rows for a long table (as_of, scope, name, [level,] value), concatenated once.

    Each block is a whole metric: one numpy call per block, no loop over rows.
    """

    def __init__(self, scopes: Sequence[str], names: Sequence[str]) -> None:
        self._scope_code = {scope: i for i, scope in enumerate(scopes)}
        self._name_code = {name: i for i, name in enumerate(names)}
        self.scopes, self.names = list(scopes), list(names)
        self._blocks: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        as_of: np.ndarray,
        scope: str | Sequence[str],
        name: str,
        values: np.ndarray,
        level: float = math.nan,
    ) -> None:
        """``values`` (T,) for one scope, or (T, S) for the scopes ``scope`` (a sequence)."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            codes = np.full(values.size, self._scope_code[scope], dtype=np.int32)
            dates = as_of
        else:
            steps, width = values.shape
            codes = np.tile(np.array([self._scope_code[s] for s in scope], np.int32), steps)
            dates = np.repeat(as_of, width)
            values = values.ravel()
        self._blocks.append(
            (
                dates,
                codes,
                np.full(values.size, self._name_code[name], dtype=np.int32),
                np.full(values.size, level),
                values,
            )
        )

    def table(self, name_column: str, with_level: bool) -> pa.Table:
        dates, scopes, names, levels, values = (
            np.concatenate(c) for c in zip(*self._blocks, strict=True)
        )
        columns = {
            "as_of": pa.array(dates.astype("datetime64[ns]")),
            "scope": dictionary_array(scopes, self.scopes),
            name_column: dictionary_array(names, self.names),
        }
        if with_level:
            columns["level"] = pa.array(levels, pa.float64(), from_pandas=True)  # NaN -> NULL
        columns["value"] = pa.array(values, pa.float64())
        return pa.table(columns)
