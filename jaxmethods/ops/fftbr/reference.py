"""Pure-jnp FFT in bit-reversed order: the definitions and the XLA path.

With ``F`` the ``n x n`` DFT matrix (``F[j, k] = exp(-2 pi i j k / n)``) and
``P`` the bit-reversal permutation of ``log2(n)`` bits (``(P x)[i] =
x[bitrev(i)]``; ``P`` is symmetric and its own inverse), QMCPy defines

- ``fftbr(x) = F P x / sqrt(n)``: an ortho-normalized FFT of bit-reversed input;
- ``ifftbr(x) = P conj(F) x / sqrt(n)``: an ortho-normalized inverse FFT with
  bit-reversed output;

so ``ifftbr(fftbr(x)) = x``. Their linear transposes (JAX's convention: no
conjugation), needed for reverse-mode autodiff, are

- ``fftbr_t(c) = P F c / sqrt(n)`` (FFT, then bit reversal);
- ``ifftbr_t(c) = conj(F) P c / sqrt(n)`` (bit reversal, then inverse FFT).

``*_reference`` functions are the definitions (one gather and one FFT).
:func:`apply_xla` is what ``impl="xla"`` runs: the same FFTs (``lax.fft``),
with the permutation done as two short gathers and a transpose, and with
``rfft`` plus Hermitian symmetry for real input to ``fftbr``.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Complex, Inexact, Int, Shaped

from ..._internal.bits import bit_reverse


KINDS = ("fftbr", "ifftbr", "fftbr_t", "ifftbr_t")
# The linear transpose of each kind.
TRANSPOSE = {
    "fftbr": "fftbr_t",
    "fftbr_t": "fftbr",
    "ifftbr": "ifftbr_t",
    "ifftbr_t": "ifftbr",
}


def bitrev_indices(m: int) -> Int[Array, " n"]:
    """``bitrev(i)`` for ``i < 2**m`` as ``int32``, computed from an iota.

    Computed in the graph rather than embedded as a NumPy constant: an array
    constant inside the maps would be captured by ``linear_call`` and leak as
    a tracer in second-order reverse mode under ``jax.jit``.
    """
    i = lax.iota(jnp.uint32, 1 << m)
    return bit_reverse(i, m).astype(jnp.int32)


def bitrev(x: Shaped[Array, "*batch n"]) -> Shaped[Array, "*batch n"]:
    """Permute the last axis into bit-reversed order (``x[..., bitrev(i)]``).

    Writes ``i = i1 * B + i2`` with ``B = 2**m2``, so that ``bitrev_m(i) =
    bitrev_m2(i2) * A + bitrev_m1(i1)``: reverse each of the two short digits
    with a gather on an axis of length ``sqrt(n)`` or so, then swap the digits
    with a transpose. This avoids a gather over the full length.
    """
    n = x.shape[-1]
    m = n.bit_length() - 1
    if m <= 1:
        return x
    m1 = m // 2
    m2 = m - m1
    lead = x.shape[:-1]
    y = x.reshape(*lead, 1 << m1, 1 << m2)
    y = jnp.take(y, bitrev_indices(m1), axis=-2)
    y = jnp.take(y, bitrev_indices(m2), axis=-1)
    return jnp.swapaxes(y, -1, -2).reshape(x.shape)


def complex_dtype(dtype) -> jnp.dtype:
    """The complex type that ``fftbr`` returns for inputs of ``dtype``."""
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return dtype
    return jnp.dtype(jnp.complex128 if dtype == jnp.float64 else jnp.complex64)


def _as_complex(x: Array) -> Array:
    return x.astype(complex_dtype(x.dtype))


def _fft(x: Array, kind: str) -> Array:
    """Ortho-normalized ``"fft"``, ``"ifft"`` or ``"rfft"`` over the last axis.

    Uses ``lax.fft`` and a Python-float scale: ``jnp.fft``'s ``norm="ortho"``
    embeds the length as an array constant, which ``linear_call`` captures and
    which then leaks as a tracer in second-order reverse mode under
    ``jax.jit`` (JAX 0.10.2).
    """
    n = x.shape[-1]
    y = lax.fft(x, kind, (n,))
    # XLA's inverse FFT already divides by n.
    return y * (math.sqrt(n) if kind == "ifft" else 1.0 / math.sqrt(n))


def fftbr_reference(x: Inexact[Array, "*batch n"]) -> Complex[Array, "*batch n"]:
    """``F P x / sqrt(n)`` along the last axis (the definition)."""
    m = x.shape[-1].bit_length() - 1
    xb = jnp.take(_as_complex(x), bitrev_indices(m), axis=-1)
    return _fft(xb, "fft")


def ifftbr_reference(x: Inexact[Array, "*batch n"]) -> Complex[Array, "*batch n"]:
    """``P conj(F) x / sqrt(n)`` along the last axis (the definition)."""
    m = x.shape[-1].bit_length() - 1
    y = _fft(_as_complex(x), "ifft")
    return jnp.take(y, bitrev_indices(m), axis=-1)


def _fft_real(x: Array) -> Array:
    """``fft(x, norm="ortho")`` of real ``x`` from ``rfft`` and Hermitian symmetry."""
    n = x.shape[-1]
    y = _fft(x, "rfft")
    if n <= 2:
        return y
    tail = jnp.conj(jnp.flip(y[..., 1 : n // 2], axis=-1))
    return jnp.concatenate([y, tail], axis=-1)


def apply_xla(x: Inexact[Array, "*batch n"], kind: str) -> Inexact[Array, "*batch n"]:
    """Apply one of :data:`KINDS` along the last axis with ``lax.fft`` (the XLA path).

    Real input is allowed for ``"fftbr"`` only (it returns complex); the other
    kinds expect complex input.
    """
    if x.shape[-1] == 1:
        return _as_complex(x)
    if kind == "fftbr":
        if jnp.issubdtype(x.dtype, jnp.complexfloating):
            return _fft(bitrev(x), "fft")
        return _fft_real(bitrev(x)).astype(complex_dtype(x.dtype))
    x = _as_complex(x)
    if kind == "ifftbr":
        return bitrev(_fft(x, "ifft"))
    if kind == "fftbr_t":
        return bitrev(_fft(x, "fft"))
    if kind == "ifftbr_t":
        return _fft(bitrev(x), "ifft")
    raise ValueError(f"unknown kind {kind!r}")
