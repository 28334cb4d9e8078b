"""Linear-Gaussian SSM: exact oracles (smc.md §1.3), dense conditioning, FFBS.

Also the stochastic-volatility model's densities and ``simulate``.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import optimize, stats

from jaxmethods.smc import (
    KalmanFilterOutput,
    LGSSMParams,
    LinearGaussianSSM,
    RTSSmootherOutput,
    StochasticVolatility,
    SVParams,
    simulate,
)
from jaxmethods.smc._reference import reference_lgssm, reference_noises
from jaxmethods.smc._ssm import StateSpaceModel
from tests.helpers import (
    assert_close,
    assert_mean_within,
    assert_traced_once,
    check_transforms,
    unchecked,
)


# Exact values of the reference model (research/smc.md §1.3, printed to 10 dp;
# `particles.kalman` agrees to all printed digits).
LOG_LIK = -152.3958434849
E_SUM_X = -20.8767605153
E_SUM_X2 = 166.9644267547
E_SUM_XX = 121.6776535458
X0_MEAN, X0_VAR = -1.1670260257, 0.1764580606
X99_MEAN, X99_VAR = -0.1627013271, 0.2058854848
SCORE = {
    "rho": -28.3812090474,
    "log_sigma_x": -17.5407810993,
    "log_sigma_y": 3.2972770046,
}
MLE = (0.8929171879, 0.5060383571, 0.7646880167)  # (rho, sigma_x, sigma_y)
MAX_LOG_LIK = -144.2070396215
TABLE = 1e-9  # relative tolerance for the 10-digit table values


@pytest.fixture(scope="module")
def ref():
    return reference_lgssm()


@pytest.fixture(scope="module")
def ref_smooth(ref):
    model, params, ys = ref
    return jax.jit(model.rts_smoother)(params, ys)


def random_model(dx=2, dy=2, seed=0):
    """A well-conditioned random LGSSM with dx-dimensional state (float64)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(dx, dx))
    A *= 0.8 / np.max(np.abs(np.linalg.eigvals(A)))

    def spd(d):
        B = rng.normal(size=(d, d))
        return B @ B.T / d + 0.2 * np.eye(d)

    p = LGSSMParams(
        m0=jnp.asarray(rng.normal(size=dx)),
        P0=jnp.asarray(spd(dx)),
        A=jnp.asarray(A),
        Q=jnp.asarray(spd(dx)),
        C=jnp.asarray(rng.normal(size=(dy, dx))),
        R=jnp.asarray(spd(dy)),
    )
    return p


# --------------------------------------------------------------------------
# Reference model: data and exact values.
# --------------------------------------------------------------------------


def test_reference_data(ref):
    model, params, ys = ref
    assert ys.shape == (100, 1) and ys.dtype == jnp.float64
    assert_close(
        ys[[0, 1, 99], 0],
        np.array([-1.7661150338, 0.6397702565, -0.1681378449]),
        rtol=0,
        atol=1e-10,
    )
    # The convention, spelled out independently of the library helper.
    k = np.arange(100.0)
    w = lambda c: np.mod(0.5 + k * c, 1.0)
    bm = lambda c1, c2: np.sqrt(-2 * np.log(w(c1))) * np.cos(2 * np.pi * w(c2))
    u = bm((1 + 5**0.5) / 2 - 1, 2**0.5 - 1)
    v = bm(3**0.5 - 1, 5**0.5 - 2)
    np.testing.assert_allclose(reference_noises()[0], u, rtol=0, atol=1e-13)
    np.testing.assert_allclose(reference_noises()[1], v, rtol=0, atol=1e-13)
    x = np.zeros(100)
    x[0] = u[0]
    for t in range(1, 100):
        x[t] = 0.9 * x[t - 1] + u[t]
    np.testing.assert_array_equal(np.asarray(ys[:, 0]), x + 0.5 * v)
    assert_close(model.lgssm(params).R, np.array([[0.25]]))


