"""Pure-jnp causal FFT convolution: the definition every other path must match.

``y[..., h, t] = sum_{s=0}^{t} k[h, s] u[..., h, t - s]`` for ``t < L``, computed
as ``irfft(rfft(u, n) * rfft(k, n), n)[..., :L]`` with ``n >= L + Lk - 1``, so
that the circular convolution of the zero-padded signals is the linear one and
no output depends on a later input.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float


def next_fast_len(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n`` (sizes that ducc and cuFFT do fast)."""
    best = 1 << max(n - 1, 0).bit_length()
    f5 = 1
    while f5 < best:
        f35 = f5
        while f35 < best:
            f = f35
            while f < n:
                f *= 2
            best = min(best, f)
            f35 *= 3
        f5 *= 5
    return best


def fft_causal_conv_reference(
    u: Float[Array, "*batch H L"], k: Float[Array, "*C H Lk"], fft_size: int
) -> Float[Array, "*batch *C H L"]:
    """Causal convolution of ``u`` with ``k`` along the last axis, by real FFTs.

    ``k`` of shape ``(H, Lk)`` gives ``(*batch, H, L)``; ``(C, H, Lk)`` gives
    ``(*batch, C, H, L)``. The transform runs in ``u``'s dtype (float32 or
    float64); the caller handles lower precisions.
    """
    length = u.shape[-1]
    uf = jnp.fft.rfft(u, n=fft_size, axis=-1)
    kf = jnp.fft.rfft(k, n=fft_size, axis=-1)
    if k.ndim == 3:
        uf = uf[..., None, :, :]
    kf = kf.reshape((1,) * (uf.ndim - kf.ndim) + kf.shape)
    y = jnp.fft.irfft(uf * kf, n=fft_size, axis=-1)
    return y[..., :length]


def fft_bidirectional_conv_reference(
    u: Float[Array, "*batch H L"],
    k_fwd: Float[Array, "*C H Lk"],
    k_bwd: Float[Array, "*C H Lk"],
    fft_size: int,
) -> Float[Array, "*batch *C H L"]:
    """Two-sided convolution: ``k_fwd`` on lags ``0, 1, ..``, ``k_bwd`` on ``-1, ..``.

    The combined kernel holds ``k_fwd[j]`` at index ``j`` and ``k_bwd[s]`` at
    index ``n - 1 - s`` (lag ``-(1 + s)``); ``n >= L + Lk`` keeps both sides
    from wrapping onto the outputs.
    """
    lk = k_fwd.shape[-1]
    gap = jnp.zeros(k_fwd.shape[:-1] + (fft_size - 2 * lk,), k_fwd.dtype)
    kernel = jnp.concatenate([k_fwd, gap, jnp.flip(k_bwd, axis=-1)], axis=-1)
    return fft_causal_conv_reference(u, kernel, fft_size)
