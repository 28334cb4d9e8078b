"""Masked-diffusion NELBO and RADD losses against exact enumerations on the oracle.

Statistical tests use 4 standard errors (two-sided false-alarm rate about 6e-5
each for a normal z-score). The continuous-time NELBO and lambda-DCE have
log-divergent variance (weight 1/t with P(any mask) ~ L t), so their sample
standard error is computed from 2e5 draws, where the truncation of the tail
by the sample size is far below the 4-s.e. margin.
"""

import itertools
import math

import chex
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxmethods.discrete as jd
from jaxmethods.testing.discrete_oracle import (
    TableOracle,
    ancestral_output_law,
    masked_nelbo_exact,
)

from ..helpers import assert_close, assert_mean_within, check_transforms, unchecked
from .common import AO_ARM_MIX, NLL_P_X, L, V, X, mixture, oracle


N_MC = 200_000


def _draws(loss, model, key, n=N_MC, **kw):
    xs = jnp.broadcast_to(X, (n, L))
    return jax.jit(lambda k: loss(model, k, xs, **kw))(key)


# --- exact identities -------------------------------------------------------


def test_ao_arm_exact_values():
    assert_close(jd.ao_arm_nll_exact(oracle(), X), jnp.asarray(NLL_P_X), rtol=1e-12)
    assert_close(jd.ao_arm_nll_exact(mixture(), X), jnp.asarray(AO_ARM_MIX), rtol=1e-12)
    # batched evaluation in small chunks gives the same
    assert_close(
        jd.ao_arm_nll_exact(mixture(), jnp.stack([X, X]), batch_size=3),
        jnp.full((2,), AO_ARM_MIX),
        rtol=1e-12,
    )


def test_ordered_nll_exact_and_order_average():
    orders = np.array(list(itertools.permutations(range(L))), np.int32)
    xs = jnp.broadcast_to(X, orders.shape)
    # the oracle's conditionals are those of P: every order is exact
    assert_close(
        jd.ordered_nll(oracle(), xs, orders), jnp.full((24,), NLL_P_X), rtol=1e-12
    )
    # the mixture is inconsistent: orders differ, their mean is the AO-ARM bound
    nll = np.asarray(jd.ordered_nll(mixture(), xs, orders))
    assert nll.std() > 1e-3
    assert abs(nll.mean() - AO_ARM_MIX) < 1e-12
    # a shared order broadcasts
    assert_close(jd.ordered_nll(mixture(), xs, orders[5]), jnp.full((24,), nll[5]))


def test_one_step_nelbo_is_sum_of_marginal_nlls():
    """With T = 1 step every token is masked at t = 1 with weight 1: deterministic."""
    marg = np.asarray(oracle().marginals())
    want = -sum(math.log(marg[i, int(X[i])]) for i in range(L))
    got = jd.masked_diffusion_nelbo(
        oracle(), jr.key(0), X, jd.LinearSchedule(), num_steps=1
    )
    assert_close(got, jnp.asarray(want), rtol=1e-12)


@pytest.mark.parametrize(
    "schedule",
    [
        jd.LinearSchedule(),
        jd.CosineSchedule(eps=0.0),
        jd.PolynomialSchedule(2.0, eps=0.0),
    ],
)
def test_exact_nelbo_schedule_invariant(schedule):
    # quadrature in t of the schedule's own weight times the exact mask expectation
    got = masked_nelbo_exact(mixture(), X, schedule, quad_points=256)
    assert_close(got, jnp.asarray(AO_ARM_MIX), rtol=1e-10)
    assert_close(
        masked_nelbo_exact(oracle(), X, schedule, quad_points=256),
        jnp.asarray(NLL_P_X),
        rtol=1e-10,
    )


