"""The engine's input errors: one base class, one subclass per kind of bad input.

Every error names the offending field in its message (``"prices['SPX']: must
be > 0, got -1.0"``) and carries it as ``field``, so a trading stack can log
and route it. An engine that raises one of these has not changed its state.
"""

from __future__ import annotations

__all__ = [
    "InvalidConfig",
    "InvalidFill",
    "InvalidInput",
    "InvalidOrder",
    "InvalidPrice",
    "InvalidSnapshot",
    "InvalidTimestamp",
    "MissingAsset",
    "UnknownAsset",
    "unreadable_source",
]


class InvalidInput(ValueError):
    """Bad input to the engine; the engine's state is unchanged.

    >>> error = InvalidPrice("prices['SPX']", "must be > 0, got -1.0")
    >>> str(error), error.field, isinstance(error, ValueError)
    ("prices['SPX']: must be > 0, got -1.0", "prices['SPX']", True)
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

    def __reduce__(self) -> tuple:  # keep (field, problem) through pickling by callers
        return type(self), (self.field, self.problem)


class InvalidPrice(InvalidInput):
    """A price that is NaN, infinite, zero, negative or not a number."""


class UnknownAsset(InvalidInput):
    """An asset the engine was not configured with."""


class MissingAsset(InvalidInput):
    """A configured asset absent from a price update."""


class InvalidTimestamp(InvalidInput):
    """A timestamp that is not a time, or goes backwards, or repeats."""


class InvalidOrder(InvalidInput):
    """An order with a bad side, quantity, price, asset or timestamp."""


class InvalidFill(InvalidInput):
    """A fill with a bad side, quantity, price or asset."""


class InvalidSnapshot(InvalidInput):
    """Bytes that are not an engine snapshot, or one of an incompatible version."""


class InvalidConfig(InvalidInput):
    """An engine configuration with an unknown field or a value out of range."""


def unreadable_source(path: object, error: BaseException) -> InvalidInput:
    """The error for a user's input file that cannot be read: field ``source``, the reader's reason.

    Only the first line of the reader's message is kept (DuckDB and pandas add
    multi-line context), so the error stays one line.

    >>> str(unreadable_source("prices.csv", ValueError("bad header\\nat line 3")))
    'source: prices.csv: cannot read (bad header)'
    """
    lines = str(error).strip().splitlines()
    reason = lines[0] if lines else type(error).__name__
    return InvalidInput("source", f"{path}: cannot read ({reason})")
