"""The exact Gaussian-mixture fields of the test kit (research notes section 3.3)."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from jaxmethods.diffusion import VPSchedule
from jaxmethods.interpolants import Interpolant
from jaxmethods.testing.analytic import (
    GaussianMixtureInterpolant,
    gaussian_flow_map,
    interpolant_flow_map,
)
from tests.helpers import assert_close, unchecked

from .common import FIELD, GMM, PATHS, X_REF


B_REF = [1.0146045932119936, -0.12597454277829567]
S_REF = [0.2764030621413288, 0.18268363814780297]


def test_reference_values():
    assert_close(FIELD.b(X_REF, 0.5), jnp.array(B_REF), rtol=1e-12, atol=1e-14)
    assert_close(FIELD.s(X_REF, 0.5), jnp.array(S_REF), rtol=1e-12, atol=1e-14)
    # At t = 0: E[x1] + (alpha alpha_dot + gamma gamma_dot)(0) x = E[x1] - x / 2.
    assert_close(FIELD.b(X_REF, 0.0), jnp.array([0.45, -0.15]), rtol=1e-14)


def _numpy_fields(interp, x, t):
    """b, v, s, eta from the per-component conditional expectations, in NumPy."""
    a, ad, b, bd, g, _ = (float(c) for c in interp.coeffs(t))
    w, mu, c = (np.asarray(v) for v in (GMM.weights, GMM.means, GMM.stds))
    var = a * a + b * b * c * c + g * g
    d = x[None, :] - b * mu
    lg = np.log(w) - 0.5 * (d**2).sum(1) / var - np.log(2 * np.pi * var)
    r = np.exp(lg - lg.max())
    r /= r.sum()
    e_x0 = (r[:, None] * (a / var)[:, None] * d).sum(0)
    e_x1 = (r[:, None] * (mu + (b * c * c / var)[:, None] * d)).sum(0)
    e_z = (r[:, None] * (g / var)[:, None] * d).sum(0)
    s = -(r[:, None] * d / var[:, None]).sum(0)
    if interp.is_one_sided:
        return ad * e_x0 + bd * e_x1, bd * e_x1, s, e_x0
    gd = float(interp.gamma_dot(t))
    return ad * e_x0 + bd * e_x1 + gd * e_z, ad * e_x0 + bd * e_x1, s, e_z


@pytest.mark.parametrize("name", list(PATHS))
def test_fields_are_conditional_expectations(name, getkey):
    """b, v, s, eta against E[x0 | x], E[x1 | x], E[z | x] per component."""
    field = GaussianMixtureInterpolant(GMM, PATHS[name])
    xs = 1.5 * jr.normal(getkey(), (3, 2))
    ts = [0.1, 0.37, 0.8]
    # All fields in one compiled call (the public methods compute one each).
    out = jax.jit(jax.vmap(field._point))(xs, jnp.array(ts))
    b, v, s, eta = (out[k] for k in ("b", "v", "s", "eta"))
    for i, t in enumerate(ts):
        want = _numpy_fields(PATHS[name], np.asarray(xs[i]), t)
        for got, ref, k in zip((b, v, s, eta), want, "bvse", strict=True):
            assert_close(got[i], ref, rtol=1e-11, atol=1e-13, err_msg=f"{k} at {t}")


SOME = ["linear", "trig-sigmoid", "encoding-decoding", "mirror", "vp-cosine"]


@pytest.mark.parametrize("name", SOME)
def test_score_is_grad_log_density(name, getkey):
    field = GaussianMixtureInterpolant(GMM, PATHS[name])
    xs = 1.5 * jr.normal(getkey(), (4, 2))
    ts = jnp.array([0.0, 0.37, 0.99])
    score, grad = _score_and_grad(field, xs, ts)
    assert_close(score, grad, rtol=1e-12, atol=1e-14)


@jax.jit
def _score_and_grad(field, xs, ts):
    """s and grad log rho_t at every (x, t) pair, shape (T, B, D)."""

    def at(t):
        grad = jax.vmap(jax.grad(lambda x: field.logpdf(x, t)))(xs)
        return field.s(xs, t), grad

    return jax.vmap(at)(ts)


@pytest.mark.parametrize("name", SOME)
def test_transport_equation(name):
    """d_t rho + div(rho b) = 0 by autodiff of the closed-form density."""
    field = GaussianMixtureInterpolant(GMM, PATHS[name])
    for t in (0.37, 0.8):
        dt, div = _transport_terms(field, X_REF, jnp.asarray(t))
        assert abs(float(dt + div)) <= 1e-13 * float(abs(dt) + 1e-3), (name, dt, div)


@jax.jit
def _transport_terms(field, x, t):
    """d rho / dt and div(rho b) at (x, t), by autodiff of the closed forms."""
    rho = lambda x, t: jnp.exp(field.logpdf(x, t))
    flux = lambda x, t: rho(x, t) * field.b(x, t)
    return jax.grad(rho, argnums=1)(x, t), jnp.trace(jax.jacfwd(flux)(x, t))


def test_vp_fields_are_the_diffusion_fields(getkey):
    """The interpolant score/denoiser of a VP path equal GaussianMixture's score/eps."""
    sch = VPSchedule.linear()
    field = GaussianMixtureInterpolant(GMM, Interpolant.from_vp_schedule(sch))
    xs = jr.normal(getkey(), (5, 2))
    for t in (0.0, 0.4, 0.999):
        tau = 1.0 - t
        al, si = sch.alpha(jnp.asarray(tau)), sch.sigma(jnp.asarray(tau))
        assert_close(
            field.s(xs, t),
            jax.vmap(GMM.score, (0, None, None))(xs, al, si),
            rtol=1e-12,
            atol=1e-14,
        )
        # eta = E[x0 | x_t] is the noise prediction of the diffusion model.
        assert_close(
            field.eta(xs, t),
            jax.vmap(GMM.eps, (0, None, None))(xs, al, si),
            rtol=1e-12,
            atol=1e-14,
        )


