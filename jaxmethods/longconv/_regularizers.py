r"""Kernel regularizers of LongConv: Squash (soft-thresholding) and smoothing.

In the official ``LongConvKernel`` the learned kernel goes through
smoothing, then Squash, then kernel dropout on every forward pass; these are
the first two, as pure functions. Smoothing comes in the official two kinds:
a moving average in time (``mode="avgpool"``) and a Gaussian-weighted
smoothing of the spectrum (``mode="freq_gauss"``, ``smooth_freq=True``).
"""

from __future__ import annotations

from typing import Literal, get_args

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


def squash(
    k: Float[ArrayLike, "*shape"], lam: Float[ArrayLike, ""]
) -> Float[Array, "*shape"]:
    r"""Squash: soft-thresholding, $\operatorname{sign}(k)\max(|k| - \lambda, 0)$.

    Entries smaller than $\lambda$ in magnitude become exactly zero and the
    others shrink towards zero by $\lambda$, which makes the learned long
    kernels sparse and smooth (the paper's ablations: without it, long
    convolutions overfit and their kernels look like noise). The official
    default is $\lambda = 0.003$. Differentiable almost everywhere (gradient
    1 outside $[-\lambda, \lambda]$, 0 inside).

    Args:
        k: kernel values, any shape.
        lam: threshold $\lambda \ge 0$ (a scalar; may be traced).

    Returns:
        The squashed kernel, shape and dtype of ``k``.

    Raises:
        TypeError: non-float ``k``.
        ValueError: ``lam`` not a scalar, or negative when concrete.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.longconv import squash
        >>> print(squash(jnp.array([-0.5, -0.1, 0.0, 0.2, 1.0]), 0.25).tolist())
        [-0.25, -0.0, 0.0, 0.0, 0.75]

    References:
        Fu, Epstein, Nguyen, Thomas, Zhang, Dao, Rudra and Ré, "Simple
        Hardware-Efficient Long Convolutions for Sequence Modeling", ICML
        2023. arXiv:2302.06646.
    """
    k = jnp.asarray(k)
    if not jnp.issubdtype(k.dtype, jnp.floating):
        raise TypeError(f"squash: k must be a float array, got {k.dtype}")
    lam = jnp.asarray(lam)
    if lam.ndim != 0:
        raise ValueError(f"squash: lam must be a scalar, got shape {lam.shape}")
    try:
        if float(lam) < 0:
            raise ValueError(f"squash: lam must be >= 0, got {float(lam)}")
    except TypeError:  # traced
        pass
    lam = lam.astype(k.dtype)
    return jnp.sign(k) * jnp.maximum(jnp.abs(k) - lam, jnp.zeros((), k.dtype))


SmoothMode = Literal["avgpool", "freq_gauss"]
SMOOTH_MODES: tuple[str, ...] = get_args(SmoothMode)


