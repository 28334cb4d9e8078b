"""Pallas Monarch causal convolution (Triton on CUDA, ``interpret=True`` on CPU).

One program convolves ``block_rows`` sequences with their kernel spectra,
entirely on the loaded tile: forward FFT, pointwise product, inverse FFT, so
each sequence is read from and written to HBM once (the unfused XLA path
moves about ten times the minimal traffic, perf.md §1.4).

The FFT of size ``N = r_1 r_2 ... r_p`` is written as dense DFT matmuls,
stage by stage, on real and imaginary parts kept apart (Triton has no complex
type and no FFT). With the row index in mixed radix, stage ``s`` transposes
the current leading digit ``n_s`` to the end, multiplies by ``F_{r_s}`` (a
``(rows, r_s) @ (r_s, r_s)`` product) and applies the twiddles
``exp(-2 pi i k_s m_s / (r_s ... r_p))``. After ``p`` stages the spectrum sits
in the digit-reversed layout of ``monarch_fft_permuted``, which is the layout
the kernel spectrum is stored in, so the pointwise product needs no
permutation; the inverse stages run backwards with conjugate blocks and
twiddles and end in natural time order (perf.md §1.1, "never un-permute").

Two zero-padding savings: the input occupies the first half of the FFT
frame, so the first stage uses only the first ``r_1 / 2`` rows of ``F_{r_1}``,
and only the first half of the output is needed, so the last inverse stage
computes only ``r_1 / 2`` columns and only the real part.

The body uses only ``jnp`` reshapes, transposes, elementwise ops and 2-D
``jnp.dot``: the backend-neutral subset of Pallas. Triton's ``dot`` needs
every dimension to be at least 16, so the GPU path needs ``r_1 >= 32`` and
``r_s >= 16`` (``supported_on_gpu``); interpret mode takes any even ``r_1``.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jaxtyping import Array, Float


def conv_factors(n: int) -> tuple[int, ...]:
    """Balanced radices for an FFT of size ``n`` (a power of two), largest first.

    The fewest stages with blocks of at most 64 points, split as evenly as
    possible: 8192 -> (32, 16, 16), 32768 -> (32, 32, 32), 2048 -> (64, 32).
    For other ``n`` falls back to ``default_factors``.
    """
    from .monarch import default_factors

    if n < 2 or n & (n - 1):
        return default_factors(n)
    bits = n.bit_length() - 1
    stages = max(1, -(-bits // 6))
    q, rem = divmod(bits, stages)
    return tuple(1 << (q + (1 if i < rem else 0)) for i in range(stages))


def supported_on_gpu(factors: tuple[int, ...]) -> bool:
    """Whether the compiled (Triton) kernel can take these radices.

    Every matmul needs all dimensions >= 16 (Triton's ``dot``), and every
    block and table shape a power of two (Triton's ``arange``).
    """
    pow2 = all(r & (r - 1) == 0 for r in factors)
    return pow2 and factors[0] >= 32 and all(r >= 16 for r in factors)


def _dft(r: int, cols: int | None = None, rows: int | None = None) -> np.ndarray:
    k = np.arange(r)
    f = np.asarray(np.exp(-2j * np.pi * np.outer(k, k) / r), np.complex128)
    return f[: rows or r, : cols or r]


def _tables(factors: tuple[int, ...], dtype) -> list[np.ndarray]:
    """DFT blocks and twiddles as real arrays, in the order the kernel reads them.

    For each stage ``s``: ``F_s`` (real, imag) of shape ``(r_s, r_s)``, except
    stage 1 whose forward block is ``F[:r_1/2, :]`` and whose inverse block is
    ``conj(F)[:, :r_1/2]``; for each stage but the last, twiddles of shape
    ``(M_s, r_s)`` with ``M_s = r_{s+1} ... r_p``.
    """
    n = math.prod(factors)
    out: list[np.ndarray] = []
    r1 = factors[0]
    fwd1 = _dft(r1, rows=r1 // 2)
    inv1 = np.conj(_dft(r1))[:, : r1 // 2]
    out += [np.real(fwd1), np.imag(fwd1), np.real(inv1), np.imag(inv1)]
    for r in factors[1:]:
        f = _dft(r)
        out += [np.real(f), np.imag(f)]
    span = n
    for r in factors[:-1]:
        m = span // r
        t = np.exp(-2j * np.pi * np.outer(np.arange(m), np.arange(r)) / span)
        out += [np.real(t), np.imag(t)]
        span = m
    return [np.ascontiguousarray(a, dtype=dtype) for a in out]


def _kernel(u_ref, kr_ref, ki_ref, *refs, factors, mm_dtype, scale):
    o_ref = refs[-1]
    tabs = [r[...] for r in refs[:-1]]
    p = len(factors)
    f1r, f1i, g1r, g1i = tabs[:4]
    mid = tabs[4 : 4 + 2 * (p - 1)]
    blocks = list(zip(mid[0::2], mid[1::2], strict=True))
    rest = tabs[4 + 2 * (p - 1) :]
    twid = list(zip(rest[0::2], rest[1::2], strict=True))
    acc = kr_ref.dtype
    n = math.prod(factors)

    def dot(a, b):
        return jnp.dot(
            a.astype(mm_dtype),
            b.astype(mm_dtype),
            precision=jax.lax.Precision.HIGHEST,
            preferred_element_type=acc,
        )

    def front_to_back(x, r):  # (bm, r * rest) -> (bm * rest, r)
        bm = x.shape[0]
        return jnp.transpose(x.reshape(bm, r, -1), (0, 2, 1)).reshape(-1, r)

    def back_to_front(y, bm, r):  # (bm * rest, r) -> (bm, r * rest)
        return jnp.transpose(y.reshape(bm, -1, r), (0, 2, 1)).reshape(bm, -1)

    def twiddle(xr, xi, tw, conj, bm):
        tr, ti = tw
        m, r = tr.shape
        shape = (bm, m, -1, r)
        xr4, xi4 = xr.reshape(shape), xi.reshape(shape)
        tr4, ti4 = tr.reshape(1, m, 1, r), ti.reshape(1, m, 1, r)
        if conj:
            ti4 = -ti4
        yr = xr4 * tr4 - xi4 * ti4
        yi = xr4 * ti4 + xi4 * tr4
        return yr.reshape(bm, -1), yi.reshape(bm, -1)

    u = u_ref[...].astype(acc)
    bm = u.shape[0]
    r1 = factors[0]
    # Forward stage 1 on the real, half-occupied frame: (bm * M1, r1/2) @ (r1/2, r1).
    x = front_to_back(u, r1 // 2)
    xr, xi = dot(x, f1r).reshape(bm, n), dot(x, f1i).reshape(bm, n)
    for s in range(1, p):
        xr, xi = twiddle(xr, xi, twid[s - 1], False, bm)
        r = factors[s]
        fr, fi = blocks[s - 1]
        ar, ai = front_to_back(xr, r), front_to_back(xi, r)
        xr = (dot(ar, fr) - dot(ai, fi)).reshape(bm, n)
        xi = (dot(ar, fi) + dot(ai, fr)).reshape(bm, n)
    # Pointwise product with the kernel spectrum, both in permuted layout.
    kr, ki = kr_ref[...], ki_ref[...]
    xr, xi = xr * kr - xi * ki, xr * ki + xi * kr
    # Inverse stages p .. 2: conj(F) on the last digit, then back to the front.
    for s in range(p - 1, 0, -1):
        r = factors[s]
        fr, fi = blocks[s - 1]
        ar, ai = xr.reshape(-1, r), xi.reshape(-1, r)
        yr = dot(ar, fr) + dot(ai, fi)
        yi = dot(ai, fr) - dot(ar, fi)
        xr, xi = back_to_front(yr, bm, r), back_to_front(yi, bm, r)
        xr, xi = twiddle(xr, xi, twid[s - 1], True, bm)
    # Inverse stage 1, real part of the first r1/2 output rows only.
    ar, ai = xr.reshape(-1, r1), xi.reshape(-1, r1)
    y = back_to_front(dot(ar, g1r) - dot(ai, g1i), bm, r1 // 2)
    o_ref[...] = (y * scale).astype(o_ref.dtype)


def default_block_rows(n: int, rows: int) -> int:
    """Rows per program: tiles of about 4096 complex values, capped by ``rows``."""
    bm = max(1, 4096 // n)
    return min(bm, 1 << max(0, (rows - 1).bit_length()))


def monarch_conv_pallas(
    u: Float[Array, "batch rows half"],
    k_re: Float[Array, "rows N"],
    k_im: Float[Array, "rows N"],
    *,
    factors: tuple[int, ...],
    block_rows: int | None = None,
    num_warps: int | None = None,
    interpret: bool = False,
) -> Float[Array, "batch rows half"]:
    """Causal convolution of each row of ``u`` with the row's permuted spectrum.

    Args:
        u: ``(batch, rows, N/2)`` input (any float dtype; zero beyond the
            true length).
        k_re: real part of the permuted spectra, ``(rows, N)``, float32 or
            float64 (sets the accumulation dtype).
        k_im: imaginary part, like ``k_re``.
        factors: the radices, product ``N``, first one even.
        block_rows: rows per program; default :func:`default_block_rows`.
        num_warps: Triton warps (GPU only); default 4 for tiles of up to
            2048 values, else 8.
        interpret: run in Pallas interpret mode (CPU tests).

    Returns:
        ``(batch, rows, N/2)`` in ``u``'s dtype: the first ``N/2`` outputs
        of the linear convolution.
    """
    batch, rows, half = u.shape
    n = math.prod(factors)
    if half * 2 != n or factors[0] % 2:
        raise ValueError(
            f"monarch_conv_pallas: need u of length N/2 = {n // 2} and an even "
            f"first factor, got length {half} and factors {factors}"
        )
    acc = k_re.dtype
    mm_dtype = jnp.bfloat16 if u.dtype == jnp.bfloat16 else acc
    bm = default_block_rows(n, rows) if block_rows is None else block_rows
    padded = -(-rows // bm) * bm
    if padded != rows:
        u = jnp.pad(u, ((0, 0), (0, padded - rows), (0, 0)))
        k_re = jnp.pad(k_re, ((0, padded - rows), (0, 0)))
        k_im = jnp.pad(k_im, ((0, padded - rows), (0, 0)))
    tables = [jnp.asarray(t) for t in _tables(factors, np.dtype(acc))]
    kernel = functools.partial(
        _kernel, factors=factors, mm_dtype=mm_dtype, scale=1.0 / n
    )
    compiler_params = None
    if not interpret:
        from jax.experimental.pallas import triton as pltriton

        warps = num_warps if num_warps is not None else (4 if bm * n <= 2048 else 8)
        compiler_params = pltriton.CompilerParams(num_warps=warps, num_stages=1)
    stage_flops = sum(8 * n * r for r in factors)  # complex matmuls, each way
    cost = pl.CostEstimate(
        flops=int(batch * padded * (2 * stage_flops + 6 * n)),
        transcendentals=0,
        bytes_accessed=int(
            2 * batch * padded * half * u.dtype.itemsize
            + 2 * padded * n * np.dtype(acc).itemsize
        ),
    )
    out = pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((batch, padded, half), u.dtype),
        grid=(padded // bm, batch),
        in_specs=[
            pl.BlockSpec((None, bm, half), lambda i, b: (b, i, 0)),
            pl.BlockSpec((bm, n), lambda i, b: (i, 0)),
            pl.BlockSpec((bm, n), lambda i, b: (i, 0)),
        ]
        + [pl.BlockSpec(t.shape, lambda i, b: (0, 0)) for t in tables],
        out_specs=pl.BlockSpec((None, bm, half), lambda i, b: (b, i, 0)),
        compiler_params=compiler_params,
        cost_estimate=cost,
        interpret=interpret,
        name="monarch_causal_conv",
    )(u, k_re, k_im, *tables)
    return out if padded == rows else out[:, :rows]
