"""LearnedButterflyConv: exact FFT convolution at init, a linear operator after."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import signal

from jaxmethods.longconv import LearnedButterflyConv
from jaxmethods.ops import fft_causal_conv, monarch_permutation

from ..helpers import assert_close, check_transforms, unchecked


def _conv(h, length, *, max_block=16, key=0, scale=1.0):
    conv = LearnedButterflyConv(h, length, max_block=max_block, key=jr.key(key))
    k = jr.normal(jr.key(key + 1), (h, length)) * scale
    return eqx.tree_at(lambda m: m.kernel, conv, k)


def _perturbed(conv, eps=0.1, key=7):
    keys = jr.split(jr.key(key), 2 * len(conv.factors))
    re = tuple(
        b + eps * jr.normal(k, b.shape)
        for b, k in zip(conv.blocks_re, keys[::2], strict=True)
    )
    im = tuple(
        b + eps * jr.normal(k, b.shape)
        for b, k in zip(conv.blocks_im, keys[1::2], strict=True)
    )
    return eqx.tree_at(lambda m: (m.blocks_re, m.blocks_im), conv, (re, im))


def _digit_reversal(factors):
    """Position i of the permuted layout holds frequency perm[i] (NumPy, by digits)."""
    n = int(np.prod(factors))
    perm = np.empty(n, np.int64)
    for i in range(n):
        digits, rest = [], i
        for r in reversed(factors):  # least significant digit is the last factor
            digits.append(rest % r)
            rest //= r
        digits = digits[::-1]  # (k_1, ..., k_p), most significant first
        freq, mult = 0, 1
        for d, r in zip(digits, factors, strict=True):
            freq += d * mult
            mult *= r
        perm[i] = freq
    return perm


@pytest.mark.parametrize(
    ("length", "max_block", "factors"),
    [
        (1, 16, (2,)),
        (8, 4, (4, 4)),
        (16, 4, (4, 4, 2)),
        (50, 16, (16, 8)),
        (300, 8, (8, 8, 8, 2)),
    ],
)
def test_init_is_fft_causal_conv(length, max_block, factors):
    h = 3
    conv = _conv(h, length, max_block=max_block)
    assert conv.factors == factors
    assert conv.fft_size == int(np.prod(factors)) >= 2 * length
    assert all(
        b.shape == (h, r, r) for b, r in zip(conv.blocks_re, factors, strict=True)
    )
    u = jr.normal(jr.key(2), (h, length))
    want = fft_causal_conv(u, conv.kernel) + conv.D[:, None] * u
    assert_close(conv(u), want, rtol=1e-11, atol=1e-11)
    # and against the direct convolution in NumPy
    un, kn, dn = (np.asarray(a) for a in (u, conv.kernel, conv.D))
    direct = np.stack(
        [signal.convolve(un[i], kn[i], method="direct")[:length] for i in range(h)]
    )
    assert_close(
        conv(u), jnp.asarray(direct + dn[:, None] * un), rtol=1e-11, atol=1e-11
    )
    # shorter inputs use the first lags of the kernel
    m = max(1, length // 2)
    want = fft_causal_conv(u[:, :m], conv.kernel[:, :m]) + conv.D[:, None] * u[:, :m]
    assert_close(conv(u[:, :m]), want, rtol=1e-11, atol=1e-11)


def test_transform_is_permuted_dft_at_init():
    conv = _conv(2, 40, max_block=4)  # N = 128 = 4 * 4 * 4 * 2
    assert conv.factors == (4, 4, 4, 2)
    x = jr.normal(jr.key(3), (5, 2, conv.fft_size))
    perm = _digit_reversal(conv.factors)
    assert sorted(perm.tolist()) == list(range(conv.fft_size))
    assert np.array_equal(perm, monarch_permutation(conv.factors))
    want = np.fft.fft(np.asarray(x), axis=-1)[..., perm]
    assert_close(conv.transform(x), jnp.asarray(want), rtol=1e-11, atol=1e-11)
    back = conv.inverse_transform(conv.transform(x))
    assert_close(back, x.astype(jnp.complex128), atol=1e-13)


def test_perturbed_is_linear_operator_and_adjoint():
    conv = _perturbed(_conv(3, 24, max_block=4))
    u1, u2 = jr.normal(jr.key(4), (2, 3, 24))
    a, b = 0.7, -1.3
    y = conv(a * u1 + b * u2)
    assert y.shape == (3, 24) and y.dtype == jnp.float64
    assert_close(y, a * conv(u1) + b * conv(u2), atol=1e-12)
    # the blocks matter: no longer the FFT convolution
    ref = fft_causal_conv(u1, conv.kernel) + conv.D[:, None] * u1
    assert float(jnp.max(jnp.abs(conv(u1) - ref))) > 1e-2
    # the inverse is the adjoint / N: <G x, z> = N <x, G^{-1} z>
    n = conv.fft_size
    x = jax.lax.complex(*jr.normal(jr.key(5), (2, 3, n)))
    z = jax.lax.complex(*jr.normal(jr.key(6), (2, 3, n)))
    lhs = jnp.vdot(conv.transform(x), z)
    rhs = jnp.vdot(x, conv.inverse_transform(z)) * n
    assert_close(lhs, rhs, rtol=1e-12)
    # the matrix of the layer, column by column, reproduces it
    eye = jnp.eye(24)
    cols = jax.vmap(lambda e: conv(jnp.broadcast_to(e, (3, 24))), out_axes=-1)(eye)
    assert_close(jnp.einsum("htj,hj->ht", cols, u1), conv(u1), atol=1e-12)


def test_grads_finite_differences():
    conv = _perturbed(_conv(2, 8, max_block=4, scale=0.5), eps=0.05)
    assert conv.factors == (4, 4)
    u = jr.normal(jr.key(8), (2, 8))

    def f(re, im, k, x):
        m = eqx.tree_at(
            lambda m: (m.blocks_re, m.blocks_im, m.kernel), conv, (re, im, k)
        )
        return m(x)

    args = (conv.blocks_re, conv.blocks_im, conv.kernel, u)
    check_grads(f, args, order=1, modes=("rev",))
    check_grads(f, args, order=1, modes=("fwd",))


def test_jit_vmap():
    conv = _perturbed(_conv(3, 20))
    u = jr.normal(jr.key(9), (4, 3, 20))
    check_transforms(lambda x: conv(x), (u[0],), vmap_args=(u,))
    g = eqx.filter_jit(eqx.filter_grad(lambda m, x: jnp.sum(m(x) ** 2)))(conv, u[0])
    assert all(
        gb.shape == b.shape for gb, b in zip(g.blocks_re, conv.blocks_re, strict=True)
    )


def test_dtypes():
    conv = _conv(3, 30)
    u = jr.normal(jr.key(10), (3, 30))
    ref = conv(u)
    c32 = jax.tree.map(lambda a: a.astype(jnp.float32) if eqx.is_array(a) else a, conv)
    y32 = c32(u.astype(jnp.float32))
    assert y32.dtype == jnp.float32
    assert (
        c32.transform(u.astype(jnp.float32)[:, :1].repeat(64, 1)).dtype == jnp.complex64
    )
    assert_close(y32, ref.astype(jnp.float32), rtol=1e-4, atol=1e-4)
    cbf = jax.tree.map(lambda a: a.astype(jnp.bfloat16) if eqx.is_array(a) else a, conv)
    ybf = cbf(u.astype(jnp.bfloat16))
    assert ybf.dtype == jnp.bfloat16
    assert_close(ybf, ref.astype(jnp.float32), rtol=0.05, atol=0.1)
    assert c32(u.astype(jnp.bfloat16)).dtype == jnp.float32
    made = LearnedButterflyConv(2, 8, dtype=jnp.float32, key=jr.key(0))
    assert made.blocks_im[0].dtype == jnp.float32


def test_errors():
    conv = _conv(3, 16)
    with pytest.raises(ValueError, match="H=2 channels"):
        conv(jnp.zeros((2, 16)))
    with pytest.raises(ValueError, match="between 1 and L=16"):
        conv(jnp.zeros((3, 17)))
    with pytest.raises(ValueError, match="jax.vmap"):
        unchecked(LearnedButterflyConv.__call__)(conv, jnp.zeros((2, 3, 16)))
    with pytest.raises(TypeError, match="float"):
        unchecked(LearnedButterflyConv.__call__)(conv, jnp.zeros((3, 16), jnp.int32))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, 32\)"):
        conv.transform(jnp.zeros((3, 16)))
    with pytest.raises(ValueError, match="power of two"):
        LearnedButterflyConv(3, 16, max_block=12, key=jr.key(0))
    with pytest.raises(ValueError, match="L must be"):
        LearnedButterflyConv(3, 0, key=jr.key(0))
