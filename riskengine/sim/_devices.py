"""Split a batch of independent simulations over the local JAX devices.

XLA runs one CPU program on one core, so a multi-core host is used by giving
each device (``jax_num_cpu_devices``, set by the entry point before JAX starts)
its share of the batch. The simulators derive every batch member's randomness
from the seed and the member's index alone, so the split changes no value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

__all__ = ["map_over_devices"]


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
        return _jitted(fn, tuple(sorted(static)))(batch(n), *args, **static)
    padded = -(-n // len(devices)) * len(devices)
    sharded = _sharded(fn, devices, len(args), tuple(sorted(static.items())))
    return sharded(batch(padded), *args)


@functools.cache
def _jitted(fn: Callable[..., Any], static_names: tuple[str, ...]) -> Callable[..., Any]:
    return jax.jit(fn, static_argnames=static_names)


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
