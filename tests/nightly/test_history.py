"""Tests for riskengine.nightly.history: the built-in data, every file format, every error."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import arch.data.nasdaq
import arch.data.sp500
import duckdb
import numpy as np
import pandas as pd
import pytest
import river.datasets

from riskengine.errors import InvalidInput, InvalidPrice, UnknownAsset
from riskengine.nightly.history import (
    DEFAULT_SOURCE,
    PriceHistory,
    default_history,
    load_history,
)

STOCKS = ["AAPL", "AMZN", "IBM", "INTC", "JNJ", "JPM", "KO", "MSFT", "WMT", "XOM"]


# --- fixtures and writers ------------------------------------------------------


@pytest.fixture
def wide() -> pd.DataFrame:
    """The frame every round trip must give back: 3 assets, 12 business days."""
    rng = np.random.default_rng(7)
    business_days = pd.bdate_range("2024-01-02", periods=12).astype("datetime64[us]")
    dates = pd.DatetimeIndex(business_days, freq=None, name="date")  # a loaded index has no freq
    log_returns = rng.normal(0.0, 0.01, size=(len(dates), 3))
    prices = np.array([100.0, 50.0, 20.0]) * np.exp(np.cumsum(log_returns, axis=0))
    return pd.DataFrame(prices, index=dates, columns=pd.Index(["SPX", "NDX", "AAPL"]))


def _long(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reset_index().melt(id_vars="date", var_name="asset", value_name="price")


def _write(frame: pd.DataFrame, path: Path, *, table: str = "prices") -> Path:
    """Write a flat frame (dates as a column) in the format ``path``'s suffix names."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        with duckdb.connect(str(path)) as connection:
            connection.register("frame", frame)
            connection.execute(f'CREATE TABLE "{table}" AS SELECT * FROM frame')
    return path


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- the built-in history ------------------------------------------------------


def test_default_history_shape_columns_and_dates():
    history = default_history()
    prices = history.prices
    assert history.assets == ("SPX", "NDX", *STOCKS)
    assert prices.shape == (1257, 12)
    assert history.summary() == {
        "source": DEFAULT_SOURCE,
        "assets": ["SPX", "NDX", *STOCKS],
        "first_date": "2013-02-11",
        "last_date": "2018-02-06",
        "rows": 1257,
        "dropped_rows": 0,
    }
    assert isinstance(prices.index, pd.DatetimeIndex) and prices.index.tz is None
    assert prices.index.name == "date"
    assert prices.index.is_monotonic_increasing and prices.index.is_unique
    assert (prices.dtypes == np.float64).all()
    assert np.isfinite(prices.to_numpy()).all() and (prices.to_numpy() > 0).all()


def test_default_indices_are_arch_adjusted_closes():
    prices = default_history().prices
    for column, module in (("SPX", arch.data.sp500), ("NDX", arch.data.nasdaq)):
        adj_close = module.load()["Adj Close"]
        np.testing.assert_array_equal(
            prices[column].to_numpy(), adj_close.loc[prices.index].to_numpy()
        )


def test_default_stock_log_returns_match_river_simple_returns():
    prices = default_history().prices
    river_returns = pd.read_csv(river.datasets.SP500Stocks().path, parse_dates=["date"])
    river_returns = river_returns.set_index("date")
    assert river_returns.index.equals(prices.index)
    # Rebased to 100 on the close before the first day, so the first return is log(p0 / 100).
    log_returns = np.diff(np.log(prices[STOCKS].to_numpy()), axis=0, prepend=np.log(100.0))
    expected = np.log1p(river_returns[STOCKS].to_numpy() / 100.0)
    np.testing.assert_allclose(log_returns, expected, rtol=0, atol=1e-12)


def test_default_history_is_a_fresh_frame_each_call():
    first, second = default_history(), default_history()
    assert first.prices is not second.prices
    first.prices.iloc[0, 0] = -1.0  # a caller scribbling on one copy must not reach the next
    assert (default_history().prices.iloc[0] > 0).all()


def test_load_history_none_is_the_default_filtered():
    history = load_history(None, assets=["KO", "SPX"], start="2017-01-01", end="2017-12-31")
    expected = default_history().prices.loc["2017-01-01":"2017-12-31", ["KO", "SPX"]]
    pd.testing.assert_frame_equal(history.prices, expected)
    assert history.source == DEFAULT_SOURCE
    assert history.assets == ("KO", "SPX")
    assert history.summary()["first_date"] == "2017-01-03"
    assert history.summary()["last_date"] == "2017-12-29"


