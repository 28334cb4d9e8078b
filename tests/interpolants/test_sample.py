"""PF-ODE, likelihood and SDE samplers against the exact Gaussian-mixture fields."""

import functools

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from jaxmethods.diffusion import VPSchedule, dpm_solver_sample
from jaxmethods.interpolants import (
    Interpolant,
    b_from_v_s,
    log_likelihood,
    pf_ode_sample,
    sde_sample,
)
from jaxmethods.testing.analytic import (
    GaussianMixture,
    GaussianMixtureInterpolant,
    gaussian_flow_map,
    interpolant_flow_map,
    pf_ode_reference,
)
from tests.helpers import (
    assert_close,
    assert_mean_within,
    unchecked,
)

from .common import (
    FIELD,
    GMM,
    GMM_MEAN,
    GMM_VAR,
    PATHS,
    gmm_logpdf,
    std_normal_logpdf,
    x0_rng,
)


TIGHT = dict(solver=diffrax.Dopri8(), rtol=1e-11, atol=1e-11, max_steps=100_000)


@functools.cache
def _tight_solution():
    """The notes' 128 starting points through the exact b, Dopri8 at 1e-11."""
    x0 = x0_rng(128)
    x1, dlogp = pf_ode_sample(FIELD.b, x0, with_logp=True, **TIGHT)
    return x0, x1, dlogp


def test_ode_likelihood_identity():
    """log N(x0) - int div b = log rho_1(x1) exactly (research notes: 2.3e-12)."""
    x0, x1, dlogp = _tight_solution()
    logp = std_normal_logpdf(x0) + dlogp
    exact = gmm_logpdf(x1)
    assert float(jnp.max(jnp.abs(logp - exact))) <= 1e-9
    assert_close(
        x1[0], jnp.array([1.5945366515203994, 0.442546146162755]), rtol=1e-9, atol=1e-9
    )
    assert abs(float(logp[0]) - (-2.0950405381)) <= 1e-9
    # And backwards: log_likelihood from x1 to the base.
    ll = log_likelihood(FIELD.b, x1, std_normal_logpdf, **TIGHT)
    assert float(jnp.max(jnp.abs(ll - exact))) <= 1e-9


@pytest.mark.parametrize("name", ["encoding-decoding", "mirror", "vp-cosine"])
def test_flow_map_on_gaussian_data(name, getkey):
    """The ODE of the exact b is the closed-form affine flow, with its log-det."""
    interp = PATHS[name]
    m, c = jnp.array([1.0, -0.5]), 0.3
    gauss = GaussianMixture(jnp.array([1.0]), m[None], jnp.array([c]))
    field = GaussianMixtureInterpolant(gauss, interp)
    x0 = jr.normal(getkey(), (8, 2))
    if interp.path == "mirror":  # rho_0 = rho_1
        x0 = m[None] + c * x0
    x1, dlogp = pf_ode_sample(
        field.b, x0, with_logp=True, solver=diffrax.Dopri8(), rtol=1e-10, atol=1e-10
    )
    assert_close(
        x1, interpolant_flow_map(m, c, interp, x0, 0.0, 1.0), rtol=1e-8, atol=1e-9
    )
    if interp.schedule is not None:
        # The diffusion kit's flow map, from tau = T down to tau = 0.
        sch = interp.schedule
        ref = gaussian_flow_map(m, c, sch, x0, sch.T, 0.0)
        assert_close(x1, ref, rtol=1e-8, atol=1e-9)

    def var(t):
        a, _, b, _, g, _ = interp.coeffs(t)
        return a**2 + b**2 * c**2 + g**2

    # div b = D V'/(2V): delta log p = -(D/2) log(V_1 / V_0).
    assert_close(
        dlogp, jnp.full((8,), -jnp.log(var(1.0) / var(0.0))), rtol=1e-8, atol=1e-9
    )


