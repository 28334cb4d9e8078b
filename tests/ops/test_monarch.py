"""Monarch (block-DFT) FFT against numpy.fft in float64."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxmethods.ops import monarch_fft, monarch_ifft
from jaxmethods.ops.fftconv.monarch import default_factors

from ..helpers import assert_close, check_transforms, unchecked


@pytest.mark.parametrize(
    "n,factors",
    [
        (16, None),
        (4096, None),
        (4096, (16, 16, 16)),
        (6, (2, 3)),
        (1000, None),
        (97, None),
        (24, (2, 3, 4)),
    ],
)
def test_matches_numpy_fft(n, factors):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((3, n)) + 1j * rng.standard_normal((3, n))
    y = monarch_fft(jnp.asarray(x), factors=factors)
    assert y.dtype == jnp.complex128
    assert_close(y, jnp.asarray(np.fft.fft(x)), rtol=1e-11, atol=1e-11 * np.sqrt(n))
    z = monarch_ifft(jnp.asarray(x), factors=factors)
    assert_close(z, jnp.asarray(np.fft.ifft(x)), rtol=1e-11, atol=1e-12)


def test_real_input_float32_and_roundtrip():
    x = jr.normal(jr.key(0), (4, 256), jnp.float32)
    y = monarch_fft(x)
    assert y.dtype == jnp.complex64
    assert_close(y, jnp.fft.fft(x), rtol=1e-4, atol=1e-3)
    back = monarch_ifft(y, factors=(8, 32))
    assert_close(back.real, x, atol=1e-5)


def test_default_factors():
    for n in (1, 2, 6, 16, 256, 4096, 8192, 1000, 97, 194, 3 * 1024):
        f = default_factors(n)
        assert int(np.prod(f)) == n
        assert all(b <= 32 or all(b % p for p in range(2, b)) for b in f)


def test_linear_gradients_and_transforms():
    x = jax.lax.complex(jr.normal(jr.key(1), (2, 24)), jr.normal(jr.key(2), (2, 24)))
    check_grads(
        lambda a: monarch_fft(a, factors=(2, 3, 4)), (x,), order=1, modes=("fwd", "rev")
    )
    check_transforms(lambda a: monarch_fft(a, factors=(4, 6)), (x[0],), vmap_args=(x,))


def test_errors():
    with pytest.raises(ValueError, match="product"):
        monarch_fft(jnp.zeros((12,)), factors=(5, 3))
    with pytest.raises(TypeError, match="float or complex"):
        unchecked(monarch_fft)(jnp.zeros((8,), jnp.int32))
