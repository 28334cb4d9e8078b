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


def test_errors():
    with pytest.raises(ValueError, match="odd"):
        smooth_kernel(jnp.zeros((5,)), window=4)
    with pytest.raises(ValueError, match="odd"):
        smooth_kernel(jnp.zeros((5,)), window=0)
    with pytest.raises(TypeError, match="float"):
        unchecked(smooth_kernel)(jnp.zeros((5,), jnp.int32))
    with pytest.raises(TypeError, match="float"):
        unchecked(squash)(jnp.zeros((5,), jnp.int32), 0.1)
    with pytest.raises(ValueError, match=">= 0"):
        squash(jnp.zeros((5,)), -0.1)
    with pytest.raises(ValueError, match="scalar"):
        unchecked(squash)(jnp.zeros((5,)), jnp.zeros((2,)))