# --- round trips -----------------------------------------------------------------


@pytest.mark.parametrize("layout", ["wide", "long"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".duckdb", ".db"])
def test_round_trip_gives_identical_frames(tmp_path, wide, suffix, layout):
    flat = wide.reset_index() if layout == "wide" else _long(wide)
    path = _write(flat, tmp_path / f"prices{suffix}")
    before = path.read_bytes()
    table = "prices" if suffix in (".duckdb", ".db") else None
    history = load_history(path, table=table)
    pd.testing.assert_frame_equal(history.prices, wide)
    assert history.dropped_rows == 0
    assert history.source == (str(path) if table is None else f"{path} (table prices)")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no WAL, no lock file


def test_parquet_with_the_dates_as_its_index(tmp_path, wide):
    path = tmp_path / "prices.parquet"
    wide.to_parquet(path)  # the DatetimeIndex travels in pandas' metadata, not as a column
    pd.testing.assert_frame_equal(load_history(path).prices, wide)


def test_duckdb_schema_qualified_table_and_view(tmp_path, wide):
    path = tmp_path / "book.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.register("frame", wide.reset_index())
        connection.execute("CREATE SCHEMA market")
        connection.execute("CREATE TABLE market.closes AS SELECT * FROM frame")
        connection.execute("CREATE VIEW latest AS SELECT * FROM market.closes")
    pd.testing.assert_frame_equal(load_history(path, table="market.closes").prices, wide)
    pd.testing.assert_frame_equal(load_history(path, table="closes").prices, wide)
    pd.testing.assert_frame_equal(load_history(path, table="latest").prices, wide)


def test_unsorted_rows_are_sorted(tmp_path, wide):
    shuffled = wide.reset_index().sample(frac=1.0, random_state=3)
    assert not shuffled["date"].is_monotonic_increasing
    pd.testing.assert_frame_equal(load_history(_write(shuffled, tmp_path / "p.csv")).prices, wide)


def test_custom_date_column_integer_prices_and_tz_aware_dates(tmp_path):
    path = _csv(
        tmp_path / "p.csv",
        "Day,A,B\n2024-01-03T16:00-05:00,11,21\n2024-01-02T16:00-05:00,10,20\n",
    )
    history = load_history(path, date_column="Day")
    expected_index = pd.DatetimeIndex(["2024-01-02 21:00", "2024-01-03 21:00"], name="date").astype(
        "datetime64[us]"
    )
    pd.testing.assert_index_equal(history.prices.index, expected_index)
    assert (history.prices.dtypes == np.float64).all()
    assert history.prices["B"].tolist() == [20.0, 21.0]
    assert history.summary()["first_date"] == "2024-01-02T21:00:00"


# --- filters and missing days ------------------------------------------------------


def test_assets_select_and_order(tmp_path, wide):
    path = _write(wide.reset_index(), tmp_path / "p.csv")
    history = load_history(path, assets=["AAPL", "SPX"])
    assert history.assets == ("AAPL", "SPX")
    pd.testing.assert_frame_equal(history.prices, wide[["AAPL", "SPX"]])


def test_start_and_end_are_inclusive(tmp_path, wide):
    path = _write(wide.reset_index(), tmp_path / "p.parquet")
    history = load_history(path, start="2024-01-04", end="2024-01-10")
    pd.testing.assert_frame_equal(history.prices, wide.loc["2024-01-04":"2024-01-10"])
    assert history.summary()["first_date"] == "2024-01-04"
    assert history.summary()["last_date"] == "2024-01-10"


def test_bare_end_date_keeps_closes_stamped_later_that_day(tmp_path):
    path = _csv(tmp_path / "p.csv", "date,A,B\n2024-01-02 16:00,1,2\n2024-01-03 16:00,1.5,2.5\n")
    assert len(load_history(path, end="2024-01-02").prices) == 1
    assert len(load_history(path, start="2024-01-02", end="2024-01-03").prices) == 2
    with pytest.raises(
        InvalidInput, match=r"^end: no rows between 2023-12-01 and 2024-01-02T15:00"
    ):
        load_history(path, start="2023-12-01", end="2024-01-02 15:00")