def test_reference_exact_values(ref, ref_smooth):
    model, params, ys = ref
    s = ref_smooth
    m, P, cross = (
        s.smoothed_means[:, 0],
        s.smoothed_covs[:, 0, 0],
        s.smoothed_cross_covs[:, 0, 0],
    )
    assert_close(model.log_likelihood(params, ys), LOG_LIK, rtol=TABLE)
    assert_close(s.log_likelihood, LOG_LIK, rtol=TABLE)
    assert_close(jnp.sum(m), E_SUM_X, rtol=TABLE)
    assert_close(jnp.sum(P + m**2), E_SUM_X2, rtol=TABLE)
    assert_close(jnp.sum(cross + m[:-1] * m[1:]), E_SUM_XX, rtol=TABLE)
    assert_close(
        jnp.stack([m[0], P[0], m[99], P[99]]),
        np.array([X0_MEAN, X0_VAR, X99_MEAN, X99_VAR]),
        rtol=TABLE,
    )


def test_reference_score(ref):
    model, params, ys = ref
    f = jax.jit(model.log_likelihood)
    score = jax.grad(f)(params, ys)
    for name, value in SCORE.items():
        assert_close(score[name], value, rtol=0, atol=1e-7, err_msg=name)
    # Central finite differences (float64: truncation ~h^2, rounding ~1e-16*|f|/h).
    h = 1e-5
    for name in SCORE:
        up = dict(params, **{name: params[name] + h})
        down = dict(params, **{name: params[name] - h})
        fd = (f(up, ys) - f(down, ys)) / (2 * h)
        assert_close(score[name], fd, rtol=0, atol=1e-6, err_msg=name)


def test_reference_mle(ref):
    model, params, ys = ref

    def unpack(z):
        return {"rho": z[0], "log_sigma_x": z[1], "log_sigma_y": z[2]}

    vg = jax.jit(jax.value_and_grad(lambda z: -model.log_likelihood(unpack(z), ys)))

    def fun(z):
        v, g = vg(jnp.asarray(z))
        return float(v), np.asarray(g)

    z0 = np.array([float(params[k]) for k in ("rho", "log_sigma_x", "log_sigma_y")])
    res = optimize.minimize(fun, z0, jac=True, method="BFGS", options={"gtol": 1e-9})
    rho, sx, sy = res.x[0], math.exp(res.x[1]), math.exp(res.x[2])
    np.testing.assert_allclose([rho, sx, sy], MLE, rtol=0, atol=1e-5)
    np.testing.assert_allclose(-res.fun, MAX_LOG_LIK, rtol=0, atol=1e-5)
    assert np.max(np.abs(res.jac)) < 1e-6


# --------------------------------------------------------------------------
# Dense O(T^3) oracle: condition the joint Gaussian of (x_{0:T-1}, y_{0:T-1}).
# --------------------------------------------------------------------------


def dense_joint(p: LGSSMParams, T: int):
    m0, P0, A, Q, C, R = (np.asarray(a) for a in (p.m0, p.P0, p.A, p.Q, p.C, p.R))
    dx, dy = m0.shape[0], C.shape[0]
    means, covs = [m0], [P0]
    for _ in range(1, T):
        means.append(A @ means[-1])
        covs.append(A @ covs[-1] @ A.T + Q)
    Sxx = np.zeros((T * dx, T * dx))
    for s in range(T):
        for t in range(s, T):
            block = covs[s] @ np.linalg.matrix_power(A, t - s).T  # Cov(x_s, x_t)
            Sxx[s * dx : (s + 1) * dx, t * dx : (t + 1) * dx] = block
            Sxx[t * dx : (t + 1) * dx, s * dx : (s + 1) * dx] = block.T
    Cb = np.kron(np.eye(T), C)
    mx = np.concatenate(means)
    Syy = Cb @ Sxx @ Cb.T + np.kron(np.eye(T), R)
    return mx, Sxx, Cb @ mx, Syy, Sxx @ Cb.T, dx, dy


def dense_condition(joint, ys, x_block, num_obs):
    """Mean and covariance of x_{x_block} given y_{0:num_obs-1}."""
    mx, Sxx, my, Syy, Sxy, dx, dy = joint
    xi = (
        np.arange(x_block * dx, (x_block + 1) * dx)
        if np.ndim(x_block) == 0
        else x_block
    )
    yi = np.arange(num_obs * dy)
    y = np.asarray(ys).reshape(-1)[yi]
    if num_obs == 0:
        return mx[xi], Sxx[np.ix_(xi, xi)]
    K = np.linalg.solve(Syy[np.ix_(yi, yi)], Sxy[np.ix_(xi, yi)].T).T
    return mx[xi] + K @ (y - my[yi]), Sxx[np.ix_(xi, xi)] - K @ Sxy[np.ix_(xi, yi)].T


