"""Public long convolutions: argument checks, ``impl`` dispatch and autodiff rules.

The XLA path (``jnp.fft``) is differentiable in both modes by JAX's own rules
for ``rfft``/``irfft``, which are linear. The Pallas Monarch kernel is wrapped
in a ``custom_vjp`` whose backward pass in ``u`` is the same kernel on the
time-reversed cotangent (the adjoint of a causal convolution is the
correlation) and whose backward pass in the spectrum is the XLA path. Reverse
mode works to any order; forward mode through the Pallas path is refused by
JAX with a ``TypeError`` (``linear_call``, the forward-mode alternative, has
no batching rule, so it would break ``vmap``).
"""

from __future__ import annotations

import functools
import math
from typing import Literal, get_args

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Inexact

from ..fwht.api import pallas_gpu_available
from .monarch import monarch_permutation
from .pallas_gpu import conv_factors, monarch_conv_pallas, supported_on_gpu
from .reference import (
    fft_bidirectional_conv_reference,
    fft_causal_conv_reference,
    next_fast_len,
)


Impl = Literal["auto", "xla", "pallas", "pallas_interpret"]
IMPLS: tuple[str, ...] = get_args(Impl)
_LOW = (jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16))


def fft_causal_conv(
    u: Float[ArrayLike, "*batch H L"],
    k: Float[ArrayLike, "*C H Lk"],
    *,
    fft_size: int | None = None,
    impl: Impl = "auto",
) -> Float[Array, "*batch *C H L"]:
    r"""Causal long convolution by FFT, $y_t = \sum_{s=0}^{t} k_s\, u_{t-s}$.

    Computes ``irfft(rfft(u, n) * rfft(k, n), n)[..., :L]`` with the FFT size
    $n \ge L + L_k - 1$: the zero padding makes the circular convolution equal
    the linear one, so no output depends on a later input (without it the
    convolution wraps around and leaks the future, the most common bug of
    long-convolution ports). Any $L$ works; by default $n$ is the smallest
    $2^a3^b5^c \ge L + L_k - 1$. Cost $O(n \log n)$ per channel. Linear in
    ``u`` and in ``k`` (bilinear jointly). The XLA path is differentiable in
    forward and reverse mode with respect to both; the Pallas path in reverse
    mode (to any order), and forward mode through it raises ``TypeError``.

    The Pallas path is the Monarch kernel of
    [`monarch_causal_conv`][jaxmethods.ops.monarch_causal_conv] with
    $n \ge 2L$ (by default the smallest power of two), the kernel spectrum
    computed on the fly by
    [`monarch_kernel_spectrum`][jaxmethods.ops.monarch_kernel_spectrum].

    float32 and float64 inputs are transformed in their own precision;
    bfloat16 and float16 are transformed in float32 and the result is cast
    back. ``u`` and ``k`` are promoted to a common float dtype.

    Args:
        u: input sequences, shape ``(*batch, H, L)``.
        k: kernels, shape ``(H, Lk)`` or ``(C, H, Lk)`` with ``Lk <= L``
            (``C`` kernel channels applied to every ``u`` channel, as in
            LongConv).
        fft_size: FFT length $n \ge L + L_k - 1$ (static), or ``None``;
            the Pallas path needs $n \ge 2L$ with an even leading radix.
        impl: ``"xla"`` (``jnp.fft``); ``"pallas"`` (the Monarch kernel on a
            CUDA GPU, float32/bfloat16); ``"pallas_interpret"`` (the same
            kernel in interpret mode, any float dtype); ``"auto"``:
            ``"pallas"`` on a CUDA GPU of compute capability >= 8.0 for
            float32/bfloat16 data when the power-of-two size $n \ge 2L$
            splits into radices the compiled kernel supports (first >= 32,
            others >= 16, i.e. $n \ge 512$), else ``"xla"``.

    Returns:
        ``(*batch, H, L)`` for a 2-D ``k``, ``(*batch, C, H, L)`` for a 3-D
        ``k``, in the promoted dtype.

    Raises:
        ValueError: ``k`` longer than ``u``, mismatched ``H``, bad ranks, an
            ``fft_size`` too small to be causal (or, for the Pallas path,
            below $2L$ or with an odd leading radix), an unknown ``impl``, or
            ``impl="pallas"`` without a GPU or with float64 data.
        TypeError: non-float inputs.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.ops import fft_causal_conv
        >>> u = jnp.array([[1.0, 2.0, 3.0, 4.0]])
        >>> k = jnp.array([[1.0, -1.0]])
        >>> print(fft_causal_conv(u, k).round(5).tolist())
        [[1.0, 1.0, 1.0, 1.0]]

    References:
        Fu, Epstein, Nguyen, Thomas, Zhang, Dao, Rudra and Ré, "Simple
        Hardware-Efficient Long Convolutions for Sequence Modeling", ICML
        2023. arXiv:2302.06646.
    """
    u, k, dtype, work = _prologue("fft_causal_conv", u, k, impl)
    path, n = _route(
        "fft_causal_conv", impl, dtype, u.shape[-1], k.shape[-1], fft_size, 0
    )
    if path == "xla":
        y = fft_causal_conv_reference(u.astype(work), k.astype(work), n)
    else:
        factors = conv_factors(n)
        spec = _spectrum(k.astype(work), factors)
        y = _monarch_conv(u, spec, factors, path, squeeze=k.ndim == 2)
    return y.astype(dtype)


