"""CTMC closed forms, reverse rates, Euler/Tweedie steps and SEDD score entropy.

Oracles (float64): ``scipy.linalg.expm`` for the transition matrices, the
explicit joint table ``P = dirichlet(3**4, alpha=0.5, seed 0)`` of discrete.md
§0.2 pushed through the noise (``p_t = P @ (e^{sigma Q})^{(x) L}``, over every
noisy state) for exact concrete scores, and the definition of the denoising
score entropy summed term by term.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import scipy.linalg
from jax.test_util import check_grads
from scipy import stats

from jaxmethods.discrete._ctmc import (
    ctmc_transition,
    euler_probs,
    euler_step,
    rate_matrix,
    reverse_rate,
    tweedie_probs,
    tweedie_step,
)
from jaxmethods.discrete._schedules import (
    GeometricSchedule,
    LinearSchedule,
    LogLinearSchedule,
)
from jaxmethods.discrete._score_entropy import score_entropy, score_entropy_loss
from tests.helpers import (
    assert_close,
    assert_mean_within,
    assert_traced_once,
    check_transforms,
    fit_slope,
    unchecked,
)


V, L = 3, 4
P_NP = np.random.default_rng(0).dirichlet(np.full(V**L, 0.5)).reshape((V,) * L)
P = jnp.asarray(P_NP)
X = (0, 1, 2, 0)
NLL_X = 7.891397149296538  # -log P[x], discrete.md §0.2
KINDS = ("uniform", "absorbing")


def num_states(kind):
    return V + 1 if kind == "absorbing" else V


def q_numpy(kind, k):
    """The SEDD base generator, written out independently of the library."""
    if kind == "uniform":
        return (np.ones((k, k)) - k * np.eye(k)) / k
    q = -np.eye(k)
    q[:, -1] += 1.0
    q[-1] = 0.0
    return q


def transition_jnp(kind, sigma):
    """e^{sigma Q} restricted to clean rows (V, K), in jnp for traced sigma."""
    k = num_states(kind)
    stay, move = jnp.exp(-sigma), -jnp.expm1(-sigma)
    if kind == "uniform":
        e = stay * jnp.eye(k) + move / k
    else:
        e = stay * jnp.eye(k) + move * jnp.zeros((k, k)).at[:, -1].set(1.0)
    return e[:V]


def noisy_table(kind, sigma):
    """p_t over all K^L noisy states: sum_x P[x] prod_i e^{sigma Q}[x_i, z_i]."""
    e = transition_jnp(kind, sigma)
    return jnp.einsum("abcd,ae,bf,cg,dh->efgh", P, e, e, e, e)


def exact_log_score(kind):
    """``log_score_fn(z, sigma)``: log p_t(z with z_i <- y) - log p_t(z), (L, K)."""
    k = num_states(kind)

    def fn(z, sigma):
        pt = noisy_table(kind, sigma)
        rows = []
        for i in range(L):
            idx = [z[j] for j in range(L)]
            idx[i] = jnp.arange(k)
            rows.append(jnp.log(pt[tuple(idx)]))
        return jnp.stack(rows) - jnp.log(pt[tuple(z[j] for j in range(L))])

    return fn


def conditional(z, i):
    """p(x_i = . | visible tokens of z) from the table (mask = V), numpy."""
    sl = tuple(slice(None) if zj == V else zj for zj in z)
    sub = P_NP[sl]  # axes: the masked positions, in order
    axis = [j for j in range(L) if z[j] == V].index(i)
    other = tuple(a for a in range(sub.ndim) if a != axis)
    m = sub.sum(axis=other)
    return m / m.sum()


def sedd_entropy_reference(kind, log_score, x_t, x0, sigma):
    """Sum over y != x_t of R(y -> x_t)(s_y - r_y log s_y + r_y(log r_y - 1))."""
    k = log_score.shape[-1]
    q = q_numpy(kind, k)
    e = scipy.linalg.expm(sigma * q)
    out = 0.0
    for y in range(k):
        w = q[y, x_t]
        if y == x_t or w == 0:
            continue
        r = e[x0, y] / e[x0, x_t]
        const = r * (math.log(r) - 1) if r > 0 else 0.0
        out += w * (math.exp(log_score[y]) - r * log_score[y] + const)
    return out


# ----------------------------------------------------------------- closed forms


@pytest.mark.parametrize("kind", KINDS)
def test_ctmc_transition_equals_expm(kind):
    k, sigma = 5, 0.8
    trans = jax.jit(lambda s: ctmc_transition(kind, s, num_states=k))
    p = trans(sigma)
    ref = scipy.linalg.expm(sigma * q_numpy(kind, k))
    assert_close(p, ref, rtol=0, atol=1e-12)
    assert_close(rate_matrix(kind, num_states=k), q_numpy(kind, k), rtol=0, atol=0)
    if kind == "uniform":  # discrete.md §1.3
        assert_close(p[0, 0], 0.5594631712937774, rtol=0, atol=1e-12)
        assert_close(p[0, 1], 0.11013420717655571, rtol=0, atol=1e-12)
    else:
        assert_close(p[0, 0], 0.44932896411722145, rtol=0, atol=1e-12)
        assert_close(p[0, 4], 0.5506710358827784, rtol=0, atol=1e-12)
        assert_close(p[4], np.eye(5)[4], rtol=0, atol=1e-15)
    # Batched sigma, semigroup property and the generator as the derivative.
    sig = jnp.array([[0.0, 0.3], [1.1, 7.0]])
    pb = trans(sig)
    assert pb.shape == (2, 2, k, k)
    assert_close(pb[0, 0], np.eye(k), rtol=0, atol=0)
    assert_close(
        pb[1, 1], scipy.linalg.expm(7.0 * q_numpy(kind, k)), rtol=0, atol=1e-12
    )
    assert_close(pb[0, 1] @ p, pb[1, 0], rtol=0, atol=1e-14)
    d = jax.jit(jax.jacfwd(trans))(0.0)
    assert_close(d, q_numpy(kind, k), rtol=0, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_reverse_rate_definition(kind, getkey):
    k = 4
    score = jnp.exp(jr.normal(getkey(), (6, k)))
    x_t = jnp.array([0, 1, 2, 3, 3, 1])
    rate = jax.jit(lambda s, x: reverse_rate(kind, s, x))(score, x_t)
    q = q_numpy(kind, k)
    for n in range(6):
        x = int(x_t[n])
        ref = np.array([q[y, x] * float(score[n, y]) for y in range(k)])
        ref[x] = 0.0
        ref[x] = -ref.sum()
        assert_close(rate[n], ref, rtol=1e-14, atol=1e-15)
    assert_close(jnp.sum(rate, -1), np.zeros(6), rtol=0, atol=1e-14)


# ----------------------------------------------------------------- score entropy


def test_radd_concrete_score_identity_and_reference_value():
    # Exact p_t over every partially masked state (sigma = 0.7) against RADD's
    # s_v = e^{-sigma}/(1 - e^{-sigma}) p(x_i = v | visible): max error ~1e-16.
    sigma = 0.7
    fn = jax.jit(exact_log_score("absorbing"))
    coef = math.exp(-sigma) / -math.expm1(-sigma)
    states = list(itertools.product(range(V + 1), repeat=L))
    ls_all = np.asarray(jax.vmap(fn, (0, None))(jnp.array(states), sigma))
    worst = 0.0
    for z, ls in zip(states, ls_all, strict=True):
        for i in range(L):
            if z[i] == V:
                ref = coef * conditional(z, i)
                worst = max(worst, np.max(np.abs(np.exp(ls[i, :V]) - ref) / ref))
    assert worst < 1e-12
    # discrete.md §2.3: DSE = DCE = 1.4336962655101568 at z = (M,1,M,0), i = 0,
    # x0_i = 0.
    z = (V, 1, V, 0)
    radd = np.log(coef * conditional(z, 0))
    log_score = jnp.asarray(np.append(radd, 0.0))[None]
    se = jax.jit(lambda *a: score_entropy(*a, graph="absorbing"))
    ell = se(log_score, jnp.array([V]), jnp.array([0]), sigma)
    assert_close(ell, [1.4336962655101568], rtol=1e-13)
    assert_close(ell, [-coef * math.log(conditional(z, 0)[0])], rtol=1e-13)
    # The same through the full-table score and a whole sequence: only masked
    # positions contribute.
    z_arr = jnp.array(z)
    ell_seq = se(fn(z_arr, sigma), z_arr, jnp.array(X), sigma)
    assert_close(ell_seq[0], 1.4336962655101568, rtol=1e-12)
    assert ell_seq[1] == 0 and ell_seq[3] == 0 and ell_seq[2] > 0


@pytest.mark.parametrize("kind", KINDS)
def test_score_entropy_matches_definition(kind, getkey):
    k = num_states(kind)
    n = 24
    log_score = 1.5 * jr.normal(getkey(), (n, k))
    x_t = jr.randint(getkey(), (n,), 0, k)
    x0 = jr.randint(getkey(), (n,), 0, V)
    sigma = jnp.exp(jr.uniform(getkey(), (n,), minval=-4.0, maxval=2.5))
    ell = jax.jit(lambda *a: score_entropy(*a, graph=kind))(log_score, x_t, x0, sigma)
    ref = [
        sedd_entropy_reference(
            kind, np.asarray(log_score[j]), int(x_t[j]), int(x0[j]), float(sigma[j])
        )
        for j in range(n)
    ]
    assert_close(ell, ref, rtol=1e-11, atol=1e-12)
    assert np.all(np.asarray(ell) >= 0)


@pytest.mark.parametrize("kind", KINDS)
def test_score_entropy_zero_at_true_ratio(kind):
    # s_y = r_y = p(y | x0) / p(x_t | x0) for one position: ell = 0; a change
    # raises it.
    k = num_states(kind)
    se = jax.jit(
        lambda a, x, y, s: score_entropy(a[None], x[None], y[None], s, graph=kind)
    )
    for sigma in (0.01, 0.7, 5.0):
        e = scipy.linalg.expm(sigma * q_numpy(kind, k))
        for x0, x_t in itertools.product(range(V), range(k)):
            if e[x0, x_t] == 0:
                continue
            with np.errstate(divide="ignore"):
                ls = np.log(e[x0] / e[x0, x_t])
            ell = se(jnp.asarray(ls), jnp.array(x_t), jnp.array(x0), sigma)
            assert abs(float(ell[0])) < 1e-12 * max(1.0, 1 / sigma)
            bumped = np.where(np.isfinite(ls), ls + 0.1, ls)
            bumped[x_t] = 0.0
            ell2 = se(jnp.asarray(bumped), jnp.array(x_t), jnp.array(x0), sigma)
            moves = kind == "uniform" or x_t == V
            assert (float(ell2[0]) > 1e-6) == moves


def _gauss_legendre(lo, hi, n):
    u, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (hi - lo) * u + 0.5 * (hi + lo), 0.5 * (hi - lo) * w


@pytest.mark.parametrize(
    ("kind", "log_sigma_range", "atol"),
    # The integral is truncated to [sigma_lo, 50]: the part below sigma_lo is
    # 1.37e-8 (uniform, 1e-10) and 1.2e-11 (absorbing, 1e-12); above 50, ~e^-50.
    # The quadrature has converged (100 to 400 nodes agree to 1e-12).
    [
        ("uniform", (-10 * math.log(10), math.log(50.0)), 3e-8),
        ("absorbing", (-12 * math.log(10), math.log(50.0)), 1e-10),
    ],
)
def test_score_entropy_integral_is_exact_nll(kind, log_sigma_range, atol):
    # int_0^inf E_{z ~ e^{sigma Q}}[sum_i ell_i(exact score)] dsigma = -log P[x]
    # (SEDD's bound is tight for the exact score); Gauss-Legendre in log sigma.
    k = num_states(kind)
    states = jnp.array(list(itertools.product(range(k), repeat=L)))
    fn = exact_log_score(kind)
    x = jnp.broadcast_to(jnp.array(X), states.shape)

    def expected_entropy(sigma):
        e = transition_jnp(kind, sigma)
        w = jnp.prod(e[x, states], axis=-1)  # q(z | x) for every state z
        ls = jax.vmap(fn, (0, None))(states, sigma)
        ell = score_entropy(ls, states, x, sigma, graph=kind)
        return jnp.sum(w * jnp.sum(ell, -1))

    u, wq = _gauss_legendre(*log_sigma_range, 160)  # pyright: ignore[reportCallIssue]
    sig = np.exp(u)
    vals = np.asarray(jax.jit(jax.vmap(expected_entropy))(jnp.asarray(sig)))
    assert_close(np.sum(wq * sig * vals), NLL_X, rtol=0, atol=atol)


@pytest.mark.parametrize(
    ("kind", "schedule", "bias"),
    [
        ("absorbing", LogLinearSchedule(eps=1e-6), 4.5e-6),
        ("uniform", GeometricSchedule(sigma_min=1e-8, sigma_max=40.0), 1.3e-6),
    ],
)
def test_score_entropy_loss_is_unbiased_for_exact_score(kind, schedule, bias):
    # With the exact score, E[loss] = -log P[x] minus the schedule's truncation
    # (sigma(0) > 0 or sigma(1) < inf): `bias`, computed by scipy quad, is the
    # stated atol. 512 keys x 256 stratified sequences (s.e. ~0.05); each key's
    # batch mean is one sample, so the z-score is ~N(0, 1) and k = 4 has a
    # false-alarm rate of about 6e-5.
    x = jnp.broadcast_to(jnp.array(X), (256, L))
    fn = exact_log_score(kind)
    one = lambda key: jnp.mean(score_entropy_loss(fn, key, x, schedule, graph=kind))
    keys = jr.split(jr.key(0), 512)
    means = np.asarray(jax.jit(jax.vmap(one))(keys))
    assert_mean_within(means, NLL_X, k=4.0, atol=bias)
    if kind == "uniform":  # vmap over keys equals the unbatched call
        assert_close(means[:2], [jax.jit(one)(keys[i]) for i in range(2)])


def test_score_entropy_loss_shapes_times_and_noise():
    # With zero log-scores, ell = V + a (log a - 1) at every masked token and 0
    # elsewhere, so loss / (sigma'(t) (V + a (log a - 1))) counts the masked
    # tokens: over 4000 tokens their fraction must be 1 - alpha(t) at the
    # stratified times t = 1 - ((u + i/B) mod 1) (binomial, 4 s.d.).
    sched = LinearSchedule()
    seen = {}

    def fn(z, sigma):
        seen["sigma_dtype"] = sigma.dtype
        return jnp.zeros((z.shape[0], V + 1), jnp.float32)

    def loss(x, key=None):
        key = jr.key(1) if key is None else key
        return score_entropy_loss(fn, key, x, sched, graph="absorbing")

    out = jax.eval_shape(loss, jnp.zeros((2, 3, 5), jnp.int32))
    assert out.shape == (2, 3) and out.dtype == jnp.float64
    assert seen["sigma_dtype"] == jnp.float64
    assert jax.eval_shape(loss, jnp.zeros((5,), jnp.int32)).shape == ()
    big = jnp.zeros((8, 4000), jnp.int32)
    got = jax.jit(loss)(big, jr.key(2))
    u = jr.uniform(jr.split(jr.key(2), 3)[0], (), jnp.float64)
    t = 1 - jnp.mod(u + jnp.arange(8) / 8, 1.0)
    a = 1 / sched.expm1_sigma(t)
    per_token = sched.dsigma(t) * (V + a * (jnp.log(a) - 1))
    frac = got / per_token / 4000
    assert np.all(
        np.abs(np.asarray(frac - sched.mask_prob(t))) < 4 * 0.5 / math.sqrt(4000)
    )


# ----------------------------------------------------------------- one-step laws


def _one_token(kind, sigma):
    """Single-position data p0 (V,) pushed to p_t over K states."""
    p0 = np.array([0.5, 0.3, 0.2])
    k = num_states(kind)
    return p0 @ scipy.linalg.expm(sigma * q_numpy(kind, k))[:V]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("t", [0.9, 0.3])
def test_tweedie_probs_is_exact_reverse_for_one_token(kind, t):
    # One position with the exact score: P(y | x) = p_s(y) e^{dsigma Q}[y, x] / p_t(x).
    sched = GeometricSchedule(sigma_min=1e-3, sigma_max=5.0)
    dt = 0.2
    k = num_states(kind)
    s_t, s_s = float(sched.sigma(t)), float(sched.sigma(t - dt))
    pt, ps = _one_token(kind, s_t), _one_token(kind, s_s)
    pdelta = scipy.linalg.expm((s_t - s_s) * q_numpy(kind, k))
    x_t = jnp.arange(k)
    log_score = jnp.log(jnp.asarray(pt))[None] - jnp.log(jnp.asarray(pt))[:, None]
    probs = jax.jit(lambda a, x: tweedie_probs(a, x, t, dt, sched, kind=kind))(
        log_score, x_t
    )
    ref = ps[None, :] * pdelta.T / pt[:, None]
    assert_close(probs, ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_euler_probs_definition_and_first_order(kind):
    sched = GeometricSchedule(sigma_min=1e-3, sigma_max=5.0)
    k, t = num_states(kind), 0.7
    q = q_numpy(kind, k)
    pt = _one_token(kind, float(sched.sigma(t)))
    log_score = jnp.log(jnp.asarray(pt))[None] - jnp.log(jnp.asarray(pt))[:, None]
    x_t = jnp.arange(k)
    rate = float(sched.dsigma(t)) * q.T * pt[None, :] / pt[:, None]  # Rbar[x, y]
    np.fill_diagonal(rate, 0.0)
    np.fill_diagonal(rate, -rate.sum(1))
    ep = jax.jit(lambda d: euler_probs(log_score, x_t, t, d, sched, kind=kind))
    dt = 1e-3
    assert_close(ep(dt), np.eye(k) + dt * rate, rtol=1e-12, atol=1e-15)
    # Local error against the exact reverse transition is O(dt^2).
    errs, dts = [], [0.02, 0.01, 0.005, 0.0025]
    for d in dts:
        s_s = float(sched.sigma(t - d))
        ps = _one_token(kind, s_s)
        pd = scipy.linalg.expm((float(sched.sigma(t)) - s_s) * q)
        exact = ps[None, :] * pd.T / pt[:, None]
        errs.append(np.abs(np.asarray(ep(d)) - exact).max())
    assert abs(fit_slope(dts, errs) - 2.0) < 0.15


def test_step_probs_clamp_and_carry_over():
    sched = LogLinearSchedule(eps=0.0)
    ep = jax.jit(lambda a, x, t, d: euler_probs(a, x, t, d, sched, kind="absorbing"))
    tp = jax.jit(lambda a, x, t, d: tweedie_probs(a, x, t, d, sched, kind="absorbing"))
    ls = jnp.log(jnp.array([[5.0, 9.0, 1.0, 1.0], [5.0, 9.0, 1.0, 1.0]]))
    x_t = jnp.array([3, 1])
    # Euler at t = 0.5, dt = 0.5: dt sigma'(t) = 1, so the moves have probabilities
    # 5, 9, 1 and staying would be -14: clamped to 0 and renormalised.
    p = ep(ls, x_t, 0.5, 0.5)
    assert_close(p[0], [5 / 15, 9 / 15, 1 / 15, 0.0], rtol=1e-14)
    assert_close(p[1], [0.0, 1.0, 0.0, 0.0], rtol=0, atol=0)  # clean tokens stay
    # Tweedie from 0.5 to 0.25: expm1(dsigma) = 0.5, moves 2.5, 4.5, 0.5 (> 1).
    p = tp(ls, x_t, 0.5, 0.25)
    assert_close(p[0], [5 / 15, 9 / 15, 1 / 15, 0.0], rtol=1e-14)
    assert_close(p[1], [0.0, 1.0, 0.0, 0.0], rtol=0, atol=0)
    # With RADD's score s_v = p(v | rest)/expm1(sigma_t), the unmasking rate is
    # RADD's (alpha_s - alpha_t)/(1 - alpha_t).
    pv = np.array([0.5, 0.3, 0.2])
    t, dt = 0.6, 0.2
    ls2 = jnp.asarray(np.append(np.log(pv) - np.log(np.expm1(-np.log1p(-t))), 0.0))
    p2 = tp(jnp.stack([ls2, ls2]), x_t, t, dt)
    rate = ((1 - (t - dt)) - (1 - t)) / t
    assert_close(p2[0], np.append(rate * pv, 1 - rate), rtol=1e-13)


def _frequency_pvalue(samples, probs):
    """Chi-square p-value of joint frequencies of (n, L) samples vs prod of rows."""
    n, length = samples.shape
    k = probs.shape[-1]
    joint = probs[0]
    for i in range(1, length):
        joint = np.multiply.outer(joint, probs[i])
    joint = joint.ravel()
    counts = np.bincount(
        np.ravel_multi_index(samples.T, (k,) * length), minlength=k**length
    )
    assert np.all(counts[joint == 0] == 0)
    keep = joint > 0
    return stats.chisquare(counts[keep], n * joint[keep] / joint[keep].sum()).pvalue


@pytest.mark.parametrize(
    ("step", "probs_fn", "kind"),
    [(euler_step, euler_probs, "absorbing"), (tweedie_step, tweedie_probs, "uniform")],
)
def test_step_samples_follow_probs(step, probs_fn, kind, getkey):
    # 60 000 draws of one step from the same x_t; the joint frequencies over the
    # K^L cells must fit the product of the per-position laws (chi-square).
    # Seeded; the threshold p > 1e-3 has a false-alarm rate of 1e-3 per case.
    sched = LogLinearSchedule(eps=1e-3)
    k = num_states(kind)
    z = jnp.array([V, 1, V, 0]) if kind == "absorbing" else jnp.array([2, 1, 0, 0])
    log_score = jr.normal(getkey(), (L, k))
    fn = lambda x, s: log_score
    t, dt = 0.8, 0.3
    probs = np.asarray(
        jax.jit(lambda a: probs_fn(a, z, t, dt, sched, kind=kind))(log_score)
    )
    assert np.sum(probs.max(-1) < 0.99) >= 2  # at least two positions are random
    n = 60_000
    xs = jnp.broadcast_to(z, (n, L))
    out = np.asarray(
        jax.jit(lambda key: step(key, fn, xs, t, dt, sched, kind=kind))(jr.key(7))
    )
    assert out.shape == (n, L)
    if kind == "absorbing":  # clean tokens are carried over
        assert np.all(out[:, 1] == 1) and np.all(out[:, 3] == 0)
    assert _frequency_pvalue(out, probs) > 1e-3


# ----------------------------------------------------------------- transforms, dtypes


def test_transforms(getkey):
    # score_entropy: jit and vmap against eager evaluation. The other maps go
    # through one jitted wrapper (vmap against a loop): eager op-by-op dispatch
    # of every function would dominate the suite's run time.
    score = jnp.exp(jr.normal(getkey(), (3, 5, 4)))
    x_t = jr.randint(getkey(), (3, 5), 0, 4)
    x0 = jr.randint(getkey(), (3, 5), 0, 3)
    sig = jnp.array([0.1, 0.8, 3.0])
    check_transforms(
        lambda s, x, y: score_entropy(jnp.log(s), x, y, 0.4, graph="absorbing"),
        (score, x_t, x0),
    )
    sched = GeometricSchedule()

    def many(s, x, y, sg):
        ls = jnp.log(s)
        return (
            score_entropy(ls, x, y, sg, graph="uniform"),
            ctmc_transition("uniform", sg, num_states=4),
            reverse_rate("absorbing", s, x),
            euler_probs(ls, x, 0.5, 0.05, sched, kind="uniform"),
            tweedie_probs(ls, x, 0.5, 0.05, sched, kind="absorbing"),
        )

    many = jax.jit(many)
    batched = jax.vmap(many)(score, x_t, x0, sig)
    for i in range(3):
        jax.tree.map(
            lambda a, b, i=i: assert_close(a[i], b),
            batched,
            many(score[i], x_t[i], x0[i], sig[i]),
        )


def test_grads(getkey):
    # (The derivative of ctmc_transition at 0 is checked against Q above.)
    f = jax.jit(lambda s: ctmc_transition("absorbing", s, num_states=4))
    check_grads(f, (jnp.array([0.2, 1.5]),), order=1, modes=("fwd", "rev"))
    ls = jr.normal(getkey(), (6, 4))
    x_t = jnp.array([3, 3, 0, 1, 3, 2])
    x0 = jnp.array([0, 2, 0, 1, 1, 2])
    both = jax.jit(
        lambda a: (
            score_entropy(a, x_t, x0, 0.6, graph="absorbing"),
            score_entropy(a, x_t, x0, 0.6, graph="uniform"),
        )
    )
    check_grads(both, (ls,), order=1, modes=("rev",))
    # The loss is differentiable in the model, with finite gradients (also at
    # clean positions, where the absorbing entropy is identically 0).
    table = jr.normal(getkey(), (L, V + 1))
    x = jnp.zeros((16, L), jnp.int32)
    g = jax.jit(
        jax.grad(
            lambda th: jnp.sum(
                score_entropy_loss(lambda z, s: th, jr.key(0), x, LogLinearSchedule())
            )
        )
    )(table)
    assert np.all(np.isfinite(np.asarray(g))) and np.any(np.asarray(g) != 0)


def test_traced_once():
    fn = lambda z, s: jnp.zeros((z.shape[0], V + 1)) - s
    x = jnp.zeros((4, L), jnp.int32)
    assert_traced_once(
        lambda k: score_entropy_loss(fn, k, x, LogLinearSchedule()),
        [(jr.key(i),) for i in range(3)],
    )


def _dtype(f, *args):
    return jax.eval_shape(f, *args).dtype


def test_float32_in_float32_out():
    s32 = jnp.asarray([0.3, 0.9], jnp.float32)
    for kind in KINDS:
        f = lambda s, kind=kind: ctmc_transition(kind, s, num_states=4)  # pyright: ignore[reportArgumentType]
        assert _dtype(f, s32) == jnp.float32
        assert rate_matrix(kind, num_states=4, dtype=jnp.float32).dtype == jnp.float32
    ls = jnp.zeros((2, 4), jnp.float32)
    x_t = jnp.array([3, 1])
    assert _dtype(lambda a: reverse_rate("uniform", a, x_t), ls) == jnp.float32
    sched = LogLinearSchedule()
    for f in (euler_probs, tweedie_probs):
        for kind, t in (("absorbing", 0.5), ("uniform", jnp.float32(0.5))):
            got = _dtype(
                lambda a, f=f, kind=kind, t=t: f(a, x_t, t, 0.1, sched, kind=kind), ls
            )
            assert got == jnp.float32
    x0 = jnp.array([0, 1])
    for kind, sig in (("absorbing", s32), ("uniform", 0.5)):
        got = _dtype(
            lambda a, kind=kind, sig=sig: score_entropy(
                a,
                x_t,
                x0,
                sig,
                graph=kind,  # pyright: ignore[reportArgumentType]
            ),
            ls,
        )
        assert got == jnp.float32
    fn = lambda z, s: jnp.zeros((z.shape[0], 4), jnp.float32)
    out = jax.eval_shape(
        lambda: score_entropy_loss(
            fn, jr.key(0), jnp.zeros((3, 2), jnp.int32), sched, dtype=jnp.float32
        )
    )
    assert out.dtype == jnp.float32
    x = jax.eval_shape(
        lambda: euler_step(
            jr.key(0),
            fn,
            jnp.array([[3, 3]], jnp.int16),
            jnp.float32(0.5),
            0.1,
            sched,
            kind="absorbing",
            sample_dtype=jnp.float32,
        )
    )
    assert x.dtype == jnp.int16 and x.shape == (1, 2)


# ----------------------------------------------------------------- errors


def test_static_errors():
    with pytest.raises(ValueError, match="kind must be"):
        unchecked(ctmc_transition)("gaussian", 0.1, num_states=3)
    with pytest.raises(ValueError, match="kind must be"):
        unchecked(tweedie_probs)(
            jnp.zeros((2, 3)),
            jnp.zeros(2, jnp.int32),
            0.5,
            0.1,
            LogLinearSchedule(),
            kind="masked",
        )
    with pytest.raises(ValueError, match="num_states must be >= 2"):
        rate_matrix("absorbing", num_states=1)
    with pytest.raises(ValueError, match="num_states must be >= 1"):
        unchecked(ctmc_transition)("uniform", 0.1, num_states=0)
    with pytest.raises(TypeError, match="num_states must be an int"):
        unchecked(rate_matrix)("uniform", num_states=3.0)
    with pytest.raises(TypeError, match="num_states must be an int"):
        unchecked(rate_matrix)("uniform", num_states=True)
    with pytest.raises(TypeError, match="sigma must be a real"):
        unchecked(ctmc_transition)("uniform", jnp.array([1 + 1j]), num_states=3)
    with pytest.raises(TypeError, match="x_t must be an integer"):
        unchecked(reverse_rate)("uniform", jnp.ones((2, 3)), jnp.ones(2))
    with pytest.raises(ValueError, match="score must have shape"):
        unchecked(reverse_rate)("uniform", jnp.ones((2, 3)), jnp.ones(3, jnp.int32))
    sched = LogLinearSchedule()
    with pytest.raises(ValueError, match="t must be a scalar"):
        unchecked(euler_probs)(
            jnp.zeros((2, 3)),
            jnp.zeros(2, jnp.int32),
            jnp.ones(2),
            0.1,
            sched,
            kind="uniform",
        )
    with pytest.raises(ValueError, match="graph must be"):
        unchecked(score_entropy)(
            jnp.zeros((2, 3)),
            jnp.zeros(2, jnp.int32),
            jnp.zeros(2, jnp.int32),
            0.1,
            graph="mask",
        )
    with pytest.raises(ValueError, match="x0 shape"):
        unchecked(score_entropy)(
            jnp.zeros((2, 3)),
            jnp.zeros(2, jnp.int32),
            jnp.zeros(3, jnp.int32),
            0.1,
            graph="uniform",
        )
    fn = lambda z, s: jnp.zeros((z.shape[0], 4))
    with pytest.raises(ValueError, match="shape"):
        unchecked(score_entropy_loss)(fn, jr.key(0), jnp.zeros((), jnp.int32), sched)
    with pytest.raises(TypeError, match="must be an integer"):
        unchecked(score_entropy_loss)(fn, jr.key(0), jnp.zeros((2, 3)), sched)
    with pytest.raises(ValueError, match="t_min"):
        score_entropy_loss(
            fn, jr.key(0), jnp.zeros((2, 3), jnp.int32), sched, t_min=1.0
        )
    bad = lambda z, s: jnp.zeros((z.shape[0] + 1, 4))
    with pytest.raises(ValueError, match="expected \\(L, K\\)"):
        score_entropy_loss(bad, jr.key(0), jnp.zeros((2, 3), jnp.int32), sched)
    with pytest.raises(ValueError, match="expected \\(L, K\\)"):
        euler_step(
            jr.key(0),
            bad,
            jnp.zeros((2, 3), jnp.int32),
            0.5,
            0.1,
            sched,
            kind="uniform",
        )
    with pytest.raises(TypeError, match="dtype"):
        tweedie_step(
            jr.key(0),
            fn,
            jnp.zeros((2, 3), jnp.int32),
            0.5,
            0.1,
            sched,
            kind="uniform",
            sample_dtype=jnp.int32,
        )


def test_token_range_errors_under_jit_and_vmap():
    sched = LogLinearSchedule()
    fn = lambda z, s: jnp.zeros((z.shape[0], 4))
    with pytest.raises((ValueError, RuntimeError), match="outside"):
        jax.jit(lambda x: reverse_rate("absorbing", jnp.ones((2, 4)), x))(
            jnp.array([0, 4])
        )
    with pytest.raises((ValueError, RuntimeError), match="x0 has entries outside"):
        jax.vmap(
            lambda y: score_entropy(
                jnp.zeros((1, 4)), jnp.array([3]), y, 0.3, graph="absorbing"
            )
        )(jnp.array([[0], [3]]))
    with pytest.raises((ValueError, RuntimeError), match="x has entries outside"):
        jax.jit(lambda x: score_entropy_loss(fn, jr.key(0), x, sched))(
            jnp.array([[0, 3]])
        )
    with pytest.raises((ValueError, RuntimeError), match="x_t has entries outside"):
        jax.jit(
            lambda x: euler_probs(jnp.zeros((2, 4)), x, 0.5, 0.1, sched, kind="uniform")
        )(jnp.array([0, -1]))
