"""The last ``capacity`` rows of returns: appended in O(N), copied out in one memcpy.

A background refit needs the models' kept history at the step it is launched,
on the hot path. The models keep theirs in deques of Python floats, and
turning 2,520 x N of those into an array costs milliseconds; this window keeps
the same rows in a numpy buffer of twice the capacity, so a copy is a slice.
When the buffer is full, the newest ``capacity`` rows move to its front: one
copy per ``capacity`` appends.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ReturnWindow"]


class ReturnWindow:
    """The most recent ``capacity`` rows of ``n`` returns, oldest first.

    Examples
    --------
    >>> window = ReturnWindow(capacity=3, n=2)
    >>> window.extend(np.arange(8.0).reshape(4, 2))
    >>> window.append(np.array([8.0, 9.0]))
    >>> window.rows().tolist()
    [[4.0, 5.0], [6.0, 7.0], [8.0, 9.0]]
    """

    def __init__(self, capacity: int, n: int) -> None:
        self.capacity = capacity
        # Zeros, not empty: a snapshot of the buffer is then the same bytes every time.
        self._buffer = np.zeros((2 * capacity, n))
        self._stop = 0

    def __len__(self) -> int:
        return min(self._stop, self.capacity)

    def append(self, row: np.ndarray) -> None:
        if self._stop == self._buffer.shape[0]:
            self._compact()
        self._buffer[self._stop] = row
        self._stop += 1

    def extend(self, rows: np.ndarray) -> None:
        rows = rows[-self.capacity :]
        if self._stop + rows.shape[0] > self._buffer.shape[0]:
            self._compact()
        self._buffer[self._stop : self._stop + rows.shape[0]] = rows
        self._stop += rows.shape[0]

    def clear(self) -> None:
        self._buffer[:] = 0.0
        self._stop = 0

    def rows(self) -> np.ndarray:
        """The kept rows, oldest first, as a new array."""
        return self._buffer[max(0, self._stop - self.capacity) : self._stop].copy()

    def _compact(self) -> None:
        keep = min(self._stop, self.capacity)
        self._buffer[:keep] = self._buffer[self._stop - keep : self._stop]
        self._buffer[keep:] = 0.0
        self._stop = keep