@pytest.mark.parametrize("dy", [1, 2])
def test_dense_oracle(dy):
    T = 6
    p = random_model(dx=2, dy=dy, seed=dy)
    ys = jnp.asarray(np.random.default_rng(10 + dy).normal(size=(T, dy)) * 2.0)
    model = LinearGaussianSSM()
    kf = model.kalman_filter(p, ys)
    rts = model.rts_smoother(p, ys)
    assert isinstance(kf, KalmanFilterOutput) and isinstance(rts, RTSSmootherOutput)
    joint = dense_joint(p, T)
    tol = dict(rtol=1e-9, atol=1e-11)
    for t in range(T):
        m, P = dense_condition(joint, ys, t, t + 1)
        assert_close(kf.filtered_means[t], m, **tol)
        assert_close(kf.filtered_covs[t], P, **tol)
        m, P = dense_condition(joint, ys, t, t)
        assert_close(kf.predicted_means[t], m, **tol)
        assert_close(kf.predicted_covs[t], P, **tol)
        m, P = dense_condition(joint, ys, t, T)
        assert_close(rts.smoothed_means[t], m, **tol)
        assert_close(rts.smoothed_covs[t], P, **tol)
    for t in range(T - 1):
        _, P = dense_condition(joint, ys, np.arange(2 * t, 2 * t + 4), T)
        assert_close(rts.smoothed_cross_covs[t], P[:2, 2:], **tol)
    _, _, my, Syy, *_ = joint
    ll = stats.multivariate_normal(my, Syy).logpdf(np.asarray(ys).reshape(-1))
    assert_close(kf.log_likelihood, ll, **tol)
    assert_close(rts.log_likelihood, ll, **tol)


def test_single_observation():
    p = random_model()
    model = LinearGaussianSSM()
    kf, rts, path = jax.jit(
        lambda q, y: (
            model.kalman_filter(q, y),
            model.rts_smoother(q, y),
            model.ffbs_sample(jr.key(0), q, y),
        )
    )(p, jnp.ones((1, 2)))
    assert rts.smoothed_cross_covs.shape == (0, 2, 2)
    assert_close(rts.smoothed_means, kf.filtered_means)
    assert path.shape == (1, 2)


def test_gradients_dense_model():
    p = random_model()
    ys = jnp.asarray(np.random.default_rng(3).normal(size=(6, 2)))
    model = LinearGaussianSSM()
    key = jr.key(1)

    def fn(q):
        # FFBS draws are reparametrised: differentiable for a fixed key.
        return (
            model.log_likelihood(q, ys)
            + jnp.sum(model.rts_smoother(q, ys).smoothed_covs)
            + 0.1 * jnp.sum(model.ffbs_sample(key, q, ys) ** 2)
        )

    # Reverse mode is JAX's linearize + transpose, so this also covers jvp.
    check_grads(jax.jit(fn), (p,), order=1, modes=("rev",))


# --------------------------------------------------------------------------
# FFBS.
# --------------------------------------------------------------------------


