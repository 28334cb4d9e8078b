"""SI and DSI product kernels: QMCPy oracles, PSD, gradients, transforms, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import qmcpy as qp
from jax.test_util import check_grads

import jaxmethods.qmc as qmc
from tests.helpers import assert_close, assert_traced_once, check_transforms, unchecked


SI = qmc.ShiftInvariantKernel
DSI = qmc.DigitalShiftInvariantKernel

LS4 = [1 / j**2 for j in range(1, 5)]


def _close(actual, desired, rtol=1e-12):
    """Relative 1e-12, with an absolute floor at 1e-12 of the largest entry."""
    desired = np.asarray(desired)
    assert_close(actual, desired, rtol=rtol, atol=rtol * np.abs(desired).max())


@jax.jit
def _gram(kernel, x):
    """``kernel.gram(x)`` compiled once per kernel structure and shape."""
    return kernel.gram(x)


@jax.jit
def _call(kernel, x, z):
    return kernel(x, z)


def _qp_gram(kernel, x):
    return kernel(x[:, None, :], x[None, :, :])


def _hyper(d, seed):
    rng = np.random.default_rng(seed)
    return float(rng.uniform(0.5, 3.0)), rng.uniform(0.05, 1.0, d)


# ----------------------------------------------------------------------
# The qmc.md §1.3 reference rows.
# ----------------------------------------------------------------------


def test_si_reference_row():
    x = qp.Lattice(4, seed=11)(8)
    kq = qp.KernelShiftInvar(d=4, alpha=[1, 2, 3, 4], scale=10, lengthscales=LS4)
    k = SI(4, (1, 2, 3, 4), scale=10.0, lengthscales=LS4)
    col = k(x, x[0:1])
    ref = [
        91.234444534,
        -2.3215956219,
        5.6910993499,
        5.6910993499,
        12.6960073537,
        -4.7801553838,
        -4.7801553838,
        12.6960073537,
    ]
    assert col.shape == (8,) and col.dtype == jnp.float64
    _close(col, kq(x, x[0]))
    assert_close(col, np.array(ref), rtol=1e-10, atol=1e-9)
    _close(_gram(k, x), _qp_gram(kq, x))


def test_dsi_reference_row():
    xb = qp.DigitalNetB2(4, seed=11)(8, return_binary=True)
    kq = qp.KernelDigShiftInvar(
        d=4, t=63, alpha=[1, 2, 3, 4], scale=10, lengthscales=LS4
    )
    k = DSI(4, 63, (1, 2, 3, 4), scale=10.0, lengthscales=LS4)
    col = k(xb, xb[0:1])
    ref = [
        34.4903700292,
        4.150320315,
        9.5913807656,
        4.9830703775,
        15.4221230897,
        5.4480885662,
        11.9884774081,
        4.5110471263,
    ]
    assert col.shape == (8,) and col.dtype == jnp.float64
    _close(col, kq(xb, xb[0]))
    assert_close(col, np.array(ref), rtol=1e-10, atol=1e-9)
    _close(_gram(k, xb), _qp_gram(kq, xb))


# ----------------------------------------------------------------------
# Full Gram matrices against QMCPy.
# ----------------------------------------------------------------------

ALPHAS = [1, 2, 3, 4, "mixed"]


def _alpha(a, d, hi):
    return [1 + j % hi for j in range(d)] if a == "mixed" else a


@pytest.mark.parametrize("d", [1, 3, 6])
@pytest.mark.parametrize("a", ALPHAS + [5])
def test_si_gram_matches_qmcpy(d, a):
    x = qp.Lattice(d, seed=7 + d)(32)
    scale, ls = _hyper(d, d)
    alpha = _alpha(a, d, 5)
    kq = qp.KernelShiftInvar(d=d, alpha=alpha, scale=scale, lengthscales=ls)
    k = SI(d, alpha, scale=scale, lengthscales=ls)
    _close(_gram(k, x), _qp_gram(kq, x))


def test_si_default_lengthscales_match_qmcpy():
    x = qp.Lattice(3, seed=3)(16)
    k = SI(3)
    assert_close(k.lengthscales, np.full(3, 2 ** (1 / 3) - 1), rtol=0, atol=0)
    assert k.alpha == (2, 2, 2)
    _close(_gram(k, x), _qp_gram(qp.KernelShiftInvar(d=3), x))


@pytest.mark.parametrize("d", [1, 3])
def test_si_combined_matches_product_of_qmcpy_kernels(d):
    # K = S prod_j (1 + g_j sum_p w_pj Kt_p); each 1 + Kt_p(delta_j) is a
    # one-dimensional qmcpy KernelShiftInvar(alpha=p, scale=1, lengthscales=1).
    x = qp.Lattice(d, seed=5)(16)
    scale, ls = _hyper(d, 10 + d)
    w = np.random.default_rng(d).uniform(0.2, 2.0, (4, d))
    k = SI.combined(d, w, scale=scale, lengthscales=ls)
    prod = np.ones((16, 16))
    for j in range(d):
        xj = x[:, j : j + 1]
        s = sum(
            w[p - 1, j]
            * (_qp_gram(qp.KernelShiftInvar(1, alpha=p, lengthscales=1.0), xj) - 1)
            for p in range(1, 5)
        )
        prod = prod * (1 + ls[j] * s)
    _close(_gram(k, x), scale * prod)
    # One-hot weights reduce to the plain kernel.
    onehot = np.zeros((4, d))
    onehot[2] = 1.0
    _close(
        _gram(SI.combined(d, onehot, scale=scale, lengthscales=ls), x),
        _gram(SI(d, 3, scale=scale, lengthscales=ls), x),
    )


@pytest.mark.parametrize("d", [1, 3, 6])
@pytest.mark.parametrize("a", ALPHAS)
@pytest.mark.parametrize("binary", [True, False])
def test_dsi_gram_matches_qmcpy(d, a, binary):
    x = qp.DigitalNetB2(d, seed=3 + d)(32, return_binary=binary)
    scale, ls = _hyper(d, 20 + d)
    alpha = _alpha(a, d, 4)
    kq = qp.KernelDigShiftInvar(d=d, t=63, alpha=alpha, scale=scale, lengthscales=ls)
    k = DSI(d, 63, alpha, scale=scale, lengthscales=ls)
    _close(_gram(k, x), _qp_gram(kq, x))


@pytest.mark.parametrize("t", [32, 40])
def test_dsi_other_t_matches_qmcpy(t):
    dn = qp.DigitalNetB2(3, seed=9, t=t)
    xb = dn(16, return_binary=True)
    kq = qp.KernelDigShiftInvar(d=3, t=t, alpha=[1, 3, 4], scale=2.0)
    k = DSI(3, t, (1, 3, 4), scale=2.0)
    _close(_gram(k, xb), _qp_gram(kq, xb))
    _close(k.gram(dn(16)), _qp_gram(kq, xb))


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.7, "per_dim"])
def test_dsi_adaptive_matches_qmcpy(alpha):
    d = 4
    xb = qp.DigitalNetB2(d, seed=11)(32, return_binary=True)
    a = np.array([0.5, 1.3, 2.0, 3.7]) if alpha == "per_dim" else alpha
    kq = qp.KernelDigShiftInvarAdaptiveAlpha(
        d=d, t=63, alpha=a, scale=10, lengthscales=LS4
    )
    k = DSI.adaptive(d, 63, a, scale=10.0, lengthscales=LS4)
    _close(_gram(k, xb), _qp_gram(kq, xb))


@pytest.mark.parametrize("d", [1, 3])
def test_dsi_combined_matches_qmcpy(d):
    xb = qp.DigitalNetB2(d, seed=2)(32, return_binary=True)
    scale, ls = _hyper(d, 30 + d)
    w = np.random.default_rng(d).uniform(0.2, 2.0, (4, d))
    kq = qp.KernelDigShiftInvarCombined(
        d=d, t=63, alpha=w, scale=scale, lengthscales=ls
    )
    k = DSI.combined(d, 63, w, scale=scale, lengthscales=ls)
    _close(_gram(k, xb), _qp_gram(kq, xb))


# ----------------------------------------------------------------------
# Structure: call convention, symmetry, positive definiteness.
# ----------------------------------------------------------------------


def _kernels(d):
    return [
        SI(d, [1 + j % 4 for j in range(d)], scale=2.0),
        SI.combined(d, scale=2.0),
        DSI(d, 63, [1 + j % 4 for j in range(d)], scale=2.0),
        DSI.combined(d, 63, scale=2.0),
        DSI.adaptive(d, 63, 1.5, scale=2.0),
    ]


def _points(kernel, n, d):
    if isinstance(kernel, SI):
        return jnp.asarray(qp.Lattice(d, seed=1)(n))
    return jnp.asarray(qp.DigitalNetB2(d, seed=1)(n, return_binary=True))


@pytest.mark.parametrize("i", range(5))
def test_symmetric_psd_and_call_convention(i):
    d, n = 3, 32
    k = _kernels(d)[i]
    x = _points(k, n, d)
    K = _gram(k, x)
    assert K.shape == (n, n) and K.dtype == jnp.float64
    assert_close(K, K.T, rtol=1e-13, atol=1e-13 * float(jnp.abs(K).max()))
    ev = np.linalg.eigvalsh(np.asarray(K))
    assert ev.min() >= -1e-10 * ev.max()
    # Pairwise broadcasting conventions.
    tol = {"rtol": 1e-14, "atol": 1e-14 * float(jnp.abs(K).max())}
    assert_close(_call(k, x, x[0:1]), K[:, 0], **tol)
    assert _call(k, x[0], x[0]).shape == ()
    assert_close(_call(k, x[0], x[0]), K[0, 0], **tol)
    assert_close(jax.jit(type(k).gram)(k, x, x[:5]), K[:, :5], **tol)
    xx = x[:8].reshape(2, 4, d)
    assert _call(k, xx[:, :, None, :], xx[:, None, :, :]).shape == (2, 4, 4)


# ----------------------------------------------------------------------
# Gradients, transforms, dtypes.
# ----------------------------------------------------------------------


def test_grads_si():
    x = jnp.asarray(qp.Lattice(3, seed=2)(8))

    def f(scale, ls):
        return SI(3, (1, 2, 4), scale=scale, lengthscales=ls)(x, x[1:2])

    check_grads(f, (jnp.asarray(2.0), jnp.array([0.5, 0.2, 0.9])), order=1)

    def g(w):
        return SI.combined(3, w, scale=1.5)(x, x[1:2])

    check_grads(g, (jnp.full((4, 3), 0.7),), order=1)


def test_grads_dsi():
    xb = jnp.asarray(qp.DigitalNetB2(3, seed=2)(8, return_binary=True))

    def f(scale, ls):
        return DSI(3, 63, (1, 2, 4), scale=scale, lengthscales=ls)(xb, xb[1:2])

    check_grads(f, (jnp.asarray(2.0), jnp.array([0.5, 0.2, 0.9])), order=1)

    def g(alpha, ls):
        return DSI.adaptive(3, 63, alpha, lengthscales=ls)(xb, xb[1:2])

    check_grads(g, (jnp.array([0.6, 1.4, 2.5]), jnp.array([0.5, 0.2, 0.9])), order=1)

    def h(w):
        return DSI.combined(3, 63, w)(xb, xb[1:2])

    check_grads(h, (jnp.full((4, 3), 0.7),), order=1)


def test_grad_of_module_leaves():
    import equinox as eqx

    xb = jnp.asarray(qp.DigitalNetB2(2, seed=4)(8, return_binary=True))
    k = DSI.adaptive(2, 63, 1.2)
    grads = eqx.filter_grad(lambda k: k.gram(xb).sum())(k)
    assert grads.adaptive_alpha.shape == (2,)
    assert bool(jnp.all(jnp.isfinite(grads.adaptive_alpha)))
    assert grads.lengthscales.shape == (2,) and grads.scale.shape == ()


@pytest.mark.parametrize("kind", ["si", "dsi", "adaptive"])
def test_jit_vmap(kind):
    d = 2
    if kind == "si":
        x = jnp.asarray(qp.Lattice(d, seed=3)(16))

        def make(scale, ls):
            return SI(d, 2, scale=scale, lengthscales=ls)
    elif kind == "dsi":
        x = jnp.asarray(qp.DigitalNetB2(d, seed=3)(16, return_binary=True))

        def make(scale, ls):
            return DSI(d, 63, 3, scale=scale, lengthscales=ls)
    else:
        x = jnp.asarray(qp.DigitalNetB2(d, seed=3)(16, return_binary=True))

        def make(scale, ls):
            return DSI.adaptive(d, 63, ls + 0.5, scale=scale, lengthscales=ls)

    def f(scale, ls):
        return make(scale, ls)(x, x[0:1])

    scales = jnp.array([1.0, 2.0, 3.5])
    lss = jnp.array([[0.1, 0.2], [0.3, 0.4], [0.9, 0.05]])
    check_transforms(f, (scales[0], lss[0]), vmap_args=(scales, lss))
    # The kernel module itself is a valid jit argument; one trace per structure.
    kernels = [make(s, ls) for s, ls in zip(scales, lss, strict=True)]
    assert_traced_once(lambda k, x: k.gram(x), [(k, x) for k in kernels])


def test_float32():
    x64 = qp.Lattice(3, seed=2)(16)
    x32 = jnp.asarray(x64, jnp.float32)
    k = SI(3, (1, 2, 3), scale=2.0)
    K32 = _gram(k, x32)
    assert K32.dtype == jnp.float32
    assert_close(
        K32, np.asarray(_gram(k, x64)).astype(np.float32), rtol=1e-4, atol=1e-4
    )
    assert SI(3, 2, dtype=jnp.float32).scale.dtype == jnp.float32
    # DSI: float32 floats, 32-bit integers with float32 hyperparameters.
    dn = qp.DigitalNetB2(3, seed=2, t=32)
    kd = DSI(3, 32, (1, 2, 4), scale=2.0)
    ref = np.asarray(_gram(kd, dn(16, return_binary=True)))
    xf32 = jnp.asarray(dn(16), jnp.float32)
    assert _gram(kd, xf32).dtype == jnp.float32
    assert_close(_gram(kd, xf32), ref.astype(np.float32), rtol=1e-4, atol=1e-4)
    xb32 = jnp.asarray(dn(16, return_binary=True).astype(np.uint32))
    kd32 = DSI(3, 32, (1, 2, 4), scale=2.0, dtype=jnp.float32)
    assert _gram(kd32, xb32).dtype == jnp.float32
    assert_close(_gram(kd32, xb32), ref.astype(np.float32), rtol=1e-4, atol=1e-4)
    # int64 inputs are accepted too.
    assert_close(_gram(kd, xb32.astype(jnp.int64)), ref, rtol=1e-14, atol=1e-13)


def test_jaxmethods_point_sets():
    key = jax.random.key(0)
    x = qmc.lattice(key, 16, 3)
    k = SI(3, 2)
    ev = np.linalg.eigvalsh(np.asarray(k.gram(x)))
    assert ev.min() > 0
    xb = qmc.digital_net_b2(key, 16, 3, return_binary=True)
    xf = qmc.digital_net_b2(key, 16, 3)
    kd = DSI(3, 63, 2)
    _close(_gram(kd, xf), _gram(kd, xb))


# ----------------------------------------------------------------------
# Errors.
# ----------------------------------------------------------------------


def test_constructor_errors():
    # (jaxtyping's TypeCheckError, a TypeError, may fire first under pytest.)
    with pytest.raises(TypeError, match="d must be|Type-check error"):
        SI(2.0)
    with pytest.raises(ValueError, match="d must be"):
        SI(0)
    with pytest.raises(ValueError, match="alpha entries must be in"):
        SI(2, 6)
    with pytest.raises(ValueError, match="alpha entries must be in"):
        DSI(2, 63, 5)
    with pytest.raises(TypeError, match="alpha entries|Type-check error"):
        DSI(2, 63, [1.5, 2])
    with pytest.raises(ValueError, match="expected d=3"):
        SI(3, [1, 2])
    with pytest.raises(ValueError, match="lengthscales"):
        SI(3, 2, lengthscales=[1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        SI(2, 2, scale=-1.0)
    with pytest.raises(ValueError, match="alpha must be None"):
        SI(2, 2, weights=1.0)
    with pytest.raises(ValueError, match="weights"):
        SI.combined(2, np.ones((3, 2)))
    with pytest.raises(ValueError, match="t must be in"):
        DSI(2, 65)
    with pytest.raises(ValueError, match="t must be in"):
        DSI(2, -1)
    with pytest.raises(TypeError, match="t must be|Type-check error"):
        DSI(2, 63.0)
    with pytest.raises(ValueError, match="exactly one"):
        DSI(2, 63, 2, adaptive_alpha=1.0)
    with pytest.raises(ValueError, match="positive"):
        DSI.adaptive(2, 63, [1.0, 0.0])
    with pytest.raises(ValueError, match="non-negative"):
        SI(2, 2, lengthscales=[1.0, -0.5])


def test_call_errors():
    k = SI(3, 2)
    call = unchecked(SI.__call__)
    x = jnp.zeros((4, 3))
    with pytest.raises(ValueError, match=r"shape \(..., d\) with d=3"):
        call(k, jnp.zeros((4, 2)), jnp.zeros((4, 2)))
    with pytest.raises(ValueError, match="do not broadcast"):
        call(k, x, jnp.zeros((5, 3)))
    with pytest.raises(TypeError, match="floats"):
        call(k, jnp.zeros((4, 3), jnp.int32), x)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        unchecked(SI.gram)(k, jnp.zeros(3))
    kd = DSI(3, 63, 2)
    dcall = unchecked(DSI.__call__)
    with pytest.raises(TypeError, match="real"):
        dcall(kd, jnp.zeros((4, 3), bool), x)
    with pytest.raises(ValueError, match="d=3"):
        dcall(kd, jnp.zeros((4, 2), jnp.uint64), jnp.zeros((4, 2), jnp.uint64))
