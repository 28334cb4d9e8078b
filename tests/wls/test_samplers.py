"""DPP and volume samplers, weights and the weighted solve (research/qmc.md §2.3).

Statistical tests state their false-alarm rate; all seeds are fixed, so each
test is deterministic.
"""

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from numpy.polynomial import legendre
from scipy import stats

from jaxmethods import wls
from tests.helpers import assert_traced_once, unchecked


B5 = wls.LegendreBasis(wls.total_degree_indices(1, 4))  # m = 5 on [-1, 1]
B4 = wls.LegendreBasis(wls.total_degree_indices(1, 3))  # m = 4


def _projections(f, m, nodes=60):
    """<f, phi_j> under dx/2 on [-1, 1], by Gauss-Legendre quadrature."""
    t, w = legendre.leggauss(nodes)
    phi = np.stack(
        [np.sqrt(2 * j + 1) * legendre.legval(t, np.eye(j + 1)[j]) for j in range(m)], 1
    )
    return (w / 2 * f(t)) @ phi, np.sum(w / 2 * f(t) ** 2)


def _rho_cdf(m, t):
    """CDF of rho_m dmu on [-1, 1] (exact: Gauss rule on [-1, t])."""
    nodes, w = legendre.leggauss(m + 2)
    xs = -1 + (nodes[None, :] + 1) * (t[:, None] + 1) / 2
    phi = np.stack(
        [np.sqrt(2 * j + 1) * legendre.legval(xs, np.eye(j + 1)[j]) for j in range(m)],
        -1,
    )
    return np.sum(w * np.sum(phi**2, -1), -1) * (t + 1) / 4 / m


# ---------------------------------------------------------------- finite DPP

Q8 = np.linalg.qr(np.random.default_rng(0).standard_normal((8, 3)))[0]
K8 = Q8 @ Q8.T
SUBSETS = list(itertools.combinations(range(8), 3))


def _subset_counts(samples):
    idx = {s: i for i, s in enumerate(SUBSETS)}
    counts = np.zeros(len(SUBSETS))
    for row in np.sort(np.asarray(samples), axis=1):
        counts[idx[tuple(row.tolist())]] += 1
    return counts


def test_finite_reference_values():
    np.testing.assert_allclose(
        np.diag(K8),
        [0.2035830595, 0.1085219518, 0.6228042833, 0.2039015619, 0.7145734518,
         0.1750362831, 0.3644032415, 0.6071761671],
        atol=1e-10,
    )  # fmt: skip
    probs = np.array([np.linalg.det(K8[np.ix_(s, s)]) for s in SUBSETS])
    np.testing.assert_allclose(probs[0], 0.004012309724, atol=1e-12)
    np.testing.assert_allclose(probs.sum(), 1, atol=1e-12)


@pytest.mark.parametrize("method", ["rejection", "gs"])
@pytest.mark.parametrize("which", ["features", "kernel"])
def test_finite_dpp_law(which, method):
    n = 20_000
    A = jnp.asarray(Q8 if which == "features" else K8)
    keys = jr.split(jr.key(11), n)
    samples = jax.jit(
        jax.vmap(lambda k: wls.finite_projection_dpp(k, A, size=3, method=method))
    )(keys)
    s = np.asarray(samples)
    assert all(len(set(r)) == 3 for r in s.tolist())
    probs = np.array([np.linalg.det(K8[np.ix_(S, S)]) for S in SUBSETS])
    counts = _subset_counts(s)
    # chi-square over the 56 subsets, false-alarm rate 0.1% (DPPy: 64.9)
    chi2 = np.sum((counts - n * probs) ** 2 / (n * probs))
    assert chi2 < stats.chi2.ppf(0.999, len(SUBSETS) - 1), chi2
    # inclusion probabilities = diag K (max deviation 0.015 is > 4 s.e.)
    incl = np.array([(s == i).any(1).mean() for i in range(8)])
    assert np.max(np.abs(incl - np.diag(K8))) < 0.015
    # pair inclusions P(i, j in S) = K_ii K_jj - K_ij^2, each within 4.5 s.e.
    # (28 pairs: family-wise false-alarm rate < 28 * 7e-6)
    for i, j in itertools.combinations(range(8), 2):
        p = K8[i, i] * K8[j, j] - K8[i, j] ** 2
        emp = ((s == i).any(1) & (s == j).any(1)).mean()
        assert abs(emp - p) <= 4.5 * math.sqrt(p * (1 - p) / n), (i, j, emp, p)


