"""Pure-jnp W4A16 matmul: the definition the Pallas kernel must match.

``y = x @ W_hat`` with ``W_hat = (q - 8) * s`` rounded once to the matmul
dtype (``x``'s dtype), products accumulated in float32 (float64 for float64
input) and the result cast to ``x``'s dtype.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ...quant._format import Int4Weight, dequantize


def accumulator_dtype(dtype) -> jnp.dtype:
    return jnp.dtype(jnp.float64 if jnp.dtype(dtype) == jnp.float64 else jnp.float32)


def w4a16_matmul_reference(
    x: Float[Array, "M K"], qw: Int4Weight
) -> Float[Array, "M N"]:
    """``x @ dequantize(qw, x.dtype)`` with a wide accumulator, cast to ``x.dtype``."""
    acc = accumulator_dtype(x.dtype)
    w = dequantize(qw, x.dtype)
    y = jnp.dot(x, w, precision=jax.lax.Precision.HIGHEST, preferred_element_type=acc)
    return y.astype(x.dtype)
