"""Orthonormal tensor bases: orthonormality, reference values, component samplers."""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from numpy.polynomial import hermite_e, legendre
from scipy import integrate, stats

from jaxmethods import wls
from tests.helpers import assert_traced_once, unchecked


def _tensor_rule(nodes, weights, d):
    grids = np.meshgrid(*[nodes] * d, indexing="ij")
    x = np.stack([g.ravel() for g in grids], -1)
    w = np.prod(np.meshgrid(*[weights] * d, indexing="ij"), axis=0).ravel()
    return x, w


def test_index_sets():
    for d, p in [(1, 5), (2, 4), (3, 3), (5, 2)]:
        td = wls.total_degree_indices(d, p)
        assert td.shape == (math.comb(d + p, d), d)
        assert (td.sum(1) <= p).all() and (td[0] == 0).all()
        assert len({tuple(r) for r in td.tolist()}) == len(td)
        hc = wls.hyperbolic_cross_indices(d, p)
        assert (np.prod(hc + 1, 1) <= p + 1).all()
        # every index with prod(a+1) <= p+1 is present
        brute = [
            a
            for a in np.ndindex(*([p + 1] * d))
            if math.prod(v + 1 for v in a) <= p + 1
        ]
        assert len(hc) == len(brute)


@pytest.mark.parametrize("d,p", [(1, 7), (2, 5), (3, 3)])
def test_legendre_orthonormal_on_a_box(d, p):
    lo, hi = np.array([0.0, -1.0, 2.0])[:d], np.array([2.0, 3.0, 2.5])[:d]
    basis = wls.LegendreBasis(wls.total_degree_indices(d, p), lower=lo, upper=hi)
    t, w = legendre.leggauss(p + 2)
    x, wt = _tensor_rule(t, w / 2, d)  # uniform probability on [-1, 1]^d
    x = lo + (x + 1) * (hi - lo) / 2
    Phi = np.asarray(basis(jnp.asarray(x)))
    np.testing.assert_allclose(Phi.T @ (wt[:, None] * Phi), np.eye(basis.m), atol=1e-12)


@pytest.mark.parametrize("d,p", [(1, 10), (2, 5)])
def test_hermite_orthonormal(d, p):
    mean, std = np.array([0.5, -2.0])[:d], np.array([2.0, 0.3])[:d]
    basis = wls.HermiteBasis(wls.hyperbolic_cross_indices(d, p), mean=mean, std=std)
    t, w = hermite_e.hermegauss(p + 2)
    x, wt = _tensor_rule(t, w / math.sqrt(2 * math.pi), d)
    Phi = np.asarray(basis(jnp.asarray(mean + std * x)))
    np.testing.assert_allclose(Phi.T @ (wt[:, None] * Phi), np.eye(basis.m), atol=1e-10)