def _prologue(fn: str, u, k, impl):
    """Checks shared by the convolutions; returns ``(u, k, dtype, work dtype)``."""
    if impl not in IMPLS:
        raise ValueError(f"{fn}: impl must be one of {IMPLS}, got {impl!r}")
    u = jnp.asarray(u)
    k = jnp.asarray(k)
    if not jnp.issubdtype(k.dtype, jnp.floating):
        raise TypeError(f"{fn}: k must be a real float array, got {k.dtype}")
    length = _check_shapes(fn, u, k, "k", "Lk")
    lk = k.shape[-1]
    if not 1 <= lk <= length:
        raise ValueError(
            f"{fn}: the kernel length must be between 1 and L={length}, got {lk}"
        )
    dtype = jnp.promote_types(u.dtype, k.dtype)
    return u, k, dtype, _work_dtype(dtype)


def _check_shapes(fn: str, u: Array, k: Array, name: str, last: str) -> int:
    """Check ``u (..., H, L)`` (float) against ``k (H, last)`` or ``(C, H, last)``.

    Returns ``L``.
    """
    if not jnp.issubdtype(u.dtype, jnp.floating):
        raise TypeError(f"{fn}: u must be a real float array, got {u.dtype}")
    if u.ndim < 2:
        raise ValueError(f"{fn}: u must have shape (..., H, L), got {u.shape}")
    if k.ndim not in (2, 3):
        raise ValueError(
            f"{fn}: {name} must have shape (H, {last}) or (C, H, {last}), got {k.shape}"
        )
    h, length = u.shape[-2:]
    if k.shape[-2] != h:
        raise ValueError(f"{fn}: {name} has H={k.shape[-2]} channels but u has H={h}")
    return length


def _work_dtype(dtype):
    return dtype if jnp.finfo(dtype).bits >= 32 else jnp.dtype(jnp.float32)