def test_finite_dpp_agrees_with_dppy():
    # two-sample chi-square (homogeneity) between our draws and DPPy's GS
    # sampler on the same kernel; false-alarm rate 0.1%
    from dppy.finite_dpps import FiniteDPP

    rng = np.random.RandomState(5)
    dpp = FiniteDPP("correlation", projection=True, K=K8)
    for _ in range(4000):
        dpp.sample_exact(mode="GS", random_state=rng)  # legacy RandomState API
    ref = _subset_counts(np.array(dpp.list_of_samples))
    ours = _subset_counts(
        jax.vmap(lambda k: wls.finite_projection_dpp(k, jnp.asarray(Q8)))(
            jr.split(jr.key(3), 4000)
        )
    )
    table = np.stack([ours, ref])
    table = table[:, table.sum(0) > 0]
    stat, p, dof, _ = stats.chi2_contingency(table)
    assert p > 1e-3, (stat, dof)


@pytest.mark.parametrize("method", ["rejection", "gs"])
def test_finite_dpp_kernel_and_features_paths_agree(method):
    for s in range(5):
        a = wls.finite_projection_dpp(jr.key(s), jnp.asarray(Q8), method=method)
        b = wls.finite_projection_dpp(jr.key(s), jnp.asarray(K8), method=method)
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["rejection", "gs"])
def test_finite_dpp_zero_rows_never_drawn(method):
    # items with K_ii = 0 (zero rows of Q, here before, between and after the
    # others) are never proposed; the law on the others is unchanged
    # (chi-square over the 56 subsets, false-alarm rate 0.1%)
    rows = [1, 2, 4, 5, 6, 8, 9, 11]  # where the rows of Q8 go among 13
    Qz = np.zeros((13, 3))
    Qz[rows] = Q8
    n = 20_000
    f = jax.jit(
        jax.vmap(lambda k: wls.finite_projection_dpp(k, jnp.asarray(Qz), method=method))
    )
    s = np.asarray(f(jr.split(jr.key(12), n)))
    assert np.isin(s, rows).all()
    back = np.searchsorted(rows, s)  # to indices of Q8
    probs = np.array([np.linalg.det(K8[np.ix_(S, S)]) for S in SUBSETS])
    counts = _subset_counts(back)
    chi2 = np.sum((counts - n * probs) ** 2 / (n * probs))
    assert chi2 < stats.chi2.ppf(0.999, len(SUBSETS) - 1), chi2