def test_reference_values():
    # research/qmc.md §2.3 (DPPy's kernels use dx on [-1, 1]^d, not dx/2^d)
    b5 = wls.LegendreBasis(wls.total_degree_indices(1, 4))
    x = jnp.array([[0.3], [1.0], [-0.7]])
    k = np.asarray(b5.inverse_christoffel(x))
    np.testing.assert_allclose(k[0] / 5, 0.60162953203125, rtol=1e-13)
    np.testing.assert_allclose(k[1] / 5, 5.0, rtol=1e-14)  # rho_m(1) = m
    phi = np.asarray(b5(x))
    np.testing.assert_allclose(phi[0] @ phi[2] / 2, -0.42239351367188, rtol=1e-12)
    dppy_order = np.array([(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (1, 2)])
    b6 = wls.LegendreBasis(dppy_order)
    k6 = float(b6.inverse_christoffel(jnp.array([0.1, 0.2])))
    np.testing.assert_allclose(k6 / 4, 0.53766, atol=5e-6)


def test_kernel_matches_dppy():
    from dppy.multivariate_jacobi_ope import MultivariateJacobiOPE

    ope = MultivariateJacobiOPE(10, np.zeros((2, 2)))
    basis = wls.LegendreBasis(ope.ordering)
    x = np.random.default_rng(0).uniform(-1, 1, (7, 2))
    y = np.random.default_rng(1).uniform(-1, 1, (7, 2))
    ours = np.sum(np.asarray(basis(x)) * np.asarray(basis(y)), -1) / 4
    ref = np.array([ope.K(x[i], y[i])[0, 0] for i in range(7)])
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_legendre_envelope():
    # the rejection sampler needs sqrt(1 - t^2) phi_k(t)^2 <= 4 / pi for all k
    t = jnp.cos(jnp.linspace(0, jnp.pi, 20001))
    basis = wls.LegendreBasis(np.arange(41)[:, None])
    val = np.sqrt(1 - np.asarray(t) ** 2)[:, None] * np.asarray(basis(t[:, None])) ** 2
    assert val.max() <= 4 / np.pi


def _legendre_component_cdf(k, t):
    nodes, w = legendre.leggauss(k + 2)
    lo = -1.0
    xs = lo + (nodes[None, :] + 1) * (t[:, None] - lo) / 2
    phi = np.sqrt(2 * k + 1) * legendre.legval(xs, np.eye(k + 1)[k])
    return np.sum(w * phi**2, -1) * (t - lo) / 2 / 2


def _hermite_density(t, k):
    he = hermite_e.hermeval(t, np.eye(k + 1)[k]) / math.sqrt(math.factorial(k))
    return he**2 * np.exp(-(t**2) / 2) / math.sqrt(2 * math.pi)


@pytest.mark.parametrize("k", [0, 1, 3, 8])
def test_legendre_component_sampler_ks(k):
    basis = wls.LegendreBasis(np.array([[k]]))
    x = np.asarray(basis.sample_component(jr.key(k), jnp.zeros(4000, int)))[:, 0]
    assert (np.abs(x) <= 1).all()
    # KS against the exact CDF; false-alarm rate 1e-4 per test
    p = stats.kstest(x, lambda t: _legendre_component_cdf(k, np.atleast_1d(t))).pvalue
    assert p > 1e-4, p


def test_hermite_cdf_formula():
    from jaxmethods.wls._basis import _hermite_cdf_coefficients, _hermite_table

    p = 12
    coef = _hermite_cdf_coefficients(p)
    for k in (0, 1, 2, 5, 12):
        for t in (-4.0, -1.3, 0.0, 0.7, 2.5, 6.0):
            ref = integrate.quad(_hermite_density, -np.inf, t, args=(k,))[0]
            h = np.asarray(_hermite_table(jnp.asarray(t), 2 * p - 1))
            j = np.clip(2 * k - 2 * np.arange(p) - 1, 0, None)
            val = stats.norm.cdf(t) - stats.norm.pdf(t) * np.sum(coef[k] * h[j])
            np.testing.assert_allclose(val, ref, atol=1e-10)


@pytest.mark.parametrize("k", [0, 1, 4, 9])
def test_hermite_component_sampler_ks(k):
    basis = wls.HermiteBasis(np.array([[k]]), mean=1.0, std=2.0)
    x = np.asarray(basis.sample_component(jr.key(k), jnp.zeros(4000, int)))[:, 0]
    t = (x - 1.0) / 2.0

    grid = np.linspace(-20, 20, 400001)  # cumulative trapezoid, error ~1e-9
    F = integrate.cumulative_trapezoid(_hermite_density(grid, k), grid, initial=0)

    def cdf(v):
        return np.interp(v, grid, F)

    p = stats.kstest(t, lambda v: cdf(np.atleast_1d(v))).pvalue
    assert p > 1e-4, p


def test_jit_vmap_and_dtypes():
    basis = wls.LegendreBasis(wls.total_degree_indices(2, 3))
    x = jr.uniform(jr.key(0), (5, 2), minval=-1, maxval=1)
    assert_traced_once(lambda b, z: b(z), [(basis, x), (basis, x + 0.1)])
    v = jax.vmap(basis)(x)
    np.testing.assert_allclose(v, basis(x), rtol=1e-14)
    out32 = basis(x.astype(jnp.float32))
    assert out32.dtype == jnp.float32
    np.testing.assert_allclose(out32, basis(x), rtol=1e-5, atol=1e-5)
    s = basis.sample_component(jr.key(1), jnp.arange(10), dtype=jnp.float32)
    assert s.dtype == jnp.float32 and s.shape == (10, 2)


def test_bad_inputs():
    idx = wls.total_degree_indices(2, 2)
    with pytest.raises(ValueError, match="upper > lower"):
        wls.LegendreBasis(idx, lower=0.0, upper=0.0)
    with pytest.raises(ValueError, match="std"):
        wls.HermiteBasis(idx, std=0.0)
    with pytest.raises(ValueError, match="finite"):
        wls.HermiteBasis(idx, mean=np.nan)
    with pytest.raises(ValueError, match="repeated"):
        wls.LegendreBasis(np.array([[0, 1], [0, 1]]))
    with pytest.raises(ValueError, match="non-negative"):
        wls.LegendreBasis(np.array([[0, -1]]))
    with pytest.raises(ValueError, match="shape"):
        wls.LegendreBasis(np.array([0, 1]))
    basis = wls.LegendreBasis(idx)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        unchecked(type(basis).__call__)(basis, jnp.ones((3, 3)))
    with pytest.raises(TypeError, match="float"):
        unchecked(type(basis).__call__)(basis, jnp.ones((3, 2), int))
    with pytest.raises(ValueError, match="degree"):
        wls.total_degree_indices(2, -1)
    with pytest.raises(TypeError, match="int"):
        unchecked(wls.hyperbolic_cross_indices)(2.0, 3)
