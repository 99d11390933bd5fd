"""How the nightly run splits its scenario work, and where the pieces run.

The unit of work is a *shard*: a fixed number of paths (or execution episodes)
of one scenario set. Its randomness comes only from the run seed, the set's
name and the paths' own indices (:func:`stream_seed`), and its shape is the
same wherever it runs, so the results are bit-identical whether the shards run
one after another in this process (:class:`LocalBackend`) or spread over a Ray
cluster of any size (:class:`RayBackend`). Shards return compact numpy arrays;
only the driver writes to the store.

Examples
--------
>>> shard_ranges(2_500, 1_000)
[(0, 1000), (1000, 2000), (2000, 2500)]
>>> LocalBackend().map(abs, [-1, 2, -3])
[1, 2, 3]
>>> stream_seed(0, "forward") == stream_seed(0, "forward") != stream_seed(1, "forward")
True
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

__all__ = [
    "BACKENDS",
    "Backend",
    "LocalBackend",
    "RayBackend",
    "make_backend",
    "shard_ranges",
    "stream_seed",
]

T = TypeVar("T")
R = TypeVar("R")
BACKENDS = ("local", "ray")


def stream_seed(run_seed: int, name: str) -> int:
    """A 32-bit seed for the random stream ``name`` of the run seeded ``run_seed``.

    numpy's SeedSequence hashes the pair, so streams of different names (and
    of neighbouring run seeds) are independent.
    """
    sequence = np.random.SeedSequence([int(run_seed), zlib.crc32(name.encode("utf-8"))])
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def shard_ranges(total: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each shard of ``size`` items (the last may be shorter)."""
    return [(start, min(start + size, total)) for start in range(0, total, size)]


class Backend(Protocol):
    """Runs ``fn`` on every task and returns the results in task order."""

    name: str

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        progress: Callable[[int], None] | None = None,
    ) -> list[R]: ...

    def close(self) -> None: ...


class LocalBackend:
    """Every shard in this process, one after another.

    A shard is one XLA program on one core. Running shards side by side on
    several CPU devices was measured slower at the default sizes (74 s against
    49 s for the whole nightly run on 2 cores): every device compiles its own
    copy of each program, and compilation dominates. Use Ray for parallelism.
    """

    name = "local"

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        progress: Callable[[int], None] | None = None,
    ) -> list[R]:
        results = []
        for task in tasks:
            results.append(fn(task))
            if progress is not None:
                progress(1)
        return results

    def close(self) -> None:
        """Nothing to release."""


class RayBackend:
    """Shards as Ray tasks: on a local Ray instance, or on the cluster at ``address``.

    Parameters
    ----------
    address : str, optional
        A running cluster (``"ray://head:10001"`` or ``"auto"``); None starts a
        local instance with ``workers`` CPUs and stops it on :meth:`close`.
    workers : int, optional
        CPUs of the local instance (default: all cores).
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ValueError(
                "backend: ray is not installed (pip install 'riskengine[distributed]')"
            ) from None
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": "ERROR",
            }
            if address is None:
                options["num_cpus"] = workers
            else:
                options["address"] = address
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ValueError(
                    f"address: cannot reach a Ray cluster at {address!r} ({error})"
                ) from None
        self._remote: dict[Callable[..., Any], Any] = {}

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        progress: Callable[[int], None] | None = None,
    ) -> list[R]:
        ray = self._ray
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = ray.remote(fn)
        refs = [remote.remote(task) for task in tasks]
        order = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                results[order[ref]] = ray.get(ref)
                if progress is not None:
                    progress(1)
        return results

    def close(self) -> None:
        """Stop the local Ray instance this backend started (a cluster is left running)."""
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()


def make_backend(name: str, *, address: str | None = None, workers: int | None = None) -> Backend:
    """``"local"`` or ``"ray"``; an ``address`` only makes sense with Ray."""
    if name not in BACKENDS:
        raise ValueError(f"backend: expected one of {list(BACKENDS)}, got {name!r}")
    if name == "local":
        if address is not None:
            raise ValueError("address: only used with --backend ray")
        return LocalBackend()
    return RayBackend(address=address, workers=workers)
