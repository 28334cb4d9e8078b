"""Permuted Monarch FFT and the Pallas Monarch causal convolution (interpret mode).

Oracles: numpy.fft for the transforms; scipy.signal.convolve(method="direct")
in float64 for the convolution; the XLA (jnp.fft) path for the kernel in
float32 and bfloat16.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import signal

from jaxmethods.ops import (
    fft_bidirectional_conv,
    fft_causal_conv,
    monarch_causal_conv,
    monarch_fft,
    monarch_fft_permuted,
    monarch_ifft_permuted,
    monarch_kernel_spectrum,
    monarch_permutation,
)
from jaxmethods.ops.fftconv.pallas_gpu import conv_factors, supported_on_gpu

from ..helpers import assert_close, assert_traced_once, check_transforms, unchecked


def _direct(u, k):
    """float64 direct causal convolution, u (B, H, L), k (C, H, Lk) -> (B, C, H, L)."""
    b, h, length = u.shape
    c = k.shape[0]
    out = np.empty((b, c, h, length))
    for i in range(b):
        for j in range(c):
            for m in range(h):
                out[i, j, m] = signal.convolve(u[i, m], k[j, m], method="direct")[
                    :length
                ]
    return out


@pytest.mark.parametrize(
    "factors", [(16, 16), (32, 16, 16), (2, 3, 5), (8,), (4, 6, 2)]
)
def test_permuted_fft_matches_numpy(factors):
    n = int(np.prod(factors))
    rng = np.random.default_rng(n)
    x = rng.standard_normal((3, n)) + 1j * rng.standard_normal((3, n))
    perm = monarch_permutation(factors)
    assert sorted(perm.tolist()) == list(range(n))
    y = monarch_fft_permuted(jnp.asarray(x), factors=factors)
    assert_close(y, jnp.asarray(np.fft.fft(x)[:, perm]), rtol=1e-11, atol=1e-11 * n)
    # the permutation is exactly what the natural-order transform undoes
    assert_close(
        y,
        monarch_fft(jnp.asarray(x), factors=factors)[:, perm],
        rtol=1e-12,
        atol=1e-12 * n,
    )
    back = monarch_ifft_permuted(y, factors=factors)
    assert_close(back, jnp.asarray(x), rtol=1e-12, atol=1e-13)
    # a pointwise product in permuted order is still a circular convolution
    z = rng.standard_normal((3, n))
    circ = np.real(np.fft.ifft(np.fft.fft(x) * np.fft.fft(z)))
    prod = monarch_fft_permuted(jnp.asarray(z), factors=factors) * y
    got = monarch_ifft_permuted(prod, factors=factors).real
    assert_close(got, jnp.asarray(circ), rtol=1e-11, atol=1e-11)


def test_permuted_fft_grads_and_errors():
    x = jr.normal(jr.key(0), (2, 12))
    check_grads(
        lambda a: monarch_fft_permuted(a, factors=(4, 3)),
        (x,),
        order=2,
        modes=("fwd", "rev"),
    )
    check_grads(
        lambda a: monarch_ifft_permuted(a, factors=(4, 3)),
        (x.astype(jnp.complex128),),
        order=1,
        modes=("fwd", "rev"),
    )
    with pytest.raises(ValueError, match="product"):
        monarch_fft_permuted(x, factors=(5, 3))
    with pytest.raises(ValueError, match=">= 1"):
        monarch_permutation((4, 0))
    assert monarch_permutation((2, 3)).tolist() == [0, 2, 4, 1, 3, 5]


def test_conv_factors():
    assert conv_factors(8192) == (32, 16, 16)
    assert conv_factors(32768) == (32, 32, 32)
    assert conv_factors(2048) == (64, 32)
    assert conv_factors(64) == (64,)
    assert supported_on_gpu((32, 16, 16)) and not supported_on_gpu((16, 16))


def test_kernel_spectrum_is_the_permuted_fft():
    rng = np.random.default_rng(1)
    k = rng.standard_normal((2, 3, 40))
    spec = monarch_kernel_spectrum(jnp.asarray(k))
    n = spec.shape[-1]
    assert n == 128 and spec.dtype == jnp.complex128
    perm = monarch_permutation(conv_factors(n))
    assert_close(spec, jnp.asarray(np.fft.fft(k, n)[..., perm]), atol=1e-12)
    assert monarch_kernel_spectrum(jnp.asarray(k, jnp.float32)).dtype == jnp.complex64
    check_grads(
        lambda a: monarch_kernel_spectrum(a, factors=(8, 4)),
        (jnp.asarray(k[0, :, :10]),),
        order=1,
        modes=("fwd", "rev"),
    )


@pytest.mark.parametrize("impl", ["xla", "pallas_interpret"])
@pytest.mark.parametrize(
    "length,c,factors",
    [(1000, None, None), (128, 2, (16, 16)), (96, 1, (4, 6, 2, 4)), (7, 3, (8, 2))],
)
def test_matches_direct_convolution_float64(impl, length, c, factors):
    rng = np.random.default_rng(length)
    u = rng.standard_normal((2, 3, length))
    k = rng.standard_normal((c or 1, 3, length)) * np.exp(-np.arange(length) / 50)
    want = _direct(u, k)
    kk = jnp.asarray(k if c else k[0])
    spec = monarch_kernel_spectrum(kk, factors=factors)
    y = monarch_causal_conv(jnp.asarray(u), spec, factors=factors, impl=impl)
    assert y.dtype == jnp.float64
    assert_close(y, jnp.asarray(want if c else want[:, 0]), rtol=1e-12, atol=1e-12)
    # the same kernel behind fft_causal_conv (ragged L padded to a power of two)
    y2 = fft_causal_conv(jnp.asarray(u), kk, impl=impl)
    assert_close(y2, jnp.asarray(want if c else want[:, 0]), rtol=1e-12, atol=1e-12)


def test_no_future_leak_through_the_kernel():
    rng = np.random.default_rng(3)
    u = jnp.asarray(rng.standard_normal((2, 100)))
    k = jnp.asarray(rng.standard_normal((2, 100)))
    y0 = fft_causal_conv(u, k, impl="pallas_interpret")
    for t in (0, 37, 99):
        y1 = fft_causal_conv(u.at[:, t].add(10.0), k, impl="pallas_interpret")
        assert_close(y1[:, :t], y0[:, :t], rtol=0, atol=1e-12)
        assert float(jnp.abs(y1[:, t] - y0[:, t]).max()) > 1.0


@pytest.mark.parametrize(
    "dtype,rtol", [(jnp.float32, 2e-6), (jnp.bfloat16, 3e-2), (jnp.float16, 2e-3)]
)
def test_pallas_equals_xla_in_low_precision(dtype, rtol):
    """Errors scaled by ||k||_1 ||u||_inf, the bound on any output."""
    rng = np.random.default_rng(4)
    u = jnp.asarray(rng.standard_normal((2, 4, 256)), dtype)
    k = jnp.asarray(rng.standard_normal((2, 4, 256)) * np.exp(-np.arange(256) / 30))
    k = k.astype(dtype)
    yp = fft_causal_conv(u, k, impl="pallas_interpret")
    yx = fft_causal_conv(u, k, impl="xla")
    assert yp.dtype == dtype and yx.dtype == dtype
    want = _direct(np.asarray(u, np.float64), np.asarray(k, np.float64))
    scale = (
        np.abs(np.asarray(k, np.float64)).sum(-1).max()
        * np.abs(np.asarray(u, np.float64)).max()
    )
    for y in (yp, yx):
        err = np.abs(np.asarray(y, np.float64) - want).max()
        assert err <= rtol * scale, (err, rtol * scale)
    err = np.abs(np.asarray(yp, np.float64) - np.asarray(yx, np.float64)).max()
    assert err <= 2 * rtol * scale


def test_bidirectional_through_the_kernel():
    rng = np.random.default_rng(5)
    u = jnp.asarray(rng.standard_normal((2, 3, 50)))
    kf = jnp.asarray(rng.standard_normal((2, 3, 50)))
    kb = jnp.asarray(rng.standard_normal((2, 3, 50)))
    want = fft_bidirectional_conv(u, kf, kb, impl="xla")
    got = fft_bidirectional_conv(u, kf, kb, impl="pallas_interpret")
    assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_reverse_mode_to_second_order_and_forward_mode_refused():
    rng = np.random.default_rng(6)
    u = jnp.asarray(rng.standard_normal((2, 3, 20)))
    k = jnp.asarray(rng.standard_normal((2, 3, 20)))
    conv = lambda a, b: fft_causal_conv(a, b, impl="pallas_interpret")  # noqa: E731
    check_grads(jax.jit(conv), (u[:1, :2, :9], k[:1, :2, :9]), order=2, modes=("rev",))
    check_grads(conv, (u[:1], k[:1]), order=1, modes=("rev",))
    spec = monarch_kernel_spectrum(k)
    check_grads(
        lambda a, s: monarch_causal_conv(a, s, impl="pallas_interpret"),
        (u, spec),
        order=1,
        modes=("rev",),
    )

    # gradients equal those of the jnp reference, including Hessians
    def loss(impl):
        return lambda a, b: jnp.sum(jnp.sin(fft_causal_conv(a, b, impl=impl)))

    g_pl = jax.jit(jax.grad(loss("pallas_interpret"), argnums=(0, 1)))(u, k)
    g_x = jax.grad(loss("xla"), argnums=(0, 1))(u, k)
    jax.tree.map(lambda a, b: assert_close(a, b, rtol=1e-11, atol=1e-12), g_pl, g_x)
    h_pl = jax.jit(jax.jacrev(jax.grad(loss("pallas_interpret"))))(u[:1, :1], k[:1, :1])
    h_x = jax.hessian(loss("xla"))(u[:1, :1], k[:1, :1])
    assert_close(h_pl, h_x, rtol=1e-10, atol=1e-12)
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda a: conv(a, k), (u,), (u,))
    # the XLA path keeps forward mode
    check_grads(
        lambda a, s: monarch_causal_conv(a, s, impl="xla"),
        (u, spec),
        order=1,
        modes=("fwd", "rev"),
    )


def test_transforms_and_trace_count():
    u = jr.normal(jr.key(1), (5, 3, 30), jnp.float32)
    k = jr.normal(jr.key(2), (3, 30), jnp.float32)
    spec = monarch_kernel_spectrum(k)
    f = lambda a: monarch_causal_conv(a, spec, impl="pallas_interpret")  # noqa: E731
    check_transforms(f, (u[0],), vmap_args=(u,), rtol=1e-5, atol=1e-5)
    g = jax.vmap(jax.grad(lambda a: jnp.sum(f(a) ** 2)))(u)
    g_ref = jax.vmap(
        jax.grad(lambda a: jnp.sum(monarch_causal_conv(a, spec, impl="xla") ** 2))
    )(u)
    assert_close(g, g_ref, rtol=1e-4, atol=1e-4)
    assert_traced_once(f, [(u[0] + i,) for i in range(3)])


def test_errors():
    u = jnp.zeros((3, 10))
    spec = monarch_kernel_spectrum(jnp.zeros((3, 10)))
    with pytest.raises(ValueError, match="channels"):
        unchecked(monarch_causal_conv)(u, spec[:2])
    with pytest.raises(ValueError, match="2L"):
        monarch_causal_conv(jnp.zeros((3, 20)), spec)
    with pytest.raises(ValueError, match="product"):
        monarch_causal_conv(u, spec, factors=(4, 4))
    with pytest.raises(ValueError, match="first radix must be even"):
        monarch_kernel_spectrum(jnp.zeros((3, 10)), factors=(3, 8))
    with pytest.raises(ValueError, match=">= 2 Lk"):
        monarch_kernel_spectrum(jnp.zeros((3, 10)), factors=(4, 4))
    with pytest.raises(TypeError, match="complex"):
        unchecked(monarch_causal_conv)(u, spec.real)
    with pytest.raises(TypeError, match="float"):
        unchecked(monarch_causal_conv)(u.astype(jnp.int32), spec)
    with pytest.raises(TypeError, match="float"):
        unchecked(monarch_kernel_spectrum)(jnp.zeros((3, 10), jnp.int32))
    with pytest.raises(ValueError, match="impl"):
        unchecked(monarch_causal_conv)(u, spec, impl="cuda")
    if jax.default_backend() != "gpu":
        with pytest.raises(ValueError, match="CUDA GPU"):
            monarch_causal_conv(u, spec, impl="pallas")
    # an FFT size the kernel cannot use, asked for explicitly
    with pytest.raises(ValueError, match="2L"):
        fft_causal_conv(u, jnp.zeros((3, 10)), fft_size=19, impl="pallas_interpret")
    with pytest.raises(ValueError, match="even leading radix"):
        fft_causal_conv(u, jnp.zeros((3, 10)), fft_size=27, impl="pallas_interpret")


@pytest.mark.gpu
def test_compiled_kernel_on_gpu():
    rng = np.random.default_rng(7)
    u = jnp.asarray(rng.standard_normal((2, 8, 4096)), jnp.float32)
    k = jnp.asarray(rng.standard_normal((8, 4096)) * np.exp(-np.arange(4096) / 500))
    k = k.astype(jnp.float32)
    y = fft_causal_conv(u, k, impl="pallas")
    want = fft_causal_conv(u, k, impl="xla")
    scale = float(jnp.abs(k).sum(-1).max() * jnp.abs(u).max())
    assert float(jnp.abs(y - want).max()) <= 1e-5 * scale
    g = jax.grad(lambda a: jnp.sum(fft_causal_conv(a, k, impl="pallas") ** 2))(u)
    g_ref = jax.grad(lambda a: jnp.sum(fft_causal_conv(a, k, impl="xla") ** 2))(u)
    assert float(jnp.abs(g - g_ref).max()) <= 1e-4 * float(jnp.abs(g_ref).max())
