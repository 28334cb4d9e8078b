"""Causal FFT convolution against direct convolution (scipy, float64)."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import signal

from jaxmethods.ops import fft_bidirectional_conv, fft_causal_conv
from jaxmethods.ops.fftconv.reference import next_fast_len

from ..helpers import assert_close, assert_traced_once, check_transforms, unchecked


def _direct(u, k):
    """``y[..., h, t] = sum_{s<=t} k[h, s] u[..., h, t-s]`` by scipy, float64."""
    u, k = np.asarray(u, np.float64), np.asarray(k, np.float64)
    length = u.shape[-1]
    if k.ndim == 3:
        return np.stack([_direct(u, kc) for kc in k], axis=-3)
    out = np.empty(u.shape)
    for idx in np.ndindex(u.shape[:-1]):
        out[idx] = signal.convolve(u[idx], k[idx[-1]])[:length]
    return out


@pytest.mark.parametrize(
    "u_shape,k_shape",
    [
        ((3, 1000), (3, 1000)),
        ((2, 5, 4, 37), (4, 37)),
        ((2, 4, 64), (3, 4, 64)),
        ((4, 100), (4, 7)),
    ],
)
def test_matches_direct_convolution(u_shape, k_shape):
    rng = np.random.default_rng(0)
    u = rng.standard_normal(u_shape)
    k = rng.standard_normal(k_shape)
    y = fft_causal_conv(jnp.asarray(u), jnp.asarray(k))
    want = _direct(u, k)
    assert y.shape == want.shape and y.dtype == jnp.float64
    assert_close(y, jnp.asarray(want), rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_explicit_fft_size_and_fast_lengths():
    rng = np.random.default_rng(1)
    u, k = rng.standard_normal((2, 300)), rng.standard_normal((2, 300))
    a = fft_causal_conv(jnp.asarray(u), jnp.asarray(k), fft_size=599)
    b = fft_causal_conv(jnp.asarray(u), jnp.asarray(k), fft_size=1024)
    assert_close(a, b, rtol=1e-12, atol=1e-11)
    for n in [1, 2, 7, 599, 1000, 1999, 4097]:
        m = next_fast_len(n)
        assert m >= n
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        assert r == 1
        assert all(next_fast_len(j) > j - 1 for j in range(n, m))


def test_no_future_leak():
    """Perturbing u at t0 leaves every output before t0 unchanged (exactly causal)."""
    rng = np.random.default_rng(2)
    u = rng.standard_normal((2, 512))
    k = rng.standard_normal((2, 512))
    y = np.asarray(fft_causal_conv(jnp.asarray(u), jnp.asarray(k)))
    for t0 in (0, 1, 255, 511):
        v = u.copy()
        v[:, t0] += 10.0
        z = np.asarray(fft_causal_conv(jnp.asarray(v), jnp.asarray(k)))
        assert np.abs(z[:, :t0] - y[:, :t0]).max(initial=0.0) < 1e-11
        assert np.abs(z[:, t0] - y[:, t0]).min() > 1.0
    # a circular convolution (no padding) would leak: check the guard
    with pytest.raises(ValueError, match="fft_size"):
        fft_causal_conv(jnp.asarray(u), jnp.asarray(k), fft_size=512)


def test_gradients_both_modes():
    u = jr.normal(jr.key(0), (2, 3, 20))
    k = jr.normal(jr.key(1), (2, 3, 20))
    check_grads(
        lambda a, b: fft_causal_conv(a, b), (u, k), order=2, modes=("fwd", "rev")
    )


def test_transforms_and_trace_count():
    u = jr.normal(jr.key(0), (4, 3, 50))
    k = jr.normal(jr.key(1), (3, 50))
    check_transforms(lambda a: fft_causal_conv(a, k), (u[0],), vmap_args=(u,))
    assert_traced_once(fft_causal_conv, [(u + i, k) for i in range(3)])


@pytest.mark.parametrize("dtype,rtol", [(jnp.float32, 1e-4), (jnp.bfloat16, 3e-2)])
def test_low_precision(dtype, rtol):
    rng = np.random.default_rng(3)
    u, k = rng.standard_normal((3, 256)), rng.standard_normal((3, 256)) / 16
    y = fft_causal_conv(jnp.asarray(u, dtype), jnp.asarray(k, dtype))
    assert y.dtype == dtype
    # compare with the direct convolution of the rounded inputs
    ur = np.asarray(jnp.asarray(u, dtype).astype(jnp.float64))
    kr = np.asarray(jnp.asarray(k, dtype).astype(jnp.float64))
    want = _direct(ur, kr)
    err = np.abs(np.asarray(y.astype(jnp.float64)) - want).max()
    assert err <= rtol * np.abs(want).max()


def test_errors():
    u = jnp.zeros((3, 10))
    with pytest.raises(ValueError, match="kernel length"):
        fft_causal_conv(u, jnp.zeros((3, 11)))
    with pytest.raises(ValueError, match="channels"):
        unchecked(fft_causal_conv)(u, jnp.zeros((2, 10)))
    with pytest.raises(ValueError, match="k must have shape"):
        unchecked(fft_causal_conv)(u, jnp.zeros((10,)))
    with pytest.raises(ValueError, match="u must have shape"):
        unchecked(fft_causal_conv)(jnp.zeros((10,)), jnp.zeros((1, 10)))
    with pytest.raises(TypeError, match="float"):
        unchecked(fft_causal_conv)(jnp.zeros((3, 10), jnp.int32), jnp.zeros((3, 10)))
    with pytest.raises(ValueError, match="impl"):
        unchecked(fft_causal_conv)(u, jnp.zeros((3, 10)), impl="pallas")
    with pytest.raises(ValueError, match="fft_size"):
        fft_causal_conv(u, jnp.zeros((3, 10)), fft_size=18)
    assert jax.eval_shape(fft_causal_conv, u, jnp.zeros((2, 3, 4))).shape == (2, 3, 10)


def _direct_bidirectional(u, kf, kb):
    """``y_t = sum_{s<=t} kf_s u_{t-s} + sum_s kb_s u_{t+1+s}`` by explicit sums."""
    u, kf, kb = (np.asarray(a, np.float64) for a in (u, kf, kb))
    length, lk = u.shape[-1], kf.shape[-1]
    out = np.zeros(u.shape)
    for t in range(length):
        for s in range(lk):
            if t - s >= 0:
                out[..., t] += kf[:, s] * u[..., t - s]
            if t + 1 + s < length:
                out[..., t] += kb[:, s] * u[..., t + 1 + s]
    return out


@pytest.mark.parametrize("length,lk", [(50, 50), (37, 5), (64, 63)])
def test_bidirectional_matches_direct(length, lk):
    rng = np.random.default_rng(4)
    u = rng.standard_normal((2, 3, length))
    kf, kb = rng.standard_normal((3, lk)), rng.standard_normal((3, lk))
    y = fft_bidirectional_conv(jnp.asarray(u), jnp.asarray(kf), jnp.asarray(kb))
    want = _direct_bidirectional(u, kf, kb)
    assert_close(y, jnp.asarray(want), rtol=1e-12, atol=1e-12 * np.abs(want).max())
    # no backward kernel: the causal convolution
    z = fft_bidirectional_conv(jnp.asarray(u), jnp.asarray(kf), jnp.zeros((3, lk)))
    assert_close(z, fft_causal_conv(jnp.asarray(u), jnp.asarray(kf)), atol=1e-12)
    # C kernel channels
    kc = jnp.asarray(rng.standard_normal((2, 3, lk)))
    yc = fft_bidirectional_conv(jnp.asarray(u), kc, -kc)
    for c in range(2):
        want_c = _direct_bidirectional(u, np.asarray(kc[c]), -np.asarray(kc[c]))
        assert_close(yc[:, c], jnp.asarray(want_c), rtol=1e-12, atol=1e-11)


def test_bidirectional_matches_the_official_padding():
    """safari: k = pad(k0, (0, L)) + pad(flip(k1), (L, 0)), FFT size 2L."""
    rng = np.random.default_rng(5)
    length = 40
    u = rng.standard_normal((2, length))
    k0, k1 = rng.standard_normal((2, length)), rng.standard_normal((2, length))
    k = np.pad(k0, ((0, 0), (0, length))) + np.pad(k1[:, ::-1], ((0, 0), (length, 0)))
    n = 2 * length
    official = np.fft.irfft(np.fft.rfft(u, n) * np.fft.rfft(k, n), n)[..., :length]
    ours = fft_bidirectional_conv(jnp.asarray(u), jnp.asarray(k0), jnp.asarray(k1))
    assert_close(ours, jnp.asarray(official), rtol=1e-12, atol=1e-12)


def test_bidirectional_gradients_and_errors():
    u = jr.normal(jr.key(0), (2, 12))
    kf, kb = jr.normal(jr.key(1), (2, 6)), jr.normal(jr.key(2), (2, 6))
    check_grads(fft_bidirectional_conv, (u, kf, kb), order=2, modes=("fwd", "rev"))
    with pytest.raises(ValueError, match="shape of k_fwd"):
        unchecked(fft_bidirectional_conv)(u, kf, kb[:, :5])
    with pytest.raises(ValueError, match="fft_size"):
        fft_bidirectional_conv(u, kf, kb, fft_size=17)  # needs L + Lk = 18
    y = fft_bidirectional_conv(
        u.astype(jnp.bfloat16), kf.astype(jnp.bfloat16), kb.astype(jnp.bfloat16)
    )
    assert y.dtype == jnp.bfloat16