@pytest.mark.parametrize("method", ["rejection", "gs", "small pools"])
def test_finite_dpp_law_late_phases(method):
    # m = 32 on N = 34: the chain's last two phases (k >= 16) work in the
    # complement basis, the second one updated from the first. The complement
    # of S is a pair, with P(S) = det K_S = det (I - K) on the pair: a
    # chi-square test over the 561 pairs (cells with fewer than 5 expected
    # draws pooled; false-alarm rate 0.1%) tests the whole law. Every draw
    # has 32 distinct items, and the kernel path draws the same items as the
    # features path. (The Gram-Schmidt form has no phases; same checks.
    # "small pools": the rejection chain with pools of 40 proposals, so that
    # draws resume mid-phase in later pools.)
    from jaxmethods.wls._samplers import _rejection_finite_chain

    N, m, n = 34, 32, 20_000
    Q = np.linalg.qr(np.random.default_rng(7).standard_normal((N, m)))[0]
    K = Q @ Q.T
    keys = jr.split(jr.key(13), n)
    if method == "small pools":
        f = jax.jit(jax.vmap(lambda k, A: _rejection_finite_chain(k, A, 40), (0, None)))
        s = np.asarray(f(keys, jnp.asarray(Q)))
    else:
        f = jax.jit(
            jax.vmap(
                lambda k, A: wls.finite_projection_dpp(k, A, size=m, method=method),
                (0, None),
            )
        )
        s = np.asarray(f(keys, jnp.asarray(Q)))
        np.testing.assert_array_equal(
            s[:500], np.asarray(f(keys[:500], jnp.asarray(K)))
        )
    assert all(len(set(r)) == m for r in s.tolist())
    pairs = list(itertools.combinations(range(N), 2))
    J = np.eye(N) - K
    probs = np.array([np.linalg.det(J[np.ix_(p, p)]) for p in pairs])
    np.testing.assert_allclose(probs.sum(), 1, atol=1e-12)
    cell = {p: i for i, p in enumerate(pairs)}
    counts = np.zeros(len(pairs))
    for row in s.tolist():
        counts[cell[tuple(sorted(set(range(N)) - set(row)))]] += 1
    small = n * probs < 5
    obs = np.append(counts[~small], counts[small].sum())
    exp = np.append(n * probs[~small], n * probs[small].sum())
    chi2 = np.sum((obs - exp) ** 2 / exp)
    assert chi2 < stats.chi2.ppf(0.999, len(obs) - 1), (chi2, len(obs))


def test_finite_dpp_large_ground_set():
    # N = 1000, m = 6: the kernel and features
    # paths draw the same indices, and inclusion frequencies match diag K
    # (max over 1000 items of |z|, each within 5 s.e.: family-wise false-alarm
    # rate < 1000 * 6e-7)
    Q = np.linalg.qr(np.random.default_rng(2).standard_normal((1000, 6)))[0]
    K = Q @ Q.T
    keys = jr.split(jr.key(21), 20_000)
    f = jax.jit(
        jax.vmap(lambda k, A: wls.finite_projection_dpp(k, A, size=6), (0, None))
    )
    a = np.asarray(f(keys, jnp.asarray(Q)))
    np.testing.assert_array_equal(a[:200], np.asarray(f(keys[:200], jnp.asarray(K))))
    assert all(len(set(r)) == 6 for r in a.tolist())
    incl = np.bincount(a.ravel(), minlength=1000) / a.shape[0]
    d = np.diag(K)
    z = (incl - d) / np.sqrt(d * (1 - d) / a.shape[0])
    assert np.max(np.abs(z)) < 5, np.max(np.abs(z))


def test_finite_dpp_kernel_factor_shared_under_vmap():
    # vmapped over keys with one kernel, the N x m factor is built once: no
    # intermediate of shape (keys, N, m) or (keys, N, N) in the program
    Q = np.linalg.qr(np.random.default_rng(3).standard_normal((40, 5)))[0]
    K = jnp.asarray(Q @ Q.T)
    f = jax.vmap(lambda k: wls.finite_projection_dpp(k, K, size=5), 0)
    text = str(jax.make_jaxpr(f)(jr.split(jr.key(0), 3)))
    assert "f64[3,40,5]" not in text and "f64[3,40,40]" not in text
    assert "f64[40,5]" in text


# --------------------------------------------------------- continuous DPP


def test_projection_dpp_marginal_ks():
    # pooled points of 2,000 DPPs follow rho_m. Points of one draw repel, which
    # only makes the pooled empirical CDF less variable than for i.i.d. points,
    # so the KS test at level 1e-4 is conservative.
    xs = jax.vmap(lambda k: wls.projection_dpp(k, B5))(jr.split(jr.key(0), 2000))
    x = np.asarray(xs).ravel()
    p = stats.kstest(x, lambda t: _rho_cdf(5, np.atleast_1d(t))).pvalue
    assert p > 1e-4, p