def _route(fn: str, impl: str, dtype, length: int, lk: int, fft_size, extra: int):
    """Pick the path (``"xla"``, ``"pallas"``, ``"pallas_interpret"``) and FFT size.

    ``extra`` is the number of FFT points the op needs beyond ``L + Lk - 1``
    (1 for the two-sided convolution). The Monarch kernel needs the input in
    the first half of the frame, so its size is ``N >= 2L`` (by default the
    smallest power of two) with an even first radix.
    """
    need = length + lk - 1 + extra
    if fft_size is not None and (not isinstance(fft_size, int) or fft_size < need):
        raise ValueError(
            f"{fn}: fft_size must be an int >= {need} for a linear (non-circular) "
            f"convolution, got {fft_size!r}"
        )
    monarch_n = fft_size if fft_size is not None else 1 << (2 * length - 1).bit_length()
    if impl == "auto":
        if (
            jnp.dtype(dtype) in _LOW
            and monarch_n >= 2 * length
            and monarch_n & (monarch_n - 1) == 0
            and supported_on_gpu(conv_factors(monarch_n))
            and pallas_gpu_available()
        ):
            return "pallas", monarch_n
        impl = "xla"
    if impl == "xla":
        return "xla", fft_size if fft_size is not None else next_fast_len(need)
    _check_pallas(fn, impl, dtype, conv_factors(monarch_n))
    if monarch_n < 2 * length or conv_factors(monarch_n)[0] % 2:
        raise ValueError(
            f"{fn}: impl={impl!r} needs fft_size >= 2L = {2 * length} with an even "
            f"leading radix, got {monarch_n} with radices {conv_factors(monarch_n)}"
        )
    return impl, monarch_n


def _check_pallas(fn: str, impl: str, dtype, factors=None) -> None:
    if impl == "pallas" and factors is not None and not supported_on_gpu(factors):
        raise ValueError(
            f"{fn}: impl='pallas' (Triton) needs power-of-two radices, the first "
            f">= 32 and the others >= 16, got {factors}; use impl='xla' or "
            "'pallas_interpret'"
        )
    if impl == "pallas":
        if jax.default_backend() != "gpu":
            raise ValueError(
                f"{fn}: impl='pallas' needs a CUDA GPU, but the default JAX backend "
                f"is {jax.default_backend()!r}; use impl='pallas_interpret' to run "
                "the same kernel in Pallas interpret mode, or impl='xla'"
            )
        if jnp.dtype(dtype) not in _LOW:
            raise ValueError(
                f"{fn}: impl='pallas' computes in float32 and takes float32 or "
                f"bfloat16 input, got {jnp.dtype(dtype)}; use impl='xla'"
            )


