"""The analytic diffusion test kit: exact GMM scores and the reference PF-ODE."""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats

from jaxmethods.diffusion import VPSchedule
from jaxmethods.testing.analytic import (
    GaussianMixture,
    gaussian_flow_map,
    pf_ode_reference,
)
from tests.helpers import (
    assert_close,
    assert_mean_within,
    assert_traced_once,
    check_transforms,
    unchecked,
)


LINEAR = VPSchedule.linear()
GMM = GaussianMixture(
    jnp.array([0.2, 0.5, 0.3]),
    jnp.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]]),
    jnp.array([0.3, 0.5, 0.2]),
)
MU, C = np.array([1.0, -0.5]), 0.3
GAUSS = GaussianMixture(jnp.array([1.0]), jnp.array([MU]), jnp.array([C]))
# (alpha, sigma) pairs: data density, small/medium/large noise, pure noise.
NOISE = [(1.0, 0.0), (0.999, math.sqrt(1 - 0.999**2)), (0.6, 0.8), (0.05, 0.99875)]


def scipy_logpdf(gmm, x, alpha, sigma):
    w, m, s = (np.asarray(a) for a in (gmm.weights, gmm.means, gmm.stds))
    var = alpha**2 * s**2 + sigma**2
    comps = [
        np.log(w[k]) + stats.multivariate_normal.logpdf(x, alpha * m[k], var[k])
        for k in range(len(w))
    ]
    return np.logaddexp.reduce(comps)


@pytest.mark.parametrize(("alpha", "sigma"), NOISE)
def test_logpdf_score_eps_x0(alpha, sigma, getkey):
    xs = 2.0 * jr.normal(getkey(), (5, 2))
    for x in xs:
        lp = GMM.logpdf(x, alpha, sigma)
        assert_close(lp, scipy_logpdf(GMM, np.asarray(x), alpha, sigma), rtol=1e-12)
        score = GMM.score(x, alpha, sigma)
        assert_close(score, jax.grad(GMM.logpdf)(x, alpha, sigma), rtol=1e-10)
        assert_close(GMM.eps(x, alpha, sigma), -sigma * score, rtol=1e-12)
        # Tweedie: E[x0 | x] = (x + sigma^2 score) / alpha.
        tweedie = (x + sigma**2 * score) / alpha
        assert_close(GMM.x0_mean(x, alpha, sigma), tweedie, rtol=1e-9, atol=1e-12)


def test_score_far_from_all_components():
    # The responsibilities are computed stably: no NaN where every density underflows.
    x = jnp.array([300.0, -400.0])
    for alpha, sigma in NOISE[1:]:
        s = GMM.score(x, alpha, sigma)
        assert np.all(np.isfinite(np.asarray(s)))
    s = GMM.score(x, 1.0, 0.0)
    assert np.all(np.isfinite(np.asarray(s)))
    assert float(GMM.logpdf(x, 1.0, 0.0)) < -1e5


@pytest.mark.parametrize(("alpha", "sigma"), NOISE)
def test_gaussian_closed_forms(alpha, sigma, getkey):
    x = jr.normal(getkey(), (2,))
    v = alpha**2 * C**2 + sigma**2
    assert_close(GAUSS.eps(x, alpha, sigma), sigma * (x - alpha * MU) / v, rtol=1e-12)
    post = MU + alpha * C**2 / v * (x - alpha * MU)
    assert_close(GAUSS.x0_mean(x, alpha, sigma), post, rtol=1e-12, atol=1e-15)


def test_x0_mean_at_pure_noise():
    x = jnp.array([0.3, -0.7])
    mean = np.asarray(GMM.weights) @ np.asarray(GMM.means)
    assert_close(GMM.x0_mean(x, 0.0, 1.0), mean, rtol=1e-12)


def test_sample_moments(getkey):
    n = 20000
    x = GMM.sample(getkey(), n)
    assert x.shape == (n, 2) and x.dtype == jnp.float64
    w, m, s = (np.asarray(a) for a in (GMM.weights, GMM.means, GMM.stds))
    mean = w @ m
    second = w @ (m**2 + s[:, None] ** 2)
    assert_mean_within(x, mean)
    assert_mean_within(np.asarray(x) ** 2, second)


def test_float32(getkey):
    x = jr.normal(getkey(), (2,), dtype=jnp.float32)
    for f in (GMM.eps, GMM.score, GMM.x0_mean):
        assert f(x, 0.6, 0.8).dtype == jnp.float32
    assert GMM.logpdf(x, 0.6, 0.8).dtype == jnp.float32
    eps_fn = GMM.noise_prediction(LINEAR)
    assert eps_fn(jnp.zeros((3, 2), jnp.float32), jnp.float32(0.5)).dtype == jnp.float32
    assert_close(
        GMM.eps(x, 0.6, 0.8),
        GMM.eps(x.astype(jnp.float64), 0.6, 0.8).astype(np.float32),
    )


def test_noise_prediction(getkey):
    eps_fn = GMM.noise_prediction(LINEAR)
    x = jr.normal(getkey(), (6, 2))
    t = 0.37
    a, s = LINEAR.alpha(t), LINEAR.sigma(t)
    loop = jnp.stack([GMM.eps(xi, a, s) for xi in x])
    assert_close(eps_fn(x, jnp.asarray(t)), loop, rtol=1e-13)
    # Per-row times.
    ts = jnp.linspace(0.05, 0.95, 6)
    rows = jnp.stack([eps_fn(x[i : i + 1], ts[i])[0] for i in range(6)])
    assert_close(eps_fn(x, ts), rows, rtol=1e-13)
    g = lambda x, t: eps_fn(x, t)
    check_transforms(g, (x, jnp.asarray(t)), vmap_args=(x[:, None], ts))
    # A new mixture of the same shapes does not retrace a jitted consumer.
    other = GaussianMixture(GMM.weights[::-1], GMM.means + 1.0, GMM.stds * 2.0)
    f = lambda fn, x: fn(x, jnp.asarray(0.5))
    assert_traced_once(
        f, [(eps_fn, x), (other.noise_prediction(LINEAR), x), (eps_fn, x + 1.0)]
    )


