"""Backward kernels, PaRIS, CSMC-BS and PPG against the exact LGSSM smoother.

Statistical checks use fixed keys and z-scores (k standard errors); each
states its false-alarm rate. The reference values they reproduce are those
of research/smc.md §1.3 (numpy reference implementation).
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats

from jaxmethods import smc
from tests.helpers import (
    assert_close,
    assert_mean_within,
    assert_traced_once,
    unchecked,
)
from tests.smc.common import exact_lag1, lag1, reference, z_score


# ---------------------------------------------------------------- backward kernel


def _kernel_problem():
    x_prev = jnp.array([-1.0, 0.0, 0.5, 2.0])
    log_w = jnp.log(jnp.array([0.1, 0.4, 0.3, 0.2]))
    x_next = jnp.array([0.3, 1.8])

    def log_m(xp, xn):
        return -0.5 * (xn - 0.9 * xp) ** 2

    logits = log_w[None, :] + jax.vmap(
        lambda xn: jax.vmap(lambda xp: log_m(xp, xn))(x_prev)
    )(x_next)
    return x_prev, log_w, x_next, log_m, np.asarray(jax.nn.softmax(logits, -1))


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("exact", {}),
        ("rejection", {"log_m_bound": 0.0}),
        ("rejection", {"log_m_bound": 0.0, "max_trials": 1}),
        ("mcmc", {"mcmc_steps": 30}),
    ],
    ids=["exact", "rejection", "rejection-hybrid", "mcmc-long"],
)
def test_backward_law(method, kwargs):
    # Chi-square goodness of fit of 20,000 x K draws per row to Lambda;
    # p > 1e-4 per row (false-alarm rate 2e-4 per case). MCMC with many steps
    # from a poor start (all chains at index 0) must forget it.
    x_prev, log_w, x_next, log_m, probs = _kernel_problem()
    reps, k = 20_000, 2
    anc = jnp.zeros(2, jnp.int32) if method == "mcmc" else None

    def draw(key):
        return smc.backward_indices(
            key, x_prev, log_w, x_next, log_m, k, method=method, ancestors=anc, **kwargs
        )

    j = jax.jit(jax.vmap(draw))(jr.split(jr.key(20), reps))
    assert j.shape == (reps, 2, k) and j.dtype == jnp.int32
    for i in range(2):
        counts = np.bincount(np.asarray(j[:, i, 0]), minlength=4)
        p = stats.chisquare(counts, probs[i] * reps).pvalue
        assert p > 1e-4, (method, i, counts, probs[i] * reps)


def test_exact_backward_law_on_long_rows():
    # Rows of 256 or more use the two-level inverse CDF (block sums, then one
    # block): 80,000 draws over 256 indices with two zero weights pass a
    # chi-square test (p > 1e-4) and never pick a zero-weight index.
    n = 256
    log_w = (
        jnp.log(jnp.linspace(0.01, 1.0, n)).at[7].set(-jnp.inf).at[200].set(-jnp.inf)
    )
    x_prev, x_next = jnp.zeros((n, 1)), jnp.zeros((1, 1))

    def draw(key):
        return smc.backward_indices(
            key, x_prev, log_w, x_next, lambda a, b: 0.0 * a[0], 2
        )

    j = np.asarray(jax.jit(jax.vmap(draw))(jr.split(jr.key(22), 40_000))).ravel()
    p = np.asarray(jax.nn.softmax(log_w))
    counts = np.bincount(j, minlength=n)
    assert counts[7] == 0 and counts[200] == 0
    assert stats.chisquare(counts[p > 0], p[p > 0] * j.size).pvalue > 1e-4


def test_backward_mcmc_started_at_ancestor_is_stationary():
    # Started from a draw of Lambda itself (the ancestor in a bootstrap filter),
    # one MH step keeps the law exactly.
    x_prev, log_w, x_next, log_m, probs = _kernel_problem()

    def draw(key):
        k1, k2 = jr.split(key)
        start = jax.vmap(lambda p, kk: jr.choice(kk, 4, p=p))(
            jnp.asarray(probs), jr.split(k1, 2)
        )
        return smc.backward_indices(
            k2,
            x_prev,
            log_w,
            x_next,
            log_m,
            1,
            method="mcmc",
            ancestors=start,
            mcmc_steps=1,
        )

    j = jax.jit(jax.vmap(draw))(jr.split(jr.key(21), 20_000))
    for i in range(2):
        counts = np.bincount(np.asarray(j[:, i, 0]), minlength=4)
        assert stats.chisquare(counts, probs[i] * 20_000).pvalue > 1e-4


def test_backward_errors():
    x_prev, log_w, x_next, log_m, _ = _kernel_problem()
    bi = unchecked(smc.backward_indices)
    with pytest.raises(ValueError, match="unknown backward method 'fast'"):
        bi(jr.key(0), x_prev, log_w, x_next, log_m, 2, method="fast")
    with pytest.raises(ValueError, match="backward draws K must be an int >= 1"):
        bi(jr.key(0), x_prev, log_w, x_next, log_m, 0)
    with pytest.raises(ValueError, match="needs log_m_bound"):
        bi(jr.key(0), x_prev, log_w, x_next, log_m, 2, method="rejection")
    with pytest.raises(ValueError, match="x_prev must have leading axis 4"):
        bi(jr.key(0), x_prev[:3], log_w, x_next, log_m, 2)
    with pytest.raises(ValueError, match="ancestors must have shape"):
        bi(
            jr.key(0),
            x_prev,
            log_w,
            x_next,
            log_m,
            2,
            method="mcmc",
            ancestors=jnp.zeros(3, jnp.int32),
        )


# ---------------------------------------------------------------- PaRIS


def _paris_estimates(n, reps, key, **kw):
    model, params, ys = reference()

    def run(k):
        return smc.paris(k, model, params, ys, n, lag1, **kw).estimate

    return np.asarray(jax.jit(jax.vmap(run))(jr.split(key, reps)))


def test_paris_bias_is_detectable_at_small_n():
    # research/smc.md: PaRIS at N = 16 is biased by about +0.56 (+11.8 SE at
    # 20,000 replicates). At 10,000 replicates the z-score is about 8; we
    # require z > 5 (missed with probability below 1e-3) and a bias within
    # (0.2, 1.0).
    model, params, ys = reference()
    exact = exact_lag1(model, params, ys)
    est = _paris_estimates(16, 10_000, jr.key(30))
    z = z_score(est, exact)
    assert z > 5.0, z
    assert 0.2 < est.mean() - exact < 1.0


@pytest.mark.parametrize(
    ("backward", "n", "reps"),
    [("exact", 128, 100), ("mcmc", 256, 400), ("rejection", 128, 100)],
)
def test_paris_is_consistent(backward, n, reps):
    # The bias (about 0.56 * 16 / N: 0.07 at N = 128) is far below the
    # standard error (sd about 2.2 / sqrt(reps)), so the mean is within 4 SE
    # of the exact value (false-alarm rate about 6e-5 per method).
    model, params, ys = reference()
    est = _paris_estimates(n, reps, jr.key(31), backward=backward)
    assert_mean_within(est, exact_lag1(model, params, ys))
    assert 0.5 < est.std() < 4.0


def test_paris_online_estimates_and_pytree_functional():
    # Online estimates at t equal the smoothing estimate of the data up to t,
    # and pytree-valued functionals carry every leaf.
    model, params, ys = reference()

    def pair(xp, x, y, t, p):
        return {"lag1": xp[0] * x[0], "sq": x[0] ** 2, "t": jnp.ones(())}

    out = jax.jit(lambda k: smc.paris(k, model, params, ys, 64, pair))(jr.key(32))
    assert out.online_estimates["lag1"].shape == (100,)
    assert_close(out.estimate["lag1"], out.online_estimates["lag1"][-1])
    assert_close(out.online_estimates["t"], jnp.arange(100.0), rtol=1e-12, atol=1e-12)
    ys_short = ys[:40]
    out40 = jax.jit(lambda k: smc.paris(k, model, params, ys_short, 64, pair))(
        jr.key(32)
    )
    assert_close(out40.online_estimates["lag1"], out.online_estimates["lag1"][:40])


def test_paris_step_in_user_scan_equals_paris():
    model, params, ys = reference()
    key = jr.key(33)
    full = smc.paris(key, model, params, ys[:30], 32, lag1)
    k0, k_steps = jr.split(key)
    state = smc.paris_init(k0, model, params, ys[0], 32, lag1)

    def body(s, t):
        return smc.paris_step(jr.fold_in(k_steps, t), s, model, params, ys[t], lag1)

    state, ests = jax.lax.scan(body, state, jnp.arange(1, 30, dtype=jnp.int32))
    assert_close(ests[-1], full.estimate)
    assert_close(state.log_evidence, full.log_evidence)
    assert int(state.t) == 29


# ---------------------------------------------------------------- CSMC and PPG


def test_ppg_from_stationary_reference_is_unbiased():
    # One PPG iteration from an exact posterior path (Kalman FFBS) is unbiased
    # at any N (research/smc.md: -1.4 SE at 20,000 replicates). 10,000
    # replicates at N = 16; k = 4 (false-alarm rate about 6e-5).
    model, params, ys = reference()
    exact = exact_lag1(model, params, ys)

    def run(key):
        k_ref, k_ppg = jr.split(key)
        ref = model.ffbs_sample(k_ref, params, ys)
        est, new_ref = smc.ppg_step(k_ppg, model, params, ys, ref, 16, lag1)
        return est, new_ref

    est, new_ref = jax.jit(jax.vmap(run))(jr.split(jr.key(40), 10_000))
    assert_mean_within(est, exact)
    assert new_ref.shape == (10_000, 100, 1)


def test_ppg_forgets_a_bad_reference_and_rollout_reduces_variance():
    # From reference = 0 the bias shrinks fast (research/smc.md: iterations
    # 1-4 at -70.6, -13.1, -1.6, -0.0 SE with 4,000 replicates). Checks, with
    # 2,000 replicates of a 10-iteration chain at N = 16:
    # - iteration 1 is clearly biased low (z < -20; about -50 expected);
    # - the bias shrinks at least 3x per iteration over the first two steps;
    # - iterations 4-10 are each within 4 SE (7 checks: false alarm 4e-4);
    # - the roll-out average of iterations 3..10 is within 4 SE and its
    #   variance is below half that of a single (late) iteration
    #   (research: sd 2.38 vs 5.7).
    model, params, ys = reference()
    exact = exact_lag1(model, params, ys)
    ref0 = jnp.zeros((100, 1))

    def run(key):
        return smc.ppg(key, model, params, ys, ref0, 16, lag1, num_iters=10, burn_in=2)

    out = jax.jit(jax.vmap(run))(jr.split(jr.key(41), 2000))
    ests = np.asarray(out.estimates)
    bias = ests.mean(0) - exact
    z = [z_score(ests[:, i], exact) for i in range(10)]
    assert z[0] < -20, z
    assert abs(bias[1]) < abs(bias[0]) / 3 and abs(bias[2]) < max(abs(bias[1]) / 3, 0.2)
    assert all(abs(zi) < 4 for zi in z[3:]), z
    assert_close(out.estimate, ests[:, 2:].mean(1))
    assert_mean_within(out.estimate, exact)
    assert np.var(out.estimate) < 0.5 * np.var(ests[:, -1])


def test_csmc_leaves_the_smoothing_law_invariant():
    # Start at exact posterior paths, apply one CSMC-BS kernel: X_0 and X_99
    # keep the RTS marginals. Means within 4 SE; the standardized values pass
    # a KS test against N(0, 1) at p > 1e-4 (false alarm about 4e-4 overall).
    model, params, ys = reference()
    rts = model.rts_smoother(params, ys)

    def run(key):
        k_ref, k_cs = jr.split(key)
        ref = model.ffbs_sample(k_ref, params, ys)
        return smc.csmc(k_cs, model, params, ys, ref, 8).path

    paths = np.asarray(jax.jit(jax.vmap(run))(jr.split(jr.key(42), 10_000)))[..., 0]
    for t in (0, 50, 99):
        m = float(rts.smoothed_means[t, 0])
        s = float(jnp.sqrt(rts.smoothed_covs[t, 0, 0]))
        assert_mean_within(paths[:, t], m)
        assert stats.kstest((paths[:, t] - m) / s, "norm").pvalue > 1e-4


def test_csmc_moves_and_keeps_the_reference_frozen():
    model, params, ys = reference()
    ref = model.ffbs_sample(jr.key(0), params, ys)
    out = smc.csmc(jr.key(1), model, params, ys, ref, 16, backward="mcmc")
    assert_close(out.particles[:, -1], ref)
    assert np.all(np.asarray(out.ancestors[1:, -1]) == 15)
    assert out.path.shape == ref.shape
    assert not np.allclose(out.path, ref)  # the chain moves


def test_ppg_backward_variants_agree():
    # mcmc and rejection backward draws inside PPG: roll-out within 4 SE of
    # the exact value (false-alarm rate about 1e-4 for the pair).
    model, params, ys = reference()
    exact = exact_lag1(model, params, ys)
    ref0 = model.ffbs_sample(jr.key(0), params, ys)
    for backward in ("mcmc", "rejection"):

        def run(key, backward=backward):
            return smc.ppg(
                key,
                model,
                params,
                ys,
                ref0,
                16,
                lag1,
                num_iters=3,
                burn_in=1,
                backward=backward,
            ).estimate

        est = jax.jit(jax.vmap(run))(jr.split(jr.key(43), 200))
        assert_mean_within(est, exact)


# ------------------------------------------------- agreement with particles


def test_agrees_with_particles_package():
    # Both run PaRIS at N = 16, K = 2 with multinomial resampling: the same
    # algorithm, so the same (biased) mean within Monte Carlo error (k = 4).
    pytest.importorskip("particles")
    peer = pytest.importorskip("benchmarks._particles_peer")
    model, params, ys = reference()
    data = np.asarray(ys[:, 0])
    theirs = np.array([peer.run_paris(data, 16, seed)["paris"] for seed in range(24)])
    ours = _paris_estimates(16, 2000, jr.key(50))
    se = np.hypot(
        theirs.std(ddof=1) / np.sqrt(theirs.size), ours.std(ddof=1) / np.sqrt(ours.size)
    )
    assert abs(theirs.mean() - ours.mean()) < 4 * se


# ------------------------------------------------- transforms, dtypes, errors


def test_jit_vmap_and_trace_count():
    model, params, ys = reference()
    ys = ys[:25]
    ref = jnp.zeros((25, 1))

    def f(key, rho):
        p = dict(params, rho=rho)
        est, new_ref = smc.ppg_step(key, model, p, ys, ref, 8, lag1)
        return est, new_ref

    key = jr.key(60)
    jf = jax.jit(f)
    assert_close(jf(key, 0.9)[0], f(key, 0.9)[0])
    keys, rhos = jr.split(key, 3), jnp.array([0.3, 0.6, 0.9])
    batched = jax.jit(jax.vmap(f))(keys, rhos)[0]
    assert_close(
        batched, jnp.stack([jf(k, r)[0] for k, r in zip(keys, rhos, strict=True)])
    )
    assert_traced_once(
        lambda k, y: smc.paris(k, model, params, y, 8, lag1).estimate,
        [(jr.key(i), ys + i) for i in range(3)],
    )


def test_float32():
    model, params, ys = reference()
    p32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    ys32 = ys.astype(jnp.float32)
    out = smc.paris(jr.key(0), model, p32, ys32, 64, lag1)
    assert out.estimate.dtype == jnp.float32
    est, ref = smc.ppg_step(
        jr.key(0), model, p32, ys32, jnp.zeros((100, 1), jnp.float32), 16, lag1
    )
    assert est.dtype == jnp.float32 and ref.dtype == jnp.float32
    exact = exact_lag1(model, params, ys)
    assert abs(float(out.estimate) - exact) < 15 and abs(float(est) - exact) < 25


def test_errors():
    model, params, ys = reference()
    ref = jnp.zeros((100, 1))
    with pytest.raises(ValueError, match="csmc: num_particles must be an int >= 2"):
        smc.csmc(jr.key(0), model, params, ys, ref, 1)
    with pytest.raises(ValueError, match="ppg_step: num_particles must be an int >= 2"):
        smc.ppg_step(jr.key(0), model, params, ys, ref, 1, lag1)
    with pytest.raises(ValueError, match="backward draws K must be an int >= 1"):
        smc.paris(jr.key(0), model, params, ys, 16, lag1, num_backward=0)
    with pytest.raises(
        ValueError, match=r"reference leaves must have shape \(T, \*state_shape\)"
    ):
        smc.ppg_step(jr.key(0), model, params, ys, ref[:50], 16, lag1)
    with pytest.raises(ValueError, match="reference must have the structure"):
        smc.csmc(jr.key(0), model, params, ys, {"x": ref}, 16)
    with pytest.raises(ValueError, match="ppg: burn_in must be"):
        smc.ppg(jr.key(0), model, params, ys, ref, 16, lag1, num_iters=3, burn_in=3)
    with pytest.raises(TypeError, match="additive_fn must be"):
        unchecked(smc.paris)(jr.key(0), model, params, ys, 16, 3.0)
    with pytest.raises(ValueError, match="unknown backward method"):
        smc.ppg_step(jr.key(0), model, params, ys, ref, 16, lag1, backward="ffbs")
    bad = ys.at[10].set(jnp.nan)
    with pytest.raises((ValueError, RuntimeError), match="NaN"):
        jax.jit(lambda y: smc.paris(jr.key(0), model, params, y, 8, lag1).estimate)(
            bad
        ).block_until_ready()
