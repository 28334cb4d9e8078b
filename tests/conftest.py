"""Shared pytest configuration: float64 oracles, strict promotion, key fixture."""

import itertools

import jax
import jax.random as jr
import pytest


jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


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
