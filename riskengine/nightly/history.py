"""The book's daily price history, as the nightly risk run reads it.

Two ways in. :func:`default_history` assembles real daily closes that ship inside
installed packages (no network): the S&P 500 and NASDAQ indices from ``arch.data``
and ten large US stocks from ``river.datasets.SP500Stocks``. :func:`load_history`
reads a user's file instead (CSV, Parquet or a DuckDB table) in either of two
layouts, and applies the same asset and date filters to both.

Whatever the source, the result is a :class:`PriceHistory` whose ``prices`` frame
holds only finite, positive float64 closes on strictly increasing tz-naive dates,
none of them constant over the whole history (an asset whose price never moves
has no risk to model and is refused, naming it): the engine downstream never has
to check its input again. Days on which a
selected asset has no close (a holiday in one market, a late listing) are dropped
and counted, not errors; a present but impossible price (zero, negative,
infinite, text) is an error that names the asset and the day.

This module opens a user's DuckDB *input* file read-only; writing results stays
the job of :mod:`riskengine.store`, the only module that owns a database.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from riskengine.errors import InvalidInput, InvalidPrice, UnknownAsset, unreadable_source

__all__ = ["PriceHistory", "default_history", "load_history"]

DEFAULT_SOURCE = "built-in: arch.data sp500/nasdaq + river SP500Stocks"
_CSV_SUFFIXES = (".csv",)
_PARQUET_SUFFIXES = (".parquet",)
_DUCKDB_SUFFIXES = (".duckdb", ".db")
_LONG_COLUMNS = ("asset", "price")
# One resolution for every source, so a CSV, a Parquet file and a DuckDB table
# holding the same closes give identical frames.
_DATE_DTYPE = "datetime64[us]"


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class PriceHistory:
    """Daily closes of the book's assets, validated and ready for the engine.

    Parameters
    ----------
    prices
        One row per day and one float64 column per asset. The index is a
        tz-naive, strictly increasing ``DatetimeIndex`` named ``"date"``; every
        price is finite and > 0, and no column is constant over two days or
        more (checked here, at construction). Treat the frame
        as read-only: the history is shared by every stage of the nightly run.
    source
        Where the prices came from, for the run's record: the built-in
        description, a file path, or a file path and table.
    dropped_rows
        Rows dropped because at least one selected asset had no price that day.

    Examples
    --------
    >>> import pandas as pd
    >>> dates = pd.DatetimeIndex(["2024-01-02", "2024-01-03"], name="date")
    >>> prices = pd.DataFrame({"A": [10.0, 10.5], "B": [20.0, 19.0]}, index=dates)
    >>> history = PriceHistory(prices, source="example", dropped_rows=0)
    >>> history.assets
    ('A', 'B')
    >>> history.summary()["last_date"]
    '2024-01-03'
    """

    prices: pd.DataFrame
    source: str
    dropped_rows: int = 0

    def __post_init__(self) -> None:
        _check_prices_frame(self.prices)
        if not isinstance(self.source, str) or not self.source:
            raise InvalidInput("source", f"expected a non-empty description, got {self.source!r}")
        if (
            isinstance(self.dropped_rows, bool)
            or not isinstance(self.dropped_rows, int | np.integer)
            or self.dropped_rows < 0
        ):
            raise InvalidInput(
                "dropped_rows", f"expected an integer >= 0, got {self.dropped_rows!r}"
            )

    @property
    def assets(self) -> tuple[str, ...]:
        """The asset names, in column order."""
        return tuple(self.prices.columns)

    def summary(self) -> dict[str, Any]:
        """What was loaded, as plain JSON-ready values (for logs and ``runs.config``).

        Returns
        -------
        dict
            ``source``, ``assets`` (list), ``first_date`` and ``last_date``
            (ISO strings), ``rows`` and ``dropped_rows``.
        """
        return {
            "source": self.source,
            "assets": list(self.assets),
            "first_date": _iso(self.prices.index[0]),
            "last_date": _iso(self.prices.index[-1]),
            "rows": len(self.prices),
            "dropped_rows": int(self.dropped_rows),
        }

    def __repr__(self) -> str:
        summary = self.summary()
        return (
            f"PriceHistory(source={self.source!r}, assets={summary['assets']}, "
            f"dates={summary['first_date']}..{summary['last_date']}, rows={summary['rows']}, "
            f"dropped_rows={summary['dropped_rows']})"
        )


def default_history(assets: Sequence[str] | None = None) -> PriceHistory:
    """The built-in history: two indices and ten stocks, read from installed packages.

    Columns, in this order:

    - ``SPX`` and ``NDX``: the 'Adj Close' of the S&P 500 and NASDAQ Composite from
      ``arch.data.sp500.load()`` and ``arch.data.nasdaq.load()`` (index levels).
    - ``AAPL``, ``AMZN``, ``IBM``, ``INTC``, ``JNJ``, ``JPM``, ``KO``, ``MSFT``,
      ``WMT``, ``XOM``: from ``river.datasets.SP500Stocks``, which ships daily
      *simple returns in percent*, not prices. Each is turned into a
      total-return index rebased to 100 on the close before the first day:
      ``100 * cumprod(1 + r / 100)``. The levels are therefore not the stocks'
      quoted prices; only returns matter to the engine, and those are exact.
      river's ``next_day_return`` column (the equal-weighted mean of the ten
      stocks' *next* day returns, a look-ahead target) is not used.

    The sources are inner-joined on dates, which leaves river's span, 2013-02-11
    to 2018-02-06 (1,257 trading days, on all of which both indices also have a
    close). ``dropped_rows`` is 0: trimming the indices' longer history to the
    common span is not a missing price. When ``assets`` names only the indices,
    the stocks are left out of the join and the indices' own history is kept:
    1999-01-04 to 2018-12-31, 2008 included. Nothing is cached; a call takes
    well under 0.1 s once the packages are imported.

    Parameters
    ----------
    assets : sequence of str, optional
        The assets the caller will keep (selection and order are left to
        :func:`load_history`); only decides whether the stocks join.

    Returns
    -------
    PriceHistory
        12 assets, about 1,257 rows (or the two indices, about 5,030 rows).

    Examples
    --------
    >>> history = default_history()
    >>> history.assets[:3], len(history.assets)
    (('SPX', 'NDX', 'AAPL'), 12)
    >>> history.summary()["first_date"], history.summary()["last_date"]
    ('2013-02-11', '2018-02-06')
    >>> default_history(["SPX", "NDX"]).summary()["first_date"]
    '1999-01-04'
    """
    # Imported here: loading a user's file should not pay for importing river and arch.
    import arch.data.nasdaq
    import arch.data.sp500
    import river.datasets

    indices = {
        "SPX": arch.data.sp500.load()["Adj Close"],
        "NDX": arch.data.nasdaq.load()["Adj Close"],
    }
    # river's iterator drops the date, so read its CSV directly.
    stock_returns = pd.read_csv(river.datasets.SP500Stocks().path, parse_dates=["date"])
    stock_returns = stock_returns.drop(columns="next_day_return").set_index("date").sort_index()
    stock_prices = 100.0 * (1.0 + stock_returns / 100.0).cumprod()
    frames = [series.rename(name) for name, series in indices.items()]
    if assets is None or not set(assets) <= set(indices):
        frames += [stock_prices[ticker] for ticker in stock_prices.columns]
    joined = pd.concat(frames, axis=1, join="inner").sort_index()
    return PriceHistory(_fresh_frame(joined, list(joined.columns)), DEFAULT_SOURCE, 0)


def load_history(
    source: str | os.PathLike[str] | None = None,
    *,
    table: str | None = None,
    assets: Sequence[str] | None = None,
    date_column: str = "date",
    start: str | None = None,
    end: str | None = None,
) -> PriceHistory:
    """Load the book's daily closes from a file, or the built-in history.

    Parameters
    ----------
    source
        ``None`` for :func:`default_history`, or the path of a ``.csv``, a
        ``.parquet`` or a DuckDB database (``.duckdb`` / ``.db``). The file is
        only read, never modified; a DuckDB file is opened read-only.
    table
        The table (or view) to read from a DuckDB database; required there and
        rejected for any other source. It is matched against the database's
        catalogue before any SQL is built, so it cannot inject SQL. A name may be
        schema-qualified (``"prices.closes"``).
    assets
        The assets to keep, in this order; default all of them, in the source's
        order. At least two are needed (the engine's covariance is multivariate).
    date_column
        The column holding the dates (file sources only). Dates may be ISO
        strings or timestamps; tz-aware timestamps are converted to UTC and made
        naive. The result's index is always named ``"date"``.
    start, end
        ISO dates bounding the rows kept, both inclusive (an ``end`` without a
        time keeps the whole day).

    The file may be *wide* (``date_column`` plus one numeric column per asset)
    or *long* (exactly the columns ``date_column``, ``asset`` and ``price``,
    pivoted here, assets in order of first appearance). Rows may come unsorted.
    Days on which a selected asset has no price (an empty cell, a missing long
    row) are dropped and counted in ``dropped_rows``; only rows inside
    ``start`` / ``end`` and only the selected assets are inspected.

    Returns
    -------
    PriceHistory

    Raises
    ------
    FileNotFoundError
        ``source`` does not exist.
    InvalidInput
        Naming the offending field: ``source`` (unsupported suffix, unreadable
        or empty file), ``table``, ``date_column``'s name (missing, unparsable
        or duplicate dates), ``assets`` (fewer than two), ``start`` / ``end``
        (unparsable, reversed, or leaving no rows).
    UnknownAsset
        An asset in ``assets`` that the source does not hold (field ``assets``).
    InvalidPrice
        A price that is not a number, or is present but not finite and > 0,
        named as ``prices['<asset>']`` with its value and date.

    Examples
    --------
    >>> history = load_history(assets=["NDX", "SPX"], start="2018-12-01")
    >>> history.summary()  # the indices alone keep their own history, to 2018-12-31
    {'source': 'built-in: arch.data sp500/nasdaq + river SP500Stocks',
     'assets': ['NDX', 'SPX'], 'first_date': '2018-12-03', 'last_date': '2018-12-31',
     'rows': 19, 'dropped_rows': 0}
    >>> load_history(assets=["SPX", "AAPL"]).summary()["first_date"]  # a stock joins: 2013-
    '2013-02-11'
    >>> load_history(assets=["SPX", "GOLD"])
    Traceback (most recent call last):
    riskengine.errors.UnknownAsset: assets: 'GOLD' not in built-in: ...; available: [...]
    """
    # Check every argument before touching the file, so a typo fails fast and alike.
    selected = _check_assets(assets)
    start_ts = _parse_bound(start, "start")
    end_ts = _parse_bound(end, "end")
    if start_ts is not None and end_ts is not None and start_ts > end_ts:
        raise InvalidInput("start", f"{start} is after end {end}")
    if not isinstance(date_column, str) or not date_column:
        raise InvalidInput("date_column", f"expected a column name, got {date_column!r}")

    if source is None:
        if table is not None:
            raise InvalidInput("table", f"only for a DuckDB source, not the {DEFAULT_SOURCE}")
        wide = default_history(selected).prices
        description = DEFAULT_SOURCE
    else:
        raw, description = _read_source(source, table)
        wide = _wide_frame(raw, date_column, description)
    return _select(wide, description, selected, start_ts, end_ts)


# --- reading -----------------------------------------------------------------


def _read_source(source: str | os.PathLike[str], table: str | None) -> tuple[pd.DataFrame, str]:
    """Read ``source`` into a raw frame; return it with a description for messages."""
    try:
        path = Path(os.fspath(source))
    except TypeError:
        raise InvalidInput(
            "source", f"expected a file path or None, got {type(source).__name__}"
        ) from None
    suffix = path.suffix.lower()
    supported = _CSV_SUFFIXES + _PARQUET_SUFFIXES + _DUCKDB_SUFFIXES
    if suffix not in supported:
        raise InvalidInput(
            "source", f"{path}: unsupported file type {suffix or '(none)'!r}; expected {supported}"
        )
    is_duckdb = suffix in _DUCKDB_SUFFIXES
    if table is not None and not is_duckdb:
        raise InvalidInput("table", f"only for a DuckDB source, not {path}")
    if not path.exists():
        raise FileNotFoundError(f"source: no such file {path}")
    if is_duckdb:
        return _read_duckdb(path, table)
    try:
        if suffix in _CSV_SUFFIXES:
            # low_memory=False: infer each column's type from all of it, not per chunk.
            frame = pd.read_csv(path, low_memory=False)
        else:
            frame = pd.read_parquet(path)
    # Whatever the parser raised, the user's problem is the same: this file cannot be read.
    # (Not every pyarrow error subclasses a builtin one, hence ArrowException.)
    except (OSError, ValueError, TypeError, ImportError, pa.ArrowException) as error:
        raise unreadable_source(path, error) from None
    return frame, str(path)


def _read_duckdb(path: Path, table: str | None) -> tuple[pd.DataFrame, str]:
    # The store module is the one place that speaks to DuckDB.
    from riskengine.store import read_user_table

    return read_user_table(path, table), f"{path} (table {table})"


# --- shaping -----------------------------------------------------------------


def _wide_frame(raw: pd.DataFrame, date_column: str, source: str) -> pd.DataFrame:
    """Turn a wide or long raw frame into one column per asset on sorted, unique dates.

    Values are left as read; they are checked only once the assets and dates are chosen.
    """
    if date_column not in raw.columns and date_column in (raw.index.names or []):
        # A Parquet file written from a date-indexed frame brings the dates back as its index.
        raw = raw.reset_index()
    raw = raw.reset_index(drop=True)
    if date_column not in raw.columns:
        raise InvalidInput(
            date_column, f"no such column in {source}; columns: {[str(c) for c in raw.columns]}"
        )
    if raw.empty:
        raise InvalidInput("source", f"{source}: no rows")
    dates = _parse_dates(raw[date_column], date_column)
    is_long = set(map(str, raw.columns)) == {date_column, *_LONG_COLUMNS} and len(raw.columns) == 3

    if is_long:
        asset_names = raw["asset"]
        if asset_names.isna().any():
            row = int(np.flatnonzero(asset_names.isna().to_numpy())[0])
            raise InvalidInput("asset", f"missing asset name in data row {row + 1}")
        long = pd.DataFrame(
            {"date": dates, "asset": asset_names.astype(str).to_numpy(), "price": raw["price"]}
        )
        duplicated = long.duplicated(["date", "asset"]).to_numpy()
        if duplicated.any():
            first = long.iloc[int(np.flatnonzero(duplicated)[0])]
            raise InvalidInput(
                date_column,
                f"duplicate (date, asset) ({_iso(first['date'])}, {first['asset']!r}) in {source}",
            )
        order = list(pd.unique(long["asset"]))
        wide = long.pivot(index="date", columns="asset", values="price")
        wide = wide.reindex(columns=order)
    else:
        wide = raw.drop(columns=date_column)
        wide.columns = [str(column) for column in wide.columns]
        wide.index = dates
        duplicated = wide.index.duplicated()
        if duplicated.any():
            first = wide.index[int(np.flatnonzero(duplicated)[0])]
            raise InvalidInput(date_column, f"duplicate date {_iso(first)} in {source}")
    wide.index.name = "date"
    wide.columns.name = None
    return wide.sort_index(kind="stable")


def _parse_dates(column: pd.Series, field: str) -> pd.DatetimeIndex:
    """Parse a date column, naming it and its first bad value on failure."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        sample = column.dropna()
        example = f" such as {sample.tolist()[0]!r}" if len(sample) else ""
        raise InvalidInput(
            field,
            f"must hold dates (ISO strings or timestamps), got {column.dtype} values{example}",
        )
    try:
        with warnings.catch_warnings():
            # pandas warns when it falls back to per-element parsing; bad values are reported below.
            warnings.simplefilter("ignore", UserWarning)
            parsed = pd.to_datetime(column, errors="coerce")
    except (ValueError, TypeError, OverflowError) as error:  # e.g. mixed UTC offsets
        lines = str(error).splitlines()
        raise InvalidInput(field, f"cannot parse dates ({lines[0] if lines else error})") from None
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = column.iloc[row]
        problem = "missing date" if pd.isna(value) else f"cannot parse {value!r} as a date"
        raise InvalidInput(field, f"{problem} (first bad value, data row {row + 1})")
    index = pd.DatetimeIndex(parsed)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    try:
        return index.astype(_DATE_DTYPE)
    except (ValueError, OverflowError) as error:  # a date beyond the datetime64[us] range
        raise InvalidInput(field, f"date out of range ({error})") from None


