"""Public W4A16 matmul: argument checks, ``impl`` dispatch and the ``custom_vjp``."""

from __future__ import annotations

import functools
from typing import Literal, get_args

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ...quant._format import ZERO_POINT, Int4Weight, expand_scales
from ..fwht.api import pallas_gpu_available
from .pallas_gpu import w4a16_pallas
from .reference import accumulator_dtype, w4a16_matmul_reference


Impl = Literal["auto", "xla", "pallas", "pallas_interpret"]
IMPLS: tuple[str, ...] = get_args(Impl)
_GPU_DTYPES = (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16), jnp.dtype(jnp.float32))


def _pow2(v: int) -> bool:
    return v > 0 and v & (v - 1) == 0


def _triton_shapes_ok(qw: Int4Weight, block_m: int, block_n: int) -> bool:
    """Triton's ``arange`` needs power-of-two extents for every block shape."""
    k, _ = qw.shape
    return all(_pow2(v) for v in (k, qw.scales.shape[0], block_m, block_n))


def _default_block_n(n: int) -> int:
    for b in (256, 128, 64, 32, 16, 8):
        if n % b == 0:
            return b
    return n


def _apply(x, packed, scales, cfg):
    impl, shape, group_size, block_k, block_m, block_n = cfg
    qw = Int4Weight(packed, scales, group_size=group_size, block_k=block_k)
    if impl == "xla":
        return w4a16_matmul_reference(x, qw)
    m = x.shape[0]
    padded = -(-m // block_m) * block_m
    xp = jnp.pad(x, ((0, padded - m), (0, 0))) if padded != m else x
    y = w4a16_pallas(
        xp,
        packed,
        scales,
        group_size=group_size,
        block_k=block_k,
        block_m=block_m,
        block_n=block_n,
        interpret=impl == "pallas_interpret",
    )
    return y[:m] if padded != m else y


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _matmul(x, packed, scales, cfg):
    return _apply(x, packed, scales, cfg)


def _matmul_fwd(x, packed, scales, cfg):
    return _matmul(x, packed, scales, cfg), (x, packed, scales)


def _matmul_bwd(cfg, res, g):
    x, packed, scales = res
    _, shape, group_size, block_k, _, _ = cfg
    k, n = shape
    acc = accumulator_dtype(x.dtype)
    qw = Int4Weight(packed, scales, group_size=group_size, block_k=block_k)
    q = qw.codes().astype(acc) - jnp.asarray(ZERO_POINT, acc)
    w_hat = q * expand_scales(scales.astype(acc), k, group_size)
    gx = g.astype(acc)
    dx = jnp.dot(gx, w_hat.T, precision=jax.lax.Precision.HIGHEST).astype(x.dtype)
    # d/ds: sum over each group of (q - 8) * (x^T g); XLA drops it when unused.
    dw = jnp.dot(x.astype(acc).T, gx, precision=jax.lax.Precision.HIGHEST)
    groups = scales.shape[0]
    ds = jnp.sum((q * dw).reshape(groups, k // groups, n), axis=1)
    dpacked = np.zeros(packed.shape, dtype=jax.dtypes.float0)
    return dx, dpacked, ds.astype(scales.dtype)


_matmul.defvjp(_matmul_fwd, _matmul_bwd)


def w4a16_matmul(
    x: Float[ArrayLike, "*batch K"],
    qw: Int4Weight,
    *,
    impl: Impl = "auto",
    block_m: int = 16,
    block_n: int | None = None,
    block_k: int | None = None,
) -> Float[Array, "*batch N"]:
    r"""Mixed-precision matmul $y = x \hat W$ with 4-bit weights (MARLIN's W4A16).

    $\hat W = (q - 8)\,s$ is expanded tile by tile and never stored: the
    Pallas kernel reads the packed codes (half a byte per weight) and one
    scale row per group, unpacks with shifts and masks, scales, casts to the
    activation dtype and accumulates ``jnp.dot`` products in float32. At
    decode batch sizes the matmul is bound by reading the weights, so moving
    4.1 bits instead of 16 per weight is the whole speed-up (MARLIN: close to
    3.9x over float16 up to batch 16-32 on an A100).

    The XLA path computes ``x @ dequantize(qw, x.dtype)`` with a float32
    accumulator: same rounding of $\hat W$ to the activation dtype, so the two
    paths agree to accumulation order.

    Differentiable in reverse mode (a ``custom_vjp``): the gradient with
    respect to ``x`` is $g \hat W^\top$ (QLoRA-style training through frozen
    quantized weights), and the gradient with respect to the scales is
    exact (XLA drops it when it is not used); the integer codes get none.
    Forward mode raises ``TypeError``. Works under ``jit`` and ``vmap``.

    Args:
        x: activations ``(..., K)``: bfloat16 or float16 as in MARLIN, or
            float32 (float64 on the XLA and interpret paths).
        qw: the [`Int4Weight`][jaxmethods.quant.Int4Weight] of shape
            ``(K, N)``.
        impl: ``"xla"``; ``"pallas"`` (Triton on a CUDA GPU);
            ``"pallas_interpret"`` (the kernel in interpret mode, for tests);
            ``"auto"``: ``"pallas"`` on a CUDA GPU of compute capability
            >= 8.0 for bfloat16/float16/float32 activations when
            ``block_k >= 128`` and the block shapes are powers of two (``K``,
            the number of scale rows, ``block_m``, ``block_n``; Triton
            needs them), else ``"xla"``.
        block_m: activation rows per program (static); ``M`` is padded up to
            a multiple (ragged ``M`` is fine).
        block_n: output columns per program (static); must divide ``N``.
            Default: the largest of 256, 128, .., 8 that divides ``N``.
        block_k: must equal ``qw.block_k`` (the packing fixes the K tile);
            ``None`` takes it from ``qw``.

    Returns:
        ``(..., N)`` in ``x``'s dtype.

    Raises:
        TypeError: non-float ``x`` or ``qw`` not an ``Int4Weight``.
        ValueError: ``x``'s last axis not ``K``, ``block_n`` not dividing
            ``N``, ``block_k`` not ``qw.block_k``, a bad ``block_m``, an
            unknown ``impl``, or ``impl="pallas"`` without a GPU or with
            shapes Triton cannot tile.

    Examples:
        >>> import jax.numpy as jnp, jax.random as jr
        >>> from jaxmethods.ops import w4a16_matmul
        >>> from jaxmethods.quant import quantize_rtn, dequantize
        >>> qw = quantize_rtn(jr.normal(jr.key(0), (256, 128)))
        >>> x = jr.normal(jr.key(1), (3, 256)).astype(jnp.bfloat16)
        >>> y = w4a16_matmul(x, qw, impl="pallas_interpret")
        >>> y.shape, y.dtype
        ((3, 128), dtype(bfloat16))
        >>> ref = x.astype(jnp.float32) @ dequantize(qw, jnp.float32)
        >>> print(bool(jnp.abs(y - ref).mean() / jnp.abs(ref).mean() < 5e-3))
        True

    References:
        Frantar, Castro, Chen, Hoefler and Alistarh, "MARLIN: Mixed-Precision
        Auto-Regressive Parallel Inference on Large Language Models", PPoPP
        2025. arXiv:2408.11743.
    """
    fn = "w4a16_matmul"
    if not isinstance(qw, Int4Weight):
        raise TypeError(f"{fn}: qw must be an Int4Weight, got {type(qw).__name__}")
    if impl not in IMPLS:
        raise ValueError(f"{fn}: impl must be one of {IMPLS}, got {impl!r}")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{fn}: x must be a float array, got {x.dtype}")
    k, n = qw.shape
    if x.ndim < 1 or x.shape[-1] != k:
        raise ValueError(f"{fn}: x must have shape (..., K={k}), got {x.shape}")
    if block_k is not None and block_k != qw.block_k:
        raise ValueError(
            f"{fn}: block_k={block_k} must equal the packing tile qw.block_k="
            f"{qw.block_k} (re-pack the weights to change it)"
        )
    block_n = _default_block_n(n) if block_n is None else block_n
    if not isinstance(block_n, int) or block_n < 1 or n % block_n:
        raise ValueError(f"{fn}: block_n={block_n!r} must divide N={n}")
    if not isinstance(block_m, int) or block_m < 1:
        raise ValueError(f"{fn}: block_m must be a positive int, got {block_m!r}")
    triton_ok = _triton_shapes_ok(qw, block_m, block_n)
    if impl == "auto":
        ok = x.dtype in _GPU_DTYPES and qw.block_k >= 128 and triton_ok
        impl = "pallas" if ok and pallas_gpu_available() else "xla"
    elif impl == "pallas":
        if not triton_ok:
            raise ValueError(
                f"{fn}: impl='pallas' (Triton) needs power-of-two block shapes: K, "
                "the number of scale rows, block_m and block_n; got "
                f"K={k}, {qw.scales.shape[0]} scale rows, block_m={block_m}, "
                f"block_n={block_n}; use impl='xla'"
            )
        if jax.default_backend() != "gpu":
            raise ValueError(
                f"{fn}: impl='pallas' needs a CUDA GPU, but the default JAX backend "
                f"is {jax.default_backend()!r}; use impl='pallas_interpret' to run "
                "the same kernel in interpret mode, or impl='xla'"
            )
        if x.dtype not in _GPU_DTYPES:
            raise ValueError(
                f"{fn}: impl='pallas' takes bfloat16, float16 or float32 "
                f"activations, got {x.dtype}"
            )
    batch = x.shape[:-1]
    cfg = (impl, qw.shape, qw.group_size, qw.block_k, block_m, block_n)
    y: Array = _matmul(x.reshape(-1, k), qw.packed, qw.scales, cfg)  # pyright: ignore[reportAssignmentType]
    return y.reshape(batch + (n,))
