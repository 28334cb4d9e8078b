r"""Round-to-nearest (RTN) 4-bit quantization with MARLIN's symmetric scales."""

from __future__ import annotations

import jax.numpy as jnp
from jax.typing import DTypeLike
from jaxtyping import Array, ArrayLike, Float

from ._format import ZERO_POINT, Int4Weight, check_block_k, check_group_size


def marlin_scale(absmax: Array) -> Array:
    r"""MARLIN's symmetric scale $s = \tfrac{2}{15}\max|w|$; 1 for an all-zero group."""
    s = absmax * jnp.asarray(2.0 / 15.0, absmax.dtype)
    return jnp.where(absmax > 0, s, jnp.ones_like(s))


def quantize_codes(w: Array, s: Array) -> Array:
    r"""Codes $q = \mathrm{clip}(\mathrm{round}(w / s) + 8, 0, 15)$ as ``int32``.

    ``w`` and ``s`` broadcast; rounding is half to even, as ``torch.round``.
    """
    q = jnp.round(w / s) + jnp.asarray(ZERO_POINT, w.dtype)
    return jnp.clip(q, 0, 15).astype(jnp.int32)


def check_weight(fn: str, w) -> Array:
    w = jnp.asarray(w)
    if not jnp.issubdtype(w.dtype, jnp.floating):
        raise TypeError(f"{fn}: w must be a float array, got {w.dtype}")
    if w.ndim != 2:
        raise ValueError(f"{fn}: w must have shape (K, N) (in x out), got {w.shape}")
    return w


def quantize_rtn(
    w: Float[ArrayLike, "K N"],
    *,
    group_size: int = 128,
    block_k: int = 128,
    scale_dtype: DTypeLike = jnp.float16,
) -> Int4Weight:
    r"""Round-to-nearest 4-bit quantization in MARLIN's symmetric format.

    For each group of ``group_size`` consecutive input rows of a column (or
    the whole column for ``group_size=-1``): $s = \tfrac{2}{15}\max|w|$
    (MARLIN's ``gen_quant4``), stored in ``scale_dtype``; then
    $q = \mathrm{clip}(\mathrm{round}(w/s) + 8, 0, 15)$ computed with the
    *stored* scale, so $\hat w = (q - 8)s$ is what the kernel multiplies by.
    An all-zero group gets $s = 1$ and $q = 8$ (no NaN).

    The range is asymmetric: $w = \max|w|$ maps to $7.5 \to 8$ (half to even)
    $\to 16$, clipped to 15, i.e. $\hat w = 7s$, while $-\max|w|$ maps to
    $-8s$ exactly. So $|\hat w - w| \le s/2$ everywhere except at the clipped
    positive extreme, where it is at most $s$ (research perf.md §2.1).

    Args:
        w: weights, shape ``(K, N)`` = (input features, output features), the
            transpose of ``equinox.nn.Linear.weight``.
        group_size: rows per scale: ``-1`` (per column) or a positive
            multiple of ``block_k / 8`` dividing ``K`` (MARLIN uses 128).
        block_k: packing tile (static; a multiple of 8 dividing ``K``).
        scale_dtype: dtype of the stored scales (float16 as MARLIN; bfloat16,
            float32 or float64 also accepted).

    Returns:
        The [`Int4Weight`][jaxmethods.quant.Int4Weight].

    Raises:
        TypeError: non-float ``w``.
        ValueError: ``w`` not 2-D, ``K`` not a multiple of ``block_k`` or of
            ``group_size``, or a group size the format can't hold.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.quant import quantize_rtn, dequantize
        >>> w = jr.normal(jr.key(0), (256, 64))
        >>> qw = quantize_rtn(w)
        >>> qw.packed.shape, qw.scales.shape, qw.nbytes
        ((32, 64), (2, 64), 8448)
        >>> err = jnp.linalg.norm(dequantize(qw, jnp.float32) - w) / jnp.linalg.norm(w)
        >>> print(bool(err < 0.15))
        True

    References:
        Frantar et al., "MARLIN: Mixed-Precision Auto-Regressive Parallel
        Inference on Large Language Models", PPoPP 2025. arXiv:2408.11743.
    """
    w = check_weight("quantize_rtn", w)
    k, n = w.shape
    check_block_k("quantize_rtn", k, block_k)
    groups = check_group_size("quantize_rtn", k, group_size, block_k)
    wide = jnp.float64 if w.dtype == jnp.float64 else jnp.float32
    wg = w.astype(wide).reshape(groups, k // groups, n)
    s = marlin_scale(jnp.max(jnp.abs(wg), axis=1)).astype(scale_dtype)
    q = quantize_codes(wg, s.astype(wide)[:, None, :]).reshape(k, n)
    return Int4Weight.from_codes(q, s, group_size=group_size, block_k=block_k)
