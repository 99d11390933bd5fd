"""The node vocabulary of ``state.json`` that the encoder and the decoder share."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["ARRAY_NAME", "FACTORIES", "FACTORY_NAMES", "SCALAR_KINDS", "format_path"]

# Array members are arrays/<n>.npy, n counting from 0 without leading zeros.
ARRAY_NAME = re.compile(r"arrays/(0|[1-9][0-9]*)\.npy")
# The only callables a snapshot may name: a defaultdict's default_factory.
FACTORIES: dict[str, type] = {
    "bool": bool,
    "dict": dict,
    "float": float,
    "int": int,
    "list": list,
    "set": set,
    "str": str,
    "tuple": tuple,
}
FACTORY_NAMES = {factory: name for name, factory in FACTORIES.items()}
# numpy scalar kinds: bool, ints, floats, complex, datetime, timedelta, bytes, str.
SCALAR_KINDS = "biufcmMSU"


def format_path(root: str, segments: list[Any]) -> str:
    """``obj['models'].x[3]``: where in the state a problem is, from the innermost segment out."""
    parts = [root]
    for segment in reversed(segments):
        if isinstance(segment, tuple):  # ("key", k): a dict value under key k
            text = repr(segment[1])
            parts.append(f"[{text if len(text) <= 40 else text[:37] + '...'}]")
        else:
            parts.append(segment)
    return "".join(parts)