def test_concrete_score_identity():
    """p_t(z with i<-v) / p_t(z) = c(v | z) / expm1(sigma) over all partial states."""
    p = np.asarray(jnp.exp(oracle().log_p))
    sigma = 0.7
    alpha = math.exp(-sigma)
    seqs = np.array(list(itertools.product(range(V), repeat=L)))
    probs = p.reshape(-1)

    def p_t(z):
        keep = (z[None, :] == seqs) | (z[None, :] == V)
        w = np.where(z[None, :] == V, 1 - alpha, np.where(keep, alpha, 0.0)).prod(-1)
        return float((probs * w).sum())

    worst = 0.0
    for z in itertools.product(range(V + 1), repeat=L):
        z = np.array(z)
        masked = np.flatnonzero(z == V)
        if masked.size == 0:
            continue
        logp = np.asarray(oracle()(jnp.asarray(z, jnp.int32)))
        score = np.exp(np.asarray(jd.radd_concrete_score(logp, jnp.asarray(sigma))))
        pz = p_t(z)
        for i in masked:
            for v in range(V):
                zv = z.copy()
                zv[i] = v
                worst = max(worst, abs(p_t(zv) / pz - score[i, v]))
    assert worst < 1e-12


# --- Monte Carlo estimators are unbiased ------------------------------------


@pytest.mark.parametrize(
    "loss,kw",
    [
        (jd.masked_diffusion_nelbo, {"schedule": jd.LinearSchedule()}),
        (jd.masked_diffusion_nelbo, {"schedule": jd.CosineSchedule(eps=0.0)}),
        (jd.t_dce_loss, {"schedule": jd.LogLinearSchedule(0.0), "t_min": 0.0}),
        (jd.lambda_dce_loss, {}),
        (jd.lambda_dce_loss, {"stratified": False}),
        (jd.k_dce_loss, {}),
    ],
)
def test_mc_estimators_match_ao_arm(loss, kw):
    draws = _draws(loss, mixture(), jr.key(1), **kw)
    assert draws.dtype == jnp.float64
    assert_mean_within(draws, AO_ARM_MIX, k=4.0)


def test_mc_nelbo_oracle_is_minus_log_p():
    draws = _draws(jd.k_dce_loss, oracle(), jr.key(2))
    assert_mean_within(draws, NLL_P_X, k=4.0)


@pytest.mark.parametrize("num_steps", [2, 5])
def test_discrete_time_nelbo_matches_exact(num_steps):
    sched = jd.LinearSchedule()
    want = float(masked_nelbo_exact(mixture(), X, sched, num_steps=num_steps))
    draws = _draws(
        jd.masked_diffusion_nelbo,
        mixture(),
        jr.key(3),
        n=50_000,
        schedule=sched,
        num_steps=num_steps,
    )
    assert_mean_within(draws, want, k=4.0)
    # the T-step NELBO bounds the NLL of the T-step sampler's own law
    law = ancestral_output_law(oracle(), V, L, num_steps, schedule=sched)
    bound = float(masked_nelbo_exact(oracle(), X, sched, num_steps=num_steps))
    assert bound >= -math.log(float(law[tuple(np.asarray(X))])) - 1e-12


def test_t_dce_truncation_matches_quadrature():
    """RADD defaults (eps = t_min = 1e-3): mean is (1/(1-t_min)) int_{t_min}^1."""
    sched = jd.LogLinearSchedule(1e-3)
    t_min = 1e-3
    nodes, wts = np.polynomial.legendre.leggauss(200)
    # integrate in log t to resolve the 1/t weight near t_min
    s = 0.5 * (nodes + 1) * (-math.log(t_min)) + math.log(t_min)
    t = np.exp(s)
    lam = np.asarray(sched.mask_prob(jnp.asarray(t)))
    w = np.asarray(sched.weight(jnp.asarray(t)))
    # E_z[sum of masked NLL] at masking probability lam, by enumerating masks
    g = _mask_expectation(mixture(), lam)
    integral = 0.5 * (-math.log(t_min)) * np.sum(wts * t * w * g)
    want = integral / (1 - t_min)
    draws = _draws(jd.t_dce_loss, mixture(), jr.key(4))
    assert_mean_within(draws, want, k=4.0)