# --- selecting and validating --------------------------------------------------


def _check_assets(assets: Sequence[str] | None) -> list[str] | None:
    if assets is None:
        return None
    if isinstance(assets, str | bytes):
        raise InvalidInput(
            "assets", f"expected a sequence of asset names, got the single string {assets!r}"
        )
    try:
        selected = list(assets)
    except TypeError:
        raise InvalidInput(
            "assets", f"expected a sequence of asset names, got {type(assets).__name__}"
        ) from None
    for name in selected:
        if not isinstance(name, str):
            raise InvalidInput("assets", f"expected asset names (str), got {name!r}")
    duplicates = sorted({name for name in selected if selected.count(name) > 1})
    if duplicates:
        raise InvalidInput("assets", f"duplicate asset(s) {duplicates}")
    if len(selected) < 2:
        raise InvalidInput(
            "assets", f"at least 2 assets are needed (covariance is multivariate), got {selected}"
        )
    return selected


def _parse_bound(value: str | None, field: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        bound = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise InvalidInput(field, f"expected an ISO date, got {value!r}") from None
    if pd.isna(bound):
        raise InvalidInput(field, f"expected an ISO date, got {value!r}")
    if bound.tz is not None:
        raise InvalidInput(field, f"expected a tz-naive date, got {value!r}")
    return bound


def _select(
    wide: pd.DataFrame,
    source: str,
    selected: list[str] | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> PriceHistory:
    available = [str(column) for column in wide.columns]
    if selected is None:
        if len(available) < 2:
            raise InvalidInput(
                "assets",
                f"at least 2 assets are needed (covariance is multivariate); "
                f"{source} has {available}",
            )
        selected = available
    missing = [name for name in selected if name not in available]
    if missing:
        raise UnknownAsset(
            "assets", f"{', '.join(map(repr, missing))} not in {source}; available: {available}"
        )
    if wide.empty:
        raise InvalidInput("source", f"{source}: no rows")

    first, last = wide.index[0], wide.index[-1]
    keep = np.ones(len(wide), dtype=bool)
    if start is not None:
        keep &= wide.index >= start
    if end is not None:
        if end == end.normalize():
            # A bare date means the whole day, whatever time of day the closes are stamped with.
            keep &= wide.index < end + pd.Timedelta(days=1)
        else:
            keep &= wide.index <= end
    if not keep.any():
        if start is not None and start > last:
            field = "start"
        elif end is not None and end < first:
            field = "end"
        else:  # the window falls between two dates of the source
            field = "start" if start is not None else "end"
        raise InvalidInput(
            field,
            f"no rows between {_iso(start) if start is not None else 'the start'} and "
            f"{_iso(end) if end is not None else 'the end'}; {source} covers "
            f"{_iso(first)}..{_iso(last)}",
        )
    window = wide.loc[keep, selected]
    values = np.column_stack([_as_float(window[name], name) for name in selected])

    present = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        impossible = present & ~(np.isfinite(values) & (values > 0))
    if impossible.any():
        row, col = np.argwhere(impossible)[0]
        raise InvalidPrice(
            f"prices[{selected[col]!r}]",
            f"must be finite and > 0, got {values[row, col]} on {_iso(window.index[row])}",
        )
    complete = present.all(axis=1)
    if not complete.any():
        empty = [name for name, has in zip(selected, present.any(axis=0), strict=True) if not has]
        detail = f"; no prices at all for {empty}" if empty else ""
        raise InvalidInput(
            "source", f"{source}: no day on which all of {selected} have a price{detail}"
        )
    prices = pd.DataFrame(
        values[complete],
        index=pd.DatetimeIndex(window.index[complete], name="date"),
        columns=pd.Index(selected),
    )
    return PriceHistory(prices, source, int((~complete).sum()))


def _as_float(column: pd.Series, asset: str) -> np.ndarray:
    """A price column as float64, NaN where a price is missing; text is an error."""
    field = f"prices[{asset!r}]"
    if pd.api.types.is_bool_dtype(column) or not (
        pd.api.types.is_numeric_dtype(column)
        or pd.api.types.is_object_dtype(column)
        or pd.api.types.is_string_dtype(column)
    ):
        raise InvalidPrice(field, f"must be numeric, got a {column.dtype} column")
    if not pd.api.types.is_numeric_dtype(column):
        numbers = pd.to_numeric(column, errors="coerce")
        bad = (numbers.isna() & column.notna()).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InvalidPrice(
                field, f"must be a number, got {column.iloc[row]!r} on {_iso(column.index[row])}"
            )
        column = numbers
    return column.to_numpy(dtype="float64", na_value=np.nan)


def _fresh_frame(frame: pd.DataFrame, assets: list[str]) -> pd.DataFrame:
    """A new float64 frame in the canonical shape, owning its memory."""
    return pd.DataFrame(
        frame[assets].to_numpy(dtype="float64", na_value=np.nan),
        index=pd.DatetimeIndex(frame.index, name="date").astype(_DATE_DTYPE),
        columns=pd.Index([str(name) for name in assets]),
    )


def _check_prices_frame(prices: Any) -> None:
    """The invariants every consumer of a :class:`PriceHistory` relies on."""
    if not isinstance(prices, pd.DataFrame):
        raise InvalidInput("prices", f"expected a pandas DataFrame, got {type(prices).__name__}")
    index = prices.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is not None:
        raise InvalidInput("prices", "index must be a tz-naive DatetimeIndex")
    if index.name != "date":
        raise InvalidInput("prices", f"index must be named 'date', got {index.name!r}")
    if len(index) == 0:
        raise InvalidInput("prices", "no rows")
    if not (index.is_monotonic_increasing and index.is_unique):
        raise InvalidInput("prices", "dates must be strictly increasing")
    columns = list(prices.columns)
    if not columns or not all(isinstance(name, str) for name in columns):
        raise InvalidInput("prices", f"columns must be asset names (str), got {columns}")
    if len(set(columns)) != len(columns):
        raise InvalidInput("prices", f"duplicate asset columns in {columns}")
    for name in columns:
        column = prices[name]
        if column.dtype != np.float64:
            raise InvalidPrice(f"prices[{name!r}]", f"must be float64, got {column.dtype}")
        values = column.to_numpy()
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InvalidPrice(
                f"prices[{name!r}]",
                f"must be finite and > 0, got {values[row]} on {_iso(index[row])}",
            )
        if len(values) > 1 and values.min() == values.max():
            # Every return is zero: no volatility model fits it (arch fails to converge), and a
            # riskless asset would need a degenerate covariance everywhere downstream.
            raise InvalidPrice(
                f"prices[{name!r}]",
                f"constant at {values[0]} on all {len(values)} days "
                f"({_iso(index[0])}..{_iso(index[-1])}): a price that never moves has no "
                "risk to model; leave the asset out (--assets, or [data] assets)",
            )


def _iso(timestamp: pd.Timestamp) -> str:
    """A date as ``YYYY-MM-DD``, with the time only when there is one."""
    timestamp = pd.Timestamp(timestamp)
    if timestamp == timestamp.normalize():
        return timestamp.date().isoformat()
    return timestamp.isoformat()
