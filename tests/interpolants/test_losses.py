"""The quadratic losses: minimisers, antithetic estimators, conversions, errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from jaxmethods.diffusion import VPSchedule
from jaxmethods.interpolants import (
    Interpolant,
    b_from_v_s,
    interpolate,
    loss_b,
    loss_eta,
    loss_s,
    loss_v,
    s_from_eta,
)
from jaxmethods.testing.analytic import GaussianMixtureInterpolant
from tests.helpers import assert_close, assert_mean_within, unchecked

from .common import GMM, PATHS


LOSSES = {"b": loss_b, "v": loss_v, "s": loss_s, "eta": loss_eta}
MINIMISER_PATHS = {
    "linear": Interpolant.linear(),
    "vp-linear": Interpolant.from_vp_schedule(VPSchedule.linear()),
}
N = 8192


def _batch(key, n=N, lo=0.05, hi=0.95):
    k0, k1, kz, kt = jr.split(key, 4)
    x0 = jr.normal(k0, (n, 2))
    x1 = GMM.sample(k1, n)
    z = jr.normal(kz, (n, 2))
    t = jr.uniform(kt, (n,), minval=lo, maxval=hi)
    return t, x0, x1, z


def _delta(x, t):
    """A smooth perturbation with a non-zero mean."""
    return 0.3 * jnp.sin(x + t[:, None]) + 0.5


def _per_sample(loss, model, interp, antithetic):
    """The loss of each sample (a batch of one), vmapped."""

    def one(t, x0, x1, z):
        return loss(
            model, interp, t[None], x0[None], x1[None], z[None], antithetic=antithetic
        )

    return jax.vmap(one)


@pytest.mark.parametrize("name", list(MINIMISER_PATHS))
def test_loss_minimiser_property(name, getkey):
    """L(f* + delta) - L(f*) = E|delta|^2 / 2, with common random numbers.

    Per sample, the difference minus |delta(x_t)|^2 / 2 is (f* - T) . delta,
    whose mean is zero exactly when f* = E[T | x_t]; it is tested against 0
    at 4 standard errors (two-sided false-alarm rate 6e-5 per case). A wrong
    minimiser, f* + 1, must be rejected by the same statistic (at 8 SE).
    """
    interp = MINIMISER_PATHS[name]
    field = GaussianMixtureInterpolant(GMM, interp)
    t, x0, x1, z = _batch(getkey())
    # The interpolant points, computed apart from the losses.
    flip = (-x0, x1, z) if interp.is_one_sided else (x0, x1, -z)
    x_plus = interpolate(interp, t, x0, x1, z)[0]
    x_minus = interpolate(interp, t, *flip)[0]
    # (offset, scale of delta): f*, f* + delta, f* + 1, f* + 1 + delta.
    offsets, scales = jnp.array([0.0, 0.0, 1.0, 1.0]), jnp.array([0.0, 1.0, 0.0, 1.0])

    @jax.jit
    def stats(t, x0, x1, z):
        out = {}
        for loss_name, loss in LOSSES.items():
            f_star = getattr(field, loss_name)
            for anti in (False, True):

                def per(off, c, loss=loss, f_star=f_star, anti=anti):
                    model = lambda x, t: f_star(x, t) + off + c * _delta(x, t)
                    return _per_sample(loss, model, interp, anti)(t, x0, x1, z)

                p = jax.vmap(per)(offsets, scales)
                batched = loss(f_star, interp, t, x0, x1, z, antithetic=anti)
                out[loss_name, anti] = (p, batched)
        return out

    sq_p = jnp.sum(_delta(x_plus, t) ** 2, -1)
    sq_m = jnp.sum(_delta(x_minus, t) ** 2, -1)
    for (loss_name, anti), (p, batched) in stats(t, x0, x1, z).items():
        msg = f"{loss_name}, antithetic={anti}"
        half_sq = 0.25 * (sq_p + sq_m) if anti else 0.5 * sq_p
        assert_close(batched, jnp.mean(p[0]), rtol=1e-12, atol=1e-12, err_msg=msg)
        assert_mean_within(p[1] - p[0] - half_sq, 0.0, k=4.0)
        d = np.asarray(p[3] - p[2] - half_sq)
        se = d.std(ddof=1) / np.sqrt(d.size)
        assert abs(d.mean()) > 8.0 * se, f"{msg}: no power ({d.mean()}, se {se})"


def test_antithetic_removes_the_endpoint_variance(getkey):
    """Near t = 0 the plain score loss has O(1/gamma) noise; antithetic does not."""
    interp = Interpolant.linear()
    field = GaussianMixtureInterpolant(GMM, interp)
    t, x0, x1, z = _batch(getkey(), n=4096, lo=0.001, hi=0.002)
    variances = []
    for anti in (False, True):
        per = jax.jit(_per_sample(loss_s, field.s, interp, anti))(t, x0, x1, z)
        variances.append(float(jnp.var(per)))
    # gamma ~ 0.04: the plain estimator's variance is ~ 2/gamma^2 ~ 1e3.
    assert variances[0] > 300.0 and variances[1] < 1e-2 * variances[0], variances


@pytest.mark.parametrize("name", ["linear", "mirror", "one-sided-trig", "vp-cosine"])
def test_b_from_v_s_and_s_from_eta(name, getkey):
    interp = PATHS[name]
    field = GaussianMixtureInterpolant(GMM, interp)
    x = jr.normal(getkey(), (5, 2))
    t = jnp.array([0.05, 0.3, 0.5, 0.7, 0.95])
    b = eqx.filter_jit(b_from_v_s(field.v, field.s, interp))(x, t)
    assert_close(b, field.b(x, t), rtol=1e-12, atol=1e-13)
    s = s_from_eta(field.eta, interp)(x, t)
    assert_close(s, field.s(x, t), rtol=1e-12, atol=1e-13)


def test_eta_sign_convention(getkey):
    """The official repository learns -eta: its loss is minimised by -E[z | x_t]."""
    interp = Interpolant.linear()
    field = GaussianMixtureInterpolant(GMM, interp)
    t, x0, x1, z = _batch(getkey(), n=4096)
    ours = loss_eta(field.eta, interp, t, x0, x1, z)
    flipped = loss_eta(lambda x, t: -field.eta(x, t), interp, t, x0, x1, z)
    # E|eta|^2 / 2 - E[z . eta] = -E|eta|^2 / 2 < 0 at the minimiser.
    assert float(ours) < 0.0 < float(flipped)


class _Affine(eqx.Module):
    w: jax.Array
    c: jax.Array

    def __call__(self, x, t):
        return x @ self.w.T + self.c[None, :] * t[:, None]


def test_grad_through_losses_and_float32(getkey):
    """jax.grad of the four losses (summed) with respect to a model's weights = FD."""
    interp = Interpolant.linear()
    t, x0, x1, z = _batch(getkey(), n=64)
    model = _Affine(jnp.array([[0.5, 0.1], [-0.2, 0.3]]), jnp.array([0.2, -0.1]))

    @eqx.filter_jit
    def total(m):
        return sum(loss(m, interp, t, x0, x1, z) for loss in LOSSES.values())

    g = eqx.filter_grad(total)(model)
    h = 1e-6
    for i, j in ((1, 0), (0, 1)):
        e = jnp.zeros_like(model.w).at[i, j].set(h)
        fd = total(_Affine(model.w + e, model.c)) - total(_Affine(model.w - e, model.c))
        assert_close(g.w[i, j], fd / (2 * h), rtol=1e-7, atol=1e-9)
    for loss in LOSSES.values():
        args = (t, x0, x1, z)
        out = loss(lambda x, t: 0.5 * x, interp, *(a.astype(jnp.float32) for a in args))
        assert out.dtype == jnp.float32 and np.isfinite(float(out))