def test_ffbs_statistics(ref, ref_smooth):
    # 4000 independent exact paths; each assert_mean_within entry has a false-
    # alarm rate of about 6e-5 at k = 4 (normal z-score), so the 6 + 10 entries
    # below give about 1e-3 in all (and the key is fixed, so it is deterministic).
    model, params, ys = ref
    n = 4000
    xs = jax.jit(lambda k: model.ffbs_sample(k, params, ys, num_samples=n))(jr.key(11))
    assert xs.shape == (n, 100, 1) and xs.dtype == jnp.float64
    s = ref_smooth
    x = np.asarray(xs[:, :, 0])
    m, P = np.asarray(s.smoothed_means[:, 0]), np.asarray(s.smoothed_covs[:, 0, 0])
    assert_mean_within(x[:, [0, 99]], m[[0, 99]])
    assert_mean_within((x[:, [0, 99]] - m[[0, 99]]) ** 2, P[[0, 99]])
    sum_xx = np.sum(x[:, :-1] * x[:, 1:], axis=1)
    assert_mean_within(sum_xx, E_SUM_XX)

    # A 2-D state: means and full covariances at t = 0 and t = T - 1, and the
    # lag-one cross-covariance at t = 2.
    p = random_model(seed=4)
    T = 6
    ys2 = jnp.asarray(np.random.default_rng(5).normal(size=(T, 2)))
    lg = LinearGaussianSSM()
    rts = lg.rts_smoother(p, ys2)
    z = np.asarray(lg.ffbs_sample(jr.key(12), p, ys2, num_samples=n))
    for t in (0, T - 1):
        mt = np.asarray(rts.smoothed_means[t])
        c = z[:, t] - mt
        assert_mean_within(z[:, t], mt)
        assert_mean_within(
            c[:, :, None] * c[:, None, :], np.asarray(rts.smoothed_covs[t])
        )
    c2, c3 = (
        z[:, 2] - np.asarray(rts.smoothed_means[2]),
        z[:, 3] - np.asarray(rts.smoothed_means[3]),
    )
    assert_mean_within(
        c2[:, :, None] * c3[:, None, :], np.asarray(rts.smoothed_cross_covs[2])
    )


def test_ffbs_shapes_and_keys():
    # The 2-D model of test_ffbs_statistics (eager: its ops are cached by now).
    p = random_model(seed=4)
    ys = jnp.asarray(np.random.default_rng(5).normal(size=(6, 2)))
    model = LinearGaussianSSM()
    one = model.ffbs_sample(jr.key(0), p, ys)
    assert one.shape == (6, 2)
    assert_close(model.ffbs_sample(jr.key(0), p, ys), one, rtol=0, atol=0)
    many = model.ffbs_sample(jr.key(0), p, ys, num_samples=2)
    assert many.shape == (2, 6, 2)
    assert not np.allclose(many[0], many[1])


# --------------------------------------------------------------------------
# Transforms and dtypes.
# --------------------------------------------------------------------------


def test_transforms_over_params(ref):
    model, params, ys = ref
    batched = {
        "rho": jnp.array([0.5, 0.9, 0.95]),
        "log_sigma_x": jnp.array([0.0, -0.5, 0.3]),
        "log_sigma_y": jnp.array([-0.7, 0.0, -1.0]),
    }
    key = jr.key(0)
    check_transforms(
        lambda q: (model.rts_smoother(q, ys), model.ffbs_sample(key, q, ys)),
        (params,),
        vmap_args=(batched,),
    )
    # The score: vmap of the jitted gradient equals a loop (eager gradients of
    # a scan recompile on every call, so only the jitted one is compared).
    check_transforms(
        jax.jit(jax.grad(lambda q: model.log_likelihood(q, ys))),
        (params,),
        vmap_args=(batched,),
    )
    # vmap over data sets and over plain LGSSMParams.
    p = random_model()
    ys2 = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 2)))
    lg = LinearGaussianSSM()
    ps = jax.tree.map(lambda a: jnp.stack([a, 1.1 * a]), p)
    batched_kf = jax.jit(jax.vmap(lg.kalman_filter))(ps, ys2)
    for i in range(2):
        one = lg.kalman_filter(jax.tree.map(lambda a, i=i: a[i], ps), ys2[i])
        jax.tree.map(lambda a, b, i=i: assert_close(a[i], b), batched_kf, one)


def test_traced_once(ref):
    model, params, ys = ref
    sets = [({**params, "rho": jnp.asarray(r)},) for r in (0.5, 0.7, 0.9)]
    assert_traced_once(lambda q: model.log_likelihood(q, ys), sets)


