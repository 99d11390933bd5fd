"""Array primitives of the order book over the price-level axis, for XLA CPU and the oracle.

Every function takes the price levels on axis 0 and any number of book axes
after it: a side's depth is ``(G,)`` for one book and ``(G, B)`` inside
:func:`~riskengine.sim.book_rollout.simulate_book`, where books on the minor
axis turn each reduction over levels into element-wise vector operations
across books (no transposes, no gathers, no ``reduce_window``).  The kernel
(:mod:`riskengine.sim.book_kernel`) runs the same code with no book axes for
one book, so the batched hot loop and a single :func:`apply_event
<riskengine.sim.book_kernel.apply_event>` cannot diverge.

Two further constraints shape them: integer sums stay int32 whatever
``jax_enable_x64`` says, and float32 sums are explicit left-to-right chains
(no reassociation, no fused multiply-add), so that the plain-Python oracle
``tests/sim/reference_book.py`` reproduces the sampler bit for bit.

Examples
--------
>>> import jax.numpy as jnp
>>> depth = jnp.array([0, 3, 5, 0], dtype=jnp.int32)
>>> int(depth_at(depth, 2)), int(count_levels(depth > 0)), int(int_sum(depth))
(5, 2, 8)
>>> get_side(jnp.array([4, 7]), 1).tolist(), set_side(jnp.array([4, 7]), 0, 9).tolist()
(7, [9, 7])
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = [
    "BLOCK",
    "below_total",
    "block_prefix",
    "count_levels",
    "decay_power",
    "depth_at",
    "get_side",
    "int_sum",
    "materialise",
    "pick_row",
    "prefix_sum",
    "reduce_levels",
    "set_side",
]

_I32 = jnp.int32
_F32 = jnp.float32
BLOCK = 8  # levels per block of the two-level cancellation sampler's prefix sums


def int_sum(values: jax.Array) -> jax.Array:
    """Integer sum kept in int32 (``jnp.sum`` widens to int64 under ``jax_enable_x64``)."""
    return jnp.sum(values, dtype=_I32)


_REDUCE_CHUNK = 32  # XLA CPU rewrites longer reductions into a slow reduce-window tree


def reduce_levels(values: jax.Array, op: str) -> jax.Array:
    """``sum`` / ``max`` / ``min`` over axis 0 (levels), for integer values.

    With books on the minor axis this is a column reduction that XLA CPU
    vectorises across books.  Reductions longer than 32 go through a
    ``reduce-window`` tree on CPU, several times slower, so longer axes are
    reduced in chunks of 32 rows.  A reduction (rather than a chain of
    selects) also keeps XLA from fusing the per-book result's producers into
    every (level, book) element of its consumers.
    """
    # dtype: jnp.sum widens int32 to int64 under jax_enable_x64.
    reduce = {
        "sum": functools.partial(jnp.sum, dtype=values.dtype),
        "max": jnp.max,
        "min": jnp.min,
    }[op]
    size = values.shape[0]
    if size <= _REDUCE_CHUNK:
        return reduce(values, axis=0)
    n_chunks = -(-size // _REDUCE_CHUNK)
    fill = {"sum": 0, "max": jnp.iinfo(values.dtype).min, "min": jnp.iinfo(values.dtype).max}[op]
    pad = [(0, n_chunks * _REDUCE_CHUNK - size)] + [(0, 0)] * (values.ndim - 1)
    grid = jnp.pad(values, pad, constant_values=fill)
    partial = reduce(grid.reshape((n_chunks, _REDUCE_CHUNK, *values.shape[1:])), axis=1)
    return reduce(partial, axis=0)


def count_levels(values: jax.Array) -> jax.Array:
    """Number of true entries along axis 0, as int32."""
    return reduce_levels(values.astype(_I32), "sum")


def depth_at(depth: jax.Array, position: jax.Array) -> jax.Array:
    """``depth[position]`` per book, 0 outside the window: a masked sum, not a gather.

    ``depth`` is one side's lots, levels on axis 0 (``state.bid`` or
    ``state.ask``), and ``position`` a window index per book, e.g. from
    :func:`~riskengine.sim.book_kernel.best_levels`.

    >>> import jax.numpy as jnp
    >>> depth = jnp.array([[1, 2], [3, 4], [5, 6]], dtype=jnp.int32)  # 3 levels, 2 books
    >>> depth_at(depth, jnp.array([2, 0])).tolist(), int(depth_at(depth[:, 0], 7))
    ([5, 2], 0)
    """
    index = jnp.arange(depth.shape[0], dtype=_I32).reshape((-1,) + (1,) * (depth.ndim - 1))
    return reduce_levels(jnp.where(index == position, depth, 0), "sum")


def materialise(*values: jax.Array) -> tuple[jax.Array, ...]:
    """The same values, computed once and stored before their consumers run.

    XLA CPU fuses a per-book value's producers into every (level, book)
    element of a wider consumer, recomputing a chain of tens of operations
    ``G`` times; ``optimization_barrier`` is expanded away before fusion on
    CPU.  A reduction is never fused into its consumer, so each value goes
    through ``max(x, lowest)`` over a stacked axis of two (exact).
    """
    out = []
    for value in values:
        dtype = value.dtype
        work = value.astype(_I32) if dtype == jnp.bool_ else value
        if jnp.issubdtype(work.dtype, jnp.floating):
            lowest = jnp.full_like(work, -jnp.inf)
        else:
            lowest = jnp.full_like(work, jnp.iinfo(work.dtype).min)
        out.append(jnp.max(jnp.stack([work, lowest]), axis=0).astype(dtype))
    return tuple(out)


def pick_row(values: jax.Array, index: jax.Array) -> jax.Array:
    """``values[index]`` along the leading (static, small) axis, per book, without a gather.

    ``values`` is ``(R, *tail)`` and ``index`` has the books' shape; the result
    is ``(*tail, *books)``.  A short chain of selects vectorises across books,
    where a per-book dynamic index would become an XLA gather.
    """
    rows = values.reshape(values.shape + (1,) * jnp.ndim(index))
    out = jnp.broadcast_to(rows[0], values.shape[1:] + jnp.shape(index))
    for row in range(1, values.shape[0]):
        out = jnp.where(index == row, rows[row], out)
    return out


def get_side(values: jax.Array, side: jax.Array) -> jax.Array:
    """``values[side]`` of a ``(2, *books)`` bid / ask pair such as ``state.agent_qty``.

    A select, not a dynamic index (which would be a gather under ``vmap``).
    """
    return jnp.where(side == 0, values[0], values[1])


def set_side(values: jax.Array, side: jax.Array, new: jax.Array) -> jax.Array:
    """``values`` with ``values[side]`` replaced by ``new`` (per book), as :func:`get_side`."""
    pair = jnp.arange(2, dtype=_I32).reshape((2,) + (1,) * (values.ndim - 1))
    return jnp.where(pair == side, new, values)


def prefix_sum(values: jax.Array, block: int = 8) -> jax.Array:
    """Inclusive prefix sum of a 1-D array, blocked so that it vectorises across books.

    Only the agent's market orders
    (:func:`~riskengine.sim.book_kernel.apply_action`, once per step) walk
    the book; ``jnp.cumsum`` lowers to ``reduce_window`` on CPU, which two
    short unrolled scans (within blocks, then over blocks) beat under ``vmap``.
    """
    size = values.shape[0]
    padded = -(-size // block) * block
    grid = jnp.pad(values, (0, padded - size)).reshape(padded // block, block)
    columns = [grid[:, 0]]
    for column in range(1, block):
        columns.append(columns[-1] + grid[:, column])
    offsets = [jnp.zeros_like(columns[-1][0])]
    for row in range(1, padded // block):
        offsets.append(offsets[-1] + columns[-1][row - 1])
    inner = jnp.stack(columns, axis=1) + jnp.stack(offsets)[:, None]
    return inner.reshape(padded)[:size]


def below_total(total: jax.Array, u: jax.Array) -> jax.Array:
    """``u * total`` clamped strictly below ``total`` (for ``total > 0``).

    Float rounding can give ``u * total == total`` for ``u`` within ``2**-24``
    of one; the clamp keeps every inverse-CDF search on a category of
    positive mass.
    """
    return jnp.minimum(u * total, jnp.nextafter(total, jnp.zeros_like(total)))


def decay_power(powers: jax.Array, exponent: jax.Array) -> jax.Array:
    """``decay ** exponent`` by binary powering over ``powers`` (2, bits).

    ``powers`` holds ``decay ** (2 ** b)`` and ``decay ** -(2 ** b)`` (one
    regime's ``decay_powers`` of :class:`~riskengine.sim.book_types.BookParams`).
    A fixed product order (bit 0 first) of tabulated float32 factors and no
    ``exp``, so that the plain-Python oracle reproduces it bit for bit.

    >>> import jax.numpy as jnp
    >>> bits = 2.0 ** jnp.arange(3)
    >>> powers = jnp.stack([0.5**bits, 2.0**bits])
    >>> decay_power(powers, jnp.array([3, -2, 0])).tolist()
    [0.125, 4.0, 1.0]
    """
    magnitude = jnp.abs(exponent)
    out = jnp.ones(jnp.shape(exponent), _F32)
    for bit in range(powers.shape[1]):
        factor = jnp.where(exponent >= 0, powers[0, bit], powers[1, bit])
        out = out * jnp.where((magnitude >> bit) & 1 == 1, factor, jnp.float32(1.0))
    return out


def block_prefix(weight: jax.Array) -> tuple[list[jax.Array], jax.Array, jax.Array]:
    """Blocked inclusive prefix sums of ``weight`` (G, *books) in a fixed order.

    Returns ``inner`` (``BLOCK`` arrays of shape ``(n_blocks, *books)``, the
    prefix sums within each block), ``before`` (``(n_blocks, *books)``, the
    total of all earlier blocks) and ``total``.  Every sum is an explicit
    left-to-right chain of float32 adds (XLA does not reassociate them), which
    is what lets the oracle's numpy float32 loop reproduce the bits.
    """
    size = weight.shape[0]
    n_blocks = -(-size // BLOCK)
    pad = [(0, n_blocks * BLOCK - size)] + [(0, 0)] * (weight.ndim - 1)
    grid = jnp.pad(weight, pad).reshape((n_blocks, BLOCK, *weight.shape[1:]))
    inner = [grid[:, 0]]
    for column in range(1, BLOCK):
        inner.append(inner[-1] + grid[:, column])
    mass = inner[-1]
    before = [jnp.zeros_like(mass[0])]
    for block in range(1, n_blocks):
        before.append(before[-1] + mass[block - 1])
    total = before[-1] + mass[n_blocks - 1]
    before, total = materialise(jnp.stack(before), total)
    return inner, before, total