def test_noise_prediction_discrete_schedule():
    sch = VPSchedule.discrete(betas=np.linspace(1e-4, 0.02, 1000))
    eps_fn = GAUSS.noise_prediction(sch)
    x = jnp.array([[0.7, -1.3], [0.0, 0.0]])
    t = jnp.asarray(0.25)
    a, s = float(sch.alpha(t)), float(sch.sigma(t))
    v = a**2 * C**2 + s**2
    assert_close(eps_fn(x, t), s * (np.asarray(x) - a * MU) / v, rtol=1e-12)


# --------------------------------------------------------------------------
# Exact flow map and the reference ODE solver.
# --------------------------------------------------------------------------

X_T = np.array([0.7, -1.3])
GAUSS_REF = np.array([1.2080932365294594, -0.8892105885697885])  # research §1.3


def test_gaussian_flow_map_reference_value():
    x = gaussian_flow_map(MU, C, LINEAR, X_T, 1.0, 1e-3)
    assert_close(x, GAUSS_REF, rtol=0, atol=1e-13)


def test_gaussian_flow_map_group_property(getkey):
    sch = VPSchedule.cosine()
    x = jr.normal(getkey(), (4, 2))
    f = lambda x, s, t: gaussian_flow_map(MU, C, sch, x, s, t)
    direct = f(x, 0.9, 0.01)
    assert_close(f(f(x, 0.9, 0.4), 0.4, 0.01), direct, rtol=1e-12)
    assert_close(f(direct, 0.01, 0.9), x, rtol=1e-12)
    assert f(x[0], 0.9, 0.01).shape == (2,)


def test_pf_ode_reference_gaussian():
    x = pf_ode_reference(GAUSS.noise_prediction(LINEAR), LINEAR, X_T[None])
    assert x.shape == (1, 2) and x.dtype == jnp.float64
    err = np.max(np.abs(np.asarray(x[0]) - GAUSS_REF))
    assert err <= 1e-10, err


@pytest.mark.parametrize(
    "sch",
    [VPSchedule.cosine(), VPSchedule.discrete(betas=np.linspace(1e-4, 0.02, 1000))],
    ids=["cosine", "discrete"],
)
def test_pf_ode_reference_other_schedules(sch):
    x_T = jnp.array([[0.7, -1.3], [-0.4, 2.0]])
    x = pf_ode_reference(GAUSS.noise_prediction(sch), sch, x_T, 0.9, 0.01)
    exact = gaussian_flow_map(MU, C, sch, x_T, 0.9, 0.01)
    assert_close(x, exact, rtol=0, atol=1e-10)


def test_pf_ode_reference_backwards():
    # Encoding (t_end > t_start) inverts the flow.
    x0 = jnp.asarray(GAUSS_REF[None])
    x = pf_ode_reference(GAUSS.noise_prediction(LINEAR), LINEAR, x0, 1e-3, 1.0)
    assert_close(x[0], X_T, rtol=0, atol=1e-10)


def test_pf_ode_reference_gmm():
    # research §1.3: analytic 2-D GMM, linear VP, t: 1 -> 1e-3, Dopri8 in lambda.
    x_T = np.random.default_rng(0).standard_normal((256, 2))
    x = pf_ode_reference(GMM.noise_prediction(LINEAR), LINEAR, x_T[:1])
    ref0 = np.array([1.5908765175692716, 0.4421783482920906])
    err = np.max(np.abs(np.asarray(x[0]) - ref0))
    assert err <= 1e-10, err


# --------------------------------------------------------------------------
# Errors.
# --------------------------------------------------------------------------


def test_errors():
    with pytest.raises(ValueError, match="GaussianMixture: means must have shape"):
        unchecked(GaussianMixture.__init__)(
            object.__new__(GaussianMixture), jnp.ones(2), jnp.ones(2), jnp.ones(2)
        )
    with pytest.raises(ValueError, match="GaussianMixture: weights and stds"):
        unchecked(GaussianMixture.__init__)(
            object.__new__(GaussianMixture), jnp.ones(3), jnp.ones((2, 2)), jnp.ones(2)
        )
    with pytest.raises(ValueError, match=r"GaussianMixture: x must have shape \(2,\)"):
        unchecked(GaussianMixture.eps)(GMM, jnp.ones(3), 0.5, 0.5)
    with pytest.raises(ValueError, match="GaussianMixture.sample: n must be"):
        GMM.sample(jr.key(0), 0)
    eps_fn = GMM.noise_prediction(LINEAR)
    with pytest.raises(ValueError, match=r"GaussianMixtureEps: x must have shape"):
        unchecked(type(eps_fn).__call__)(eps_fn, jnp.ones(2), 0.5)
    with pytest.raises(ValueError, match=r"GaussianMixtureEps: t must be a scalar"):
        unchecked(type(eps_fn).__call__)(eps_fn, jnp.ones((3, 2)), jnp.ones(2))
    with pytest.raises(ValueError, match=r"pf_ode_reference: x_T must have shape"):
        unchecked(pf_ode_reference)(eps_fn, LINEAR, jnp.ones(2))
    with pytest.raises(ValueError, match="gaussian_flow_map: mean must have shape"):
        unchecked(gaussian_flow_map)(MU, C, LINEAR, jnp.ones((4, 3)), 0.9, 0.1)
