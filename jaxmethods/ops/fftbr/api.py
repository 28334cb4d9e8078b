"""Public FFT in bit-reversed order: checks, ``impl`` dispatch and autodiff rules."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.custom_derivatives import linear_call
from jaxtyping import Array, ArrayLike, Complex, Inexact

from ..fwht.api import check_transform_axis, resolve_impl
from .pallas_gpu import fft_pallas
from .reference import TRANSPOSE, apply_xla, complex_dtype


# Largest row that "auto" sends to the one-pass Pallas kernel: none. On an
# H200 (benchmarks/RESULTS.md) the kernel was slower than cuFFT plus the
# bit-reversal pass at every size tried (2^10 to 2^13), so "auto" is XLA.
AUTO_PALLAS_MAX_N = 0


def _apply(x: Array, kind: str, impl: str) -> Array:
    """One of the four maps along the last axis (no AD rules)."""
    if impl == "xla" or x.size == 0:
        return apply_xla(x, kind)
    n = x.shape[-1]
    out_dtype = complex_dtype(x.dtype)
    flat = x.reshape(-1, n)
    xr = jnp.real(flat).astype(jnp.float32)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        xi = jnp.imag(flat).astype(jnp.float32)
    else:
        xi = jnp.zeros_like(xr)
    yr, yi = fft_pallas(xr, xi, kind, interpret=impl == "pallas_interpret")
    return jax.lax.complex(yr, yi).reshape(x.shape).astype(out_dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _fft(x: Array, kind: str, impl: str) -> Array:
    return _apply(x, kind, impl)


@_fft.defjvp
def _fft_jvp(kind, impl, primals, tangents):
    (x,), (t,) = primals, tangents
    real_in = not jnp.issubdtype(x.dtype, jnp.complexfloating)

    def op(_, v):
        return _fft(v, kind, impl)

    def op_transpose(_, ct):
        # JAX's transpose (no conjugation). For real input the map is
        # x -> A complex(x), whose transpose is ct -> real(A^T ct).
        y = _fft(ct, TRANSPOSE[kind], impl)
        return jnp.real(y) if real_in else y

    return _fft(x, kind, impl), linear_call(op, op_transpose, None, t)


def _prepare(fn: str, x: ArrayLike, axis: int, impl: str):
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise TypeError(
            f"{fn}: x must be a floating or complex array, got {x.dtype}; "
            "convert it first, e.g. x.astype(jnp.float32)"
        )
    if x.dtype in (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16)):
        x = x.astype(jnp.float32)  # jnp.fft has no half-precision transforms
    axis, n = check_transform_axis(fn, x, axis)
    impl = resolve_impl(fn, impl, complex_dtype(x.dtype), n, AUTO_PALLAS_MAX_N)
    return x, axis, impl


def _run(x: Array, axis: int, kind: str, impl: str) -> Array:
    last = axis == x.ndim - 1
    xm = x if last else jnp.moveaxis(x, axis, -1)
    y = _fft(xm, kind, impl)
    return y if last else jnp.moveaxis(y, -1, axis)


def fftbr(
    x: Inexact[ArrayLike, "*batch n"], *, axis: int = -1, impl: str = "auto"
) -> Complex[Array, "*batch n"]:
    r"""FFT of input given in bit-reversed order, orthonormal (QMCPy's `fftbr`).

    Computes $y = F P x / \sqrt{n}$ along one axis, where
    $F_{jk} = e^{-2\pi i jk/n}$ is the DFT matrix and $P$ the bit-reversal
    permutation of $\log_2 n$ bits, $(Px)_i = x_{\mathrm{bitrev}(i)}$. That is
    `numpy.fft.fft(x[..., bitrev], norm="ortho")`, the decimation-in-time FFT
    without its first (permutation) step. Lattice points in QMCPy's default
    radical-inverse order come in this order, and `fftbr` of the first column
    of a shift-invariant kernel matrix gives its eigenvalues (fast Bayesian
    cubature). The inverse is [`ifftbr`][jaxmethods.ops.ifftbr]:
    `ifftbr(fftbr(x)) == x`. Cost $O(n \log n)$ per row.

    Real input is accepted (as in QMCPy) and gives a complex result:
    float32 gives complex64 and float64 gives complex128; float16 and
    bfloat16 are computed in float32. Complex input keeps its dtype.

    It is linear and differentiable in both modes, any order. The transpose
    used by reverse mode is $P F / \sqrt{n}$ (not the inverse: $F$ is
    symmetric but not real), and for real input the cotangent's real part is
    taken, as JAX does for a real-to-complex cast.

    Args:
        x: floating or complex array of any shape; the length of `axis` must
            be a power of two.
        axis: the axis to transform (static).
        impl: implementation (static). `"xla"`: `jnp.fft` on the permuted
            input. `"pallas"`: one-pass radix-2 Pallas kernel on a CUDA GPU
            (compute float32; results are cast back to the output dtype).
            `"pallas_interpret"`: the same kernel in Pallas interpret mode,
            for tests on CPU. `"auto"`: `"xla"` (on an H200 the Pallas
            kernel was slower than cuFFT plus the bit-reversal pass).

    Returns:
        Complex array of the same shape as `x`.

    Raises:
        TypeError: if `x` is not a floating or complex array.
        ValueError: if the length of `axis` is not a power of two, `axis` is
            out of range, `impl` is unknown, or `impl="pallas"` is asked for
            without a GPU.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.ops import fftbr, ifftbr
        >>> y = fftbr(jnp.arange(4.0))
        >>> y.dtype
        dtype('complex64')
        >>> y.real
        Array([ 3. , -0.5, -2. , -0.5], dtype=float32)
        >>> bool(jnp.allclose(ifftbr(y), jnp.arange(4.0)))
        True

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        S.-C. T. Choi, F. J. Hickernell, R. Jagadeeswaran, M. J. McCourt and
        A. G. Sorokin, "Quasi-Monte Carlo software", in *Monte Carlo and
        Quasi-Monte Carlo Methods (MCQMC 2020)*, Springer, 2022.
        arXiv:2102.07833.

        R. Jagadeeswaran and F. J. Hickernell, "Fast automatic Bayesian
        cubature using lattice sampling", *Statistics and Computing* 29,
        1215–1229, 2019.

        J. W. Cooley and J. W. Tukey, "An algorithm for the machine
        calculation of complex Fourier series", *Mathematics of Computation*
        19, 297–301, 1965.
    """
    x, axis, impl = _prepare("fftbr", x, axis, impl)
    return _run(x, axis, "fftbr", impl)


def ifftbr(
    x: Inexact[ArrayLike, "*batch n"], *, axis: int = -1, impl: str = "auto"
) -> Complex[Array, "*batch n"]:
    r"""Inverse FFT with output in bit-reversed order, orthonormal (QMCPy's `ifftbr`).

    Computes $y = P \bar F x / \sqrt{n}$ along one axis, i.e.
    `numpy.fft.ifft(x, norm="ortho")[..., bitrev]`: the inverse of
    [`fftbr`][jaxmethods.ops.fftbr], so `ifftbr(fftbr(x)) == x` and
    `fftbr(ifftbr(x)) == x`. Cost $O(n \log n)$ per row.

    Input dtypes and the result dtype are as for `fftbr` (real input is
    treated as complex with zero imaginary part). Linear and differentiable
    in both modes, any order; the transpose used by reverse mode is
    $\bar F P / \sqrt{n}$.

    Args:
        x: floating or complex array of any shape; the length of `axis` must
            be a power of two.
        axis: the axis to transform (static).
        impl: implementation (static): `"auto"`, `"xla"`, `"pallas"` or
            `"pallas_interpret"`, as for `fftbr`.

    Returns:
        Complex array of the same shape as `x`.

    Raises:
        TypeError: if `x` is not a floating or complex array.
        ValueError: if the length of `axis` is not a power of two, `axis` is
            out of range, `impl` is unknown, or `impl="pallas"` is asked for
            without a GPU.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.ops import ifftbr
        >>> ifftbr(jnp.ones(4)).real
        Array([2., 0., 0., 0.], dtype=float32)

    References:
        A. G. Sorokin, "QMCPy: A Python Software for Randomized Low-Discrepancy
        Sequences, Quasi-Monte Carlo, and Fast Kernel Methods" (2025),
        arXiv:2502.14256.

        S.-C. T. Choi, F. J. Hickernell, R. Jagadeeswaran, M. J. McCourt and
        A. G. Sorokin, "Quasi-Monte Carlo software", in *Monte Carlo and
        Quasi-Monte Carlo Methods (MCQMC 2020)*, Springer, 2022.
        arXiv:2102.07833.

        R. Jagadeeswaran and F. J. Hickernell, "Fast automatic Bayesian
        cubature using lattice sampling", *Statistics and Computing* 29,
        1215–1229, 2019.
    """
    x, axis, impl = _prepare("ifftbr", x, axis, impl)
    x = x.astype(complex_dtype(x.dtype))
    return _run(x, axis, "ifftbr", impl)