def test_christoffel_iid_ks_2d_marginal():
    basis = wls.LegendreBasis(wls.total_degree_indices(1, 6))
    x = np.asarray(wls.christoffel_iid(jr.key(2), basis, 5000))[:, 0]
    p = stats.kstest(x, lambda t: _rho_cdf(7, np.atleast_1d(t))).pvalue
    assert p > 1e-4, p


def test_ermakov_zolotukhin():
    # The DPP interpolant's coefficients: mean <f, phi_j>, and every
    # coefficient has variance ||f||^2 - sum_j <f, phi_j>^2 (1.10682e-07).
    n = 4000
    proj, norm2 = _projections(np.exp, 5)
    var = norm2 - np.sum(proj**2)
    np.testing.assert_allclose(var, 1.10682e-07, rtol=1e-4)

    def coef(k):
        x = wls.projection_dpp(k, B5)
        return jnp.linalg.solve(B5(x), jnp.exp(x[:, 0]))

    c = np.asarray(jax.jit(jax.vmap(coef))(jr.split(jr.key(9), n)))
    z = (c.mean(0) - proj) / np.sqrt(var / n)
    assert np.all(np.abs(z) < 4), z  # false alarm 6e-5 per coefficient
    # sample variance of n draws: relative s.e. sqrt(2/n) = 2.2% for normal
    # data; 15% leaves room for the heavier tails of near-singular draws
    np.testing.assert_allclose(c.var(0, ddof=1), var, rtol=0.15)


@pytest.mark.parametrize("pool_size", [None, 40])
def test_late_phases_law(pool_size):
    # m = 32: the chain's last two phases (k >= 16) work in the complement
    # basis, the first of them built from the early rows, the second updated
    # from the first. pool_size=40 forces several refills per draw, so draws
    # resume mid-phase with their saved rows and complement.
    # - Ermakov-Zolotukhin means of the 32 interpolant coefficients of the
    #   Runge function 1/(1 + 16 x^2), z < 4 each (false alarm 2e-3). Their
    #   variance is left out here: at m = 32 one near-singular draw in 2,000
    #   carries up to half of the sum of squares, so the sample variance is
    #   off by 25% for the old and the new chain alike.
    # - KS test (level 1e-4, conservative as in test_projection_dpp_marginal_ks)
    #   of the pooled points against rho_m: wrong late phases would misplace
    #   the last points of every draw.
    m, n = 32, 2000
    basis = wls.LegendreBasis(wls.total_degree_indices(1, m - 1))

    def f(t):
        return 1 / (1 + 16 * t**2)

    proj, norm2 = _projections(f, m, nodes=400)
    var = norm2 - np.sum(proj**2)

    def draw(k):
        x = wls.projection_dpp(k, basis, pool_size=pool_size)
        return x, jnp.linalg.solve(basis(x), f(x[:, 0]))

    x, c = jax.jit(jax.vmap(draw))(jr.split(jr.key(11), n))
    c = np.asarray(c)
    z = (c.mean(0) - proj) / np.sqrt(var / n)
    assert np.all(np.abs(z) < 4), z
    pooled = np.asarray(x).ravel()
    p = stats.kstest(pooled, lambda t: _rho_cdf(m, np.atleast_1d(t))).pvalue
    assert p > 1e-4, p


def test_expected_determinant_identity():
    # E[det sum_i w_i phi_i phi_i^T] = n!/(n-m)! under i.i.d. rho_m (m=4, n=6:
    # 360), within 4 standard errors
    def det(k):
        x = wls.christoffel_iid(k, B4, 6)
        Phi = B4(x)
        w = wls.optimal_weights(B4, x)
        return jnp.linalg.det(Phi.T @ (w[:, None] * Phi))

    d = np.asarray(jax.jit(jax.vmap(det))(jr.split(jr.key(4), 20_000)))
    assert abs(d.mean() - 360) < 4 * d.std() / math.sqrt(len(d)), d.mean()