def test_float32(ref):
    # float32 parameters give float32 results even with x64 on; float64 data
    # are cast to the parameters' dtype. All under one jit (dtypes are decided
    # at trace time, so the eager path is the same code).
    model, params, ys = ref
    p32 = jax.tree.map(lambda a: a.astype(jnp.float32), params)
    ys32 = ys.astype(jnp.float32)
    x = jnp.zeros(1, jnp.float32)
    t = jnp.ones((), jnp.int32)
    key = jr.key(0)

    @jax.jit
    def everything(q, y, y64):
        return {
            "ll": model.log_likelihood(q, y),
            "ll_f64_data": model.log_likelihood(q, y64),
            "score": jax.grad(model.log_likelihood)(q, y),
            "kf": model.kalman_filter(q, y),
            "rts": model.rts_smoother(q, y),
            "ffbs": model.ffbs_sample(key, q, y, num_samples=2),
            "init": model.sample_init(key, q),
            "trans": model.sample_transition(key, x, t, q),
            "obs": model.sample_observation(key, x, t, q),
            "log_trans": model.log_transition(x, x, t, q),
            "log_obs": model.log_observation(x, x, t, q),
            "bound": model.log_transition_bound(t, q),
            "A": model.lgssm(q).A,
            "sim": simulate(key, model, q, 5),
        }

    out = everything(p32, ys32, ys)
    leaves = jax.tree.leaves(out)
    assert all(leaf.dtype == jnp.float32 for leaf in leaves), [
        leaf.dtype for leaf in leaves
    ]
    assert_close(out["ll"], np.float32(LOG_LIK))
    assert_close(out["ll_f64_data"], np.float32(LOG_LIK))
    for name, value in SCORE.items():
        assert_close(out["score"][name], np.float32(value), rtol=2e-3, err_msg=name)
    assert_close(out["rts"].smoothed_covs[0, 0, 0], np.float32(X0_VAR))


# --------------------------------------------------------------------------
# Per-state densities and samplers.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dx, dy", [(1, 1), (3, 2), (8, 1), (9, 2), (2, 11)])
def test_lgssm_log_densities_both_forms(dx, dy):
    # Up to 8 dimensions the densities are written out over scalars, beyond
    # that with array products; both against SciPy in float64.
    p = random_model(dx, dy, seed=dx + 10 * dy)
    model = LinearGaussianSSM()
    m0, P0, A, Q, C, R = (np.asarray(a) for a in (p.m0, p.P0, p.A, p.Q, p.C, p.R))
    rng = np.random.default_rng(dx * dy)
    x_prev, x, y = rng.normal(size=dx), rng.normal(size=dx), rng.normal(size=dy)
    t = jnp.ones((), jnp.int32)
    mvn = stats.multivariate_normal
    assert_close(model.log_init(jnp.asarray(x), p), mvn(m0, P0).logpdf(x), rtol=1e-12)
    assert_close(
        model.log_transition(jnp.asarray(x_prev), jnp.asarray(x), t, p),
        mvn(A @ x_prev, Q).logpdf(x),
        rtol=1e-12,
    )
    assert_close(
        model.log_observation(jnp.asarray(x), jnp.asarray(y), t, p),
        mvn(C @ x, R).logpdf(y),
        rtol=1e-12,
    )


def test_lgssm_pair_grid_has_no_trailing_state_axis():
    # The exact backward kernel vmaps log_transition over an (N, N) grid of
    # particle pairs. For small states the density must stay scalar arithmetic
    # on that grid: (N, N, dx) intermediates made XLA:CPU's fused loop about
    # 10x slower (see _mvn_logpdf_affine).
    from jaxmethods.smc._backward import exact_logits

    p = random_model(2, 1, seed=3)
    model = LinearGaussianSSM()
    n_prev, n_next = 5, 7
    x_prev = jnp.ones((n_prev, 2))
    x_next = jnp.ones((n_next, 2))

    def logits(xp, xn):
        log_m = lambda a, b: model.log_transition(a, b, 0, p)  # noqa: E731
        return exact_logits(log_m, xp, jnp.zeros(n_prev), xn)

    jaxpr = jax.make_jaxpr(logits)(x_prev, x_next)
    shapes = {
        tuple(v.aval.shape)
        for eqn in jaxpr.jaxpr.eqns
        for v in eqn.outvars
        if hasattr(v.aval, "shape")
    }
    assert (n_next, n_prev) in shapes
    assert not any(len(s) == 3 and s[:2] == (n_next, n_prev) for s in shapes), shapes


