"""Squash and kernel smoothing against their closed forms."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import ndimage

from jaxmethods.longconv import smooth_kernel, squash

from ..helpers import assert_close, check_transforms, unchecked


def test_squash_closed_form_and_grad():
    k = jr.normal(jr.key(0), (3, 4, 50)) * 0.01
    lam = 0.003
    kn = np.asarray(k)
    want = np.where(np.abs(kn) > lam, kn - np.sign(kn) * lam, 0.0)
    assert_close(squash(k, lam), jnp.asarray(want))
    # gradient: 1 outside the dead zone, 0 inside
    g = jax.grad(lambda a: jnp.sum(squash(a, lam)))(k)
    assert_close(g, jnp.asarray((np.abs(kn) > lam).astype(np.float64)))
    # and with respect to lam: -sign(k) where active
    glam = jax.grad(lambda t: jnp.sum(squash(k, t)))(jnp.asarray(lam))
    assert_close(glam, jnp.asarray(-np.sum(np.sign(kn) * (np.abs(kn) > lam))))
    assert squash(k.astype(jnp.float32), lam).dtype == jnp.float32
    assert_close(squash(k, 0.0), k)


def test_smooth_matches_torch_avgpool_semantics():
    """AvgPool1d(w, stride 1, padding (w-1)/2, count_include_pad=True) = uniform filter
    with zero boundary, i.e. scipy.ndimage.uniform_filter1d(mode='constant')."""
    rng = np.random.default_rng(0)
    k = rng.standard_normal((2, 3, 40))
    for w in (1, 3, 7, 9):
        want = ndimage.uniform_filter1d(k, size=w, axis=-1, mode="constant", cval=0.0)
        assert_close(
            smooth_kernel(jnp.asarray(k), window=w), jnp.asarray(want), atol=1e-14
        )
    check_grads(
        lambda a: smooth_kernel(a, window=7),
        (jnp.asarray(k),),
        order=1,
        modes=("fwd", "rev"),
    )
    check_transforms(
        lambda a: smooth_kernel(a), (jnp.asarray(k[0]),), vmap_args=(jnp.asarray(k),)
    )


def test_smoothing_lowers_total_variation():
    k = jr.normal(jr.key(1), (64, 256))
    tv = lambda a: jnp.sum(jnp.abs(jnp.diff(a, axis=-1)))  # noqa: E731
    assert float(tv(smooth_kernel(k))) < 0.5 * float(tv(k))


def _np_freq_gauss(k, w):
    """NumPy float64: 'same' convolution of rfft(k) with the unnormalised Gaussian."""
    g = np.exp(-0.5 * (np.arange(w) - w // 2) ** 2)
    kf = np.fft.rfft(k, axis=-1)
    f = kf.shape[-1]
    full = np.apply_along_axis(lambda row: np.convolve(row, g, mode="full"), -1, kf)
    return np.fft.irfft(full[..., w // 2 : w // 2 + f], n=k.shape[-1], axis=-1)


@pytest.mark.parametrize("length", [4, 9, 40, 41])
def test_freq_gauss_matches_numpy(length):
    rng = np.random.default_rng(length)
    k = rng.standard_normal((2, 3, length))
    for w in (1, 3, 7, 9):
        got = smooth_kernel(jnp.asarray(k), window=w, mode="freq_gauss")
        assert_close(got, jnp.asarray(_np_freq_gauss(k, w)), atol=1e-13)
    # window 1 is the identity (weight exp(0) = 1), odd lengths included
    assert_close(smooth_kernel(jnp.asarray(k), window=1, mode="freq_gauss"), k)
    check_grads(
        lambda a: smooth_kernel(a, mode="freq_gauss"),
        (jnp.asarray(k),),
        order=1,
        modes=("fwd", "rev"),
    )
    check_transforms(
        lambda a: smooth_kernel(a, mode="freq_gauss"),
        (jnp.asarray(k[0]),),
        vmap_args=(jnp.asarray(k),),
    )


def test_freq_gauss_closed_form_weights():
    """A delta has a flat spectrum: the smoothed spectrum is the sum of the weights
    that fall inside [0, F), unnormalised (interior bins: 2.5059 for w=7)."""
    n, w = 32, 7
    g = np.exp(-0.5 * (np.arange(w) - 3.0) ** 2)
    f = n // 2 + 1
    spec = np.array(
        [sum(g[i] for i in range(w) if 0 <= j + i - 3 < f) for j in range(f)]
    )
    assert abs(spec[10] - 2.5059) < 1e-4  # no normalisation, as the official code
    delta = jnp.zeros(n).at[0].set(1.0)
    assert_close(
        smooth_kernel(delta, mode="freq_gauss"), jnp.asarray(np.fft.irfft(spec, n))
    )


def test_freq_gauss_smooths_the_spectrum():
    """What smoothing in frequency does: a smoother spectrum, i.e. a kernel
    windowed in time towards its first (and, by wrap-around, last) lags."""
    k = jr.normal(jr.key(2), (256, 128))
    y = smooth_kernel(k, mode="freq_gauss")

    def spectral_roughness(a):
        spec = jnp.fft.rfft(a, axis=-1)
        return float(jnp.sum(jnp.abs(jnp.diff(spec, axis=-1))) / jnp.sum(jnp.abs(spec)))

    assert spectral_roughness(y) < 0.6 * spectral_roughness(k)
    energy = jnp.mean(y**2, axis=0)  # white-noise kernels: E y_t^2 ~ window(t)^2
    assert float(jnp.mean(energy[:8])) > 20 * float(jnp.mean(energy[56:72]))

    # the high-frequency share of the energy barely changes (not a low-pass filter)
    def hf_share(a):
        p = jnp.abs(jnp.fft.rfft(a, axis=-1)) ** 2
        return float(jnp.sum(p[:, 33:]) / jnp.sum(p))

    assert abs(hf_share(y) - hf_share(k)) < 0.05
    assert smooth_kernel(k.astype(jnp.float32), mode="freq_gauss").dtype == jnp.float32
    bf = smooth_kernel(k.astype(jnp.bfloat16), mode="freq_gauss")
    assert bf.dtype == jnp.bfloat16
    assert_close(bf, y.astype(jnp.float32), rtol=0.05, atol=0.05)


def test_errors():
    with pytest.raises(ValueError, match="odd"):
        smooth_kernel(jnp.zeros((5,)), window=4)
    with pytest.raises(ValueError, match="odd"):
        smooth_kernel(jnp.zeros((5,)), window=0)
    with pytest.raises(TypeError, match="float"):
        unchecked(smooth_kernel)(jnp.zeros((5,), jnp.int32))
    with pytest.raises(TypeError, match="float"):
        unchecked(squash)(jnp.zeros((5,), jnp.int32), 0.1)
    with pytest.raises(ValueError, match="mode must be"):
        unchecked(smooth_kernel)(jnp.zeros((5,)), mode="gauss")
    with pytest.raises(ValueError, match=">= 0"):
        squash(jnp.zeros((5,)), -0.1)
    with pytest.raises(ValueError, match="scalar"):
        unchecked(squash)(jnp.zeros((5,)), jnp.zeros((2,)))