def _ls_coefficients(sampler, n_reps, key):
    def one(k):
        x = sampler(k)
        c, _ = wls.weighted_lstsq(B4(x), wls.optimal_weights(B4, x), jnp.exp(x[:, 0]))
        return c

    return np.asarray(jax.jit(jax.vmap(one))(jr.split(key, n_reps)))


def test_volume_sampling_unbiased_and_iid_control_biased():
    # m = 4, n = 7, f = exp: E[c] = <f, phi> under volume sampling, not under
    # i.i.d. rho_m (the control shows the test has power: |z| ~ 16 and 22)
    proj, _ = _projections(np.exp, 4)
    n = 4000
    vs = _ls_coefficients(lambda k: wls.volume_rescaled(k, B4, 7), n, jr.key(1))
    z = (vs.mean(0) - proj) / (vs.std(0, ddof=1) / math.sqrt(n))
    assert np.all(np.abs(z) < 4), z
    iid = _ls_coefficients(lambda k: wls.christoffel_iid(k, B4, 7), n, jr.key(1))
    z_iid = (iid.mean(0) - proj) / (iid.std(0, ddof=1) / math.sqrt(n))
    assert np.max(np.abs(z_iid)) > 8, z_iid


def test_volume_rescaled_custom_base():
    # uniform base density on [-1, 1]: weights 1/rho = 1; still unbiased
    proj, _ = _projections(np.exp, 4)

    def base(k, num):
        return jr.uniform(k, (num, 1), minval=-1.0, maxval=1.0)

    def one(k):
        x = wls.volume_rescaled(k, B4, 6, base_sampler=base)
        c, _ = wls.weighted_lstsq(B4(x), jnp.ones(6), jnp.exp(x[:, 0]))
        return c

    c = np.asarray(jax.jit(jax.vmap(one))(jr.split(jr.key(8), 4000)))
    z = (c.mean(0) - proj) / (c.std(0, ddof=1) / math.sqrt(4000))
    assert np.all(np.abs(z) < 4), z


def test_repeated_and_conditioned():
    basis = wls.LegendreBasis(wls.total_degree_indices(2, 3))  # m = 10
    x = wls.repeated_dpp(jr.key(0), basis, 3)
    assert x.shape == (30, 2)
    # each block of m points is one DPP: its interpolation matrix is invertible
    for r in range(3):
        blk = basis(x[r * 10 : (r + 1) * 10])
        assert np.linalg.cond(np.asarray(blk)) < 1e8
    draw = wls.conditioned(lambda k: wls.repeated_dpp(k, basis, 5), basis, delta=0.9)
    out = jax.jit(jax.vmap(draw))(jr.split(jr.key(1), 50))
    ok = np.asarray(out.satisfied)
    assert ok.all()
    assert np.all(np.asarray(out.gram_deviation) <= 0.9)
    dev = jax.vmap(
        lambda z: wls.gram_deviation(basis(z), wls.optimal_weights(basis, z))
    )(out.x)
    np.testing.assert_allclose(dev, out.gram_deviation, rtol=1e-12)
    # an unreachable threshold is reported, not looped on forever
    hard = wls.conditioned(
        lambda k: wls.christoffel_iid(k, basis, 10), basis, delta=1e-6, max_tries=3
    )
    res = hard(jr.key(2))
    assert not bool(res.satisfied) and int(res.tries) == 3


def test_vmap_1000_keys_compiles_once():
    basis = wls.LegendreBasis(wls.total_degree_indices(2, 3))
    keys = jr.split(jr.key(0), 1000)
    f = jax.vmap(lambda k: wls.projection_dpp(k, basis))
    assert_traced_once(f, [(keys,), (jr.split(jr.key(1), 1000),)])
    x = jax.jit(f)(keys)
    assert x.shape == (1000, 10, 2) and bool(jnp.all(jnp.abs(x) <= 1))
    # draws differ across keys and repeat for the same key
    assert not np.allclose(x[0], x[1])
    np.testing.assert_allclose(x[3], wls.projection_dpp(keys[3], basis), rtol=1e-13)


