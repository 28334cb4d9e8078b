"""Integer and bit helpers for low-discrepancy constructions.

Digital constructions run in unsigned integer arithmetic: ``uint64`` when
``jax_enable_x64`` is on and ``uint32`` otherwise, so that no float rounding
enters the construction of a point set.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Shaped


def x64_enabled() -> bool:
    """Whether 64-bit types are enabled in JAX."""
    return bool(jax.config.read("jax_enable_x64"))


def uint_dtype() -> jnp.dtype:
    """The unsigned integer type used for digital constructions."""
    return jnp.dtype(jnp.uint64 if x64_enabled() else jnp.uint32)


def max_bits() -> int:
    """Bits available in :func:`uint_dtype` (64 with x64, else 32)."""
    return 64 if x64_enabled() else 32


def default_float() -> jnp.dtype:
    """The default floating type (float64 with x64, else float32)."""
    return jnp.dtype(jnp.float64 if x64_enabled() else jnp.float32)


def as_float_array(t) -> Array:
    """``t`` as a JAX array of a floating dtype (integers go to the default float)."""
    t = jnp.asarray(t)
    if not jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(default_float())
    return t


def check_float_dtype(fn: str, dtype) -> jnp.dtype:
    """Resolve ``dtype=None`` and reject non-float or unavailable dtypes."""
    if dtype is None:
        return default_float()
    dt = jnp.dtype(dtype)
    if not jnp.issubdtype(dt, jnp.floating):
        raise TypeError(f"{fn}: dtype must be a floating type, got {dt}")
    if dt == jnp.float64 and not x64_enabled():
        raise TypeError(
            f"{fn}: dtype=float64 needs jax_enable_x64; enable it with "
            "jax.config.update('jax_enable_x64', True)"
        )
    return dt


def is_pow2(n: int) -> bool:
    """True for 1, 2, 4, ... (0 is not a power of two)."""
    return n > 0 and (n & (n - 1)) == 0


def log2_int(n: int) -> int:
    """``log2`` of a power of two."""
    return n.bit_length() - 1


def to_unit_float(
    xb: Shaped[Array, "..."], t: int, dtype: jnp.dtype
) -> Float[Array, "..."]:
    """Map ``t``-bit integers to floats in ``[0, 1)``.

    The value is ``round(float(xb)) * 2**-t`` (as QMCPy computes it, so point
    sets agree bit for bit), then clamped below the largest float under 1: a
    conversion that rounds up to exactly 1.0 would break inverse-CDF transforms.
    """
    scale = np.ldexp(1.0, -t)
    return clamp_below_one(xb.astype(dtype) * jnp.asarray(scale, dtype))


def clamp_below_one(u: Float[Array, "..."]) -> Float[Array, "..."]:
    """Clamp floats to at most the largest float below 1 (``1 - epsneg``).

    Point coordinates must satisfy ``0 <= u < 1``: a value that rounds up to
    exactly 1.0 would break inverse-CDF transforms.
    """
    return jnp.minimum(u, jnp.asarray(1.0 - jnp.finfo(u.dtype).epsneg, u.dtype))


def bit_reverse(i: Shaped[Array, "..."], nbits: int) -> Shaped[Array, "..."]:
    """Reverse the lowest ``nbits`` bits of unsigned integers ``i``."""
    dt = i.dtype
    width = jnp.iinfo(dt).bits
    x = i
    masks = [
        (1, 0x5555555555555555),
        (2, 0x3333333333333333),
        (4, 0x0F0F0F0F0F0F0F0F),
        (8, 0x00FF00FF00FF00FF),
        (16, 0x0000FFFF0000FFFF),
        (32, 0x00000000FFFFFFFF),
    ]
    for s, m in masks:
        if s >= width:
            break
        mk = jnp.asarray(m & ((1 << width) - 1), dt)
        sh = jnp.asarray(s, dt)
        x = ((x >> sh) & mk) | ((x & mk) << sh)
    if nbits == 0:
        return jnp.zeros_like(x)
    return x >> jnp.asarray(width - nbits, dt)


def parity(x: Shaped[Array, "..."]) -> Shaped[Array, "..."]:
    """Parity (popcount mod 2) of unsigned integers, same dtype, values 0/1."""
    width = jnp.iinfo(x.dtype).bits
    s = width // 2
    while s >= 1:
        x = x ^ (x >> jnp.asarray(s, x.dtype))
        s //= 2
    return x & jnp.asarray(1, x.dtype)


def xor_reduce(x: Shaped[Array, "..."], axis: int) -> Shaped[Array, "..."]:
    """Bitwise XOR over one axis."""
    return jax.lax.reduce(
        x, jnp.zeros((), x.dtype), jax.lax.bitwise_xor, (axis % x.ndim,)
    )


def mix32(h: Shaped[Array, "..."]) -> Shaped[Array, "..."]:
    """A bijective 32-bit avalanche mixer (lowbias32 by C. Wellons)."""
    u = jnp.uint32
    h = h ^ (h >> u(16))
    h = h * u(0x7FEB352D)
    h = h ^ (h >> u(15))
    h = h * u(0x846CA68B)
    h = h ^ (h >> u(16))
    return h


def hash_words(seed: Shaped[Array, "..."], *words: Shaped[Array, "..."]):
    """Hash ``uint32`` words into one ``uint32`` (a keyed chained mixer)."""
    h = seed.astype(jnp.uint32)
    for w in words:
        h = mix32(h ^ mix32(w.astype(jnp.uint32) + jnp.uint32(0x9E3779B9)))
    return h
