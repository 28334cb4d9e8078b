"""Shared pytest configuration: float64 oracles, strict promotion, key fixture."""

import itertools
import os

import jax
import jax.random as jr
import pytest


jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

# With pytest-xdist, give each worker its own persistent compilation cache
# (a subfolder of JAX_COMPILATION_CACHE_DIR): two CI runs on 2026-11-29 lost
# a worker to a crash inside jax's cache read (compilation_cache.py,
# get_executable_and_time) while both workers shared one folder.
_cache = os.environ.get("JAX_COMPILATION_CACHE_DIR")
_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _cache and _worker:
    jax.config.update("jax_compilation_cache_dir", os.path.join(_cache, _worker))


@pytest.fixture
def getkey():
    """Return a function that hands out a fresh, deterministic key per call."""
    counter = itertools.count()
    base = jr.key(5678)

    def _getkey():
        return jr.fold_in(base, next(counter))

    return _getkey


def pytest_collection_modifyitems(config, items):
    if jax.default_backend() == "gpu":
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