def smooth_kernel(
    k: Float[ArrayLike, "*batch L"], *, window: int = 7, mode: SmoothMode = "avgpool"
) -> Float[Array, "*batch L"]:
    r"""Smooth a kernel along its last axis, in time or in frequency.

    ``mode="avgpool"`` (the default) is a centered moving average,
    $\tilde k_t = \frac1w \sum_{j=-(w-1)/2}^{(w-1)/2} k_{t+j}$ with zeros
    beyond both ends, always divided by $w$: the official ``AvgPool1d(w,
    stride=1, padding=(w-1)/2)`` with PyTorch's default
    ``count_include_pad=True``, so the first and last $(w-1)/2$ entries shrink
    towards zero.

    ``mode="freq_gauss"`` is the official ``smooth_freq=True`` option: with
    $K = \operatorname{rfft}(k)$ ($F = \lfloor L/2 \rfloor + 1$ bins),
    $\tilde K_f = \sum_{i=0}^{w-1} g_i K_{f + i - c}$ with $c = \lfloor w/2
    \rfloor$, $g_i = e^{-(i - c)^2/2}$ and $K$ zero outside $[0, F)$ (a
    ``'same'`` convolution along frequency, of the real and the imaginary
    parts alike), then $\tilde k = \operatorname{irfft}(\tilde K, n=L)$. As in
    the official code the weights are **not** normalised: they sum to
    $2.5059$ (nearly $\sqrt{2\pi}$) for $w = 7$, so the kernel grows by
    up to that factor before Squash. Smoothing the spectrum multiplies the
    kernel in time by a window that is largest at the first and last lags and
    nearly zero in the middle ($\approx g_c + 2\sum_{d \ge 1} g_{c+d}
    \cos(2\pi d t / L)$ away from the spectrum's edges), i.e. it favours
    short (and, by wrap-around, the very last) lags; it is not a low-pass
    filter of the kernel. The official code calls ``irfft`` without ``n`` and
    so drops the last entry of an odd-length kernel; here the length is kept.

    Both modes are linear, so differentiable in both modes. The official
    default window is 7.

    Args:
        k: kernels, shape ``(..., L)``.
        window: odd window length $w \ge 1$ (static).
        mode: ``"avgpool"`` or ``"freq_gauss"`` (static).

    Returns:
        The smoothed kernels, shape and dtype of ``k`` (``"freq_gauss"`` runs
        its FFTs in float32 for bfloat16/float16 input).

    Raises:
        TypeError: non-float ``k``.
        ValueError: an even or non-positive ``window``, an unknown ``mode``,
            or ``k`` without an axis.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.longconv import smooth_kernel
        >>> print(smooth_kernel(jnp.array([0.0, 3.0, 0.0, 0.0]), window=3).tolist())
        [1.0, 1.0, 1.0, 0.0]
        >>> k = jnp.zeros(16).at[0].set(1.0)  # flat spectrum
        >>> y = smooth_kernel(k, mode="freq_gauss")
        >>> print(round(float(y[0]), 4), round(float(y[2]), 4))
        2.3724 -0.12

    References:
        Fu, Epstein, Nguyen, Thomas, Zhang, Dao, Rudra and Ré, "Simple
        Hardware-Efficient Long Convolutions for Sequence Modeling", ICML
        2023. arXiv:2302.06646. Official code: HazyResearch/safari,
        ``src/models/sequence/long_conv_kernel.py`` (``LongConvKernel``).
    """
    k = jnp.asarray(k)
    if not jnp.issubdtype(k.dtype, jnp.floating):
        raise TypeError(f"smooth_kernel: k must be a float array, got {k.dtype}")
    if k.ndim < 1:
        raise ValueError("smooth_kernel: k must have at least one axis")
    if not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ValueError(
            f"smooth_kernel: window must be an odd int >= 1, got {window!r}"
        )
    if mode not in SMOOTH_MODES:
        raise ValueError(
            f"smooth_kernel: mode must be one of {SMOOTH_MODES}, got {mode!r}"
        )
    if mode == "freq_gauss":
        return _smooth_freq_gauss(k, window)
    half = window // 2
    pad = [(0, 0)] * (k.ndim - 1) + [(half, half)]
    kp = jnp.pad(k, pad)
    length = k.shape[-1]
    total = kp[..., 0:length]
    for j in range(1, window):
        total = total + kp[..., j : j + length]
    return (total / window).astype(k.dtype)


def _gauss_freq_weights(window: int) -> np.ndarray:
    """The official smoothing weights ``exp(-(i - w//2)^2 / 2)`` (unnormalised)."""
    i = np.arange(window, dtype=np.float64)
    return np.exp(-0.5 * (i - window // 2) ** 2)


def _smooth_freq_gauss(k: Array, window: int) -> Array:
    length = k.shape[-1]
    work = k.dtype if jnp.finfo(k.dtype).bits >= 32 else jnp.dtype(jnp.float32)
    kf = jnp.fft.rfft(k.astype(work), axis=-1)
    nf = kf.shape[-1]
    half = window // 2
    kp = jnp.pad(kf, [(0, 0)] * (k.ndim - 1) + [(half, half)])
    weights = _gauss_freq_weights(window)
    total = jnp.zeros_like(kf)
    for i in range(window):
        # The weights are symmetric, so correlation (torch conv1d) = convolution.
        total = total + kp[..., i : i + nf] * jnp.asarray(weights[i], kf.dtype)
    return jnp.fft.irfft(total, n=length, axis=-1).astype(k.dtype)
