r"""The FFT as a product of small dense DFT matrices (Monarch / Cooley–Tukey).

With $N = N_1 N_2$, $n = N_2 n_1 + n_2$ and $k = k_1 + N_1 k_2$,

$$X_{k_1 + N_1 k_2} = \sum_{n_2} e^{-2\pi i n_2 k_2/N_2}
\Bigl[e^{-2\pi i k_1 n_2/N}
\sum_{n_1} e^{-2\pi i n_1 k_1/N_1} x_{N_2 n_1 + n_2}\Bigr],$$

i.e. a DFT of size $N_1$ over the rows of ``x.reshape(N1, N2)``, a pointwise
twiddle, and a DFT of size $N_2$ over the columns, recursively. Every stage
is a dense matmul, which is what FlashButterfly maps onto tensor cores; this
module is the pure-``jnp`` definition the Pallas kernel will be checked
against.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Inexact, Shaped


def default_factors(n: int, *, max_block: int = 32) -> tuple[int, ...]:
    """Split ``n`` into factors of at most ``max_block``, largest first.

    Powers of two go into blocks of ``max_block`` (16 or 32 points, as
    FlashFFTConv uses); other primes stay as they are (a prime above
    ``max_block`` becomes one dense block).
    """
    factors: list[int] = []
    rest = n
    for p in range(2, int(math.isqrt(n)) + 2):
        while rest % p == 0:
            factors.append(p)
            rest //= p
    if rest > 1:
        factors.append(rest)
    blocks: list[int] = []
    for f in sorted(factors, reverse=True):
        for i, b in enumerate(blocks):
            if b * f <= max_block:
                blocks[i] = b * f
                break
        else:
            blocks.append(f)
    return tuple(sorted(blocks, reverse=True)) or (1,)


def _check(fn: str, x, factors):
    x = jnp.asarray(x)
    if x.ndim < 1:
        raise ValueError(f"{fn}: x must have at least one axis")
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise TypeError(f"{fn}: x must be float or complex, got {x.dtype}")
    n = x.shape[-1]
    if factors is None:
        factors = default_factors(n)
    factors = tuple(int(f) for f in factors)
    if any(f < 1 for f in factors) or math.prod(factors) != n:
        raise ValueError(f"{fn}: factors {factors} must be positive with product N={n}")
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        cdtype = x.dtype
    elif x.dtype == jnp.float64:
        cdtype = jnp.dtype(jnp.complex128)
    else:
        cdtype = jnp.dtype(jnp.complex64)
    return x.astype(cdtype), factors


def _dft_matrix(n: int, dtype) -> Array:
    k = np.arange(n)
    return jnp.asarray(np.exp(-2j * np.pi * np.outer(k, k) / n), dtype)


def _fft(x: Array, factors: tuple[int, ...]) -> Array:
    n = x.shape[-1]
    if len(factors) == 1:
        f = _dft_matrix(n, x.dtype)
        return jnp.einsum("...n,kn->...k", x, f, precision=lax.Precision.HIGHEST)
    n1, n2 = factors[0], n // factors[0]
    xr = x.reshape(x.shape[:-1] + (n1, n2))
    a = jnp.einsum(
        "kn,...nm->...km", _dft_matrix(n1, x.dtype), xr, precision=lax.Precision.HIGHEST
    )
    c = _fft(
        a * _twiddle(n1, n2, x.dtype, a.ndim), factors[1:]
    )  # DFT of size n2 along the last axis
    return jnp.swapaxes(c, -1, -2).reshape(x.shape)


def _twiddle(n1: int, n2: int, dtype, ndim: int = 2) -> Array:
    """Twiddles ``exp(-2 pi i k1 m2 / (n1 n2))``, shape ``(1, .., 1, n1, n2)``."""
    k1 = np.arange(n1)[:, None]
    m2 = np.arange(n2)[None, :]
    t = np.exp(-2j * np.pi * k1 * m2 / (n1 * n2)).reshape((1,) * (ndim - 2) + (n1, n2))
    return jnp.asarray(t, dtype)


def _dft_axis(x: Array, f: Array) -> Array:
    """Apply the ``(r, r)`` matrix ``f`` along axis -2 of ``x``."""
    return jnp.einsum("kn,...nm->...km", f, x, precision=lax.Precision.HIGHEST)


def _fft_permuted(x: Array, factors: tuple[int, ...]) -> Array:
    n = x.shape[-1]
    if len(factors) == 1:
        f = _dft_matrix(n, x.dtype)
        return jnp.einsum("...n,kn->...k", x, f, precision=lax.Precision.HIGHEST)
    n1, n2 = factors[0], n // factors[0]
    a = _dft_axis(x.reshape(x.shape[:-1] + (n1, n2)), _dft_matrix(n1, x.dtype))
    c = _fft_permuted(a * _twiddle(n1, n2, x.dtype, a.ndim), factors[1:])
    return c.reshape(x.shape)


def _ifft_permuted(x: Array, factors: tuple[int, ...]) -> Array:
    """``N`` times the inverse of :func:`_fft_permuted` (no ``1/N``)."""
    n = x.shape[-1]
    if len(factors) == 1:
        f = jnp.conj(_dft_matrix(n, x.dtype))
        return jnp.einsum("...n,kn->...k", x, f, precision=lax.Precision.HIGHEST)
    n1, n2 = factors[0], n // factors[0]
    d = _ifft_permuted(x.reshape(x.shape[:-1] + (n1, n2)), factors[1:])
    e = d * jnp.conj(_twiddle(n1, n2, x.dtype, d.ndim))
    return _dft_axis(e, jnp.conj(_dft_matrix(n1, x.dtype))).reshape(x.shape)


def monarch_permutation(factors: tuple[int, ...]) -> np.ndarray:
    r"""Where the permuted Monarch FFT puts each frequency.

    For $N = r_1 r_2 \cdots r_p$, position $i$ of the permuted layout, with
    mixed-radix digits $(k_1, \dots, k_p)$ (most significant first, radices
    $r_1, \dots, r_p$), holds frequency $k_1 + r_1(k_2 + r_2(k_3 + \cdots))$:
    the digit reversal that Cooley–Tukey produces when the final transposes
    are skipped.

    Args:
        factors: the block sizes $(r_1, \dots, r_p)$.

    Returns:
        An int64 NumPy array ``perm`` of length $N$ with
        ``monarch_fft_permuted(x)[..., i] == monarch_fft(x)[..., perm[i]]``.

    Raises:
        ValueError: a factor below 1.

    Examples:
        >>> from jaxmethods.ops import monarch_permutation
        >>> print(monarch_permutation((2, 3)).tolist())
        [0, 2, 4, 1, 3, 5]

    References:
        Fu et al., "Simple Hardware-Efficient Long Convolutions for Sequence
        Modeling", ICML 2023. arXiv:2302.06646.
    """
    factors = tuple(int(f) for f in factors)
    if not factors or any(f < 1 for f in factors):
        raise ValueError(f"monarch_permutation: factors must be >= 1, got {factors}")
    perm = np.zeros(1, np.int64)
    # Build from the least significant digit: for the tail (r_j, ..., r_p)
    # the layout is [k_j, tail], frequency k_j + r_j * tail_frequency.
    for r in reversed(factors):
        perm = (np.arange(r)[:, None] + r * perm[None, :]).reshape(-1)
    return perm


def monarch_fft(
    x: Inexact[ArrayLike, "*batch N"], *, factors: tuple[int, ...] | None = None
) -> Shaped[Array, "*batch N"]:
    r"""DFT along the last axis as a product of dense block DFTs, in natural order.

    $X_k = \sum_n x_n e^{-2\pi i kn/N}$ (the convention of ``numpy.fft.fft``),
    computed by the Cooley–Tukey/Monarch factorisation $N = N_1 N_2 \cdots$:
    one dense DFT matmul per factor with pointwise twiddles in between, and a
    transpose at the end to return natural order. Cost
    $O(N \sum_j N_j)$; with blocks of 16–32 points this is the matmul form of
    the FFT that FlashButterfly runs on tensor cores. Linear, so
    differentiable in both modes.

    Args:
        x: real or complex input, shape ``(*batch, N)``.
        factors: block sizes with product ``N`` (static); default: blocks of
            at most 32 points (``default_factors``).

    Returns:
        The complex DFT, shape of ``x`` (complex64 for float32 input,
        complex128 for float64).

    Raises:
        ValueError: factors whose product is not ``N``.
        TypeError: integer input.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.ops import monarch_fft
        >>> x = jnp.arange(8.0)
        >>> y = monarch_fft(x, factors=(2, 4))
        >>> print(bool(jnp.allclose(y, jnp.fft.fft(x), atol=1e-4)))
        True

    References:
        Fu et al., "Simple Hardware-Efficient Long Convolutions for Sequence
        Modeling", ICML 2023 (arXiv:2302.06646); Dao et al., "Monarch:
        Expressive Structured Matrices for Efficient and Accurate Training",
        ICML 2022 (arXiv:2204.00595).
    """
    x, factors = _check("monarch_fft", x, factors)
    return _fft(x, factors)


def monarch_ifft(
    x: Inexact[ArrayLike, "*batch N"], *, factors: tuple[int, ...] | None = None
) -> Shaped[Array, "*batch N"]:
    r"""Inverse DFT by the block factorisation, $\overline{\mathrm{DFT}(\bar x)}/N$.

    Matches ``numpy.fft.ifft``; see [`monarch_fft`][jaxmethods.ops.monarch_fft].

    Args:
        x: complex (or real) input, shape ``(*batch, N)``.
        factors: block sizes with product ``N`` (static), or ``None``.

    Returns:
        The complex inverse DFT, shape of ``x``.

    Raises:
        ValueError: factors whose product is not ``N``.
        TypeError: integer input.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.ops import monarch_fft, monarch_ifft
        >>> x = jnp.arange(6.0)
        >>> y = monarch_ifft(monarch_fft(x, factors=(2, 3)), factors=(3, 2))
        >>> print(bool(jnp.allclose(y.real, x, atol=1e-5)))
        True

    References:
        Fu et al., "Simple Hardware-Efficient Long Convolutions for Sequence
        Modeling", ICML 2023. arXiv:2302.06646.
    """
    x, factors = _check("monarch_ifft", x, factors)
    n = x.shape[-1]
    return jnp.conj(_fft(jnp.conj(x), factors)) * jnp.asarray(1 / n, x.dtype)


def monarch_fft_permuted(
    x: Inexact[ArrayLike, "*batch N"], *, factors: tuple[int, ...] | None = None
) -> Shaped[Array, "*batch N"]:
    r"""The block-DFT FFT without its final transposes: digit-reversed output.

    The same products as [`monarch_fft`][jaxmethods.ops.monarch_fft], but
    the result stays in the layout the Cooley–Tukey stages leave it in:
    ``monarch_fft_permuted(x)[..., i] == monarch_fft(x)[..., perm[i]]`` with
    ``perm = monarch_permutation(factors)``. A pointwise product of two
    spectra in this layout is still the spectrum of a circular convolution,
    and [`monarch_ifft_permuted`][jaxmethods.ops.monarch_ifft_permuted]
    returns to natural time order, so a convolution never pays for the
    permutation (the trick of FlashButterfly and FlashFFTConv). Linear, so
    differentiable in both modes.

    Args:
        x: real or complex input, shape ``(*batch, N)``, natural order.
        factors: block sizes with product ``N`` (static); default
            ``default_factors(N)``.

    Returns:
        The complex DFT in permuted order, shape of ``x``.

    Raises:
        ValueError: factors whose product is not ``N``.
        TypeError: integer input.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.ops import monarch_fft_permuted, monarch_permutation
        >>> x = jnp.arange(6.0)
        >>> y = monarch_fft_permuted(x, factors=(2, 3))
        >>> ref = jnp.fft.fft(x)[monarch_permutation((2, 3))]
        >>> print(bool(jnp.allclose(y, ref, atol=1e-4)))
        True

    References:
        Fu et al., "Simple Hardware-Efficient Long Convolutions for Sequence
        Modeling", ICML 2023. arXiv:2302.06646.
    """
    x, factors = _check("monarch_fft_permuted", x, factors)
    return _fft_permuted(x, factors)


def monarch_ifft_permuted(
    x: Inexact[ArrayLike, "*batch N"], *, factors: tuple[int, ...] | None = None
) -> Shaped[Array, "*batch N"]:
    r"""Inverse of [`monarch_fft_permuted`][jaxmethods.ops.monarch_fft_permuted].

    Takes a spectrum in the permuted layout of ``factors`` and returns
    ``numpy.fft.ifft`` of the natural-order spectrum, in natural time order:
    the stages of the forward transform run backwards with conjugated DFT
    blocks and twiddles, and a factor $1/N$.

    Args:
        x: complex spectrum in permuted order, shape ``(*batch, N)``.
        factors: the block sizes the spectrum was made with (static).

    Returns:
        The complex inverse DFT in natural order, shape of ``x``.

    Raises:
        ValueError: factors whose product is not ``N``.
        TypeError: integer input.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.ops import monarch_fft_permuted, monarch_ifft_permuted
        >>> x = jnp.arange(8.0)
        >>> spec = monarch_fft_permuted(x, factors=(4, 2))
        >>> back = monarch_ifft_permuted(spec, factors=(4, 2))
        >>> print(bool(jnp.allclose(back.real, x, atol=1e-5)))
        True

    References:
        Fu et al., "Simple Hardware-Efficient Long Convolutions for Sequence
        Modeling", ICML 2023. arXiv:2302.06646.
    """
    x, factors = _check("monarch_ifft_permuted", x, factors)
    n = x.shape[-1]
    return _ifft_permuted(x, factors) * jnp.asarray(1 / n, x.dtype)