def test_missing_cells_drop_rows_and_are_counted(tmp_path):
    path = _csv(
        tmp_path / "p.csv",
        "date,A,B,C\n"
        "2024-01-02,10,20,30\n"
        "2024-01-03,11,,31\n"  # B's market closed
        "2024-01-04,12,22,32\n"
        "2024-01-05,,23,\n"
        "2024-01-08,14,24,34\n",
    )
    history = load_history(path)
    assert history.dropped_rows == 2
    assert history.prices.index.strftime("%Y-%m-%d").tolist() == [
        "2024-01-02",
        "2024-01-04",
        "2024-01-08",
    ]
    assert load_history(path, assets=["A", "C"]).dropped_rows == 1
    assert load_history(path, start="2024-01-04").dropped_rows == 1


def test_long_layout_missing_pairs_are_dropped_and_counted(tmp_path, wide):
    long = _long(wide)
    gap = (long["asset"] == "NDX") & (long["date"] == wide.index[4])
    history = load_history(_write(long[~gap], tmp_path / "p.parquet"))
    assert history.dropped_rows == 1
    pd.testing.assert_frame_equal(history.prices, wide.drop(index=wide.index[4]))


# --- PriceHistory itself ------------------------------------------------------------


def test_price_history_checks_its_invariants(wide):
    PriceHistory(wide, "ok", 0)
    bad = wide.copy()
    bad.iloc[3, 1] = 0.0
    with pytest.raises(InvalidPrice, match=r"^prices\['NDX'\]: must be finite and > 0, got 0.0"):
        PriceHistory(bad, "bad", 0)
    with pytest.raises(InvalidInput, match=r"^prices: dates must be strictly increasing"):
        PriceHistory(wide.iloc[::-1], "reversed", 0)
    with pytest.raises(InvalidInput, match=r"^dropped_rows:"):
        PriceHistory(wide, "negative", -1)


def test_a_constant_price_column_is_refused_naming_it(tmp_path, wide):
    """Issue 17, item 12: a constant column made arch fail (a traceback) in backtest/nightly."""
    flat = wide.copy()
    flat["NDX"] = 50.0
    message = r"^prices\['NDX'\]: constant at 50.0 on all 12 days \(2024-01-02..2024-01-17\)"
    with pytest.raises(InvalidPrice, match=message):
        PriceHistory(flat, "flat", 0)
    csv = _write(flat.reset_index(), tmp_path / "flat.csv")
    with pytest.raises(InvalidPrice, match=message):
        load_history(csv)
    assert load_history(csv, assets=["SPX", "AAPL"]).assets == ("SPX", "AAPL")  # left out


def test_a_column_constant_only_in_the_selected_window_is_refused(tmp_path, wide):
    tail = wide.copy()
    tail.iloc[-5:, 2] = 20.0
    csv = _write(tail.reset_index(), tmp_path / "tail.csv")
    assert load_history(csv).prices.shape == (12, 3)  # it moves over the whole file
    with pytest.raises(InvalidPrice, match=r"^prices\['AAPL'\]: constant at 20.0 on all 5 days"):
        load_history(csv, start=str(wide.index[-5].date()))
    one_day = load_history(csv, start=str(wide.index[-1].date()))  # one day is not "constant"
    assert one_day.prices.shape == (1, 3)


def test_repr_is_short(wide):
    text = repr(PriceHistory(wide, "example", 2))
    assert text == (
        "PriceHistory(source='example', assets=['SPX', 'NDX', 'AAPL'], "
        "dates=2024-01-02..2024-01-17, rows=12, dropped_rows=2)"
    )


# --- errors --------------------------------------------------------------------------

GOOD_CSV = "date,A,B\n2024-01-02,10,20\n2024-01-03,11,21\n2024-01-04,12,22\n"


def _duckdb_file(tmp_path: Path) -> Path:
    frame = pd.DataFrame({"date": pd.to_datetime(["2024-01-02", "2024-01-03"]), "A": [1.0, 2.0]})
    frame["B"] = [3.0, 4.0]
    return _write(frame, tmp_path / "book.duckdb")


def _sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "book.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE prices (date TEXT, A REAL, B REAL)")
    return path