def test_proposal_count_matches_theory():
    # m * H_m proposals on average (the chain rule's rejection cost)
    basis = wls.LegendreBasis(wls.total_degree_indices(2, 4))  # m = 15
    _, used = jax.vmap(lambda k: wls.projection_dpp(k, basis, return_proposals=True))(
        jr.split(jr.key(5), 400)
    )
    used = np.asarray(used, float)
    expected = 15 * sum(1 / k for k in range(1, 16))
    assert abs(used.mean() - expected) < 4 * used.std() / math.sqrt(len(used))
    # a tiny pool forces refills: still m distinct points
    x = wls.projection_dpp(jr.key(0), basis, pool_size=4)
    assert np.linalg.cond(np.asarray(basis(x))) < 1e8


def test_hermite_dpp_and_float32():
    basis = wls.HermiteBasis(wls.total_degree_indices(2, 2), mean=1.0, std=0.5)
    x = wls.projection_dpp(jr.key(0), basis, dtype=jnp.float32)
    assert x.dtype == jnp.float32 and x.shape == (6, 2)
    assert np.linalg.cond(np.asarray(basis(x), np.float64)) < 1e6
    y = wls.volume_rescaled(jr.key(1), B5, 9, dtype=jnp.float32)
    c, info = wls.weighted_lstsq(B5(y), wls.optimal_weights(B5, y), jnp.exp(y[:, 0]))
    assert c.dtype == jnp.float32 and int(info.rank) == 5
    proj, _ = _projections(np.exp, 5)
    np.testing.assert_allclose(c, proj, atol=1e-3)


# ------------------------------------------------------------ weighted solve


def test_weighted_lstsq_against_float64_reference():
    rng = np.random.default_rng(0)
    Phi, w, y = (
        rng.standard_normal((30, 6)),
        rng.uniform(0.1, 2, 30),
        rng.standard_normal((30, 2)),
    )
    c, info = wls.weighted_lstsq(jnp.asarray(Phi), jnp.asarray(w), jnp.asarray(y))
    ref = np.linalg.lstsq(
        np.sqrt(w)[:, None] * Phi, np.sqrt(w)[:, None] * y, rcond=None
    )[0]
    np.testing.assert_allclose(c, ref, rtol=1e-12, atol=1e-12)
    G = Phi.T @ (w[:, None] * Phi) / 30
    np.testing.assert_allclose(
        info.gram_deviation, np.linalg.norm(G - np.eye(6), 2), rtol=1e-12
    )
    np.testing.assert_allclose(
        info.condition_number, np.linalg.cond(np.sqrt(w)[:, None] * Phi), rtol=1e-10
    )
    assert int(info.rank) == 6


def test_near_singular_draw_is_reported_not_nan():
    x = jnp.array([[0.1], [0.1], [0.1], [0.5], [0.5]])  # 2 distinct points, m = 4
    c, info = wls.weighted_lstsq(B4(x), wls.optimal_weights(B4, x), jnp.exp(x[:, 0]))
    assert bool(jnp.all(jnp.isfinite(c)))
    assert int(info.rank) == 2 and float(info.condition_number) > 1e10


def test_grad_matches_finite_differences():
    rng = np.random.default_rng(1)
    Phi = jnp.asarray(rng.standard_normal((12, 4)))
    w = jnp.asarray(rng.uniform(0.5, 2, 12))
    y = jnp.asarray(rng.standard_normal(12))
    v = jnp.asarray(rng.standard_normal(4))

    def loss(w, y):
        return v @ wls.weighted_lstsq(Phi, w, y)[0]

    gw, gy = jax.grad(loss, argnums=(0, 1))(w, y)
    eps = 1e-6
    for i in (0, 5, 11):
        e = jnp.zeros(12).at[i].set(eps)
        np.testing.assert_allclose(
            gw[i], (loss(w + e, y) - loss(w - e, y)) / (2 * eps), rtol=1e-6, atol=1e-9
        )
        np.testing.assert_allclose(
            gy[i], (loss(w, y + e) - loss(w, y - e)) / (2 * eps), rtol=1e-6, atol=1e-9
        )


