"""Pure-jnp fast Walsh–Hadamard transform: the definition and the XLA path.

Two functions compute the same thing, ``H_n x / sqrt(n)`` along the last axis
with ``H_n`` the Sylvester (natural-order) Hadamard matrix:

- :func:`fwht_reference` is the definition: ``log2(n)`` radix-2 butterfly
  stages, each one reshape plus one add and one subtract. Short and obviously
  right; it is the oracle that the faster paths are tested against.
- :func:`fwht_xla` is the path that ``impl="xla"`` runs on CPU. It gives the same
  values (the same additions, grouped two bits per pass), organized for
  speed: arrays up to 2^20 values run radix-4 butterfly passes over the whole
  array (XLA spreads each pass over the cores; the data stays in cache);
  larger ones are transformed chunk by chunk inside a loop, and long rows are
  split as ``n = a * b`` and transformed as ``H_a X H_b``, each factor applied
  to cache-sized chunks, so that the array is read and written about twice
  instead of ``log2(n) / 2`` times.
- :func:`fwht_matmul` is the path that ``impl="xla"`` runs on GPU: the
  Sylvester factorization ``H_n = H_{r_1} (x) ... (x) H_{r_k}`` applied as
  ``k`` small dense products (factors of at most 2^7), at
  ``precision=HIGHEST``, so float32 does not drop to TF32. On an H200 this
  was 10 to 20 times faster than the butterfly passes (benchmarks/RESULTS.md);
  on CPU it does ``sum r_i`` multiply-adds per value instead of ``log2 n``
  additions and is slower.

:func:`fwht_platform` picks between the last two per platform at lowering
time (``lax.platform_dependent``).
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float


# Elements (not bytes) handled per loop iteration by the blocked paths: 2^17
# float64 values are 1 MiB, one core's L2 on the build machine.
CHUNK = 1 << 17
# Arrays up to this many elements run unchunked: XLA then splits each pass
# over both cores, and 8 MiB of float64 still fits in the 32 MiB L3.
SMALL = 1 << 20
# Row length above which the two-level (H_a X H_b) split is used.
SPLIT = 1 << 14


def _butterfly(parts: list) -> list:
    """Apply ``H_r`` (natural order, unnormalized) to ``r`` equally shaped parts."""
    r = len(parts)
    h = 1
    while h < r:
        new = list(parts)
        for i in range(0, r, 2 * h):
            for j in range(i, i + h):
                a, b = parts[j], parts[j + h]
                new[j], new[j + h] = a + b, a - b
        parts = new
        h *= 2
    return parts


def _stage(x: Array, bits: int, h: int) -> Array:
    """One radix-``2**bits`` pass on the digit of stride ``h`` along the last axis."""
    n = x.shape[-1]
    r = 1 << bits
    lead = x.shape[:-1]
    y = x.reshape(*lead, n // (r * h), r, h)
    parts = _butterfly([y[..., i, :] for i in range(r)])
    return jnp.stack(parts, axis=-2).reshape(*lead, n)


def _stages(x: Array, h0: int, bits: int, radix_bits: int = 2) -> Array:
    """Unnormalized transform of the ``bits`` digits from stride ``h0`` upwards."""
    h = h0
    while bits > 0:
        s = min(radix_bits, bits)
        x = _stage(x, s, h)
        h <<= s
        bits -= s
    return x


def _scale(x: Array, n: int) -> Array:
    return x * (1.0 / math.sqrt(n))


def fwht_reference(x: Float[Array, "*batch n"]) -> Float[Array, "*batch n"]:
    """Orthonormal FWHT along the last axis by plain radix-2 stages (the oracle).

    ``n = x.shape[-1]`` must be a power of two (not checked here).
    """
    n = x.shape[-1]
    return _scale(_stages(x, 1, n.bit_length() - 1, radix_bits=1), n)


def _rows_chunked(x2: Array, h0: int, bits: int) -> Array:
    """Transform each row of ``x2`` (shape ``(rows, n)``) chunk by chunk."""
    rows, n = x2.shape
    per = max(1, CHUNK // n)
    if rows <= per:
        return _stages(x2, h0, bits)
    return lax.map(lambda row: _stages(row, h0, bits), x2, batch_size=per)


def _two_level(x2: Array) -> Array:
    """``H_a X H_b`` for long rows: rows of ``X`` first, then its columns."""
    rows, n = x2.shape
    m = n.bit_length() - 1
    lb = min(13, (m + 1) // 2)  # X is (a, b) with b = 2^lb contiguous values
    a, b = n >> lb, 1 << lb
    # Pass 1: H_b on every row of X (contiguous, chunked to stay in cache).
    y = _rows_chunked(x2.reshape(rows * a, b), 1, lb)
    # Pass 2: H_a down the columns of X, a slab of `cols` columns at a time.
    cols = min(b, max(16, CHUNK // a))
    nblk = b // cols
    y = y.reshape(rows, a, b)

    def body(i, y):
        r, j = i // nblk, i % nblk
        slab = lax.dynamic_slice(y, (r, 0, j * cols), (1, a, cols))
        slab = _stages(slab.reshape(a * cols), cols, m - lb).reshape(1, a, cols)
        return lax.dynamic_update_slice(y, slab, (r, 0, j * cols))

    y = lax.fori_loop(0, rows * nblk, body, y)
    return y.reshape(rows, n)


def fwht_xla(x: Float[Array, "*batch n"]) -> Float[Array, "*batch n"]:
    """Orthonormal FWHT along the last axis, blocked for cache (the XLA path).

    Equal to :func:`fwht_reference` up to rounding (it adds in the same order
    within each radix-4 pass). ``n`` must be a power of two (not checked here).
    """
    n = x.shape[-1]
    m = n.bit_length() - 1
    if n == 1:
        return x
    if x.size <= SMALL:
        return _scale(_stages(x, 1, m), n)
    x2 = x.reshape(-1, n)
    y = _two_level(x2) if n > SPLIT else _rows_chunked(x2, 1, m)
    return _scale(y, n).reshape(x.shape)


# Largest Kronecker factor used by fwht_matmul (2^7 = 128: few multiply-adds
# per value, and a shape every GPU matmul library handles well).
MATMUL_MAX_BITS = 7


def _factor_bits(m: int, max_bits: int) -> list[int]:
    """Split ``m`` bits into ``ceil(m / max_bits)`` near-equal parts."""
    k = -(-m // max_bits)
    q, rem = divmod(m, k)
    return [q + (i < rem) for i in range(k)]


def fwht_matmul(x: Float[Array, "*batch n"]) -> Float[Array, "*batch n"]:
    """Orthonormal FWHT along the last axis as Kronecker-factor matmuls.

    ``x`` viewed as ``(*batch, r_1, ..., r_k)`` with every ``r_i <= 128`` has
    ``H_{r_i}`` applied along each factor axis (one ``einsum`` each, at
    ``precision=HIGHEST``, accumulated in at least float32). ``n`` must be a
    power of two (not checked here).
    """
    n = x.shape[-1]
    m = n.bit_length() - 1
    if n == 1:
        return x
    acc = x.dtype if x.dtype.itemsize >= 4 else jnp.dtype(jnp.float32)
    lead = x.shape[:-1]
    bits = _factor_bits(m, MATMUL_MAX_BITS)
    y = x.reshape(*lead, *(1 << b for b in bits))
    nd = len(lead)
    for i, b in enumerate(bits):
        h = hadamard(1 << b, y.dtype)
        y = jnp.moveaxis(
            jnp.tensordot(
                y,
                h,
                axes=((nd + i,), (0,)),
                precision=lax.Precision.HIGHEST,
                preferred_element_type=acc,
            ).astype(x.dtype),
            -1,
            nd + i,
        )
    return _scale(y.reshape(x.shape), n).astype(x.dtype)


def fwht_platform(x: Float[Array, "*batch n"]) -> Float[Array, "*batch n"]:
    """:func:`fwht_xla` on CPU (and TPU), :func:`fwht_matmul` on CUDA/ROCm GPUs."""
    return lax.platform_dependent(
        x, cuda=fwht_matmul, rocm=fwht_matmul, default=fwht_xla
    )


def hadamard(n: int, dtype=jnp.float32) -> Array:
    """The ``n x n`` Sylvester Hadamard matrix (entries +-1, natural order)."""
    i = lax.iota(jnp.uint32, n)  # not a NumPy constant: see fwht_pallas
    bits = lax.population_count(i[:, None] & i[None, :]) & jnp.uint32(1)
    return (1 - 2 * bits.astype(jnp.int32)).astype(dtype)
