"""LongConv and LongConvModel against NumPy float64 references, transforms, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import ndimage, signal, special

from jaxmethods.longconv import LongConv, LongConvModel, smooth_kernel, squash
from jaxmethods.longconv._layers import _dropout

from ..helpers import assert_close, check_transforms, unchecked


H, L, C = 3, 20, 2


def _layer(key=0, *, scale=0.05, **kw):
    """A float64 layer whose kernel is large enough that Squash leaves some of it."""
    layer = LongConv(H, L, channels=C, key=jr.key(key), **kw)
    big = jr.normal(jr.key(key + 100), layer.kernel.shape) * scale
    return eqx.tree_at(lambda m: m.kernel, layer, big)


# ---------------------------------------------------------------- references


def _np_squash(k, lam):
    return np.where(np.abs(k) > lam, k - np.sign(k) * lam, 0.0)


def _np_freq_gauss(k, w):
    """Official smooth_freq: 'same' conv of rfft(k) with exp(-(i-w//2)^2/2), irfft."""
    g = np.exp(-0.5 * (np.arange(w) - w // 2) ** 2)
    kf = np.fft.rfft(k, axis=-1)
    out = np.apply_along_axis(
        lambda row: np.convolve(row, g, mode="full")[w // 2 : w // 2 + row.size],
        -1,
        kf,
    )
    return np.fft.irfft(out, n=k.shape[-1], axis=-1)


def _np_longconv(layer, u, *, bidirectional=False):
    """LongConv in inference mode with direct convolutions, in float64."""
    k = np.asarray(layer.kernel, np.float64)
    if layer.smooth == "avgpool":
        k = ndimage.uniform_filter1d(
            k, size=layer.smooth_window, axis=-1, mode="constant", cval=0.0
        )
    elif layer.smooth == "freq_gauss":
        k = _np_freq_gauss(k, layer.smooth_window)
    k = _np_squash(k, layer.lam)
    u = np.asarray(u, np.float64)
    h, n = u.shape
    c = layer.channels
    d = np.asarray(layer.D, np.float64)
    y = np.zeros((c, h, n))
    for ci in range(c):
        for hi in range(h):
            y[ci, hi] = signal.convolve(u[hi], k[ci, hi, :n], method="direct")[:n]
            if bidirectional:
                kb = k[c + ci, hi, :n]
                for t in range(n):
                    y[ci, hi, t] += sum(
                        kb[s] * u[hi, t + 1 + s] for s in range(n - 1 - t)
                    )
            y[ci, hi] += d[ci, hi] * u[hi]
    y = 0.5 * y * (1.0 + special.erf(y / np.sqrt(2.0)))  # exact GELU
    y = y.reshape(c * h, n)  # (c h)
    w = np.asarray(layer.out_proj.weight, np.float64)
    b = np.asarray(layer.out_proj.bias, np.float64)
    z = w @ y + b[:, None]
    return z[:h] * special.expit(z[h:])  # GLU


# ---------------------------------------------------------------- forward


@pytest.mark.parametrize("smooth", [None, "avgpool", "freq_gauss"])
@pytest.mark.parametrize("n", [L, 13])
def test_forward_matches_numpy(smooth, n):
    layer = _layer(1, smooth=smooth)
    u = jr.normal(jr.key(2), (H, n))
    want = _np_longconv(layer, u)
    assert_close(layer(u, inference=True), jnp.asarray(want))
    # inference mode through the field too (equinox.nn.inference_mode)
    assert_close(eqx.nn.inference_mode(layer)(u), jnp.asarray(want))


@pytest.mark.parametrize("n", [L, 7])
def test_bidirectional_matches_numpy(n):
    layer = _layer(3, bidirectional=True)
    assert layer.kernel.shape == (2 * C, H, L)
    assert layer.D.shape == (C, H)
    u = jr.normal(jr.key(4), (H, n))
    want = _np_longconv(layer, u, bidirectional=True)
    assert_close(layer(u, inference=True), jnp.asarray(want))


def test_causality():
    u = jr.normal(jr.key(5), (H, L))
    v = u.at[:, 12:].set(jr.normal(jr.key(6), (H, L - 12)))
    causal = _layer(7)
    y, yv = causal(u, inference=True), causal(v, inference=True)
    assert_close(y[:, :12], yv[:, :12], atol=1e-14)
    assert float(jnp.max(jnp.abs(y[:, 12:] - yv[:, 12:]))) > 1e-3
    two_sided = _layer(7, bidirectional=True)
    y, yv = two_sided(u, inference=True), two_sided(v, inference=True)
    assert float(jnp.max(jnp.abs(y[:, :12] - yv[:, :12]))) > 1e-3


def test_effective_kernel():
    layer = _layer(8, smooth="avgpool", lam=0.01)
    want = squash(smooth_kernel(layer.kernel, window=7), 0.01)
    assert_close(layer.effective_kernel(), want)
    plain = _layer(8, lam=0.0)
    assert_close(plain.effective_kernel(), plain.kernel)
    assert LongConv(H, L, smooth=True, key=jr.key(0)).smooth == "avgpool"
    assert LongConv(H, L, smooth=False, key=jr.key(0)).smooth is None
    # the official initialisation: 0.002 N(0, 1), so lam=0.003 zeroes most entries
    fresh = LongConv(64, 256, key=jr.key(9))
    assert abs(float(jnp.std(fresh.kernel)) - 0.002) < 1e-4
    frac0 = float(jnp.mean(fresh.effective_kernel() == 0))
    assert 0.84 < frac0 < 0.89  # P(|N(0,1)| < 1.5) = 0.866


def test_kernel_and_activation_dropout():
    layer = _layer(10, kernel_dropout=0.3, dropout=0.2)
    u = jr.normal(jr.key(11), (H, L))
    y_inf = layer(u, inference=True)
    y1 = layer(u, key=jr.key(12))
    assert_close(layer(u, key=jr.key(12)), y1)  # deterministic given the key
    assert float(jnp.max(jnp.abs(y1 - y_inf))) > 1e-3
    assert float(jnp.max(jnp.abs(layer(u, key=jr.key(13)) - y1))) > 1e-3
    # without dropout, training mode is inference mode and needs no key
    plain = _layer(10, kernel_dropout=0.0, dropout=0.0)
    assert_close(plain(u), plain(u, inference=True))


def test_dropout_statistics():
    x = jnp.ones((200_000,))
    y = _dropout(jr.key(14), x, 0.2)
    frac0 = float(jnp.mean(y == 0))
    assert abs(frac0 - 0.2) < 5 * np.sqrt(0.2 * 0.8 / x.size)
    assert_close(y[y != 0], jnp.full((int(jnp.sum(y != 0)),), 1.25))


# ---------------------------------------------------------------- transforms


def test_jit_and_vmap():
    layer = _layer(15)
    u = jr.normal(jr.key(16), (4, H, L))
    check_transforms(lambda x: layer(x, inference=True), (u[0],), vmap_args=(u,))
    # training mode: a shared key gives one kernel-dropout mask per batch
    ys = jax.vmap(lambda x: layer(x, key=jr.key(17)))(u)
    loop = jnp.stack([layer(x, key=jr.key(17)) for x in u])
    assert_close(ys, loop)
    yj = eqx.filter_jit(lambda m, x, k: m(x, key=k))(layer, u[0], jr.key(17))
    assert_close(yj, loop[0])


def test_grads_finite_differences():
    base = _layer(18, lam=0.0, smooth="avgpool")
    u = jr.normal(jr.key(19), (H, 9))

    def f(kernel, d, w, x):
        m = eqx.tree_at(
            lambda m: (m.kernel, m.D, m.out_proj.weight), base, (kernel, d, w)
        )
        return m(x, inference=True)

    check_grads(
        f, (base.kernel, base.D, base.out_proj.weight, u), order=1, modes=("rev",)
    )
    check_grads(
        f, (base.kernel, base.D, base.out_proj.weight, u), order=1, modes=("fwd",)
    )
    # with Squash on: the gradient with respect to the input
    sq = _layer(18)
    check_grads(lambda x: sq(x, inference=True), (u,), order=1, modes=("fwd", "rev"))
    # and through kernel dropout (fixed key)
    dr = _layer(18, lam=0.0)
    check_grads(lambda x: dr(x, key=jr.key(1)), (u,), order=1, modes=("rev",))


# ---------------------------------------------------------------- dtypes


def test_dtypes():
    u64 = jr.normal(jr.key(20), (H, L))
    ref = _layer(21)(u64, inference=True)
    l32 = jax.tree.map(
        lambda a: a.astype(jnp.float32) if eqx.is_array(a) else a, _layer(21)
    )
    y32 = l32(u64.astype(jnp.float32), inference=True)
    assert y32.dtype == jnp.float32
    assert_close(y32, ref.astype(jnp.float32), rtol=1e-4, atol=1e-5)
    lbf = jax.tree.map(lambda a: a.astype(jnp.bfloat16) if eqx.is_array(a) else a, l32)
    ybf = lbf(u64.astype(jnp.bfloat16), key=jr.key(0))
    assert ybf.dtype == jnp.bfloat16
    ybf = lbf(u64.astype(jnp.bfloat16), inference=True)
    assert_close(ybf, ref.astype(jnp.float32), rtol=0.1, atol=0.1)
    # mixed: float32 parameters and a bfloat16 input promote to float32
    assert l32(u64.astype(jnp.bfloat16), inference=True).dtype == jnp.float32
    # dtype= at construction
    assert LongConv(2, 8, dtype=jnp.float32, key=jr.key(0)).kernel.dtype == jnp.float32
    assert LongConv(2, 8, key=jr.key(0)).out_proj.weight.dtype == jnp.float64


# ---------------------------------------------------------------- errors


def test_errors():
    layer = _layer(22)
    u = jnp.zeros((H, L))
    with pytest.raises(ValueError, match="H=4 channels"):
        layer(jnp.zeros((4, L)), inference=True)
    with pytest.raises(ValueError, match="between 1 and L=20"):
        layer(jnp.zeros((H, L + 1)), inference=True)
    with pytest.raises(ValueError, match="jax.vmap"):
        unchecked(LongConv.__call__)(layer, jnp.zeros((2, H, L)), inference=True)
    with pytest.raises(TypeError, match="float"):
        unchecked(LongConv.__call__)(layer, u.astype(jnp.int32), inference=True)
    with pytest.raises(ValueError, match="key is needed"):
        layer(u)
    with pytest.raises(ValueError, match="smooth must be"):
        LongConv(H, L, smooth="gauss", key=jr.key(0))
    with pytest.raises(ValueError, match="smooth_window"):
        LongConv(H, L, smooth="avgpool", smooth_window=4, key=jr.key(0))
    with pytest.raises(ValueError, match="lam"):
        LongConv(H, L, lam=-1.0, key=jr.key(0))
    with pytest.raises(ValueError, match="kernel_dropout"):
        LongConv(H, L, kernel_dropout=1.0, key=jr.key(0))
    with pytest.raises(ValueError, match="H must be"):
        LongConv(0, L, key=jr.key(0))


# ---------------------------------------------------------------- LongConvModel


def test_model_forward():
    model = LongConvModel(2, 5, d_model=H, n_layers=2, L=L, key=jr.key(23))
    x = jr.normal(jr.key(24), (6, 12, 2))
    out = jax.vmap(lambda s: model(s, key=jr.key(25)))(x)
    assert out.shape == (6, 5)
    # by hand: encoder, two post-norm residual LongConv blocks, mean, decoder
    s = x[0]
    assert model.encoder.bias is not None and model.decoder.bias is not None
    u = model.encoder.weight @ s.T + model.encoder.bias[:, None]
    for layer, norm in zip(model.layers, model.norms, strict=True):
        u = u + layer(u, inference=True)
        mu = jnp.mean(u, axis=0, keepdims=True)
        var = jnp.var(u, axis=0, keepdims=True)
        u = (u - mu) / jnp.sqrt(var + norm.eps)
    want = model.decoder.weight @ jnp.mean(u, axis=-1) + model.decoder.bias
    assert_close(model(s, inference=True), want)
    check_transforms(lambda s: model(s, inference=True), (x[0],), vmap_args=(x,))
    pre = LongConvModel(
        2, 5, d_model=H, n_layers=1, L=L, prenorm=True, dropout=0.1, key=jr.key(0)
    )
    assert pre(x[0], key=jr.key(1)).shape == (5,)
    f32 = LongConvModel(
        2, 5, d_model=H, n_layers=1, L=L, dtype=jnp.float32, key=jr.key(0)
    )
    assert f32(x[0].astype(jnp.float32), key=jr.key(1)).dtype == jnp.float32
    with pytest.raises(ValueError, match="key is needed"):
        pre(x[0])
    with pytest.raises(ValueError, match=r"shape \(L_in, 2\)"):
        unchecked(LongConvModel.__call__)(model, x, inference=True)
    with pytest.raises(ValueError, match="n_layers"):
        LongConvModel(2, 5, d_model=H, n_layers=0, L=L, key=jr.key(0))