def test_lgssm_state_methods(getkey):
    p = random_model(seed=7)
    model = LinearGaussianSSM()
    m0, P0, A, Q, C, R = (np.asarray(a) for a in (p.m0, p.P0, p.A, p.Q, p.C, p.R))
    rng = np.random.default_rng(8)
    x_prev, x, y = rng.normal(size=2), rng.normal(size=2), rng.normal(size=2)
    t = jnp.ones((), jnp.int32)
    mvn = stats.multivariate_normal
    assert_close(model.log_init(jnp.asarray(x), p), mvn(m0, P0).logpdf(x))
    assert_close(
        model.log_transition(jnp.asarray(x_prev), jnp.asarray(x), t, p),
        mvn(A @ x_prev, Q).logpdf(x),
    )
    assert_close(
        model.log_observation(jnp.asarray(x), jnp.asarray(y), t, p),
        mvn(C @ x, R).logpdf(y),
    )
    bound = model.log_transition_bound(t, p)
    assert_close(bound, mvn(A @ x_prev, Q).logpdf(A @ x_prev))
    assert float(
        model.log_transition(jnp.asarray(x_prev), jnp.asarray(x), t, p)
    ) < float(bound)
    # Samplers: 4000 draws, mean within 4 standard errors (false alarm ~6e-5
    # per entry, 2 + 2 + 2 entries).
    keys = jr.split(getkey(), 4000)
    x0s = jax.vmap(lambda k: model.sample_init(k, p))(keys)
    assert_mean_within(x0s, m0)
    xts = jax.vmap(lambda k: model.sample_transition(k, jnp.asarray(x_prev), t, p))(
        keys
    )
    assert_mean_within(xts, A @ x_prev)
    yts = jax.vmap(lambda k: model.sample_observation(k, jnp.asarray(x), t, p))(keys)
    assert_mean_within(yts, C @ x)
    np.testing.assert_allclose(np.cov(np.asarray(x0s).T), P0, atol=0.15)


def test_simulate(ref):
    model, params, _ = ref
    # Marginals: X_t ~ N(0, v_t) with v_t = 0.81 v_{t-1} + 1, v_0 = 1, and
    # Y_t - X_t ~ N(0, 1/4). 4000 simulated paths, 3 checked entries at k = 4
    # (false alarm ~2e-4 in all).
    keys = jr.split(jr.key(4), 4000)
    xs, ys = jax.vmap(lambda k: simulate(k, model, params, 3))(keys)
    assert xs.shape == ys.shape == (4000, 3, 1)
    v2 = 0.81 * (0.81 + 1) + 1
    assert_mean_within(xs[:, 2, 0] ** 2, v2)
    assert_mean_within((ys[:, 1:, 0] - xs[:, 1:, 0]) ** 2, np.array([0.25, 0.25]))
    # Prefix-consistent (keys are folded in with t) and equal to the batch.
    xs2, ys2 = simulate(keys[7], model, params, 2)
    assert xs2.shape == ys2.shape == (2, 1)
    assert_close(xs2, xs[7, :2])
    assert_close(ys2, ys[7, :2])


# --------------------------------------------------------------------------
# Stochastic volatility.
# --------------------------------------------------------------------------


def test_stochastic_volatility(getkey):
    model = StochasticVolatility()
    p = SVParams(mu=jnp.asarray(-1.0), phi=jnp.asarray(0.9), sigma=jnp.asarray(0.4))
    t = jnp.ones((), jnp.int32)
    x_prev, x, y = jnp.array([-0.7]), jnp.array([-1.3]), jnp.array([0.2])
    sd0 = 0.4 / math.sqrt(1 - 0.81)
    assert_close(model.log_init(x, p), stats.norm(-1.0, sd0).logpdf(-1.3))
    assert_close(
        model.log_transition(x_prev, x, t, p),
        stats.norm(-1.0 + 0.9 * (-0.7 + 1.0), 0.4).logpdf(-1.3),
    )
    assert_close(
        model.log_observation(x, y, t, p), stats.norm(0, math.exp(-0.65)).logpdf(0.2)
    )
    mode = jnp.array([-1.0 + 0.9 * 0.3])
    assert_close(
        model.log_transition_bound(t, p), model.log_transition(x_prev, mode, t, p)
    )
    g = jax.grad(
        lambda q: model.log_transition(x_prev, x, t, q) + model.log_init(x, q)
    )(p)
    assert all(np.isfinite(float(leaf)) for leaf in jax.tree.leaves(g))
    # Stationary law: 4000 draws of X_0, X_5 (mean mu, variance sd0^2) and of
    # Y_5^2 (mean E[exp(X)] = exp(mu + sd0^2 / 2)); 5 entries at k = 4.
    keys = jr.split(getkey(), 4000)
    xs, ys = jax.vmap(lambda k: simulate(k, model, p, 6))(keys)
    assert xs.shape == ys.shape == (4000, 6, 1)
    sel = np.asarray(xs[:, [0, 5], 0])
    assert_mean_within(sel, np.array([-1.0, -1.0]))
    assert_mean_within((sel + 1.0) ** 2, np.array([sd0**2, sd0**2]))
    assert_mean_within(np.asarray(ys[:, 5, 0]) ** 2, math.exp(-1.0 + sd0**2 / 2))


