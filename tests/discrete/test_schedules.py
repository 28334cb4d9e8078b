"""Masking schedules: closed forms, derivatives by autodiff, accuracy near t = 0."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmethods.discrete as jd

from ..helpers import assert_close, check_transforms


T = jnp.array([1e-9, 1e-4, 0.1, 0.37, 0.5, 0.9, 1.0])

SCHEDULES = [
    jd.LinearSchedule(),
    jd.LinearSchedule(eps=0.01),
    jd.CosineSchedule(),
    jd.CosineSchedule(eps=0.0),
    jd.PolynomialSchedule(3.0, eps=0.0),
    jd.PolynomialSchedule(),
    jd.LogLinearSchedule(),
    jd.GeometricSchedule(),
]


def _alpha_closed_form(s, t):
    """alpha(t) written directly from the papers' formulas, in NumPy float64."""
    t = np.asarray(t, np.float64)
    if isinstance(s, jd.LogLinearSchedule):
        return 1 - (1 - s.eps) * t
    if isinstance(s, jd.GeometricSchedule):
        return np.exp(-(s.sigma_min ** (1 - t)) * s.sigma_max**t)
    raw = {
        jd.LinearSchedule: lambda: 1 - t,
        jd.CosineSchedule: lambda: 1 - np.cos(np.pi / 2 * (1 - t)),
        jd.PolynomialSchedule: lambda: 1 - t ** getattr(s, "power", 1.0),
    }[type(s)]()
    return (1 - 2 * s.eps) * raw + s.eps


@pytest.mark.parametrize("s", SCHEDULES, ids=lambda s: repr(s))
def test_alpha_and_derivatives(s):
    t = T
    assert_close(s.alpha(t), jnp.asarray(_alpha_closed_form(s, t)), rtol=1e-12)
    for f, df in ((s.alpha, s.dalpha), (s.sigma, s.dsigma)):
        assert_close(df(t), jax.vmap(jax.grad(f))(t), rtol=1e-10, atol=1e-14)
    m, a = s.mask_prob(t), s.alpha(t)
    assert_close(m + a, jnp.ones_like(t), rtol=1e-14)
    assert_close(s.weight(t), -s.dalpha(t) / m, rtol=1e-12)
    assert_close(s.sigma(t), -jnp.log(a), rtol=1e-9, atol=1e-15)
    assert_close(s.expm1_sigma(t), m / a, rtol=1e-12)
    assert bool(jnp.all(s.dalpha(t) <= 0)) and bool(jnp.all(m >= 0))


def test_weights_exact_where_known():
    t = jnp.array([1e-12, 1e-6, 0.2, 0.9])
    assert_close(jd.LinearSchedule().weight(t), 1 / t, rtol=1e-14)
    assert_close(jd.LogLinearSchedule().weight(t), 1 / t, rtol=1e-14)
    assert_close(jd.LogLinearSchedule(0.3).weight(t), 1 / t, rtol=1e-14)
    assert_close(jd.PolynomialSchedule(2.0, eps=0.0).weight(t), 2 / t, rtol=1e-14)
    cos = jd.CosineSchedule(eps=0.0).weight(t)
    half = np.pi / 2 * np.asarray(t)
    assert_close(cos, jnp.asarray(np.pi / 2 / np.tan(half)), rtol=1e-12)
    g = jd.GeometricSchedule()
    sig = 1e-4 ** (1 - np.asarray(t)) * 20.0 ** np.asarray(t)
    want = sig * math.log(20.0 / 1e-4) / np.expm1(sig)
    assert_close(g.weight(t), jnp.asarray(want), rtol=1e-12)


def test_accuracy_near_zero():
    """At t = 1e-12 the naive 1 - alpha has no correct digits; mask_prob has all."""
    t = jnp.asarray(1e-12)
    assert_close(
        jd.CosineSchedule(eps=0.0).mask_prob(t), jnp.sin(jnp.pi / 2 * t), rtol=1e-15
    )
    assert float(jd.LinearSchedule().sigma(t)) == pytest.approx(1e-12, rel=1e-12)
    assert float(jd.LogLinearSchedule().expm1_sigma(t)) == pytest.approx(
        (1 - 1e-3) * 1e-12, rel=1e-12
    )


def test_float32_and_integer_times_and_transforms():
    for s in SCHEDULES:
        assert s.weight(jnp.float32(0.5)).dtype == jnp.float32
        assert s.alpha(1).dtype == jnp.float64  # integers go to the default float
    s = jd.CosineSchedule()
    check_transforms(lambda t: s.weight(t), (jnp.asarray(0.3),), vmap_args=(T[1:],))
    f = jax.jit(lambda sched, t: sched.alpha(t))
    assert_close(f(jd.PolynomialSchedule(2.0, eps=0.0), 0.5), jnp.asarray(0.75))


def test_errors():
    with pytest.raises(ValueError, match="eps"):
        jd.LinearSchedule(eps=0.5)
    with pytest.raises(ValueError, match="eps"):
        jd.CosineSchedule(eps=-1e-3)
    with pytest.raises(ValueError, match="power"):
        jd.PolynomialSchedule(0.0)
    with pytest.raises(ValueError, match="eps"):
        jd.LogLinearSchedule(1.0)
    with pytest.raises(ValueError, match="sigma_min"):
        jd.GeometricSchedule(sigma_min=2.0, sigma_max=1.0)