def _mask_expectation(model, lam):
    """E over independent masks (prob lam) of the masked NLL sum, by enumeration."""
    codes = np.arange(2**L)
    masks = ((codes[:, None] >> np.arange(L)) & 1).astype(bool)
    vals = []
    for m in masks:
        z = jnp.where(jnp.asarray(m), V, X)
        nll = -np.asarray(model(z))[np.arange(L), np.asarray(X)]
        vals.append(float(np.sum(np.where(m, nll, 0.0))))
    k = masks.sum(-1)
    lam = np.asarray(lam)[:, None]
    return np.sum(lam**k * (1 - lam) ** (L - k) * np.array(vals), axis=-1)


# --- differentiation ---------------------------------------------------------


def test_grad_wrt_table_logits_matches_finite_differences():
    logits = jr.normal(jr.key(5), (V,) * L, jnp.float64)
    xs = jnp.broadcast_to(X, (64, L))

    def f(lg):
        return jd.masked_diffusion_nelbo(
            TableOracle.from_logits(lg), jr.key(6), xs, jd.LinearSchedule()
        ).mean()

    g = jax.grad(f)(logits)
    direction = jr.normal(jr.key(7), logits.shape, jnp.float64)
    eps = 1e-6
    fd = (f(logits + eps * direction) - f(logits - eps * direction)) / (2 * eps)
    assert_close(jnp.vdot(g, direction), fd, rtol=1e-6, atol=1e-9)
    # and the exact AO-ARM bound differentiates too (k-DCE's expectation)
    ga = jax.grad(lambda lg: jd.ao_arm_nll_exact(TableOracle.from_logits(lg), X))(
        logits
    )
    fa = lambda lg: jd.ao_arm_nll_exact(TableOracle.from_logits(lg), X)  # noqa: E731
    fda = (fa(logits + eps * direction) - fa(logits - eps * direction)) / (2 * eps)
    assert_close(jnp.vdot(ga, direction), fda, rtol=1e-6, atol=1e-9)


# --- transforms, dtypes, errors ----------------------------------------------


@pytest.mark.parametrize(
    "loss",
    [jd.masked_diffusion_nelbo, jd.t_dce_loss, jd.lambda_dce_loss, jd.k_dce_loss],
)
def test_jit_vmap_and_batch_shapes(loss):
    model = mixture()
    kw = {"schedule": jd.LinearSchedule()} if loss is jd.masked_diffusion_nelbo else {}
    xs = jnp.broadcast_to(X, (3, 5, L))
    out = loss(model, jr.key(0), xs, **kw)
    assert out.shape == (3, 5)
    check_transforms(
        lambda k: loss(model, k, xs[0], **kw),
        (jr.key(1),),
        vmap_args=(jr.split(jr.key(2), 3),),
    )


def test_traced_once():
    model = mixture()
    count = 0

    @jax.jit
    def f(key, x):
        nonlocal count
        count += 1
        return jd.lambda_dce_loss(model, key, x)

    for i in range(3):
        f(jr.key(i), jnp.broadcast_to(X, (4, L)) % (i + 1))
    assert count == 1
    chex.clear_trace_counter()


def test_float32_model_gives_float32_loss():
    p32 = TableOracle.from_probs(jnp.exp(oracle().log_p).astype(jnp.float32))
    for loss in (jd.lambda_dce_loss, jd.k_dce_loss, jd.t_dce_loss):
        out = loss(p32, jr.key(0), jnp.broadcast_to(X, (8, L)))
        assert out.dtype == jnp.float32
    assert jd.ao_arm_nll_exact(p32, X).dtype == jnp.float32
    assert_close(jd.ao_arm_nll_exact(p32, X), jnp.asarray(NLL_P_X, jnp.float32))


