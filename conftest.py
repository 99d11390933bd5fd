"""Test-session set-up shared by the suite and the doctests.

XLA's persistent compilation cache lets a program compiled by one test module
(or one pytest-xdist worker) be reused by every other one in the run: the
simulators and the order-book environment compile the same programs in
several modules, and compilation dominates the suite's time. The cache lives
under ``.pytest_cache`` (a clean clone starts empty); set
``RISKENGINE_TEST_XLA_CACHE`` to move it, or to an empty string to turn it off.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax


def pytest_configure(config) -> None:
    directory = os.environ.get(
        "RISKENGINE_TEST_XLA_CACHE", str(Path(config.rootpath) / ".pytest_cache" / "xla")
    )
    if directory:
        jax.config.update("jax_compilation_cache_dir", directory)
        # Only programs worth caching: the many tiny op-by-op compiles are faster to redo.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
