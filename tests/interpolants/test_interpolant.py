"""The interpolant: coefficients, boundary conditions, derivatives, VP link, errors."""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from jaxmethods.diffusion import VPSchedule
from jaxmethods.interpolants import Interpolant, interpolate
from tests.helpers import assert_close, assert_traced_once, check_transforms, unchecked

from .common import ALL


INTERIOR = jnp.linspace(0.013, 0.987, 23)  # avoids 0.5 exactly


@pytest.mark.parametrize("name", list(ALL))
def test_boundary_conditions(name):
    interp = ALL[name]
    a0, _, b0, _, g0, gg0 = interp.coeffs(0.0)
    a1, _, b1, _, g1, gg1 = interp.coeffs(1.0)
    if interp.path == "mirror":
        assert (float(a0), float(b0), float(a1), float(b1)) == (0.0, 1.0, 0.0, 1.0)
    elif interp.path == "vp":
        sch = interp.schedule
        assert sch is not None
        # alpha(0) = sigma_T, beta(0) = alpha_T: only approximately 1 and 0.
        assert_close(a0, sch.sigma(jnp.asarray(sch.T)), rtol=1e-14)
        assert_close(b0, sch.alpha(jnp.asarray(sch.T)), rtol=1e-14)
        assert float(a1) == 0.0 and float(b1) == 1.0
    else:
        assert_close(
            jnp.stack([a0, b0, a1, b1]), jnp.array([1.0, 0.0, 0.0, 1.0]), atol=1e-15
        )
    assert abs(float(g0)) <= 1e-15 and abs(float(g1)) <= 1e-15
    # gamma * gamma_dot is analytic: finite at both ends.
    assert np.isfinite(float(gg0)) and np.isfinite(float(gg1))
    _, _, _, _, g, _ = interp.coeffs(INTERIOR)
    if interp.is_one_sided or interp.gamma_type == "zero":
        assert float(jnp.max(jnp.abs(g))) == 0.0
    else:
        assert float(jnp.min(g)) > 0.0


def test_brownian_gamma_gamma_dot_at_the_ends():
    for interp, scale in (
        (Interpolant.linear(), 1.0),
        (Interpolant.linear("a-brownian", a=2.5), 2.5),
    ):
        gg = interp.coeffs(jnp.array([0.0, 0.25, 1.0]))[5]
        assert_close(gg, 0.5 * scale * jnp.array([1.0, 0.5, -1.0]), rtol=1e-15)
    assert float(Interpolant.linear().gamma_dot(0.0)) == math.inf


@jax.jit
def _values_and_time_derivatives(interp, t):
    """Every coefficient and its derivative in t (forward mode, elementwise)."""

    def values(s):
        return (*interp.coeffs(s), *interp.latent_coeffs(s), interp.gamma_dot(s))

    return jax.jvp(values, (t,), (jnp.ones_like(t),))


@pytest.mark.parametrize("name", list(ALL))
def test_derivatives_match_autodiff(name):
    interp = ALL[name]
    vals, ders = _values_and_time_derivatives(interp, INTERIOR)
    a, ad, b, bd, g, gg, sig, sd, ssd, gd = vals
    tol = dict(rtol=1e-11, atol=1e-12)
    assert_close(ad, ders[0], **tol)
    assert_close(bd, ders[2], **tol)
    assert_close(gg, g * ders[4], **tol)
    assert_close(gd, ders[4], **tol)
    assert_close(sd, ders[6], **tol)
    assert_close(ssd, sig * ders[6], **tol)
    assert_close(sig, g if not interp.is_one_sided else a, rtol=0, atol=0)


def test_trig_is_variance_preserving():
    for gamma in ("brownian", "bsquared", "sigmoid"):
        a, _, b, _, g, _ = Interpolant.trig(gamma).coeffs(INTERIOR)
        assert_close(a**2 + b**2 + g**2, jnp.ones_like(INTERIOR), rtol=1e-14)


