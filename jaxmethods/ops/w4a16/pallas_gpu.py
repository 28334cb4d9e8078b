"""Pallas W4A16 kernel: 4-bit weights unpacked in the kernel, 16-bit activations.

One program computes a ``(block_m, block_n)`` output tile. It walks the K
axis in tiles of ``block_k`` rows (the packing tile of
``jaxmethods.quant.pack_int4``); in each tile, the ``block_k / 8`` words of a
column hold eight nibble planes, plane ``j`` being rows
``j * block_k / 8 ..`` in order. So the unpack is a shift and a mask per
plane, the plane is scaled by its group's scale row, cast to the activation
dtype, and multiplied with the matching ``block_k / 8`` columns of the
activation tile, accumulating in float32. No concatenation or interleave is
needed, and every ``dot`` has dimensions of at least 16 for ``block_k >= 128``
(Triton's minimum).

The weights are read once per row tile of activations: for decode-sized
``M <= block_m`` that is once in all, the memory-bound regime MARLIN targets.
Only backend-neutral Pallas is used (``pl.ds`` loads, ``lax.fori_loop``,
``jnp.dot``), so the same code runs in interpret mode on CPU.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jaxtyping import Array, Float, UInt32


def _kernel(x_ref, w_ref, s_ref, o_ref, *, block_k, n_tiles, group_size, acc):
    plane = block_k // 8
    bm, bn = o_ref.shape
    mm = x_ref.dtype
    precision = lax.Precision.HIGHEST if mm != jnp.bfloat16 else None

    def tile(t, total):
        words = w_ref[pl.ds(t * plane, plane), :]
        for j in range(8):
            codes = (words >> (4 * j)) & 0xF
            row0 = t * block_k + j * plane
            if group_size == -1:
                s = s_ref[pl.ds(0, 1), :]
            else:
                s = s_ref[pl.ds(row0 // group_size, 1), :]
            w = ((codes.astype(acc) - 8) * s.astype(acc)).astype(mm)
            xs = x_ref[:, pl.ds(row0, plane)]
            total = total + jnp.dot(
                xs, w, precision=precision, preferred_element_type=acc
            )
        return total

    total = lax.fori_loop(0, n_tiles, tile, jnp.zeros((bm, bn), acc))
    o_ref[...] = total.astype(o_ref.dtype)


def w4a16_pallas(
    x: Float[Array, "M K"],
    packed: UInt32[Array, "K8 N"],
    scales: Float[Array, "G N"],
    *,
    group_size: int,
    block_k: int,
    block_m: int,
    block_n: int,
    num_warps: int | None = None,
    interpret: bool = False,
) -> Float[Array, "M N"]:
    """``x @ ((q - 8) * s)``, ``M`` a multiple of ``block_m``, ``N`` of ``block_n``.

    Args:
        x: activations ``(M, K)``; their dtype is the matmul dtype and the
            output dtype.
        packed: K-blocked ``uint32`` codes ``(K // 8, N)``.
        scales: ``(G, N)`` scales (``G = 1`` for ``group_size=-1``).
        group_size: rows per scale or ``-1``.
        block_k: the packing tile.
        block_m: rows of ``x`` per program.
        block_n: output columns per program.
        num_warps: Triton warps (GPU only); default 4.
        interpret: run in Pallas interpret mode (CPU tests).

    Returns:
        ``(M, N)`` in ``x.dtype``.
    """
    m, k = x.shape
    n = packed.shape[1]
    acc = jnp.dtype(jnp.float64 if x.dtype == jnp.float64 else jnp.float32)
    kernel = functools.partial(
        _kernel,
        block_k=block_k,
        n_tiles=k // block_k,
        group_size=group_size,
        acc=acc,
    )
    compiler_params = None
    if not interpret:
        from jax.experimental.pallas import triton as pltriton

        compiler_params = pltriton.CompilerParams(
            num_warps=num_warps or 4, num_stages=2
        )
    g = scales.shape[0]
    cost = pl.CostEstimate(
        flops=int(2 * m * k * n + 3 * k * n * (m // block_m)),
        transcendentals=0,
        bytes_accessed=int(
            x.size * x.dtype.itemsize * (n // block_n)
            + (packed.size * 4 + scales.size * scales.dtype.itemsize) * (m // block_m)
            + m * n * x.dtype.itemsize
        ),
    )
    return pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((m, n), x.dtype),
        grid=(m // block_m, n // block_n),
        in_specs=[
            pl.BlockSpec((block_m, k), lambda i, j: (i, 0)),
            pl.BlockSpec((k // 8, block_n), lambda i, j: (0, j)),
            pl.BlockSpec((g, block_n), lambda i, j: (0, j)),
        ],
        out_specs=pl.BlockSpec((block_m, block_n), lambda i, j: (i, j)),
        compiler_params=compiler_params,
        cost_estimate=cost,
        interpret=interpret,
        name="w4a16_matmul",
    )(x, packed, scales)
