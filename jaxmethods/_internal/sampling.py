"""Inverse-CDF draws from nonnegative weights, shared by the samplers."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array


def two_level_inverse_cdf(w: Array, u: Array, block: int) -> Array:
    """Indices ``i`` with ``P(i) = w_i / sum(w)``, one per uniform in ``u``.

    ``w`` has shape ``(N,)`` (nonnegative), ``u`` any shape with values in
    ``[0, 1)``; the result has ``u``'s shape (int32). The inverse CDF runs in
    two levels: a cumulative sum over the sums of blocks of ``block``
    weights (``w`` is zero-padded to whole blocks), then one inside the chosen
    block. A cumulative sum over all of a long ``w`` is the slow part on
    XLA:CPU. The index returned always has ``w_i > 0``, also when rounding
    puts a uniform past the end of its block.
    """
    n = w.shape[0]
    nb = -(-n // block)
    blocks = jnp.pad(w, (0, nb * block - n)).reshape(nb, block)
    bcdf = jnp.cumsum(jnp.sum(blocks, axis=1))
    target = u * bcdf[-1]
    b = jnp.minimum(jnp.searchsorted(bcdf, target, side="right"), nb - 1)
    before = jnp.where(b > 0, bcdf[jnp.maximum(b - 1, 0)], 0)
    rows = blocks[b]  # u.shape + (block,)
    j = jnp.sum(
        jnp.cumsum(rows, axis=-1) <= (target - before)[..., None],
        axis=-1,
        dtype=jnp.int32,
    )
    lane = jnp.arange(block, dtype=jnp.int32)
    last = jnp.max(jnp.where(rows > 0, lane, 0), axis=-1)
    return (b * block + jnp.minimum(j, last)).astype(jnp.int32)