def test_pool_options_pass_through():
    # repeated_dpp and volume_rescaled hand pool_size/max_pools to their DPPs:
    # a repetition is bitwise the projection_dpp of its key with the same pool.
    basis = wls.LegendreBasis(wls.total_degree_indices(2, 3))  # m = 10
    key = jr.key(3)
    x = wls.repeated_dpp(key, basis, 2, pool_size=12, max_pools=50)
    ref = jnp.concatenate(
        [
            wls.projection_dpp(k, basis, pool_size=12, max_pools=50)
            for k in jr.split(key, 2)
        ]
    )
    np.testing.assert_array_equal(np.asarray(x), np.asarray(ref))
    # Too few proposals in all allowed pools: the DPP part fails, under the
    # caller's name.
    with pytest.raises(eqx.EquinoxRuntimeError, match="volume_rescaled: 1 pools of 2"):
        wls.volume_rescaled(key, basis, 12, pool_size=2, max_pools=1)
    with pytest.raises(ValueError, match="repeated_dpp: pool_size must be >= 1"):
        wls.repeated_dpp(key, basis, 2, pool_size=0)
    with pytest.raises(ValueError, match="volume_rescaled: max_pools must be >= 1"):
        wls.volume_rescaled(key, basis, 12, max_pools=0)


def test_lstsq_padded_rows_and_num_points():
    # Draws of different sizes padded with zero-weight rows to one shape give
    # the unpadded solution, and with num_points the unpadded ||G - I||; the
    # padded call vmaps over draws with a traced num_points.
    basis = wls.LegendreBasis(wls.total_degree_indices(1, 5))  # m = 6
    f = lambda x: jnp.exp(x[:, 0])  # noqa: E731
    sizes = (8, 11, 14)
    rows = max(sizes)
    Phis, ws, ys, ref = [], [], [], []
    for i, n in enumerate(sizes):
        x = wls.christoffel_iid(jr.key(40 + i), basis, n)
        Phi, w, y = basis(x), wls.optimal_weights(basis, x), f(x)
        ref.append(wls.weighted_lstsq(Phi, w, y))
        pad = rows - n
        Phis.append(jnp.concatenate([Phi, jnp.ones((pad, basis.m))]))
        ws.append(jnp.concatenate([w, jnp.zeros(pad)]))
        ys.append(jnp.concatenate([y, jnp.full(pad, 7.0)]))
    batched = jax.vmap(lambda P, w, y, n: wls.weighted_lstsq(P, w, y, num_points=n))
    coef, info = batched(
        jnp.stack(Phis), jnp.stack(ws), jnp.stack(ys), jnp.asarray(sizes)
    )
    for i, (c, inf) in enumerate(ref):
        np.testing.assert_allclose(coef[i], c, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            info.gram_deviation[i], inf.gram_deviation, rtol=1e-12
        )
        np.testing.assert_allclose(
            wls.gram_deviation(Phis[i], ws[i], num_points=sizes[i]),
            inf.gram_deviation,
            rtol=1e-12,
        )
        assert int(info.rank[i]) == basis.m
    # Without num_points the padded rows count in 1/n: a different value.
    _, padded = wls.weighted_lstsq(Phis[0], ws[0], ys[0])
    assert abs(float(padded.gram_deviation - ref[0][1].gram_deviation)) > 1e-3
    with pytest.raises(ValueError, match=r"num_points must be in \[1, 14\]"):
        wls.weighted_lstsq(Phis[0], ws[0], ys[0], num_points=15)
    with pytest.raises(TypeError, match="num_points must be an int"):
        unchecked(wls.gram_deviation)(Phis[0], ws[0], num_points=2.5)
    with pytest.raises(eqx.EquinoxRuntimeError, match="num_points must be in"):
        eqx.filter_jit(lambda n: wls.gram_deviation(Phis[0], ws[0], num_points=n))(
            jnp.asarray(0)
        )


