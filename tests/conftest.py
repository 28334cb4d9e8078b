"""Shared pytest configuration: float64 oracles, strict promotion, key fixture."""

import itertools

import jax
import jax.random as jr
import pytest


jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop jax's compiled programs after each test module.

    Every XLA:CPU executable keeps memory mappings for its code; a worker
    that ran a few hundred tests held over 20,000 of them and, near the
    kernel's limit (``vm.max_map_count``, 65,530 by default), crashed inside
    a compilation (segfault or abort). Clearing jax's caches per module keeps
    the count bounded; programs shared across modules compile again.
    """
    yield
    jax.clear_caches()


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