def test_named_gammas():
    t = jnp.array([0.1, 0.3, 0.8])
    tn = np.asarray(t)
    cases = {
        "brownian": np.sqrt(tn * (1 - tn)),
        "bsquared": tn * (1 - tn),
        "sinesquared": np.sin(np.pi * tn) ** 2,
        "zero": 0 * tn,
    }
    for kind, want in cases.items():
        assert_close(Interpolant.linear(kind).coeffs(t)[4], want, rtol=1e-15)
    assert_close(
        Interpolant.linear("a-brownian", a=3.0).coeffs(t)[4],
        np.sqrt(3.0 * tn * (1 - tn)),
        rtol=1e-15,
    )
    # fabrics.py: S(f(t - 1/2) + 1) - S(f(t - 1/2) - 1) - S(1 - f/2) + S(-1 - f/2).
    s = lambda u: 1 / (1 + np.exp(-u))
    u = 10 * (tn - 0.5)
    sig = s(u + 1) - s(u - 1) - s(1 - 5.0) + s(-1 - 5.0)
    assert_close(Interpolant.linear("sigmoid").coeffs(t)[4], sig, rtol=1e-14)


@pytest.mark.parametrize(
    "sch",
    [
        VPSchedule.linear(),
        VPSchedule.cosine(),
        VPSchedule.discrete(betas=np.linspace(1e-4, 0.02, 1000)),
    ],
    ids=["linear", "cosine", "discrete"],
)
def test_vp_path_is_the_time_reversed_schedule(sch):
    interp = Interpolant.from_vp_schedule(sch)
    t = jnp.linspace(0.0, 1.0, 41)
    tau = sch.T * (1.0 - t)
    a, _, b, bd, _, _ = interp.coeffs(t)
    assert_close(a, sch.sigma(tau), rtol=1e-14, atol=1e-15)
    assert_close(b, sch.alpha(tau), rtol=1e-14)
    # beta_dot = -T d alpha_tau / d tau (by autodiff of the schedule itself).
    dalpha = jax.vmap(jax.grad(sch.alpha))(tau)
    assert_close(bd, -sch.T * dalpha, rtol=1e-12, atol=1e-14)
    # alpha alpha_dot = -beta beta_dot (alpha^2 + beta^2 = 1), finite at t = 1.
    _, _, aad = interp.latent_coeffs(t)
    assert_close(aad, -b * bd, rtol=1e-12, atol=1e-14)
    assert np.all(np.isfinite(np.asarray(aad)))


@jax.jit
def _dxt_and_jvp(interp, t, x0, x1, z):
    """interpolate's dx_t and the forward-mode derivative of its x_t in t."""
    f = lambda s: interpolate(interp, s, x0, x1, z)[0]
    return interpolate(interp, t, x0, x1, z)[1], jax.jvp(f, (t,), (jnp.ones_like(t),))[
        1
    ]


def test_interpolate_values_and_time_derivative(getkey):
    x0, x1, z = (jr.normal(getkey(), (5, 3)) for _ in range(3))
    t = jnp.array([0.1, 0.3, 0.5, 0.7, 0.9])
    xt, dxt = interpolate(Interpolant.linear(), t, x0, x1, z)
    tt = t[:, None]
    assert_close(xt, (1 - tt) * x0 + tt * x1 + jnp.sqrt(tt * (1 - tt)) * z, rtol=1e-14)
    for name, interp in ALL.items():
        dxt, jvp = _dxt_and_jvp(interp, t, x0, x1, z)
        assert_close(
            dxt,
            jvp,
            rtol=1e-11,
            atol=1e-12,
            err_msg=name,
        )
    # A scalar t; z is ignored by one-sided paths.
    one = Interpolant.one_sided_linear()
    assert_close(interpolate(one, 0.25, x0, x1)[0], 0.75 * x0 + 0.25 * x1, rtol=1e-15)
    assert_close(
        interpolate(one, 0.25, x0, x1, z)[0], 0.75 * x0 + 0.25 * x1, rtol=1e-15
    )


def test_transforms(getkey):
    x0, x1, z = (jr.normal(getkey(), (4, 2)) for _ in range(3))
    t = jnp.array([0.2, 0.4, 0.6, 0.8])
    for interp in (
        Interpolant.trig(),
        Interpolant.from_vp_schedule(VPSchedule.linear()),
    ):
        check_transforms(lambda *a, i=interp: interpolate(i, *a), (t, x0, x1, z))
    # The interpolant is a pytree with static kinds: a jit argument, vmap over a.
    f = jax.jit(lambda interp, s: interp.coeffs(s))
    assert_close(f(Interpolant.trig(), 0.3)[0], Interpolant.trig().coeffs(0.3)[0])
    a = jnp.array([0.5, 1.0, 2.0])
    g = jax.vmap(lambda a_: Interpolant.linear("a-brownian", a=a_).coeffs(0.25)[4])(a)
    assert_close(g, jnp.sqrt(a * 0.1875), rtol=1e-15)
    assert hash(Interpolant.linear()) is not None
    assert_traced_once(
        lambda s, y0, y1, zz: interpolate(Interpolant.linear(), s, y0, y1, zz),
        [(t * k / 4, x0 + k, x1, z) for k in range(1, 4)],
    )