# Each case: builder(tmp_path) -> (source, keyword arguments), error type, field, fragment.
Case = tuple[Callable[[Path], tuple[Path | None, dict]], type[Exception], str, str]
ERROR_CASES: dict[str, Case] = {
    "unsupported suffix": (
        lambda d: (_csv(d / "p.txt", GOOD_CSV), {}),
        InvalidInput,
        "source",
        "unsupported file type '.txt'",
    ),
    "table for a csv": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV), {"table": "prices"}),
        InvalidInput,
        "table",
        "only for a DuckDB source",
    ),
    "table for the default": (lambda d: (None, {"table": "prices"}), InvalidInput, "table", ""),
    "duckdb without table": (
        lambda d: (_duckdb_file(d), {}),
        InvalidInput,
        "table",
        "required for a DuckDB source; tables in",
    ),
    "duckdb unknown table": (
        lambda d: (_duckdb_file(d), {"table": "closes"}),
        InvalidInput,
        "table",
        "'closes': no such table",
    ),
    "duckdb injection attempt": (
        lambda d: (_duckdb_file(d), {"table": 'prices"; DROP TABLE prices; --'}),
        InvalidInput,
        "table",
        "no such table",
    ),
    "missing file": (
        lambda d: (d / "nowhere.csv", {}),
        FileNotFoundError,
        "source",
        "no such file",
    ),
    "garbage parquet": (
        lambda d: (_csv(d / "p.parquet", "this is not parquet\n" * 20), {}),
        InvalidInput,
        "source",
        "cannot read (",
    ),
    "garbage duckdb": (
        lambda d: (_csv(d / "p.duckdb", "this is not duckdb\n" * 400), {"table": "prices"}),
        InvalidInput,
        "source",
        "cannot read (",
    ),
    "sqlite .db": (
        lambda d: (_sqlite_file(d), {"table": "prices"}),
        InvalidInput,
        "source",
        "cannot read (a SQLite database, not DuckDB)",
    ),
    "ragged csv": (
        lambda d: (_csv(d / "p.csv", "date,A,B\n2024-01-02,1,2\n2024-01-03,1,2,3,4\n"), {}),
        InvalidInput,
        "source",
        "cannot read (Error tokenizing data",
    ),
    "empty csv": (lambda d: (_csv(d / "p.csv", ""), {}), InvalidInput, "source", "cannot read ("),
    "header-only csv": (
        lambda d: (_csv(d / "p.csv", "date,A,B\n"), {}),
        InvalidInput,
        "source",
        "no rows",
    ),
    "missing date column": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV), {"date_column": "Date"}),
        InvalidInput,
        "Date",
        "no such column",
    ),
    "bad date": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV.replace("2024-01-03", "2024-13-45")), {}),
        InvalidInput,
        "date",
        "cannot parse '2024-13-45' as a date",
    ),
    "missing date": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV.replace("2024-01-03", "")), {}),
        InvalidInput,
        "date",
        "missing date (first bad value, data row 2)",
    ),
    "numeric dates": (
        lambda d: (_csv(d / "p.csv", "date,A,B\n20240102,1,2\n20240103,1,2\n"), {}),
        InvalidInput,
        "date",
        "got int64 values such as 20240102",
    ),
    "duplicate date": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV + "2024-01-03,13,23\n"), {}),
        InvalidInput,
        "date",
        "duplicate date 2024-01-03",
    ),
    "duplicate date and asset, long": (
        lambda d: (
            _csv(d / "p.csv", "date,asset,price\n2024-01-02,A,1\n2024-01-02,B,2\n2024-01-02,A,3\n"),
            {},
        ),
        InvalidInput,
        "date",
        "duplicate (date, asset) (2024-01-02, 'A')",
    ),
    "missing asset name, long": (
        lambda d: (_csv(d / "p.csv", "date,asset,price\n2024-01-02,A,1\n2024-01-02,,2\n"), {}),
        InvalidInput,
        "asset",
        "missing asset name in data row 2",
    ),
    "unknown asset": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV), {"assets": ["A", "GOLD"]}),
        UnknownAsset,
        "assets",
        "'GOLD' not in",
    ),
    "unknown asset, default": (
        lambda d: (None, {"assets": ["SPX", "GOLD"]}),
        UnknownAsset,
        "assets",
        "available: ['SPX', 'NDX', 'AAPL'",
    ),
    "one asset in the file": (
        lambda d: (_csv(d / "p.csv", "date,A\n2024-01-02,1\n"), {}),
        InvalidInput,
        "assets",
        "at least 2 assets",
    ),
    "one asset selected": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV), {"assets": ["A"]}),
        InvalidInput,
        "assets",
        "at least 2 assets",
    ),
    "assets as one string": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV), {"assets": "AB"}),
        InvalidInput,
        "assets",
        "single string",
    ),
    "duplicate assets": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV), {"assets": ["A", "B", "A"]}),
        InvalidInput,
        "assets",
        "duplicate",
    ),
    "text price": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV.replace(",21\n", ",abc\n")), {}),
        InvalidPrice,
        "prices['B']",
        "must be a number, got 'abc' on 2024-01-03",
    ),
    "infinite price": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV.replace(",11,", ",inf,")), {}),
        InvalidPrice,
        "prices['A']",
        "must be finite and > 0, got inf on 2024-01-03",
    ),
    "negative price": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV.replace(",22\n", ",-1\n")), {}),
        InvalidPrice,
        "prices['B']",
        "must be finite and > 0, got -1.0 on 2024-01-04",
    ),
    "zero price": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV.replace(",10,", ",0,")), {}),
        InvalidPrice,
        "prices['A']",
        "must be finite and > 0, got 0.0 on 2024-01-02",
    ),
    "boolean prices": (
        lambda d: (_csv(d / "p.csv", "date,A,B\n2024-01-02,true,1\n2024-01-03,false,2\n"), {}),
        InvalidPrice,
        "prices['A']",
        "must be numeric",
    ),
    "bad start": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV), {"start": "yesterday-ish"}),
        InvalidInput,
        "start",
        "expected an ISO date, got 'yesterday-ish'",
    ),
    "bad end": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV), {"end": "2024-02-30"}),
        InvalidInput,
        "end",
        "expected an ISO date",
    ),
    "start after end": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV), {"start": "2024-02-01", "end": "2024-01-01"}),
        InvalidInput,
        "start",
        "is after end",
    ),
    "start after the data": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV), {"start": "2025-01-01"}),
        InvalidInput,
        "start",
        "covers 2024-01-02..2024-01-04",
    ),
    "end before the data": (
        lambda d: (_csv(d / "p.csv", GOOD_CSV), {"end": "2023-12-31"}),
        InvalidInput,
        "end",
        "no rows between the start and 2023-12-31",
    ),
    "end before the default data": (
        lambda d: (None, {"end": "2000-01-01"}),
        InvalidInput,
        "end",
        "covers 2013-02-11..2018-02-06",
    ),
    "an asset with no prices at all": (
        lambda d: (_csv(d / "p.csv", "date,A,B\n2024-01-02,1,\n2024-01-03,2,\n"), {}),
        InvalidInput,
        "source",
        "no prices at all for ['B']",
    ),
    "not a path": (lambda d: (pd.DataFrame(), {}), InvalidInput, "source", "expected a file path"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES), ids=list(ERROR_CASES))
def test_errors_name_the_field_and_leave_the_file_alone(tmp_path, case):
    build, error_type, field, fragment = ERROR_CASES[case]
    source, kwargs = build(tmp_path)
    files_before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(error_type) as caught:
        load_history(source, **kwargs)
    message = str(caught.value)
    assert type(caught.value) is error_type
    assert message.startswith(f"{field}: "), message
    assert fragment in message, message
    if isinstance(caught.value, InvalidInput):
        assert caught.value.field == field
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == files_before


def test_duckdb_table_survives_an_injection_attempt(tmp_path):
    path = _duckdb_file(tmp_path)
    with pytest.raises(InvalidInput):
        load_history(path, table='prices"; DROP TABLE prices; --')
    assert load_history(path, table="prices").assets == ("A", "B")


def test_the_indices_alone_keep_their_own_history() -> None:
    history = load_history(assets=["NDX", "SPX"])
    assert history.assets == ("NDX", "SPX")
    summary = history.summary()
    assert (summary["first_date"], summary["last_date"]) == ("1999-01-04", "2018-12-31")
    assert summary["dropped_rows"] == 0
    # With a stock in the book, the common span is river's.
    assert load_history(assets=["SPX", "KO"]).summary()["first_date"] == "2013-02-11"
