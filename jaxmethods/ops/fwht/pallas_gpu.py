"""Pallas FWHT kernel (float32; Triton on CUDA, ``interpret=True`` on CPU).

One program transforms a ``(block_rows, n)`` tile of rows with every stage of
the transform done on the loaded tile, so the data is read from and written to
HBM once. The body uses only ``jnp`` ops, so the same code runs in Pallas
interpret mode on CPU, which is how the tests check it.

The stages are small Kronecker factors applied as matrix products (the idea
of HadaCore, arXiv 2412.08832): with ``n = r_1 r_2 ... r_k`` and the Sylvester
identity ``H_n = H_{r_1} (x) ... (x) H_{r_k}``, each stage multiplies the last
digit of the row index by ``H_{r}`` (a ``(bm * n / r, r) @ (r, r)`` product at
``precision=HIGHEST``, i.e. IEEE float32, not TF32) and then rotates that
digit to the front with a transpose. After ``k`` stages the digits are back in
order. The factors are 16 to 128 wide, because Triton's ``dot`` needs every
dimension to be at least 16; rows shorter than 16 use a broadcast-and-sum
product instead. Reshapes never create a size-2 axis, which Triton may not
lower.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jaxtyping import Array, Float

from .reference import hadamard


def radices(m: int) -> tuple[int, ...]:
    """Split ``m = log2(n)`` into stage widths (in bits), each 4..7 when ``m >= 4``."""
    if m < 4:
        return (m,) if m > 0 else ()
    q, rem = divmod(m, 4)
    parts = [4] * q
    for i in range(rem):
        parts[i % q] += 1
    return tuple(parts)


def default_block_rows(n: int, rows: int) -> int:
    """Rows per program: tiles of about 2048 values, at least 16 rows when ``n <= 128``.

    On an H200 one row per program was fastest for ``n >= 1024``
    (benchmarks/RESULTS.md), and 16 rows of 4096 values overflowed shared
    memory. At least 16 rows keeps every ``dot`` dimension at 16 or more for
    short rows (Triton's minimum); otherwise the count is capped at the
    number of rows rounded up to a power of two.
    """
    bm = max(1, 2048 // n)
    cap = 1 << max(0, (rows - 1).bit_length())
    bm = min(bm, cap)
    if n <= 128:
        bm = max(bm, 16)
    return bm


def _kernel(x_ref, *refs, widths: tuple[int, ...], scale: float):
    *h_refs, o_ref = refs
    mats = {
        1 << w: ref[...] for w, ref in zip(sorted(set(widths)), h_refs, strict=True)
    }
    x = x_ref[...].astype(jnp.float32)
    bm, n = x.shape
    for w in reversed(widths):
        r = 1 << w
        h = mats[r]
        if r >= 16:
            y = jnp.dot(
                x.reshape(bm * (n // r), r),
                h,
                precision=jax.lax.Precision.HIGHEST,
                preferred_element_type=jnp.float32,
            )
        else:  # n < 16: a single stage, too narrow for a Triton dot
            y = jnp.sum(x.reshape(bm * (n // r), 1, r) * h[None, :, :], axis=-1)
        # Rotate the digit just transformed to the front of the row index.
        x = jnp.transpose(y.reshape(bm, n // r, r), (0, 2, 1)).reshape(bm, n)
    o_ref[...] = (x * scale).astype(o_ref.dtype)


def fwht_pallas(
    x: Float[Array, "rows n"],
    *,
    block_rows: int | None = None,
    num_warps: int | None = None,
    interpret: bool = False,
) -> Float[Array, "rows n"]:
    """Orthonormal FWHT of each row of a float32 matrix with one Pallas kernel.

    Args:
        x: ``(rows, n)`` float32 array; ``n`` a power of two.
        block_rows: rows per program (a power of two); default
            :func:`default_block_rows`.
        num_warps: Triton warps per program (GPU only); default 4 for tiles up
            to 4096 values, else 8.
        interpret: run the kernel in Pallas interpret mode (CPU tests).

    Returns:
        ``(rows, n)`` float32 array.
    """
    if x.dtype != jnp.float32:
        raise TypeError(f"fwht_pallas: x must be float32, got {x.dtype}")
    rows, n = x.shape
    m = n.bit_length() - 1
    if n == 1:
        return x
    bm = default_block_rows(n, rows) if block_rows is None else block_rows
    if bm < 1 or bm & (bm - 1):
        raise ValueError(f"fwht_pallas: block_rows must be a power of two, got {bm}")
    padded = -(-rows // bm) * bm
    xp = x if padded == rows else jnp.pad(x, ((0, padded - rows), (0, 0)))
    widths = radices(m)
    # Built in the graph from an iota, not as NumPy constants: an array
    # constant here would be captured by the linear_call in api.py and leak
    # as a tracer in second-order reverse mode under jax.jit.
    mats = [hadamard(1 << w, jnp.float32) for w in sorted(set(widths))]
    kernel = functools.partial(_kernel, widths=widths, scale=1.0 / math.sqrt(n))
    compiler_params = None
    if not interpret:
        from jax.experimental.pallas import triton as pltriton

        warps = num_warps if num_warps is not None else (4 if bm * n <= 4096 else 8)
        compiler_params = pltriton.CompilerParams(num_warps=warps, num_stages=1)
    out = pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((padded, n), jnp.float32),
        grid=(padded // bm,),
        in_specs=[pl.BlockSpec((bm, n), lambda i: (i, 0))]
        + [pl.BlockSpec(h.shape, lambda i: (0, 0)) for h in mats],
        out_specs=pl.BlockSpec((bm, n), lambda i: (i, 0)),
        compiler_params=compiler_params,
        interpret=interpret,
        name="fwht",
    )(xp, *mats)
    return out if padded == rows else out[:rows]
