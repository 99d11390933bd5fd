"""Split a batch of independent simulations over the local JAX devices.

XLA runs one CPU program on one core, so a multi-core host is used by giving
each device (``jax_num_cpu_devices``, set by the entry point before JAX starts)
its share of the batch. The simulators derive every batch member's randomness
from the seed and the member's index alone, so the split changes no value.

:func:`cached_jit` is the compiled-function cache behind it: one ``jax.jit``
object per (function, static argument names), so that module-level batch
functions are traced once per shape however often they are called.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

__all__ = ["cached_jit", "map_over_devices"]


def map_over_devices(
    fn: Callable[..., Any],
    batch: Callable[[int], jax.Array],
    n: int,
    *args: Any,
    **static: Any,
) -> Any:
    """Run ``fn(batch(m), *args, **static)`` with the batch split over the local devices.

    Parameters
    ----------
    fn : callable
        A module-level function whose first argument is the batch (leading
        axis) and whose outputs all have that leading axis.
    batch : callable
        ``batch(m)`` builds the first ``m`` batch members (keys or indices);
        member ``i`` must not depend on ``m``.
    n : int
        Batch members wanted. The result may hold a few padding members at
        the end (up to a multiple of the device count); callers slice ``[:n]``.
    *args
        Replicated to every device (parameters, seeds).
    **static
        Static (hashable) arguments bound into ``fn``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> out = map_over_devices(lambda x, k: x * k, jnp.arange, 5, 2.0)
    >>> out[:5].tolist()
    [0.0, 2.0, 4.0, 6.0, 8.0]
    """
    devices = tuple(jax.local_devices())
    if len(devices) == 1:
        return cached_jit(fn, tuple(sorted(static)))(batch(n), *args, **static)
    padded = -(-n // len(devices)) * len(devices)
    sharded = _sharded(fn, devices, len(args), tuple(sorted(static.items())))
    return sharded(batch(padded), *args)


@functools.cache
def cached_jit(fn: Callable[..., Any], static_argnames: tuple[str, ...] = ()) -> Callable[..., Any]:
    """``jax.jit(fn, static_argnames=...)``, one compiled object per ``(fn, static_argnames)``.

    ``jax.jit`` keys its compilation cache on the jitted object, so jitting a
    module-level function afresh at each call would retrace it every time;
    this cache keeps one object per function.  ``fn`` must be hashable (a
    module-level function is) and ``static_argnames`` a tuple.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> def scale(x, factor):
    ...     return x * factor
    >>> cached_jit(scale, ("factor",)) is cached_jit(scale, ("factor",))
    True
    >>> cached_jit(scale, ("factor",))(jnp.arange(3), factor=2).tolist()
    [0, 2, 4]
    """
    return jax.jit(fn, static_argnames=static_argnames)


@functools.cache
def _sharded(
    fn: Callable[..., Any],
    devices: tuple[jax.Device, ...],
    n_args: int,
    static: tuple[tuple[str, Any], ...],
) -> Callable[..., Any]:
    mesh = Mesh(np.array(devices), ("batch",))
    # check_vma=False: scan carries that start from replicated values (initial
    # states built from parameters) become per-member data after one step, which
    # the type check rejects; the programs have no collectives, so nothing is lost.
    return jax.jit(
        jax.shard_map(
            functools.partial(fn, **dict(static)),
            mesh=mesh,
            in_specs=(PartitionSpec("batch"),) + (PartitionSpec(),) * n_args,
            out_specs=PartitionSpec("batch"),
            check_vma=False,
        )
    )
