"""D3PM: transition matrices, closed-form products, posteriors and the hybrid loss.

Oracles (float64): explicit NumPy products of the one-step matrices, Bayes'
rule on those products, and the exact expectation of the loss (every time step
and every noisy state enumerated) for data that factorise over positions, where
the exact reverse process is known in closed form and L_vb = -log p(x).
"""

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxmethods.discrete._d3pm import (
    _d3pm_terms,
    _prior_kl,
    absorbing_transition,
    cumulative_transition,
    d3pm_betas,
    d3pm_hybrid_loss,
    d3pm_posterior_logits,
    uniform_transition,
)
from tests.helpers import assert_close, assert_mean_within, check_transforms, unchecked


K, T = 5, 10  # discrete.md §1.3: K = 5 states, T = 10 steps, mask = state 4
KINDS = ("uniform", "absorbing")


def q_step(kind, beta, k):
    """One-step matrix written out independently: Q[from, to]."""
    if kind == "uniform":
        return (1 - beta) * np.eye(k) + beta * np.ones((k, k)) / k
    q = (1 - beta) * np.eye(k)
    q[:, -1] += beta
    return q


def q_bars(kind, betas, k):
    """[Qbar_0 = I, Qbar_1, ..., Qbar_T] by explicit matrix products."""
    out = [np.eye(k)]
    for b in betas:
        out.append(out[-1] @ q_step(kind, b, k))
    return out


def bayes_posterior(kind, betas, k, t, x0_probs, x_t):
    """D3PM eq. 4: sum_x0 q(x_{t-1}, x_t | x0) p(x0), normalised (brute force)."""
    qb = q_bars(kind, betas, k)
    joint = (x0_probs @ qb[t - 1]) * q_step(kind, betas[t - 1], k)[:, x_t]
    return joint / joint.sum()


# ----------------------------------------------------------------- matrices


@pytest.mark.parametrize("kind", KINDS)
def test_products_equal_closed_form(kind):
    betas, alpha_bars = d3pm_betas(T)
    b = np.asarray(betas)
    assert_close(b, 1 / (T - np.arange(1, T + 1) + 1), rtol=0, atol=0)
    assert_close(alpha_bars, (T - np.arange(T + 1)) / T, rtol=0, atol=0)  # 1 - t/T
    assert float(alpha_bars[-1]) == 0.0  # abar_T = 0 exactly
    step = uniform_transition if kind == "uniform" else absorbing_transition
    qs = jax.jit(lambda x: step(x, num_states=K))(betas)
    for t in range(T):
        assert_close(qs[t], q_step(kind, b[t], K), rtol=0, atol=1e-15)
    closed = jax.jit(lambda a: cumulative_transition(kind, a, num_states=K))(alpha_bars)
    prod = q_bars(kind, b, K)
    for t in range(T + 1):
        assert_close(closed[t], prod[t], rtol=0, atol=1e-12)
    assert_close(np.max(np.abs(np.asarray(closed) - np.stack(prod))), 0.0, atol=1e-15)
    if kind == "absorbing":
        assert_close(closed[-1], np.tile(np.eye(K)[-1], (K, 1)), rtol=0, atol=0)


def test_betas_schedules():
    betas, ab = d3pm_betas(6, schedule="cosine")
    s = np.arange(7) / 6
    f = np.cos((s + 0.008) / 1.008 * np.pi / 2)
    ref = np.minimum(1 - f[1:] / f[:-1], 0.999)
    assert_close(betas, ref, rtol=1e-14)
    assert_close(ab, np.concatenate([[1.0], np.cumprod(1 - ref)]), rtol=1e-14)
    assert float(betas[-1]) == 0.999  # clipped
    betas, ab = d3pm_betas(5, schedule="linear", beta_start=0.1, beta_end=0.5)
    assert_close(betas, [0.1, 0.2, 0.3, 0.4, 0.5], rtol=1e-15)
    assert_close(ab[-1], np.prod(1 - np.array([0.1, 0.2, 0.3, 0.4, 0.5])), rtol=1e-14)
    b32, a32 = d3pm_betas(4, dtype=jnp.float32)
    assert b32.dtype == a32.dtype == jnp.float32
    assert b32.shape == (4,) and a32.shape == (5,)