def test_errors():
    interp = Interpolant.linear()
    x, t = jnp.zeros((4, 2)), jnp.full((4,), 0.5)
    model = lambda x, t: x
    f = unchecked(loss_b)
    with pytest.raises(ValueError, match=r"t must have shape \(4,\)"):
        f(model, interp, jnp.full((3,), 0.5), x, x, x)
    with pytest.raises(ValueError, match=r"shape \(B, \*event\)"):
        f(model, interp, 0.5, jnp.zeros(2), jnp.zeros(2), jnp.zeros(2))
    with pytest.raises(ValueError, match="b_fn.* returned shape"):
        f(lambda x, t: x[:, :1], interp, t, x, x, x)
    with pytest.raises(ValueError, match="needs z"):
        f(model, interp, t, x, x)
    with pytest.raises(ValueError, match=r"t must lie in \[0, 1\]"):
        f(model, interp, t.at[0].set(2.0), x, x, x)
    g = jax.jit(lambda t: f(model, interp, t, x, x, x))
    with pytest.raises((ValueError, RuntimeError), match=r"t must lie in \[0, 1\]"):
        jax.block_until_ready(g(t.at[1].set(-0.5)))
    for loss in (loss_s, loss_eta):
        with pytest.raises(ValueError, match="no Gaussian latent"):
            unchecked(loss)(model, Interpolant.linear("zero"), t, x, x)
    with pytest.raises(ValueError, match="no Gaussian latent"):
        s_from_eta(model, Interpolant.linear("zero"))
    with pytest.raises(TypeError, match="must be an Interpolant"):
        unchecked(b_from_v_s)(model, model, "linear")
    # gamma = 0 needs no z for b and v; one-sided paths ignore it.
    assert np.isfinite(
        float(unchecked(loss_v)(model, Interpolant.linear("zero"), t, x, x))
    )
    assert np.isfinite(float(loss_s(model, Interpolant.one_sided_linear(), t, x, x)))
