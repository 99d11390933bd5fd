"""Where background refits run: one worker process, shared by every engine in this process.

A refit is seconds of arch and hmmlearn; a tick is microseconds. In a thread
the refit would hold the GIL in 5 ms slices (scipy's optimiser calls back into
Python), and every ``update`` that arrives meanwhile would wait for it. A
separate process has its own interpreter, so the hot path never waits; it
costs one start-up (a few seconds of imports, paid once, on the first refit)
and the pickling of the job (the kept returns, a few hundred kB).

- **A plain child process** (``python -m riskengine.engine.refit_worker``)
  speaking length-prefixed pickles over its stdin and stdout, not
  :mod:`multiprocessing`: that would re-import the caller's ``__main__`` in
  the child (``spawn``), which runs an unguarded script a second time, or
  fork a parent whose JAX threads do not survive a fork. A host embedding the
  engine needs no ``if __name__ == "__main__"`` guard.
- **One worker**: refits are rare (monthly, or after an alarm) and a second
  busy core would slow the hot path on a two-core machine more than a queue
  slows the refits. Engines in one process share it; their jobs queue. A
  daemon thread here feeds it, so :func:`submit` returns at once.
- **One BLAS/OpenMP thread** in the worker, so that a refit takes one core
  and leaves the other to the caller.
- **A worker that dies** (killed, out of memory) fails the job in flight: its
  future raises, its owner keeps the old parameters and reports why, and the
  next job starts a new worker.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["read_message", "shutdown", "start", "submit", "write_message"]

_HEADER = struct.Struct("<Q")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def write_message(stream: BinaryIO, value: Any) -> None:
    """One length-prefixed pickle (trusted peers only: the engine and its own worker)."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_message(stream: BinaryIO) -> Any:
    """The next message; ``EOFError`` when the peer has gone."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("the peer closed the stream")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the peer closed the stream mid-message")
    return pickle.loads(data)


class _Runner:
    """A queue of jobs, the thread that feeds them to the worker, and the worker."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._process: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._serve, name="riskengine-refit", daemon=True)
        self._thread.start()

    def submit(self, function: Callable[[Any], Any], job: Any) -> Future:
        future: Future = Future()
        self._jobs.put((function, job, future))
        return future

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=60)

    def _serve(self) -> None:
        while (item := self._jobs.get()) is not None:
            function, job, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                process = self._worker()
                write_message(process.stdin, (function, job))
                ok, value = read_message(process.stdout)
            except (OSError, EOFError, pickle.PickleError, AttributeError, TypeError) as error:
                self._stop_worker()
                future.set_exception(RuntimeError(f"refit worker failed: {error}"))
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(RuntimeError(f"refit worker raised: {value}"))
        self._stop_worker()

    def _worker(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            env = dict(os.environ)
            env.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
            # The package as this process imports it (an editable or a source checkout).
            root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
            self._process = subprocess.Popen(
                [sys.executable, "-m", "riskengine.engine.refit_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        return self._process

    def _stop_worker(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            try:
                process.stdin.close()
                process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()


_lock = threading.Lock()
_runner: _Runner | None = None


def submit(function: Callable[[Any], Any], job: Any) -> Future:
    """Run ``function(job)`` in the worker process; the future holds its result or error.

    Returns at once. ``function`` must be importable (a module-level
    function) and ``job`` picklable.
    """
    global _runner
    with _lock:
        if _runner is None:
            _runner = _Runner()
        return _runner.submit(function, job)


def _ready(job: Any) -> Any:
    return job


def start() -> Future:
    """Start the worker now (its imports take seconds), not on the first refit.

    For a host that wants its first refit on time; the future completes when
    the worker answers.
    """
    return submit(_ready, None)


def shutdown() -> None:
    """Finish the queued jobs and stop the worker (a new one starts on the next job)."""
    global _runner
    with _lock:
        runner, _runner = _runner, None
    if runner is not None:
        runner.close()


atexit.register(shutdown)
