"""Frozen dataclass pytrees and the argument checks of pure JAX functions.

The simulators' parameters, states, events and actions (and the execution
environment built on the book) are frozen dataclasses registered as JAX
pytrees, in the equinox / gymnax manner: immutable, ``dataclasses.replace``
to change a field, and usable as ``jit`` / ``vmap`` / ``scan`` arguments.
Static fields (sizes that fix array shapes, flags that change the program)
are pytree metadata, so changing one recompiles rather than traces a value.

:func:`check_key` and :func:`check_instance` are the boundary checks of the
pure functions: they look only at Python types and static shapes, so they
cost nothing once a function is traced and run unchanged inside ``jit``.

Examples
--------
>>> import jax
>>> import jax.numpy as jnp
>>> @frozen_pytree(meta=("size",))
... class Counter:
...     count: jax.Array
...     size: int
>>> doubled = jax.tree.map(lambda x: 2 * x, Counter(count=jnp.int32(3), size=4))
>>> int(doubled.count), doubled.size
(6, 4)
>>> check_instance(doubled, Counter, "counter")
>>> check_instance(3, Counter, "counter")
Traceback (most recent call last):
TypeError: counter: expected Counter, got int
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["check_instance", "check_key", "frozen_pytree"]

_T = TypeVar("_T")


def frozen_pytree(meta: tuple[str, ...] = ()) -> Callable[[type[_T]], type[_T]]:
    """Class decorator: a frozen dataclass registered as a pytree.

    Parameters
    ----------
    meta : tuple of str
        Fields that are static metadata (hashable, part of the compiled
        program's identity) rather than array leaves.
    """

    def wrap(cls: type[_T]) -> type[_T]:
        cls = dataclasses.dataclass(frozen=True)(cls)
        data = [f.name for f in dataclasses.fields(cls) if f.name not in meta]
        return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=list(meta))

    return wrap


def check_instance(value: Any, cls: type, name: str) -> None:
    """Raise ``TypeError`` naming ``name`` unless ``value`` is a ``cls``.

    A traced pytree (its leaves tracers) is still an instance of its class,
    so the check holds inside ``jit`` and ``vmap``.
    """
    # Compare by name as well: a doctest run may load a module a second time
    # under another name (``book_types`` beside ``riskengine.sim.book_types``),
    # and the twin class is the same type for every purpose here.
    same = type(value).__qualname__ == cls.__qualname__
    if not (isinstance(value, cls) or same):
        raise TypeError(f"{name}: expected {cls.__name__}, got {type(value).__name__}")


def check_key(key: Any, name: str = "key") -> None:
    """Accept one typed key or one raw ``uint32[2]`` key, nothing else.

    >>> check_key(jax.random.key(0))
    >>> check_key(jax.random.split(jax.random.key(0), 2))
    Traceback (most recent call last):
    ValueError: key: expected a single key, got shape (2,)
    """
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"{name}: expected a single key, got shape {key.shape}")
        return
    if isinstance(key, jax.Array | np.ndarray) and key.dtype == np.uint32 and key.shape == (2,):
        return
    raise TypeError(f"{name}: expected a jax.random key, got {type(key).__name__}")