# --------------------------------------------------------------------------
# Errors.
# --------------------------------------------------------------------------


def test_errors(ref):
    model, params, ys = ref
    kf = unchecked(LinearGaussianSSM.kalman_filter)
    with pytest.raises(ValueError, match="kalman_filter: ys must be 2-D"):
        kf(model, params, ys[:, 0])
    with pytest.raises(ValueError, match="kalman_filter: ys has dy=2"):
        kf(model, params, jnp.ones((4, 2)))
    with pytest.raises(ValueError, match="at least one observation"):
        kf(model, params, jnp.ones((0, 1)))
    with pytest.raises(ValueError, match="rts_smoother: ys must be 2-D"):
        unchecked(LinearGaussianSSM.rts_smoother)(model, params, ys[None])
    ffbs = unchecked(LinearGaussianSSM.ffbs_sample)
    with pytest.raises(
        ValueError, match="ffbs_sample: num_samples must be a positive int"
    ):
        ffbs(model, jr.key(0), params, ys, num_samples=0)
    with pytest.raises(ValueError, match="ffbs_sample: ys has dy=3"):
        ffbs(model, jr.key(0), params, jnp.ones((4, 3)))

    plain = LinearGaussianSSM()
    with pytest.raises(
        TypeError, match="LinearGaussianSSM.lgssm: params must give an LGSSMParams"
    ):
        plain.log_likelihood(params, ys)
    bad_map = LinearGaussianSSM(parametrization=lambda q: q)
    with pytest.raises(
        TypeError, match="parametrization must give an LGSSMParams, got dict"
    ):
        bad_map.log_likelihood(params, ys)
    p = random_model()
    # eqx.tree_at skips __init__ (and so jaxtyping's field check).
    bad = eqx.tree_at(lambda q: q.A, p, jnp.ones((2, 3)))
    with pytest.raises(
        ValueError, match=r"lgssm: A must have shape \(2, 2\), got \(2, 3\)"
    ):
        plain.log_likelihood(bad, jnp.ones((3, 2)))
    bad = eqx.tree_at(lambda q: q.C, p, jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"lgssm: C must have shape \(dy, 2\)"):
        plain.log_likelihood(bad, jnp.ones((3, 2)))

    class NoObservation(StateSpaceModel):
        def sample_init(self, key, params):
            return jr.normal(key, (1,))

        def log_init(self, x0, params):
            return jnp.zeros(())

        def sample_transition(self, key, x_prev, t, params):
            return x_prev

        def log_transition(self, x_prev, x, t, params):
            return jnp.zeros(())

        def log_observation(self, x, y, t, params):
            return jnp.zeros(())

    sim = unchecked(simulate)
    with pytest.raises(
        TypeError, match="simulate: NoObservation has no sample_observation"
    ):
        sim(jr.key(0), NoObservation(), None, 5)
    with pytest.raises(TypeError, match="simulate: model must be a StateSpaceModel"):
        sim(jr.key(0), object(), None, 5)
    with pytest.raises(ValueError, match="simulate: num_steps must be a positive int"):
        sim(jr.key(0), model, params, 0)
    with pytest.raises(
        TypeError, match="StochasticVolatility: params must be an SVParams"
    ):
        StochasticVolatility().log_init(jnp.zeros(1), params)
    sv = SVParams(mu=jnp.zeros(()), phi=jnp.zeros(()), sigma=jnp.ones(()))
    with pytest.raises(
        ValueError, match=r"StochasticVolatility: x must have shape \(1,\)"
    ):
        unchecked(StochasticVolatility.log_observation)(
            StochasticVolatility(),
            jnp.zeros(2),
            jnp.zeros(1),
            jnp.ones((), jnp.int32),
            sv,
        )