def fft_bidirectional_conv(
    u: Float[ArrayLike, "*batch H L"],
    k_fwd: Float[ArrayLike, "*C H Lk"],
    k_bwd: Float[ArrayLike, "*C H Lk"],
    *,
    fft_size: int | None = None,
    impl: Impl = "auto",
) -> Float[Array, "*batch *C H L"]:
    r"""Two-sided (non-causal) long convolution by FFT.

    $$y_t = \sum_{s=0}^{t} k^{\rightarrow}_s\, u_{t-s}
    + \sum_{s=0}^{L-2-t} k^{\leftarrow}_s\, u_{t+1+s},$$

    the bidirectional LongConv of the official code (safari ``LongConv`` with
    ``bidirectional=True``, whose kernel ``pad(k0, (0, L)) + pad(flip(k1), (L,
    0))`` at FFT size $2L$ is exactly this): ``k_fwd`` acts on the present and
    the past, ``k_bwd`` on the future, from lag 1 on. One FFT product with the
    combined kernel, at size $n \ge L + L_k$ so neither side wraps around.
    Differentiable in both modes; dtypes as
    [`fft_causal_conv`][jaxmethods.ops.fft_causal_conv].

    Args:
        u: input sequences, shape ``(*batch, H, L)``.
        k_fwd: causal kernels, shape ``(H, Lk)`` or ``(C, H, Lk)``.
        k_bwd: anti-causal kernels, the shape of ``k_fwd``.
        fft_size: FFT length $n \ge L + L_k$ (static), or ``None`` for the
            smallest $2^a3^b5^c$ that works.
        impl: as in [`fft_causal_conv`][jaxmethods.ops.fft_causal_conv]
            (the Pallas path convolves with the combined two-sided kernel).

    Returns:
        ``(*batch, H, L)`` or ``(*batch, C, H, L)``.

    Raises:
        ValueError: as [`fft_causal_conv`][jaxmethods.ops.fft_causal_conv], or
            ``k_bwd`` not of ``k_fwd``'s shape.
        TypeError: non-float inputs.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.ops import fft_bidirectional_conv
        >>> u = jnp.array([[0.0, 0.0, 1.0, 0.0, 0.0]])
        >>> k_fwd, k_bwd = jnp.array([[1.0, 0.5]]), jnp.array([[2.0, 3.0]])
        >>> y = fft_bidirectional_conv(u, k_fwd, k_bwd)
        >>> print(y.round(5).tolist())
        [[3.0, 2.0, 1.0, 0.5, 0.0]]

    References:
        Fu et al., "Simple Hardware-Efficient Long Convolutions for Sequence
        Modeling", ICML 2023. arXiv:2302.06646.
    """
    k_bwd = jnp.asarray(k_bwd)
    if jnp.shape(k_fwd) != k_bwd.shape:
        raise ValueError(
            "fft_bidirectional_conv: k_bwd must have the shape of k_fwd, "
            f"{jnp.shape(k_fwd)}, got {k_bwd.shape}"
        )
    fn = "fft_bidirectional_conv"
    u, k_fwd, dtype, _ = _prologue(fn, u, k_fwd, impl)
    if not jnp.issubdtype(k_bwd.dtype, jnp.floating):
        raise TypeError(f"{fn}: k_bwd must be float, got {k_bwd.dtype}")
    dtype = jnp.promote_types(dtype, k_bwd.dtype)
    work = _work_dtype(dtype)
    path, n = _route(fn, impl, dtype, u.shape[-1], k_fwd.shape[-1], fft_size, 1)
    k_fwd, k_bwd = k_fwd.astype(work), k_bwd.astype(work)
    if path == "xla":
        y = fft_bidirectional_conv_reference(u.astype(work), k_fwd, k_bwd, n)
    else:
        gap = jnp.zeros(k_fwd.shape[:-1] + (n - 2 * k_fwd.shape[-1],), work)
        full = jnp.concatenate([k_fwd, gap, jnp.flip(k_bwd, axis=-1)], axis=-1)
        factors = conv_factors(n)
        spec = _spectrum(full, factors)
        y = _monarch_conv(u, spec, factors, path, squeeze=k_fwd.ndim == 2)
    return y.astype(dtype)


def _spectrum(k: Array, factors: tuple[int, ...]) -> Array:
    """``fft(k, N)`` in the permuted layout of ``factors`` (an FFT, then a gather)."""
    n = math.prod(factors)
    perm = jnp.asarray(monarch_permutation(factors).astype(np.int32))
    return jnp.take(jnp.fft.fft(k, n=n, axis=-1), perm, axis=-1)


def _conv_xla(u: Array, spec: Array, factors: tuple[int, ...]) -> Array:
    """``Re(ifft(fft(u, N) * spec_natural))[..., :L]``: the XLA path, linear in both."""
    n = math.prod(factors)
    length = u.shape[-1]
    inv = jnp.asarray(np.argsort(monarch_permutation(factors)).astype(np.int32))
    spec_nat = jnp.take(spec, inv, axis=-1)
    uf = jnp.fft.fft(u, n=n, axis=-1)
    spec_nat = spec_nat.reshape((1,) * (uf.ndim - spec_nat.ndim) + spec_nat.shape)
    return jnp.real(jnp.fft.ifft(uf * spec_nat, axis=-1))[..., :length]


