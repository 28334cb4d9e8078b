"""Test integrands: exact values vs QMCPy, scipy quadrature and Monte Carlo."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import qmcpy as qp
from scipy import integrate, stats

from jaxmethods.qmc import integrands as I
from tests.helpers import assert_close, assert_mean_within, check_transforms, unchecked


def _uniform(key, n, d):
    return np.asarray(jr.uniform(key, (n, d), dtype=jnp.float64))


def test_keister_exact_matches_qmcpy_and_reference():
    assert I.keister_exact(3) == pytest.approx(2.168309102165481, rel=1e-14)
    for d in range(1, 9):
        assert I.keister_exact(d) == pytest.approx(
            qp.Keister.get_exact_value(d), rel=1e-12
        )


def test_keister_exact_vs_quadrature():
    # d = 1: int_R cos|t| exp(-t^2) dt;  d = 2 on a box that holds the mass.
    one = integrate.quad(lambda t: math.cos(abs(t)) * math.exp(-t * t), -np.inf, np.inf)
    assert I.Keister(1).exact == pytest.approx(one[0], rel=1e-10)
    two = integrate.dblquad(
        lambda y, x: math.cos(math.hypot(x, y)) * math.exp(-(x * x + y * y)),
        -9, 9, -9, 9, epsabs=1e-12,
    )  # fmt: skip
    assert I.Keister(2).exact == pytest.approx(two[0], rel=1e-8)


def test_keister_values_match_qmcpy(getkey):
    x = _uniform(getkey(), 64, 3)
    ref = qp.Keister(qp.DigitalNetB2(3, seed=1)).f(x)
    assert_close(I.Keister(3)(x), ref, rtol=1e-12)


@pytest.mark.parametrize("kind", ["OSCILLATORY", "CORNER PEAK"])
@pytest.mark.parametrize("coeff", [1, 2, 3])
def test_genz_values_match_qmcpy(getkey, kind, coeff):
    d = 4
    ref = qp.Genz(qp.DigitalNetB2(d, seed=1), kind_func=kind, kind_coeff=coeff)
    c = ref.c[0]
    f = I.GenzOscillatory(c) if kind == "OSCILLATORY" else I.GenzCornerPeak(c)
    x = _uniform(getkey(), 64, d)
    assert_close(f(x), ref.f(x), rtol=1e-12)


@pytest.mark.parametrize(
    "a,u",
    [([1.0, 2.0], [0.3, 0.9]), ([0.5, 3.0, 1.5], [0.1, 0.0, 0.7]), ([0.0, 2.5], None)],
)
def test_genz_oscillatory_exact_vs_nquad(a, u):
    f = I.GenzOscillatory(np.array(a), None if u is None else np.array(u))
    u1 = 0.0 if u is None else u[0]
    ref, _ = integrate.nquad(
        lambda *x: math.cos(2 * math.pi * u1 + float(np.dot(a, x))),
        [[0, 1]] * len(a),
        opts={"epsabs": 1e-12, "epsrel": 1e-12},
    )
    assert f.exact == pytest.approx(ref, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("a", [[1.0, 2.0], [0.5, 3.0, 1.5], [5.0, 5.0]])
def test_genz_corner_peak_exact_vs_nquad(a):
    f = I.GenzCornerPeak(np.array(a))
    d = len(a)
    ref, _ = integrate.nquad(
        lambda *x: (1 + float(np.dot(a, x))) ** (-(d + 1)),
        [[0, 1]] * d,
        opts={"epsabs": 1e-13, "epsrel": 1e-12},
    )
    assert f.exact == pytest.approx(ref, rel=1e-9)


def test_ishigami_mean_and_variance_vs_quadrature():
    f = I.Ishigami()
    assert f.exact == 3.5

    def g(x3, x2, x1):
        return float(f(np.array([x1, x2, x3])))

    def z(x):
        return math.pi * (2 * x - 1)

    def h(x3, x2, x1, a=7.0, b=0.1):
        s1 = math.sin(z(x1))
        return s1 + a * math.sin(z(x2)) ** 2 + b * z(x3) ** 4 * s1

    mean, _ = integrate.tplquad(h, 0, 1, 0, 1, 0, 1)
    second, _ = integrate.tplquad(lambda *x: h(*x) ** 2, 0, 1, 0, 1, 0, 1)
    assert mean == pytest.approx(3.5, rel=1e-9)
    assert second - mean**2 == pytest.approx(f.variance, rel=1e-8)
    # the module evaluates the same function
    assert g(0.3, 0.6, 0.2) == pytest.approx(h(0.3, 0.6, 0.2), rel=1e-12)
    ref = qp.Ishigami(qp.DigitalNetB2(3, seed=1))
    x = np.array([[0.3, 0.6, 0.2], [0.9, 0.1, 0.45]])
    assert_close(f(x), ref.f(x), rtol=1e-12)


def test_european_call_exact_vs_quadrature():
    f = I.EuropeanCall(1, s0=100.0, strike=110.0, r=0.03, sigma=0.25, t=2.0)
    # the payoff only sees S_T: integrate over the normal directly
    ref, _ = integrate.quad(
        lambda z: float(f(np.array([stats.norm.cdf(z)]))) * stats.norm.pdf(z),
        -8, 8, epsabs=1e-11, limit=200,
    )  # fmt: skip
    assert f.exact == pytest.approx(ref, rel=1e-8)
    # Black-Scholes reference value (Hull's textbook example, 10.4506)
    assert I.EuropeanCall(1).exact == pytest.approx(10.450583572185565, rel=1e-12)


@pytest.mark.parametrize(
    "f",
    [
        I.EuropeanCall(8, s0=90.0, strike=100.0, sigma=0.3),
        I.AsianGeometricCall(8, s0=90.0, strike=100.0, sigma=0.3),
        I.AsianGeometricCall(3),
        I.Keister(5),
        I.Ishigami(),
    ],
)
def test_exact_vs_monte_carlo(getkey, f):
    # z-test at 4.5 standard errors: false-alarm rate about 7e-6 per case.
    x = jr.uniform(getkey(), (2**18, f.d), dtype=jnp.float64)
    y = np.asarray(f(x))
    assert_mean_within(y, f.exact, k=4.5)


def test_ishigami_variance_monte_carlo(getkey):
    # The sample variance of 2^20 draws; its standard error is sqrt(mu4 - s^4)/sqrt(n),
    # estimated from the same sample, at 4.5 standard errors.
    f = I.Ishigami()
    y = np.asarray(f(jr.uniform(getkey(), (2**20, 3), dtype=jnp.float64)))
    c = (y - y.mean()) ** 2
    assert_mean_within(c, f.variance, k=4.5)


def test_asian_with_one_date_is_european():
    assert I.AsianGeometricCall(1, strike=95.0).exact == pytest.approx(
        I.EuropeanCall(1, strike=95.0).exact, rel=1e-13
    )


def test_transforms_and_dtypes(getkey):
    f = I.Keister(3)
    x = jr.uniform(getkey(), (5, 3), dtype=jnp.float64)
    xb = jr.uniform(getkey(), (4, 5, 3), dtype=jnp.float64)
    check_transforms(f, (x,), vmap_args=(xb,))
    for g in (
        I.GenzOscillatory(np.ones(3)),
        I.GenzCornerPeak(np.ones(3)),
        I.Ishigami(),
    ):
        check_transforms(g, (x,), vmap_args=(xb,))
        assert g(x.astype(jnp.float32)).dtype == jnp.float32
    x32 = x.astype(jnp.float32)
    assert f(x32).dtype == jnp.float32
    assert I.AsianGeometricCall(3)(x32).dtype == jnp.float32
    assert f(xb).shape == (4, 5)


def test_modules_are_hashable_and_jittable(getkey):
    f = I.GenzOscillatory(np.array([1.0, 2.0]))
    assert hash(f) == hash(I.GenzOscillatory(np.array([1.0, 2.0])))
    x = jr.uniform(getkey(), (3, 2), dtype=jnp.float64)
    assert_close(eqx.filter_jit(lambda g, z: g(z))(f, x), f(x))
    assert_close(jax.jit(lambda z: f(z))(x), f(x))


def test_bad_inputs():
    with pytest.raises(ValueError, match="d must be"):
        I.Keister(0)
    with pytest.raises(ValueError, match="shape"):
        unchecked(I.Keister(3).__call__)(I.Keister(3), jnp.zeros((4, 2)))
    with pytest.raises(TypeError, match="floating"):
        unchecked(I.Keister(3).__call__)(I.Keister(3), jnp.zeros((4, 3), jnp.int32))
    with pytest.raises(ValueError, match="positive"):
        I.GenzCornerPeak(np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="shape"):
        I.GenzOscillatory(np.array([1.0, 2.0]), np.array([0.1]))
    with pytest.raises(ValueError, match="non-empty"):
        I.GenzOscillatory(np.zeros(0))
    with pytest.raises(ValueError, match="sigma"):
        I.EuropeanCall(2, sigma=0.0)