def test_vp_interpolant_reproduces_the_diffusion_ode():
    """The PF-ODE from t = 0 to 1 - 1e-3 is the diffusion ODE from tau = 1 to 1e-3."""
    sch = VPSchedule.linear()
    interp = Interpolant.from_vp_schedule(sch)
    field = GaussianMixtureInterpolant(GMM, interp)
    x = x0_rng(16)
    ours = pf_ode_sample(field.b, x, t1=1.0 - 1e-3, **TIGHT)
    ref = pf_ode_reference(GMM.noise_prediction(sch), sch, x, 1.0, 1e-3)
    assert_close(ours, ref, rtol=1e-8, atol=1e-8)
    # DPM-Solver on the interpolant's score, eps(x, tau) = -sigma_tau s(x, 1 - tau),
    # takes the same steps as on the diffusion model's own noise prediction.
    eps_fn = lambda y, tau: -sch.sigma(tau) * field.s(y, 1.0 - tau)
    kw = dict(steps=6, order=2, skip_type="logSNR", t_end=1e-3)
    x_si, _ = dpm_solver_sample(eps_fn, sch, x, **kw)
    x_dm, _ = dpm_solver_sample(GMM.noise_prediction(sch), sch, x, **kw)
    assert_close(x_si, x_dm, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("probe", ["rademacher", "gaussian"])
def test_hutchinson_is_unbiased(probe):
    """Mean over 256 probes of the Hutchinson log-det = exact one, within 4 SE."""
    x0 = x0_rng(8)
    opts = dict(rtol=1e-8, atol=1e-8, with_logp=True)
    x_exact, d_exact = pf_ode_sample(FIELD.b, x0, **opts)
    keys = jr.split(jr.key(0), 256)
    x_h, d_h = jax.jit(
        jax.vmap(
            lambda k: pf_ode_sample(
                FIELD.b, x0, divergence="hutchinson", probe=probe, key=k, **opts
            )
        )
    )(keys)
    # The probe does not enter the trajectory.
    assert_close(x_h, jnp.broadcast_to(x_exact, x_h.shape), rtol=1e-6, atol=1e-6)
    # 8 entries at k = 4: false-alarm rate about 5e-4 for the test.
    assert_mean_within(d_h, np.asarray(d_exact), k=4.0)
    assert float(jnp.std(d_h)) > 0.1  # really an estimate


def test_hutchinson_probe_is_fixed_per_trajectory():
    """b = M(t) x with M = [[-1, 2t], [1, 1/2]]: a fixed Rademacher probe gives
    -int e^T M e dt = 0.5 - 2 e1 e2, i.e. exactly -1.5 or 2.5; a probe redrawn
    at every solver step would average towards the exact 0.5."""

    def b(x, t):
        m = jnp.stack(
            [
                jnp.stack([-jnp.ones_like(t), 2 * t], -1),
                jnp.stack([jnp.ones_like(t), 0.5 * jnp.ones_like(t)], -1),
            ],
            -2,
        )
        return jnp.einsum("bij,bj->bi", m, x)

    x0 = jnp.ones((32, 2))
    _, d = pf_ode_sample(
        b,
        x0,
        with_logp=True,
        divergence="hutchinson",
        key=jr.key(3),
        rtol=1e-10,
        atol=1e-10,
    )
    d = np.asarray(d)
    assert np.all(np.minimum(np.abs(d + 1.5), np.abs(d - 2.5)) <= 1e-8), d
    assert np.any(d < 0) and np.any(d > 0)


SDE_CASES = [
    ("euler", 200, 0.0),
    ("euler", 200, 0.5),
    ("euler", 200, 1.0),
    ("heun", 100, 1.0),
    ("euler", 200, "2 t (1 - t)"),
]


@pytest.mark.parametrize(("method", "n_steps", "eps"), SDE_CASES)
def test_sde_moments(method, n_steps, eps):
    """Mean and variance of 4096 SDE samples = the target's, within 4 SE.

    Standard errors: about 0.025 for the means and 0.05 for the variances.
    The discretisation bias, measured with 65536 paths, is below 0.01 (means)
    and 0.03 (variances) at these step counts, under 0.6 SE; 4 entries at
    k = 4 give a false-alarm rate of about 3e-4 per case.
    """
    eps_ = (lambda t: 2.0 * t * (1.0 - t)) if isinstance(eps, str) else eps
    x0 = jr.normal(jr.key(0), (4096, 2))
    x1 = sde_sample(
        FIELD.b, FIELD.s, eps_, x0, jr.key(1), n_steps=n_steps, method=method
    )
    assert_mean_within(x1, GMM_MEAN, k=4.0)
    assert_mean_within((np.asarray(x1) - GMM_MEAN) ** 2, GMM_VAR, k=4.0)


def test_backward_sde_returns_to_the_base():
    """From target samples at t = 1 back to t = 0 (drift b - eps s): N(0, I)."""
    x1 = GMM.sample(jr.key(2), 4096)
    x0 = sde_sample(FIELD.b, FIELD.s, 1.0, x1, jr.key(3), t0=1.0, t1=0.0, n_steps=200)
    assert_mean_within(x0, np.zeros(2), k=4.0)
    assert_mean_within(np.asarray(x0) ** 2, np.ones(2), k=4.0)


def test_grad_matches_finite_differences():
    """jax.grad through pf_ode_sample (x1 and log p) and sde_sample = central FD."""
    x0 = x0_rng(4)
    w = jnp.array([0.7, -0.3])
    # Fixed steps: the discrete gradient is exact, so FD agrees to O(h^2).
    fixed = dict(
        solver=diffrax.Heun(),
        stepsize_controller=diffrax.ConstantStepSize(),
        dt0=0.05,
        max_steps=20,
    )

    def loss(args):
        field, x = args
        x1, d = pf_ode_sample(field.b, x, with_logp=True, **fixed)
        return jnp.sum(x1 @ w) + jnp.sum(d)

    value = eqx.filter_jit(loss)
    g_field, g_x = eqx.filter_jit(eqx.filter_grad(loss))((FIELD, x0))
    h = 1e-6
    for i, j in ((0, 0), (2, 1)):
        e = jnp.zeros_like(x0).at[i, j].set(h)
        fd = (value((FIELD, x0 + e)) - value((FIELD, x0 - e))) / (2 * h)
        assert_close(g_x[i, j], fd, rtol=1e-7, atol=1e-9)
    # With respect to the model's parameters (a mixture mean).
    e = jnp.zeros_like(GMM.means).at[1, 0].set(h)

    def shifted(sign):
        field = eqx.tree_at(lambda f: f.mixture.means, FIELD, GMM.means + sign * e)
        return value((field, x0))

    fd = (shifted(1.0) - shifted(-1.0)) / (2 * h)
    assert_close(g_field.mixture.means[1, 0], fd, rtol=1e-7, atol=1e-9)
    # BacksolveAdjoint (the model comes in through diffrax's args) on the
    # linear field b = -x, whose flow is x1 = x0 / e: d sum(x1 @ w) / dx0 = w / e.
    g_bs = jax.grad(
        lambda x: jnp.sum(
            pf_ode_sample(
                lambda y, t: -y,
                x,
                rtol=1e-10,
                atol=1e-10,
                adjoint=diffrax.BacksolveAdjoint(),
            )
            @ w
        )
    )(x0)
    assert_close(g_bs, jnp.broadcast_to(w / np.e, x0.shape), rtol=1e-8)


def test_transforms_and_traced_once():
    xs = x0_rng(12).reshape(3, 4, 2)
    # vmap over batches of starting points = a loop (each keeps its own steps).
    f = lambda x: pf_ode_sample(FIELD.b, x, rtol=1e-8, atol=1e-8)
    batched = jax.vmap(f)(xs)
    for i in range(3):
        assert_close(batched[i], f(xs[i]), rtol=1e-9, atol=1e-10)

    # Both drivers compile once per model: new values do not retrace it.
    traces = {"b": 0}

    def counted(name):
        def fn(x, t):
            traces[name] += 1
            return getattr(FIELD, name)(x, t)

        return fn

    b = counted("b")
    for i, x in enumerate(xs):
        jax.block_until_ready(pf_ode_sample(b, x, t1=0.9 + 0.05 * i))
        if i == 0:
            first = dict(traces)
    assert traces == first, (first, traces)
    # sde_sample: new keys and eps do not retrace either, and vmap over keys
    # equals the loop over keys.
    traces.update(s=0)
    s = counted("s")
    keys = jr.split(jr.key(5), 3)
    loop = []
    for i, k in enumerate(keys):
        loop.append(sde_sample(b, s, 1.0 + i, xs[0], k, n_steps=5))
        if i == 0:
            first = dict(traces)
    assert traces == first, (first, traces)
    batched = jax.vmap(
        lambda k, e: sde_sample(FIELD.b, FIELD.s, e, xs[0], k, n_steps=5)
    )(keys, jnp.array([1.0, 2.0, 3.0]))
    for i in range(3):
        assert_close(batched[i], loop[i], rtol=1e-12, atol=1e-12)
    assert float(jnp.max(jnp.abs(batched[0] - batched[1]))) > 1e-3


def test_float32():
    """float32 in, float32 out, with x64 on; the likelihood identity to 1e-3."""
    x0, r1, _ = _tight_solution()
    x = x0.astype(jnp.float32)
    x1, d = pf_ode_sample(FIELD.b, x, with_logp=True, rtol=1e-6, atol=1e-6)
    assert x1.dtype == d.dtype == jnp.float32
    assert_close(x1, r1.astype(jnp.float32), rtol=1e-3, atol=1e-3)
    exact = gmm_logpdf(x1.astype(jnp.float64))
    lp = std_normal_logpdf(x0) + d.astype(jnp.float64)
    assert float(jnp.max(jnp.abs(lp - exact))) <= 1e-3
    ll = log_likelihood(FIELD.b, x1[:8], std_normal_logpdf, rtol=1e-5, atol=1e-5)
    assert ll.dtype == jnp.float32
    assert_close(ll, exact[:8].astype(jnp.float32), rtol=1e-3, atol=1e-3)
    xs = sde_sample(FIELD.b, FIELD.s, 0.5, x, jr.key(0), n_steps=20, method="heun")
    assert xs.dtype == jnp.float32 and np.all(np.isfinite(np.asarray(xs)))


def test_errors():
    b = FIELD.b
    x = jnp.zeros((4, 2))
    ode = unchecked(pf_ode_sample)
    with pytest.raises(ValueError, match=r"x0 must have shape \(B, \*event\)"):
        ode(b, jnp.zeros(2))
    with pytest.raises(TypeError, match="x0 must be a floating array"):
        ode(b, jnp.zeros((4, 2), int))
    with pytest.raises(ValueError, match=r"t1 must lie in \[0, 1\]"):
        ode(b, x, t1=1.5)
    with pytest.raises(ValueError, match="t0 and t1 must differ"):
        ode(b, x, t0=0.5, t1=0.5)
    with pytest.raises(ValueError, match=r"t0 must be a scalar, got shape \(2,\)"):
        ode(b, x, t0=jnp.zeros(2))
    with pytest.raises(TypeError, match="t1 must be real"):
        ode(b, x, t1=jnp.asarray(1j))
    with pytest.raises(ValueError, match="max_steps must be >= 1"):
        ode(b, x, max_steps=0)
    with pytest.raises(ValueError, match="unknown divergence 'trace'"):
        ode(b, x, with_logp=True, divergence="trace")
    with pytest.raises(ValueError, match="unknown probe"):
        ode(
            b, x, with_logp=True, divergence="hutchinson", probe="sphere", key=jr.key(0)
        )
    with pytest.raises(ValueError, match="'hutchinson' needs a key"):
        ode(b, x, with_logp=True, divergence="hutchinson")
    with pytest.raises(ValueError, match="b_fn.* returned shape"):
        ode(lambda x, t: x[:, 0], x)
    with pytest.raises(ValueError, match=r"t1 must lie in \[0, 1\]"):
        unchecked(log_likelihood)(b, x, std_normal_logpdf, t1=1.5)
    with pytest.raises(ValueError, match=r"base_logpdf must return shape \(4,\)"):
        unchecked(log_likelihood)(b, x, lambda y: jnp.sum(y))
    g = jax.jit(lambda t1: ode(lambda x, t: -x, x, t1=t1))
    with pytest.raises((ValueError, RuntimeError), match=r"t1 must lie in \[0, 1\]"):
        jax.block_until_ready(g(jnp.asarray(2.0)))

    sde = unchecked(sde_sample)
    b = s = lambda x, t: -x
    k = jr.key(0)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0, got -0.5"):
        sde(b, s, -0.5, x, k)
    with pytest.raises(ValueError, match="eps must be a scalar or a callable"):
        sde(b, s, jnp.ones(3), x, k)
    with pytest.raises((ValueError, RuntimeError), match=r"eps\(t\) must be >= 0"):
        jax.block_until_ready(sde(b, s, lambda t: t - 0.5, x, k, n_steps=4))
    h = jax.jit(lambda e: sde(b, s, e, x, k, n_steps=4))
    with pytest.raises((ValueError, RuntimeError), match="eps must be >= 0"):
        jax.block_until_ready(h(jnp.asarray(-1.0)))
    with pytest.raises(ValueError, match=r"eps\(t\) must return a scalar"):
        sde(b, s, lambda t: jnp.ones(2), x, k, n_steps=4)
    with pytest.raises(TypeError, match="eps must be real"):
        sde(b, s, jnp.asarray(1j), x, k)
    with pytest.raises(ValueError, match="n_steps must be >= 1"):
        sde(b, s, 1.0, x, k, n_steps=0)
    with pytest.raises(TypeError, match="n_steps must be a Python int"):
        sde(b, s, 1.0, x, k, n_steps=10.0)
    with pytest.raises(ValueError, match="unknown method 'milstein'"):
        sde(b, s, 1.0, x, k, method="milstein")
    with pytest.raises(ValueError, match=r"t0 must lie in \[0, 1\]"):
        sde(b, s, 1.0, x, k, t0=-0.1)
    with pytest.raises(ValueError, match="s_fn.* returned shape"):
        sde(b, lambda x, t: x[:1], 1.0, x, k, n_steps=3)


def test_sde_endpoint_scores_are_never_used():
    """A learned-style score that is NaN at t = 0 and t = 1 gives finite samples
    and gradients: eps is zeroed at the two ends of the grid."""

    def s_nan_at_ends(x, t):
        bad = ((t == 0.0) | (t == 1.0))[:, None]
        return jnp.where(bad, jnp.nan, FIELD.s(x, t))

    x0 = x0_rng(16)
    # Heun evaluates the drift at both ends of every step, t0 and t1 included.
    f = lambda x: sde_sample(
        FIELD.b, s_nan_at_ends, 1.0, x, jr.key(0), n_steps=10, method="heun"
    )
    assert np.all(np.isfinite(np.asarray(f(x0))))
    g = jax.grad(lambda x: jnp.sum(f(x)))(x0)
    assert np.all(np.isfinite(np.asarray(g)))
    # The control: used at the ends, the same score poisons the result.
    bad = lambda x, t: jnp.full_like(x, jnp.nan)
    assert np.all(
        np.isnan(
            np.asarray(
                sde_sample(FIELD.b, bad, 1.0, x0, jr.key(0), n_steps=10, method="heun")
            )
        )
    )


def test_sde_with_b_from_v_s_calls_the_score_once_per_step():
    # b = b_from_v_s(v, s, interp) with the same s: the drift v + (eps - ss')s
    # needs one score call per step, and gives the unfused result.
    calls = {"v": 0, "s": 0}

    def counted(name, f):
        def tick():
            calls[name] += 1

        def g(x, t):
            jax.debug.callback(tick)
            return f(x, t)

        return g

    interp = Interpolant.linear()
    v = counted("v", lambda x, t: -x + t[:, None])
    s = counted("s", lambda x, t: -x / (1.0 + t[:, None]))
    b = b_from_v_s(v, s, interp)
    x0 = jnp.ones((4, 2))
    fused = sde_sample(b, s, 0.5, x0, jr.key(0), n_steps=10)
    jax.effects_barrier()
    assert calls == {"v": 10, "s": 10}
    unfused = sde_sample(lambda x, t: b(x, t), s, 0.5, x0, jr.key(0), n_steps=10)
    assert_close(fused, unfused, rtol=1e-12, atol=1e-12)
