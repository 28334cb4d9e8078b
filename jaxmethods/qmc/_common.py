"""Argument checks shared by the point-set constructions."""

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .._internal.bits import is_pow2
from .._internal.checks import check_choice as check_choice, check_size as check_size


def check_pow2_range(fn: str, n_min: int, n: int, order: str) -> None:
    """Radical-inverse order needs ``n_min`` and ``n_min + n`` to be 0 or 2^k."""
    n_max = n_min + n
    for name, v in (("n_min", n_min), ("n_min + n", n_max)):
        if v != 0 and not is_pow2(v):
            raise ValueError(
                f"{fn}: order={order!r} needs n_min and n_min + n to be 0 or powers "
                f"of two (the point set is a net only at those sizes); got {name}={v}. "
                "Use n = 2**m, or order='gray' for other sizes."
            )


def with_replications(
    fn: str,
    single: Callable[[jax.Array], jax.Array],
    key: jax.Array,
    replications: int | None,
) -> jax.Array:
    """Call ``single(key)``, or stack it over ``jr.split(key, replications)``."""
    if replications is None:
        return single(key)
    check_size(fn, "replications", replications, minimum=1)
    return jax.vmap(single)(jr.split(key, replications))


def as_uint(fn: str, name: str, x: Any, dtype: jnp.dtype) -> jax.Array:
    """Convert an integer array (NumPy uint64 included) to the construction dtype."""
    if isinstance(x, jax.Array):
        if not jnp.issubdtype(x.dtype, jnp.integer):
            raise TypeError(f"{fn}: {name} must be integers, got dtype {x.dtype}")
        return x.astype(dtype)
    a = np.asarray(x)
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{fn}: {name} must be integers, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or int(a.max()) > int(jnp.iinfo(dtype).max)):
        raise ValueError(
            f"{fn}: {name} has values outside [0, 2^{jnp.iinfo(dtype).bits}); "
            "enable jax_enable_x64 for 64-bit digital constructions"
        )
    return jnp.asarray(a.astype(np.dtype(dtype.name)))