def test_float32(getkey):
    x0, x1, z = (jr.normal(getkey(), (4, 2), jnp.float32) for _ in range(3))
    t = jnp.array([0.2, 0.4, 0.6, 0.8], jnp.float32)
    for interp in ALL.values():
        xt, dxt = interpolate(interp, t, x0, x1, z)
        assert xt.dtype == dxt.dtype == jnp.float32
        assert all(c.dtype == jnp.float32 for c in interp.coeffs(t))
        ref = interpolate(
            interp,
            t.astype(jnp.float64),
            x0.astype(jnp.float64),
            x1.astype(jnp.float64),
            z.astype(jnp.float64),
        )[0]
        assert_close(xt, ref.astype(jnp.float32), rtol=1e-5, atol=1e-6)
    assert Interpolant.linear().coeffs(0)[0].dtype == jnp.float64  # int -> default


def test_errors():
    with pytest.raises(ValueError, match="unknown path 'spline'"):
        Interpolant(path="spline", gamma_type="brownian")
    with pytest.raises(ValueError, match="unknown gamma 'cosine'"):
        Interpolant.linear("cosine")
    with pytest.raises(ValueError, match="one-sided path .* must be 'zero'"):
        Interpolant(path="one-sided-linear", gamma_type="brownian")
    with pytest.raises(ValueError, match="max gamma < 1"):
        Interpolant.trig("sinesquared")
    with pytest.raises(ValueError, match="max gamma < 1"):
        Interpolant.trig("a-brownian", a=4.0)
    Interpolant.trig("a-brownian", a=3.9)
    with pytest.raises(ValueError, match="finite a > 0"):
        Interpolant.linear("a-brownian", a=0.0)
    with pytest.raises(ValueError, match="a is only used by gamma='a-brownian'"):
        Interpolant.linear("brownian", a=2.0)
    with pytest.raises(ValueError, match="mirror path needs a non-zero gamma"):
        Interpolant.mirror("zero")
    with pytest.raises(ValueError, match="needs a VPSchedule"):
        Interpolant(path="vp", gamma_type="zero")
    with pytest.raises(ValueError, match="only used by the 'vp' path"):
        Interpolant(path="linear", gamma_type="zero", schedule=VPSchedule.linear())
    with pytest.raises(ValueError, match=r"coeffs: t must lie in \[0, 1\]"):
        Interpolant.linear().coeffs(1.5)

    interp = Interpolant.linear()
    x = jnp.zeros((3, 2))
    f = unchecked(interpolate)
    with pytest.raises(ValueError, match="same shape"):
        f(interp, 0.5, x, jnp.zeros((3, 3)), x)
    with pytest.raises(TypeError, match="same dtype"):
        f(interp, 0.5, x, x.astype(jnp.float32), x)
    with pytest.raises(TypeError, match="x0 must be a floating array"):
        f(interp, 0.5, jnp.zeros((3, 2), int), x, x)
    with pytest.raises(ValueError, match="needs z"):
        f(interp, 0.5, x, x)
    with pytest.raises(ValueError, match="z must have the shape"):
        f(interp, 0.5, x, x, jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="leading part of the shape"):
        f(interp, jnp.array([0.5, 0.5]), x, x, x)
    with pytest.raises(TypeError, match="must be an Interpolant"):
        f("linear", 0.5, x, x, x)
    with pytest.raises(TypeError, match="t must be real"):
        f(interp, jnp.asarray(0.5j), x, x, x)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\], got \[-0.1\]"):
        f(interp, jnp.array([0.2, -0.1, 0.5]), x, x, x)
    # A traced t is checked at run time.
    g = jax.jit(lambda t: f(interp, t, x, x, x)[0])
    with pytest.raises((ValueError, RuntimeError), match=r"t must lie in \[0, 1\]"):
        jax.block_until_ready(g(jnp.array([0.2, 1.5, 0.5])))
