"""Pallas radix-2 FFT kernels for bit-reversed order (float32 re/im pairs).

One program transforms a ``(block_rows, n)`` tile of complex rows, held as two
float32 tiles (real and imaginary parts), with all ``log2(n)`` stages on the
loaded tile. The body uses only ``jnp`` ops, so it runs unchanged in Pallas
interpret mode on CPU (which is how the tests check it) and lowers through
Triton on CUDA.

Two stage orders cover the four maps of :mod:`.reference`:

- **DIT** (decimation in time) takes bit-reversed input to natural-order
  output, i.e. computes ``F P x``: this is ``fftbr`` itself, and with
  conjugated twiddles ``conj(F) P x`` (the transpose of ``ifftbr``). No
  permutation pass is needed, which is why QMCPy's bit-reversed order is
  natural for an FFT kernel.
- **DIF** (decimation in frequency), the transposed network, takes natural
  input to bit-reversed output, i.e. ``P F x``: with conjugated twiddles this
  is ``ifftbr``, and with forward twiddles the transpose of ``fftbr``.

Both are written in *constant geometry* (Pease): every DIT stage pairs the
even and odd entries of the current tile (split of a trailing axis of two) and
writes the two results to the first and second half (join on a trailing axis,
then a transpose), which rotates the index bits by one; after ``log2(n)``
stages the order is natural again. DIF stages do the reverse. Twiddles are
computed in the kernel from an iota (``cos``/``sin`` in float32), so nothing
but the data is read from memory.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jaxtyping import Array, Float


def default_block_rows(n: int, rows: int) -> int:
    """Rows per program: about 4096 complex values per tile, capped by ``rows``."""
    bm = max(1, 4096 // n)
    cap = 1 << max(0, (rows - 1).bit_length())
    return min(bm, cap, 256)


def _twiddle(s: int, m: int, sign: float, shape: tuple[int, int]):
    """``exp(sign 2 pi i k / 2^s)``, ``k`` = the top ``s-1`` bits of the pair index."""
    q = jax.lax.broadcasted_iota(jnp.int32, shape, 1)
    k = jax.lax.shift_right_logical(q, jnp.int32(m - s)).astype(jnp.float32)
    ang = k * (sign * 2.0 * math.pi / (1 << s))
    return jnp.cos(ang), jnp.sin(ang)


def _pairs_low(x, bm: int, h: int):
    """Even and odd entries of each row (the lowest index bit)."""
    a, b = jnp.split(x.reshape(bm, h, 2), 2, axis=-1)
    return a.reshape(bm, h), b.reshape(bm, h)


def _pairs_high(x, bm: int, h: int):
    """First and second half of each row (the highest index bit)."""
    a, b = jnp.split(x.reshape(bm, 2, h), 2, axis=1)
    return a.reshape(bm, h), b.reshape(bm, h)


def _join_high(u, v, bm: int, h: int):
    """Rows ``[u, v]``: ``u`` in the first half, ``v`` in the second."""
    return jnp.transpose(jnp.stack([u, v], axis=-1), (0, 2, 1)).reshape(bm, 2 * h)


def _join_low(u, v, bm: int, h: int):
    """Rows ``[u0, v0, u1, v1, ...]``: ``u`` at even entries, ``v`` at odd."""
    return jnp.stack([u, v], axis=-1).reshape(bm, 2 * h)


def _kernel(xr_ref, xi_ref, or_ref, oi_ref, *, m: int, dif: bool, sign: float):
    xr = xr_ref[...].astype(jnp.float32)
    xi = xi_ref[...].astype(jnp.float32)
    bm, n = xr.shape
    h = n // 2
    stages = range(m, 0, -1) if dif else range(1, m + 1)
    for s in stages:
        wr, wi = _twiddle(s, m, sign, (1, h))
        if not dif:
            ar, br = _pairs_low(xr, bm, h)
            ai, bi = _pairs_low(xi, bm, h)
            tr = br * wr - bi * wi
            ti = br * wi + bi * wr
            xr = _join_high(ar + tr, ar - tr, bm, h)
            xi = _join_high(ai + ti, ai - ti, bm, h)
        else:
            ur, vr = _pairs_high(xr, bm, h)
            ui, vi = _pairs_high(xi, bm, h)
            dr, di = ur - vr, ui - vi
            xr = _join_low(ur + vr, dr * wr - di * wi, bm, h)
            xi = _join_low(ui + vi, dr * wi + di * wr, bm, h)
    scale = 1.0 / math.sqrt(n)
    or_ref[...] = (xr * scale).astype(or_ref.dtype)
    oi_ref[...] = (xi * scale).astype(oi_ref.dtype)


# kind -> (DIF network?, twiddle sign)
_PLAN = {
    "fftbr": (False, -1.0),
    "ifftbr_t": (False, 1.0),
    "ifftbr": (True, 1.0),
    "fftbr_t": (True, -1.0),
}


def fft_pallas(
    xr: Float[Array, "rows n"],
    xi: Float[Array, "rows n"],
    kind: str,
    *,
    block_rows: int | None = None,
    num_warps: int | None = None,
    interpret: bool = False,
) -> tuple[Float[Array, "rows n"], Float[Array, "rows n"]]:
    """Apply ``fftbr``/``ifftbr`` or a transpose to each row of a complex matrix.

    Args:
        xr: real parts, ``(rows, n)`` float32; ``n`` a power of two.
        xi: imaginary parts, same shape and dtype.
        kind: one of ``"fftbr"``, ``"ifftbr"``, ``"fftbr_t"``, ``"ifftbr_t"``
            (see :mod:`jaxmethods.ops.fftbr.reference`).
        block_rows: rows per program (a power of two); default
            :func:`default_block_rows`.
        num_warps: Triton warps per program (GPU only); default 4 for tiles up
            to 2048 values, else 8.
        interpret: run the kernel in Pallas interpret mode (CPU tests).

    Returns:
        ``(real, imag)`` parts of the result, ``(rows, n)`` float32 each.
    """
    if xr.dtype != jnp.float32 or xi.dtype != jnp.float32:
        raise TypeError(
            f"fft_pallas: inputs must be float32, got {xr.dtype}, {xi.dtype}"
        )
    dif, sign = _PLAN[kind]
    rows, n = xr.shape
    m = n.bit_length() - 1
    if n == 1:
        return xr, xi
    bm = default_block_rows(n, rows) if block_rows is None else block_rows
    if bm < 1 or bm & (bm - 1):
        raise ValueError(f"fft_pallas: block_rows must be a power of two, got {bm}")
    padded = -(-rows // bm) * bm
    if padded != rows:
        pad = ((0, padded - rows), (0, 0))
        xr, xi = jnp.pad(xr, pad), jnp.pad(xi, pad)
    compiler_params = None
    if not interpret:
        from jax.experimental.pallas import triton as pltriton

        warps = num_warps if num_warps is not None else (4 if bm * n <= 2048 else 8)
        compiler_params = pltriton.CompilerParams(num_warps=warps, num_stages=1)
    spec = pl.BlockSpec((bm, n), lambda i: (i, 0))
    out = jax.ShapeDtypeStruct((padded, n), jnp.float32)
    yr, yi = pl.pallas_call(
        functools.partial(_kernel, m=m, dif=dif, sign=sign),
        out_shape=(out, out),
        grid=(padded // bm,),
        in_specs=[spec, spec],
        out_specs=(spec, spec),
        compiler_params=compiler_params,
        interpret=interpret,
        name=kind,
    )(xr, xi)
    if padded != rows:
        yr, yi = yr[:rows], yi[:rows]
    return yr, yi
