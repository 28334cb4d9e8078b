r"""Kernel regularizers of LongConv: Squash (soft-thresholding) and smoothing.

In the official ``LongConvKernel`` the learned kernel goes through
smoothing, then Squash, then kernel dropout on every forward pass; these are
the first two, as pure functions.
"""

from __future__ import annotations

import jax.numpy as jnp
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


def smooth_kernel(
    k: Float[ArrayLike, "*batch L"], *, window: int = 7
) -> Float[Array, "*batch L"]:
    r"""Smooth a kernel along its last axis by a centered moving average.

    $\tilde k_t = \frac1w \sum_{j=-(w-1)/2}^{(w-1)/2} k_{t+j}$ with zeros
    beyond both ends, always divided by $w$: the official ``AvgPool1d(w,
    stride=1, padding=(w-1)/2)`` with PyTorch's default
    ``count_include_pad=True``, so the first and last $(w-1)/2$ entries shrink
    towards zero. The official default window is 7. Linear, so differentiable
    in both modes.

    Args:
        k: kernels, shape ``(..., L)``.
        window: odd window length $w \ge 1$ (static).

    Returns:
        The smoothed kernels, shape and dtype of ``k``.

    Raises:
        TypeError: non-float ``k``.
        ValueError: an even or non-positive ``window``, or ``k`` without an
            axis.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxmethods.longconv import smooth_kernel
        >>> print(smooth_kernel(jnp.array([0.0, 3.0, 0.0, 0.0]), window=3).tolist())
        [1.0, 1.0, 1.0, 0.0]

    References:
        Fu, Epstein, Nguyen, Thomas, Zhang, Dao, Rudra and Ré, "Simple
        Hardware-Efficient Long Convolutions for Sequence Modeling", ICML
        2023. arXiv:2302.06646.
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
    half = window // 2
    pad = [(0, 0)] * (k.ndim - 1) + [(half, half)]
    kp = jnp.pad(k, pad)
    length = k.shape[-1]
    total = kp[..., 0:length]
    for j in range(1, window):
        total = total + kp[..., j : j + length]
    return (total / window).astype(k.dtype)