def _conv_pallas(
    u: Array, spec: Array, factors: tuple[int, ...], impl: str, low: bool
) -> Array:
    """``u (B, C, H, L)``, ``spec (C, H, N)`` -> ``(B, C, H, L)`` through the kernel."""
    b, c, h, length = u.shape
    n = math.prod(factors)
    # bfloat16 operands for the DFT matmuls when the caller's data was bfloat16.
    rows = u.reshape(b, c * h, length).astype(jnp.bfloat16 if low else u.dtype)
    if length < n // 2:
        rows = jnp.pad(rows, ((0, 0), (0, 0), (0, n // 2 - length)))
    real = spec.real.dtype
    y = monarch_conv_pallas(
        rows,
        spec.real.reshape(c * h, n).astype(real),
        spec.imag.reshape(c * h, n).astype(real),
        factors=factors,
        interpret=impl == "pallas_interpret",
    )
    return y[..., :length].reshape(u.shape).astype(u.dtype)


def _mconv(u: Array, spec: Array, factors, impl: str, low: bool) -> Array:
    if impl == "xla":  # plain jnp: every transformation, both AD modes
        return _conv_xla(u, spec, factors)
    return _mconv_pallas(u, spec, factors, impl, low)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _mconv_pallas(
    u: Array, spec: Array, factors: tuple[int, ...], impl: str, low: bool
) -> Array:
    return _conv_pallas(u, spec, factors, impl, low)


def _mconv_pallas_fwd(u, spec, factors, impl, low):
    # The custom_vjp function itself, not the raw kernel, so that an outer
    # reverse pass (reverse-over-reverse) differentiates through this rule.
    return _mconv_pallas(u, spec, factors, impl, low), (u, spec)


def _mconv_pallas_bwd(factors, impl, low, res, g):
    u, spec = res
    # The adjoint of a causal convolution is the correlation with the same
    # kernel: the same kernel on the time-reversed cotangent. Calling the
    # custom_vjp function again keeps reverse-over-reverse working.
    flipped: Array = _mconv_pallas(jnp.flip(g, axis=-1), spec, factors, impl, low)  # pyright: ignore[reportAssignmentType]
    u_bar = jnp.flip(flipped, axis=-1).astype(u.dtype)
    _, pullback = jax.vjp(lambda s: _conv_xla(u, s, factors), spec)
    (spec_bar,) = pullback(g)
    return u_bar, spec_bar


_mconv_pallas.defvjp(_mconv_pallas_fwd, _mconv_pallas_bwd)


def _monarch_conv(u: Array, spec: Array, factors, path: str, *, squeeze: bool) -> Array:
    """Broadcast ``u (*batch, H, L)`` against ``spec (C, H, N)`` and convolve.

    Returns ``(*batch, C, H, L)``, or ``(*batch, H, L)`` when ``squeeze``
    (a 2-D kernel was given, stored here with ``C = 1``).
    """
    spec = spec.reshape((1,) * (3 - spec.ndim) + spec.shape)
    c, h, _ = spec.shape
    batch = u.shape[:-2]
    length = u.shape[-1]
    real = spec.real.dtype
    flat = u.astype(real).reshape((-1, 1, h, length))
    flat = jnp.broadcast_to(flat, (flat.shape[0], c, h, length))
    low = u.dtype == jnp.bfloat16
    y = _mconv(flat, spec, tuple(factors), path, low)
    out = y.reshape(batch + (c, h, length))
    return out.reshape(batch + (h, length)) if squeeze else out


def monarch_kernel_spectrum(
    k: Float[ArrayLike, "*C H Lk"],
    *,
    factors: tuple[int, ...] | None = None,
) -> Inexact[Array, "*C H N"]:
    r"""The FFT of a causal kernel, in the permuted layout the Monarch conv reads.

    Returns $\hat k = \mathrm{DFT}_N(k \text{ zero-padded to } N)$ with its
    entries in the digit-reversed order of
    [`monarch_fft_permuted`][jaxmethods.ops.monarch_fft_permuted]
    (``monarch_permutation(factors)``), so that
    [`monarch_causal_conv`][jaxmethods.ops.monarch_causal_conv] multiplies it
    pointwise with the permuted spectrum of the input and never un-permutes.
    Compute it once per step and reuse it across batches. Computed with
    ``jnp.fft`` and a gather, so it is exact to rounding and differentiable
    in both modes.

    Args:
        k: kernels, shape ``(H, Lk)`` or ``(C, H, Lk)``.
        factors: radices with product $N \ge 2 L_k$ and an even first
            radix (static). Default: the balanced power-of-two radices
            (blocks of at most 64 points) for the smallest power of two
            $N \ge 2 L_k$. Sequences up to $N/2$ long can then be convolved
            causally.

    Returns:
        Complex spectra, shape ``(H, N)`` or ``(C, H, N)``: complex64 for
        float32, bfloat16 or float16 kernels, complex128 for float64.

    Raises:
        ValueError: bad rank, factors whose product is below $2 L_k$, or an
            odd first radix.
        TypeError: non-float ``k``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.ops import monarch_kernel_spectrum, monarch_permutation
        >>> k = jnp.array([[1.0, 2.0, 0.0, 0.0]])
        >>> s = monarch_kernel_spectrum(k, factors=(4, 2))
        >>> ref = jnp.fft.fft(k, n=8)[:, monarch_permutation((4, 2))]
        >>> print(bool(jnp.allclose(s, ref)))
        True

    References:
        Fu et al., "Simple Hardware-Efficient Long Convolutions for Sequence
        Modeling", ICML 2023 (arXiv:2302.06646); Fu, Kumbong, Nguyen and Ré,
        "FlashFFTConv: Efficient Convolutions for Long Sequences with Tensor
        Cores", ICLR 2024 (arXiv:2311.05189).
    """
    fn = "monarch_kernel_spectrum"
    k = jnp.asarray(k)
    if not jnp.issubdtype(k.dtype, jnp.floating):
        raise TypeError(f"{fn}: k must be a real float array, got {k.dtype}")
    if k.ndim not in (2, 3):
        raise ValueError(
            f"{fn}: k must have shape (H, Lk) or (C, H, Lk), got {k.shape}"
        )
    lk = k.shape[-1]
    factors = _check_factors(fn, factors, 1 << (2 * lk - 1).bit_length())
    n = math.prod(factors)
    if n < 2 * lk:
        raise ValueError(
            f"{fn}: the FFT size prod(factors) = {n} must be >= 2 Lk = {2 * lk}"
        )
    return _spectrum(k.astype(_work_dtype(k.dtype)), factors)


def _check_factors(fn: str, factors, default_n: int) -> tuple[int, ...]:
    if factors is None:
        return conv_factors(default_n)
    factors = tuple(int(f) for f in factors)
    if not factors or any(f < 1 for f in factors):
        raise ValueError(f"{fn}: factors must be positive ints, got {factors}")
    if factors[0] % 2:
        raise ValueError(
            f"{fn}: the first radix must be even (the input fills the first half "
            f"of the FFT frame), got factors {factors}"
        )
    return factors


def monarch_causal_conv(
    u: Float[ArrayLike, "*batch H L"],
    k_spectrum: Inexact[ArrayLike, "*C H N"],
    *,
    factors: tuple[int, ...] | None = None,
    impl: Impl = "auto",
) -> Float[Array, "*batch *C H L"]:
    r"""Causal convolution with a precomputed permuted kernel spectrum (FlashButterfly).

    $y = \operatorname{Re}\, \mathrm{IDFT}_N\bigl(\mathrm{DFT}_N(u) \odot
    \hat k\bigr)[:L]$ where ``k_spectrum`` holds $\hat k$ in the permuted
    layout of ``factors`` (from
    [`monarch_kernel_spectrum`][jaxmethods.ops.monarch_kernel_spectrum]).
    With $N \ge 2L$ and a kernel of length at most $N/2$ this is the causal
    convolution $y_t = \sum_{s \le t} k_s u_{t-s}$ of
    [`fft_causal_conv`][jaxmethods.ops.fft_causal_conv].

    The Pallas path runs the whole FFT, product and inverse FFT of a row in
    one kernel as dense DFT matmuls (real and imaginary parts apart), stage by
    stage in the permuted layout, so nothing is un-permuted and each sequence
    crosses HBM once; it skips the zero half of the input frame and computes
    only the first half of the output. It compiles through Triton on a CUDA
    GPU when every matmul dimension is at least 16 (first radix >= 32, others
    >= 16), and runs anywhere in interpret mode. The XLA path un-permutes the
    spectrum and uses ``jnp.fft``.

    Differentiable in forward and reverse mode with respect to both ``u``
    and ``k_spectrum``: the derivative in ``u`` runs the same kernel (reverse
    mode on the time-reversed cotangent), the one in the spectrum the XLA
    path. Works under ``jit`` and ``vmap``.

    Args:
        u: input sequences, shape ``(*batch, H, L)`` with $2L \le N$.
        k_spectrum: complex spectra, shape ``(H, N)`` or ``(C, H, N)``.
        factors: the radices the spectrum was made with (static); default
            the same default as ``monarch_kernel_spectrum`` for this $N$.
        impl: ``"xla"``; ``"pallas"`` (CUDA GPU, float32/bfloat16 input);
            ``"pallas_interpret"`` (the kernel in interpret mode, any float
            dtype, for tests); ``"auto"``: ``"pallas"`` on a CUDA GPU of
            compute capability >= 8.0 for float32/bfloat16 input and
            supported radices, else ``"xla"``.

    Returns:
        ``(*batch, H, L)`` for a 2-D spectrum, ``(*batch, C, H, L)`` for a
        3-D one, in ``u``'s dtype. float32 and bfloat16 inputs are computed
        in float32 (the Pallas path feeds its matmuls bfloat16 operands for
        bfloat16 input), float64 in float64.

    Raises:
        ValueError: mismatched ``H``, $N < 2L$, factors whose product is not
            $N$ or with an odd first radix, an unknown ``impl``, or
            ``impl="pallas"`` without a GPU or with float64.
        TypeError: non-float ``u`` or a real ``k_spectrum``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.ops import monarch_causal_conv, monarch_kernel_spectrum
        >>> u = jnp.array([[1.0, 2.0, 3.0, 4.0]])
        >>> spec = monarch_kernel_spectrum(jnp.array([[1.0, -1.0, 0.0, 0.0]]))
        >>> y = monarch_causal_conv(u, spec, impl="pallas_interpret")
        >>> print(y.round(4).tolist())
        [[1.0, 1.0, 1.0, 1.0]]

    References:
        Fu et al., "Simple Hardware-Efficient Long Convolutions for Sequence
        Modeling", ICML 2023 (arXiv:2302.06646); Fu, Kumbong, Nguyen and Ré,
        "FlashFFTConv: Efficient Convolutions for Long Sequences with Tensor
        Cores", ICLR 2024 (arXiv:2311.05189).
    """
    fn = "monarch_causal_conv"
    if impl not in IMPLS:
        raise ValueError(f"{fn}: impl must be one of {IMPLS}, got {impl!r}")
    u = jnp.asarray(u)
    spec = jnp.asarray(k_spectrum)
    if not jnp.issubdtype(spec.dtype, jnp.complexfloating):
        raise TypeError(
            f"{fn}: k_spectrum must be complex (from monarch_kernel_spectrum), "
            f"got {spec.dtype}"
        )
    length = _check_shapes(fn, u, spec, "k_spectrum", "N")
    n = spec.shape[-1]
    factors = _check_factors(fn, factors, n)
    if math.prod(factors) != n:
        raise ValueError(f"{fn}: factors {factors} must have product N={n}")
    if n < 2 * length:
        raise ValueError(
            f"{fn}: the spectrum size N={n} must be >= 2L = {2 * length}; make it "
            "with monarch_kernel_spectrum(k, factors=...) for a larger N"
        )
    dtype = u.dtype
    work = _work_dtype(dtype)
    cdtype = jnp.dtype(jnp.complex128 if work == jnp.float64 else jnp.complex64)
    if impl == "auto":
        gpu = jnp.dtype(dtype) in _LOW and supported_on_gpu(factors)
        path = "pallas" if gpu and pallas_gpu_available() else "xla"
    else:
        if impl == "pallas":
            _check_pallas(fn, impl, dtype, factors)
        path = impl
    y = _monarch_conv(u, spec.astype(cdtype), factors, path, squeeze=spec.ndim == 2)
    return y.astype(dtype)