def test_errors():
    model = mixture()
    sched = jd.LinearSchedule()
    with pytest.raises((ValueError, RuntimeError), match="mask id"):
        jd.masked_diffusion_nelbo(model, jr.key(0), jnp.array([0, 1, V, 0]), sched)
    with pytest.raises((ValueError, RuntimeError), match="outside"):
        jax.jit(lambda x: jd.lambda_dce_loss(model, jr.key(0), x))(
            jnp.array([0, -1, 2, 0])
        )
    with pytest.raises(TypeError, match="integer"):
        unchecked(jd.k_dce_loss)(model, jr.key(0), jnp.zeros((L,)))
    with pytest.raises(ValueError, match="shape"):
        jd.lambda_dce_loss(
            lambda z: jnp.zeros((L, V)), jr.key(0), jnp.zeros((5,), jnp.int32)
        )
    with pytest.raises(ValueError, match="log-probabilities"):
        jd.lambda_dce_loss(lambda z: jnp.zeros((V,)), jr.key(0), X)
    with pytest.raises(TypeError, match="MaskingSchedule"):
        unchecked(jd.masked_diffusion_nelbo)(model, jr.key(0), X, "linear")
    with pytest.raises(ValueError, match="num_steps"):
        jd.masked_diffusion_nelbo(model, jr.key(0), X, sched, num_steps=0)
    with pytest.raises(ValueError, match="t_min"):
        jd.t_dce_loss(model, jr.key(0), X, t_min=1.0)
    with pytest.raises((ValueError, RuntimeError), match="permutation"):
        jd.ordered_nll(model, X, jnp.array([0, 0, 1, 2]))
    with pytest.raises(ValueError, match="order"):
        unchecked(jd.ordered_nll)(model, X, jnp.array([0, 1, 2]))
    with pytest.raises(ValueError, match="L <= 20"):
        jd.ao_arm_nll_exact(lambda z: jnp.zeros((21, 2)), jnp.zeros((21,), jnp.int32))


def test_loss_is_eqx_filter_grad_friendly():
    """A learnable eqx.Module denoiser: filter_grad gives finite gradients."""
    model = TableOracle.from_logits(jnp.zeros((V,) * L))
    g = eqx.filter_grad(
        lambda m: jd.k_dce_loss(m, jr.key(0), jnp.broadcast_to(X, (8, L))).mean()
    )(model)
    assert jnp.all(jnp.isfinite(g.log_p))
    assert float(jnp.abs(g.log_p).max()) > 0


def test_t_dse_equals_t_dce_for_normalized_denoisers():
    xs = jnp.broadcast_to(X, (500, L))
    a = jd.t_dse_loss(mixture(), jr.key(8), xs)
    b = jd.t_dce_loss(mixture(), jr.key(8), xs)
    assert_close(a, b, rtol=1e-10, atol=1e-10)

    # rows summing to e^0.3 > 1: the score entropy sees it, the cross-entropy does not
    def inflated(z):
        out = mixture()(z)
        return jnp.where((z == V)[:, None], out + 0.3, out)

    c = jd.t_dse_loss(inflated, jr.key(8), xs)
    d = jd.t_dce_loss(inflated, jr.key(8), xs)
    assert float(jnp.min(c - d)) >= -1e-10 and float(jnp.max(c - d)) > 1e-3


def test_stratified_draws_never_zero_in_float32():
    """1 - (u + i)/B rounds to 0 in float32 for u near 1; the draws avoid it."""
    from jaxmethods.discrete._common import stratified_uniform

    for mode in ("stratified", "antithetic", "iid"):
        v = jax.vmap(lambda k, m=mode: stratified_uniform(k, 727, jnp.float32, m))(
            jr.split(jr.key(0), 2000)
        )
        assert v.dtype == jnp.float32
        assert float(v.min()) > 0 and float(v.max()) <= 1
    # the worst case: u just below 1 in the last stratum
    n = 727
    u = jnp.float32(1) - jnp.finfo(jnp.float32).epsneg
    assert float(1 - (u + (n - 1)) / n) == 0.0  # the naive formula fails here
    assert float(((n - (n - 1)) - u) / n) > 0