# ----------------------------------------------------------------- posterior


def test_posterior_reference_values():
    # discrete.md §1.3: K = 5, T = 10, beta_t = 1/(T - t + 1), t = 4, x0 = 1.
    betas, _ = d3pm_betas(T)
    post = jax.jit(
        lambda x_t, kind: jax.nn.softmax(
            d3pm_posterior_logits(
                jnp.array(1), x_t, jnp.array(4), betas, kind=kind, num_states=K
            )
        ),
        static_argnames="kind",
    )
    assert_close(
        post(jnp.array(4), "absorbing"), [0, 0.25, 0, 0, 0.75], rtol=0, atol=1e-15
    )
    ref = [
        0.021428571429,
        0.271428571429,
        0.664285714286,
        0.021428571429,
        0.021428571429,
    ]
    assert_close(post(jnp.array(2), "uniform"), ref, rtol=0, atol=5e-13)
    assert_close(
        post(jnp.array(2), "uniform"),
        [3 / 140, 38 / 140, 93 / 140, 3 / 140, 3 / 140],
        rtol=1e-13,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_posterior_equals_bayes(kind):
    # Every (t, x0, x_t) with q(x_t | x0) > 0, for the jsd and cosine schedules.
    k = 4
    v = k - 1 if kind == "absorbing" else k
    for schedule in ("jsd", "cosine"):
        betas, _ = d3pm_betas(6, schedule=schedule)
        b = np.asarray(betas)
        qb = q_bars(kind, b, k)
        grid = list(itertools.product(range(1, 7), range(v), range(k)))
        t, x0, x_t = (jnp.array(c) for c in zip(*grid, strict=True))
        got = jax.jit(
            lambda a, c, d, b: jax.nn.softmax(
                d3pm_posterior_logits(a, c, d, b, kind=kind, num_states=k)
            )
        )(x0, x_t, t, betas)
        for n, (tt, a, c) in enumerate(grid):
            if qb[tt][a, c] == 0:
                continue
            ref = bayes_posterior(kind, b, k, tt, np.eye(k)[a], c)
            assert_close(got[n], ref, rtol=0, atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_model_posterior_is_d3pm_eq4(kind, getkey):
    # A distribution over x0: D3PM's p(x_{t-1}|x_t) ∝ sum_x0 q(x_{t-1}, x_t|x0) p(x0),
    # i.e. sum_x0 q(x_{t-1}|x_t, x0) w(x0) with w ∝ p(x0) q(x_t|x0).
    k = 4
    v = k - 1 if kind == "absorbing" else k
    betas, _ = d3pm_betas(6, schedule="cosine")
    b = np.asarray(betas)
    qb = q_bars(kind, b, k)
    logits = jr.normal(getkey(), (6, k, v))
    t = jnp.arange(1, 7)[:, None]
    x_t = jnp.broadcast_to(jnp.arange(k), (6, k))
    got = jax.jit(
        lambda lg: jax.nn.softmax(
            d3pm_posterior_logits(lg, x_t, t, betas, kind=kind, num_states=k)
        )
    )(logits)
    for tt, c in itertools.product(range(1, 7), range(k)):
        p = np.zeros(k)
        p[:v] = np.asarray(jax.nn.softmax(logits[tt - 1, c]))
        if tt == 1:  # D3PM's decoder: p(x0 | x1) = p~(x0 | x1)
            ref = p
        else:
            ref = bayes_posterior(kind, b, k, tt, p, c)
            w = p * qb[tt][:, c]
            w = w / w.sum()
            mix = sum(
                w[a] * bayes_posterior(kind, b, k, tt, np.eye(k)[a], c)
                for a in range(v)
                if w[a] > 0
            )
            assert_close(ref, mix, rtol=0, atol=1e-14)
        assert_close(got[tt - 1, c], ref, rtol=0, atol=1e-13)


# ----------------------------------------------------------------- hybrid loss


def exact_setup(kind, k=3):
    """Product data p0 over L = 2 positions and the exact reverse model.

    For factorised data the exact reverse process is factorised; under D3PM's
    parameterisation it is reached by p~(x0 | x_t) = p0 for t >= 2 (the weight
    q(x_t | x0) is supplied by eq. 4) and by the exact posterior
    q(x0 | x1) ∝ p0(x0) Q_1[x0, x1] at t = 1 (the decoder). Then, with
    q(x_T) = pi (abar_T = 0), L_vb(x) = -log p0(x) exactly.
    """
    v = k - 1 if kind == "absorbing" else k
    p0 = np.array([[0.6, 0.3, 0.1][:v], [0.2, 0.5, 0.3][:v]])
    p0 = p0 / p0.sum(1, keepdims=True)
    logp0 = jnp.log(jnp.asarray(p0))

    def make(betas):
        beta1 = betas[0]

        def denoise(x_t, t):
            own = jax.nn.one_hot(x_t, k)[:, :v]
            if kind == "uniform":
                col = (1 - beta1) * own + beta1 / k  # Q_1[x0, x1]
            else:
                masked = jnp.broadcast_to((x_t == k - 1)[:, None], own.shape)
                col = (1 - beta1) * own + beta1 * masked.astype(own.dtype)
            post = jax.nn.log_softmax(logp0 + jnp.log(col), axis=-1)
            return jnp.where(t == 1, post, logp0)

        return denoise

    return p0, make


def exact_expectation(kind, betas, x, make, lam, k=3):
    """E over t ~ U{1..T} and x_t ~ q(x_t | x) of the loss, by enumeration (jitted)."""
    b = np.asarray(betas)
    num = len(b)
    qb = q_bars(kind, b, k)
    states = np.array(list(itertools.product(range(k), repeat=2)))
    ts = np.repeat(np.arange(1, num + 1), len(states))
    zs = np.tile(states, (num, 1))
    w = np.array(
        [qb[t][x[0], z[0]] * qb[t][x[1], z[1]] for t, z in zip(ts, zs, strict=True)]
    )
    return float(
        _expect(
            jnp.asarray(betas),
            jnp.asarray(x),
            jnp.asarray(w),
            jnp.asarray(ts),
            jnp.asarray(zs),
            lam,
            kind=kind,
            make=make,
            k=k,
        )
    )


@functools.partial(jax.jit, static_argnames=("kind", "make", "k"))
def _expect(betas, x, w, ts, zs, lam, *, kind, make, k):
    num = betas.shape[0]
    denoise = make(betas)
    lp = jax.vmap(denoise)(zs, ts)
    xb = jnp.broadcast_to(x, zs.shape)
    vb, ce = _d3pm_terms(lp, xb, zs, ts[:, None], betas, kind=kind, num_states=k)
    per = num * jnp.sum(vb, -1) + lam * jnp.sum(ce, -1)
    per = jnp.where(w > 0, per, 0.0)  # impossible states may have infinite terms
    prior = jnp.sum(_prior_kl(x, betas, kind=kind, num_states=k))
    return prior + jnp.sum(w * per) / num


@pytest.mark.parametrize("kind", KINDS)
def test_exact_reverse_model_gives_exact_nll(kind):
    # L_vb = -log p0(x) to 1e-12 (the enumeration is exact). With the cosine
    # schedule abar_T > 0, and L_vb exceeds -log p0(x) by
    # sum_i E_{q(x_T|x_i)} log(q(x_T)/pi(x_T)), also computed exactly.
    k = 3
    p0, make = exact_setup(kind, k)
    for schedule in ("jsd", "cosine"):
        if schedule == "cosine" and kind == "absorbing":
            continue  # abar_T > 0 and the reverse of the mask prior is not exact
        betas, _ = d3pm_betas(T, schedule=schedule)
        b = np.asarray(betas)
        for x in ((0, 1), (1, 0)):
            got = exact_expectation(kind, betas, x, make, lam=0.0, k=k)
            ref = -np.log(p0[0, x[0]]) - np.log(p0[1, x[1]])
            if schedule == "cosine":
                qt = q_bars(kind, b, k)[-1]
                for i in range(2):
                    marg = p0[i] @ qt
                    ref += np.sum(qt[x[i]] * np.log(marg * k))
            assert_close(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_terms_match_bruteforce_kl(kind, getkey):
    # An arbitrary (non-exact) model: the per-token terms are the KL between the
    # brute-force Bayes posterior and D3PM's eq. 4, and -log p~ at t = 1.
    k = 4
    v = k - 1 if kind == "absorbing" else k
    betas, _ = d3pm_betas(6, schedule="cosine")
    b = np.asarray(betas)
    qb = q_bars(kind, b, k)
    logits = jr.normal(getkey(), (30, v))
    t = jr.randint(getkey(), (30,), 1, 7)
    x0 = jr.randint(getkey(), (30,), 0, v)
    x_t = jr.randint(getkey(), (30,), 0, k)
    vb, ce = jax.jit(lambda *a: _d3pm_terms(*a, betas, kind=kind, num_states=k))(  # pyright: ignore[reportCallIssue]
        logits, x0, x_t, t
    )
    for n in range(30):
        tt, a, c = int(t[n]), int(x0[n]), int(x_t[n])
        p = np.zeros(k)
        p[:v] = np.asarray(jax.nn.softmax(logits[n]))
        assert_close(ce[n], -np.log(p[a]), rtol=1e-13)
        if tt == 1:
            assert_close(vb[n], -np.log(p[a]), rtol=1e-13)
        elif qb[tt][a, c] > 0:
            qpost = bayes_posterior(kind, b, k, tt, np.eye(k)[a], c)
            ppost = bayes_posterior(kind, b, k, tt, p, c)
            nz = qpost > 0
            kl = np.sum(qpost[nz] * np.log(qpost[nz] / ppost[nz]))
            assert_close(vb[n], kl, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", KINDS)
def test_hybrid_loss_monte_carlo(kind):
    # The public loss (random t and x_t) averages to the exact expectation
    # L_vb + lambda E[CE] computed by enumeration. 512 keys x 64 stratified
    # sequences; each key's batch mean is one sample, so k = 4 standard errors
    # has a false-alarm rate of about 6e-5.
    k, lam = 3, 0.5
    p0, make = exact_setup(kind, k)
    betas, _ = d3pm_betas(T)
    denoise = make(betas)
    x = (0, 1)
    ref = exact_expectation(kind, betas, x, make, lam=lam, k=k)
    xs = jnp.broadcast_to(jnp.array(x), (64, 2))
    one = lambda key: jnp.mean(
        d3pm_hybrid_loss(denoise, key, xs, betas, kind=kind, hybrid_coeff=lam)
    )
    keys = jr.split(jr.key(0), 512)
    means = np.asarray(jax.jit(jax.vmap(one))(keys))
    assert_mean_within(means, ref, k=4.0)
    if kind == "uniform":  # vmap over keys equals the unbatched call
        assert_close(means[:2], [jax.jit(one)(keys[i]) for i in range(2)])


def test_hybrid_loss_shapes_and_times():
    betas, _ = d3pm_betas(8)
    seen = []

    def denoise(x_t, t):
        seen.append(t.dtype)
        return jnp.zeros((x_t.shape[0], 3), jnp.float32)

    def loss(x):
        return d3pm_hybrid_loss(denoise, jr.key(0), x, betas, kind="absorbing")

    out = jax.eval_shape(loss, jnp.zeros((2, 3, 5), jnp.int16))
    assert out.shape == (2, 3) and out.dtype == jnp.float64 and seen[-1] == jnp.int32
    assert jax.eval_shape(loss, jnp.zeros((5,), jnp.int32)).shape == ()
    # Stratified times: 8 sequences over T = 8 steps hit every t exactly once.
    times = []

    def record(x_t, t):
        jax.debug.callback(lambda v: times.append(int(v)), t)
        return jnp.zeros((x_t.shape[0], 3))

    jax.block_until_ready(
        jax.jit(
            lambda x: d3pm_hybrid_loss(record, jr.key(3), x, betas, kind="absorbing")
        )(jnp.zeros((8, 2), jnp.int32))
    )
    assert sorted(times) == list(range(1, 9))


# ----------------------------------------------------------------- transforms, dtypes


def test_transforms_and_grads(getkey):
    # jit/vmap of the posterior (a jitted wrapper: vmap against a loop); its
    # gradient; the loss's gradient in the model parameters (fixed key) against
    # central differences. (vmap of the loss over keys: the Monte Carlo test.)
    betas, _ = d3pm_betas(6, schedule="cosine")
    lg = jr.normal(getkey(), (3, 4, 4))
    x_t = jr.randint(getkey(), (3, 4), 0, 5)
    t = jr.randint(getkey(), (3, 4), 1, 7)
    f = lambda a, b, c: d3pm_posterior_logits(
        a, b, c, betas, kind="absorbing", num_states=5
    )
    g = lambda a, b, c: d3pm_posterior_logits(
        jnp.argmax(a, -1), b, c, betas, kind="uniform", num_states=4
    )
    check_transforms(jax.jit(lambda *a: (f(*a), g(*a))), (lg, x_t % 4, t))
    check_grads(
        jax.jit(lambda a: jax.nn.log_softmax(f(a, x_t, t))),
        (lg,),
        order=1,
        modes=("rev",),
    )
    check_grads(
        jax.jit(lambda a: cumulative_transition("uniform", a, num_states=3)),
        (jnp.array([0.3, 0.9]),),
        order=1,
        modes=("rev",),
    )
    table = jr.normal(getkey(), (3, 3))
    xs = jr.randint(getkey(), (5, 4), 0, 3)
    key, direction = getkey(), jr.normal(getkey(), (3, 3))
    vg = jax.jit(
        jax.value_and_grad(
            lambda th: jnp.sum(
                d3pm_hybrid_loss(
                    lambda z, s: th[z] * jnp.log1p(s.astype(th.dtype)),
                    key,
                    xs,
                    betas,
                    kind="uniform",
                )
            )
        )
    )
    _, grad = vg(table)
    h = 1e-5
    fd = (vg(table + h * direction)[0] - vg(table - h * direction)[0]) / (2 * h)
    assert_close(jnp.sum(grad * direction), fd, rtol=1e-6)


def test_float32_in_float32_out():
    b32, _ = d3pm_betas(5, dtype=jnp.float32)
    for f in (uniform_transition, absorbing_transition):
        assert (
            jax.eval_shape(lambda b, f=f: f(b, num_states=3), b32).dtype == jnp.float32
        )
    lg = jax.eval_shape(
        lambda b: d3pm_posterior_logits(
            jnp.array([0, 1]), jnp.array([2, 2]), 3, b, kind="absorbing", num_states=3
        ),
        b32,
    )
    assert lg.dtype == jnp.float32 and lg.shape == (2, 3)
    lg = jax.eval_shape(
        lambda a: d3pm_posterior_logits(
            a, jnp.array([2, 2]), 3, b32, kind="uniform", num_states=3
        ),
        jnp.zeros((2, 3), jnp.float32),
    )
    assert lg.dtype == jnp.float32
    f = lambda z, t: jnp.zeros((z.shape[0], 3), jnp.float32)
    out = jax.eval_shape(
        lambda: d3pm_hybrid_loss(
            f, jr.key(0), jnp.zeros((2, 4), jnp.int32), b32, kind="uniform"
        )
    )
    assert out.dtype == jnp.float32


# ----------------------------------------------------------------- errors


def test_errors():
    betas, _ = d3pm_betas(4)
    with pytest.raises(ValueError, match="num_states must be >= 2"):
        absorbing_transition(0.1, num_states=1)
    with pytest.raises(ValueError, match="num_states must be >= 1"):
        uniform_transition(0.1, num_states=-3)
    with pytest.raises(TypeError, match="num_states must be an int"):
        unchecked(uniform_transition)(0.1, num_states=2.0)
    with pytest.raises(ValueError, match="kind must be"):
        unchecked(cumulative_transition)("banded", 0.5, num_states=3)
    with pytest.raises(ValueError, match="num_steps"):
        d3pm_betas(0)
    with pytest.raises(ValueError, match="schedule must be"):
        unchecked(d3pm_betas)(4, schedule="sqrt")
    with pytest.raises(ValueError, match="beta_start"):
        d3pm_betas(4, schedule="linear", beta_end=1.5)
    post = unchecked(d3pm_posterior_logits)
    with pytest.raises(ValueError, match="betas must be 1-D"):
        post(
            jnp.array(0),
            jnp.array(1),
            jnp.array(1),
            betas[None],
            kind="uniform",
            num_states=3,
        )
    with pytest.raises(ValueError, match="log-probabilities must have shape"):
        post(
            jnp.zeros((2, 3)),
            jnp.array([1, 2]),
            1,
            betas,
            kind="absorbing",
            num_states=3,
        )
    with pytest.raises(TypeError, match="t must be an integer"):
        post(jnp.array(0), jnp.array(1), 1.0, betas, kind="uniform", num_states=3)
    f = lambda z, t: jnp.zeros((z.shape[0], 3))
    loss = unchecked(d3pm_hybrid_loss)
    with pytest.raises(TypeError, match="must be an integer"):
        loss(f, jr.key(0), jnp.zeros((2, 3)), betas, kind="uniform")
    with pytest.raises(ValueError, match="hybrid_coeff"):
        loss(
            f,
            jr.key(0),
            jnp.zeros((2, 3), jnp.int32),
            betas,
            kind="uniform",
            hybrid_coeff=-1.0,
        )
    bad = lambda z, t: jnp.zeros((3,))
    with pytest.raises(ValueError, match="expected \\(L, V\\)"):
        loss(bad, jr.key(0), jnp.zeros((2, 3), jnp.int32), betas, kind="uniform")


def test_value_errors_under_jit():
    betas, _ = d3pm_betas(4)
    post = jax.jit(
        lambda x0, x_t, t: d3pm_posterior_logits(
            x0, x_t, t, betas, kind="absorbing", num_states=3
        )
    )
    with pytest.raises((ValueError, RuntimeError), match="x_start has entries outside"):
        post(
            jnp.array([2]), jnp.array([1]), jnp.array([1])
        )  # the mask is not clean data
    with pytest.raises((ValueError, RuntimeError), match="t has entries outside 1..4"):
        post(jnp.array([0]), jnp.array([1]), jnp.array([5]))
    with pytest.raises((ValueError, RuntimeError), match="x0 has entries outside"):
        f = lambda z, t: jnp.zeros((z.shape[0], 2))
        jax.jit(lambda x: d3pm_hybrid_loss(f, jr.key(0), x, betas, kind="absorbing"))(
            jnp.array([[0, 2]])
        )


def test_prior_term():
    # abar_T = 0 (jsd): q(x_T | x0) is the stationary law and the prior KL is 0
    # despite the eps = 1e-20 smoothing; with abar_T > 0 it is the plain KL.
    betas, _ = d3pm_betas(T)
    for kind in KINDS:
        prior = _prior_kl(jnp.arange(4), betas, kind=kind, num_states=K)
        assert_close(prior, np.zeros(4), rtol=0, atol=1e-15)
    betas, ab = d3pm_betas(T, schedule="cosine")
    a = float(ab[-1])
    prior = _prior_kl(jnp.arange(2), betas, kind="uniform", num_states=K)
    q = a + (1 - a) / K
    ref = q * math.log(q * K) + (K - 1) * (1 - a) / K * math.log(1 - a)
    assert_close(prior, [ref, ref], rtol=1e-9)
