"""Public causal FFT convolution: argument checks and the XLA path.

The XLA path (``jnp.fft``) is differentiable in both modes by JAX's own rules
for ``rfft``/``irfft``, which are linear.
"""

from __future__ import annotations

from typing import Literal, get_args

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .reference import (
    fft_bidirectional_conv_reference,
    fft_causal_conv_reference,
    next_fast_len,
)


Impl = Literal["auto", "xla"]
IMPLS: tuple[str, ...] = get_args(Impl)


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
    ``u`` and in ``k`` (bilinear jointly) and differentiable in forward and
    reverse mode with respect to both.

    float32 and float64 inputs are transformed in their own precision;
    bfloat16 and float16 are transformed in float32 and the result is cast
    back. ``u`` and ``k`` are promoted to a common float dtype.

    Args:
        u: input sequences, shape ``(*batch, H, L)``.
        k: kernels, shape ``(H, Lk)`` or ``(C, H, Lk)`` with ``Lk <= L``
            (``C`` kernel channels applied to every ``u`` channel, as in
            LongConv).
        fft_size: FFT length $n \ge L + L_k - 1$ (static), or ``None``.
        impl: ``"auto"`` or ``"xla"`` (``jnp.fft``; the only path so far).

    Returns:
        ``(*batch, H, L)`` for a 2-D ``k``, ``(*batch, C, H, L)`` for a 3-D
        ``k``, in the promoted dtype.

    Raises:
        ValueError: ``k`` longer than ``u``, mismatched ``H``, bad ranks, an
            ``fft_size`` too small to be causal, or an unknown ``impl``.
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
    u, k, fft_size, dtype, work = _prologue(
        "fft_causal_conv", u, k, fft_size, impl, extra=0
    )
    y = fft_causal_conv_reference(u.astype(work), k.astype(work), fft_size)
    return y.astype(dtype)


def _prologue(fn: str, u, k, fft_size, impl, *, extra: int):
    """Checks shared by the convolutions; returns ``(u, k, n, dtype, work dtype)``.

    ``extra`` is the number of FFT points the op needs beyond ``L + Lk - 1``
    (1 for the two-sided convolution).
    """
    if impl not in IMPLS:
        raise ValueError(f"{fn}: impl must be one of {IMPLS}, got {impl!r}")
    u = jnp.asarray(u)
    k = jnp.asarray(k)
    for name, a in (("u", u), ("k", k)):
        if not jnp.issubdtype(a.dtype, jnp.floating):
            raise TypeError(f"{fn}: {name} must be a real float array, got {a.dtype}")
    if u.ndim < 2:
        raise ValueError(f"{fn}: u must have shape (..., H, L), got {u.shape}")
    if k.ndim not in (2, 3):
        raise ValueError(
            f"{fn}: k must have shape (H, Lk) or (C, H, Lk), got {k.shape}"
        )
    h, length = u.shape[-2:]
    if k.shape[-2] != h:
        raise ValueError(f"{fn}: k has H={k.shape[-2]} channels but u has H={h}")
    lk = k.shape[-1]
    if not 1 <= lk <= length:
        raise ValueError(
            f"{fn}: the kernel length must be between 1 and L={length}, got {lk}"
        )
    need = length + lk - 1 + extra
    if fft_size is None:
        fft_size = next_fast_len(need)
    elif not isinstance(fft_size, int) or fft_size < need:
        raise ValueError(
            f"{fn}: fft_size must be an int >= {need} for a linear (non-circular) "
            f"convolution, got {fft_size!r}"
        )
    dtype = jnp.promote_types(u.dtype, k.dtype)
    work = dtype if jnp.finfo(dtype).bits >= 32 else jnp.dtype(jnp.float32)
    return u, k, fft_size, dtype, work


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
        impl: ``"auto"`` or ``"xla"``.

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
    u, k_fwd, fft_size, dtype, work = _prologue(
        "fft_bidirectional_conv", u, k_fwd, fft_size, impl, extra=1
    )
    if not jnp.issubdtype(k_bwd.dtype, jnp.floating):
        raise TypeError(
            f"fft_bidirectional_conv: k_bwd must be float, got {k_bwd.dtype}"
        )
    dtype = jnp.promote_types(dtype, k_bwd.dtype)
    work = dtype if jnp.finfo(dtype).bits >= 32 else jnp.dtype(jnp.float32)
    y = fft_bidirectional_conv_reference(
        u.astype(work), k_fwd.astype(work), k_bwd.astype(work), fft_size
    )
    return y.astype(dtype)