def test_bad_inputs():
    k = jr.key(0)
    with pytest.raises(ValueError, match="n=3 is below"):
        wls.volume_rescaled(k, B5, 3)
    with pytest.raises(ValueError, match="n >= m"):
        wls.weighted_lstsq(jnp.ones((3, 5)), jnp.ones(3), jnp.ones(3))
    with pytest.raises(ValueError, match="w must have shape"):
        unchecked(wls.weighted_lstsq)(jnp.ones((6, 5)), jnp.ones(5), jnp.ones(6))
    with pytest.raises(TypeError, match="LegendreBasis"):
        unchecked(wls.projection_dpp)(k, "basis")
    with pytest.raises(ValueError, match="n must be >= 1"):
        wls.christoffel_iid(k, B5, 0)
    with pytest.raises(ValueError, match="delta"):
        wls.conditioned(lambda k: wls.christoffel_iid(k, B5, 9), B5, delta=1.5)
    with pytest.raises(ValueError, match="size"):
        wls.finite_projection_dpp(k, jnp.asarray(Q8), size=4)
    with pytest.raises(ValueError, match="method must be"):
        wls.finite_projection_dpp(k, jnp.asarray(Q8), method="cholesky")
    with pytest.raises(ValueError, match="base_sampler"):
        wls.volume_rescaled(k, B5, 8, base_sampler=lambda kk, num: jnp.zeros((num, 2)))
    with pytest.raises(eqx.EquinoxRuntimeError, match="orthonormal"):
        wls.finite_projection_dpp(k, jnp.asarray(2 * Q8))
    with pytest.raises(eqx.EquinoxRuntimeError, match="projection"):
        wls.finite_projection_dpp(k, jnp.asarray(2 * K8), size=3)
    # symmetric, trace 3, diagonal in [0, 1], but not idempotent (rank 6)
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"K\^2 != K"):
        wls.finite_projection_dpp(k, jnp.eye(6) / 2, size=3)
    with pytest.raises(eqx.EquinoxRuntimeError, match="weights"):
        wls.weighted_lstsq(jnp.eye(3), -jnp.ones(3), jnp.ones(3))


def test_projection_dpp_agrees_with_dppy_in_2d():
    # Two-sample KS tests (level 1e-3 each) between 1,000 of our DPPs and
    # 1,000 of DPPy's MultivariateJacobiOPE samples (Legendre, m = 10, d = 2,
    # DPPy's index ordering): the pooled first coordinate, and the minimum
    # pairwise distance within a sample, which sees the repulsion (the joint
    # law), not only the marginals. An i.i.d. control fails the second test.
    from dppy.multivariate_jacobi_ope import MultivariateJacobiOPE

    ope = MultivariateJacobiOPE(10, np.zeros((2, 2)))
    basis = wls.LegendreBasis(ope.ordering)
    ref = np.stack(
        [ope.sample(random_state=np.random.RandomState(s)) for s in range(1000)]
    )
    ours = np.asarray(
        jax.vmap(lambda k: wls.projection_dpp(k, basis))(jr.split(jr.key(6), 1000))
    )
    iid = np.asarray(
        jax.vmap(lambda k: wls.christoffel_iid(k, basis, 10))(jr.split(jr.key(7), 1000))
    )

    def min_dist(x):
        d = np.linalg.norm(x[:, :, None, :] - x[:, None, :, :], axis=-1)
        d[:, np.arange(10), np.arange(10)] = np.inf
        return d.min(axis=(1, 2))

    assert stats.ks_2samp(ours[:, :, 0].ravel(), ref[:, :, 0].ravel()).pvalue > 1e-3
    assert stats.ks_2samp(min_dist(ours), min_dist(ref)).pvalue > 1e-3
    assert stats.ks_2samp(min_dist(iid), min_dist(ref)).pvalue < 1e-6