def test_flow_maps_of_the_two_kits_agree(getkey):
    sch = VPSchedule.linear()
    interp = Interpolant.from_vp_schedule(sch)
    m, c = jnp.array([1.0, -0.5]), 0.3
    x = jr.normal(getkey(), (6, 2))
    got = interpolant_flow_map(m, c, interp, x, 0.0, 1.0 - 1e-3)
    want = gaussian_flow_map(m, c, sch, x, 1.0, 1e-3)
    assert_close(got, want, rtol=1e-13)


def test_batching_and_errors(getkey):
    xs = jr.normal(getkey(), (2, 3, 2))
    t = jnp.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    out = FIELD.b(xs, t)
    assert out.shape == (2, 3, 2)
    assert_close(out[1, 2], FIELD.b(xs[1, 2], 0.6), rtol=1e-15)
    assert FIELD.logpdf(xs, 0.5).shape == (2, 3)
    assert FIELD.b(jnp.zeros((4, 2), jnp.float32), 0.5).dtype == jnp.float32
    with pytest.raises(ValueError, match=r"x must have shape \(\*batch, 2\)"):
        unchecked(GaussianMixtureInterpolant.b)(FIELD, jnp.zeros((4, 3)), 0.5)
    with pytest.raises(ValueError, match="t must be a scalar or have the batch shape"):
        unchecked(GaussianMixtureInterpolant.s)(FIELD, jnp.zeros((4, 2)), jnp.zeros(3))
    # (Under pytest the generated __init__ is type-checked first; the message
    # of either check names the argument.)
    with pytest.raises(TypeError, match="interpolant"):
        GaussianMixtureInterpolant(GMM, "linear")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mean must have shape"):
        unchecked(interpolant_flow_map)(
            jnp.zeros(3), 0.3, FIELD.interpolant, jnp.zeros((4, 2)), 0.0, 1.0
        )
