"""The discrete table oracle: exact conditionals, exact laws and exact ELBOs.

Reference joints (discrete.md §0.2, §1.3, §2.3):

- ``P = dirichlet_joint(3, 4, seed=0, alpha=0.5)``: the reference joint of every
  table below, including the decoding-policy table of §1.3 ("V=3, L=4 random
  joint" is this P).
- ``Q = dirichlet_joint(3, 4, seed=1, alpha=0.5)``: the second component of the
  inconsistent mixture ``0.5 P + 0.5 Q``. discrete.md writes
  ``dirichlet_joint(3, 4, seed=1)``, but its reference value 7.1364522569991005
  is reproduced only with ``alpha=0.5`` (``alpha=1.0`` gives 6.5209...).
- ``x = (0, 1, 2, 0)``.
"""

import itertools
import math
from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxmethods.discrete import (
    CosineSchedule,
    GeometricSchedule,
    LinearSchedule,
    LogLinearSchedule,
    PolynomialSchedule,
    time_grid,
    unmask_probabilities,
)
from jaxmethods.testing.discrete_oracle import (
    MixtureModel,
    TableOracle,
    all_partial_sequences,
    all_sequences,
    ancestral_output_law,
    ao_arm_nelbo_enumerated,
    average_order_nll,
    dirichlet_joint,
    empirical_law,
    fixed_order_joint,
    kl_divergence,
    markov_joint,
    masked_nelbo_exact,
    one_step_policy_law,
    tv_distance,
)
from tests.helpers import assert_close, check_transforms, unchecked


V, L = 3, 4
P = dirichlet_joint(V, L, seed=0, alpha=0.5)
Q = dirichlet_joint(V, L, seed=1, alpha=0.5)
X = jnp.array([0, 1, 2, 0])
ORACLE = TableOracle.from_probs(P)
MIX = MixtureModel(ORACLE, TableOracle.from_probs(Q), 0.5)

NEG_LOG_P_X = 7.891397149296538
MIX_NELBO = 7.1364522569991005
LOGLINEAR_NELBO = 7.132165220988913  # LogLinearSchedule(eps=1e-3), t in [0, 1]

# discrete.md §1.3: ancestral sampler, linear schedule, uniform grid, oracle P.
ANCESTRAL = {
    1: (0.447686577501, 0.623519134806),
    2: (0.269580798724, 0.245075866180),
    3: (0.190559462203, 0.140007243570),
    4: (0.147122471920, 0.093693367207),
    8: (0.076754097959, 0.035079169423),
    16: (0.039199021678, 0.012839983710),
    64: (0.009959229210, 0.001606359201),
}
# discrete.md §1.3: (policy, tokens per step) -> (TV(law, P), E[NFE]).
POLICIES = {
    ("random", 1): (0.0, 4.0),
    ("entropy", 1): (0.0, 4.0),
    ("margin", 1): (0.0, 4.0),
    ("confidence", 1): (0.430641979856, 4.0),
    ("random", 2): (0.228772247473, 2.0),
    ("confidence", 2): (0.389617360008, 2.0),
}


# --------------------------------------------------------------------------
# independent NumPy / pure-Python references
# --------------------------------------------------------------------------


def bayes(table, z):
    """Brute-force conditionals p(x_i | visible tokens of z), (L, V) probs."""
    v, n = table.shape[0], table.ndim
    seqs = np.indices(table.shape).reshape(n, -1).T
    vis = [j for j in range(n) if z[j] != v]
    ok = np.all(seqs[:, vis] == np.asarray(z)[vis], axis=1)
    w = table.reshape(-1) * ok
    out = np.zeros((n, v))
    for i in range(n):
        if z[i] != v:
            out[i, z[i]] = 1.0
        else:
            out[i] = np.bincount(seqs[:, i], weights=w, minlength=v) / w.sum()
    return out


def mixture_bayes(z, w=0.5, p=P, q=Q):
    return w * bayes(p, z) + (1 - w) * bayes(q, z)


def product_of_marginals(table):
    n = table.ndim
    margs = [table.sum(axis=tuple(a for a in range(n) if a != i)) for i in range(n)]
    return np.einsum(",".join("abcdefgh"[:n]) + "->" + "abcdefgh"[:n], *margs)


def ancestral_brute(cond, v, n, probs):
    """Law of the ancestral sampler, by explicit enumeration of each step."""
    dist = {(v,) * n: 1.0}
    for p in probs:
        new = defaultdict(float)
        for z, mass in dist.items():
            c = cond(z)
            masked = [i for i in range(n) if z[i] == v]
            for outcome in itertools.product([None, *range(v)], repeat=len(masked)):
                pr, z2 = mass, list(z)
                for i, o in zip(masked, outcome, strict=True):
                    if o is None:
                        pr *= 1 - p
                    else:
                        pr *= p * c[i, o]
                        z2[i] = o
                new[tuple(z2)] += pr
        dist = new
    law = np.zeros((v,) * n)
    for z, mass in dist.items():
        if v in z:
            assert mass < 1e-14
        else:
            law[z] = mass
    return law


def policy_brute(cond, v, n, policy, k):
    """Law and E[NFE] of a one-step decoding policy, by enumeration."""
    dist, nfe = {(v,) * n: 1.0}, 0.0
    for _ in range(n):
        new = defaultdict(float)
        for z, mass in dist.items():
            masked = [i for i in range(n) if z[i] == v]
            if not masked:
                new[z] += mass
                continue
            nfe += mass
            c = cond(z)
            kk = min(k, len(masked))
            for y in itertools.product(range(v), repeat=len(masked)):
                ys = dict(zip(masked, y, strict=True))
                py = mass * math.prod(c[i, ys[i]] for i in masked)
                if policy == "random":
                    subsets = list(itertools.combinations(masked, kk))
                    choices = [(s, py / len(subsets)) for s in subsets]
                else:
                    if policy == "confidence":
                        score = {i: c[i, ys[i]] for i in masked}
                    elif policy == "entropy":
                        score = {
                            i: np.sum(c[i][c[i] > 0] * np.log(c[i][c[i] > 0]))
                            for i in masked
                        }
                    else:
                        score = {i: np.diff(np.sort(c[i])[-2:])[0] for i in masked}
                    best = sorted(masked, key=lambda i, s=score: (-s[i], i))[:kk]
                    choices = [(tuple(best), py)]
                for s, pr in choices:
                    z2 = list(z)
                    for i in s:
                        z2[i] = ys[i]
                    new[tuple(z2)] += pr
        dist = new
    law = np.zeros((v,) * n)
    for z, mass in dist.items():
        law[z] = mass
    return law, nfe


def ordered_joint_brute(cond, v, n, order):
    law = np.zeros((v,) * n)
    for x in itertools.product(range(v), repeat=n):
        z, pr = [v] * n, 1.0
        for i in order:
            pr *= cond(tuple(z))[i, x[i]]
            z[i] = x[i]
        law[x] = pr
    return law


# --------------------------------------------------------------------------
# joints and enumeration
# --------------------------------------------------------------------------


def test_reference_joint_values():
    """discrete.md §0.2."""
    assert P[0, 1, 2, 0] == pytest.approx(3.739467503998601e-04, rel=1e-13)
    assert_close(-ORACLE.log_prob(X), NEG_LOG_P_X, rtol=1e-14)
    assert_close(ORACLE.entropy(), 3.7085873969841643, rtol=1e-13)
    margs = np.stack(
        [P.sum(axis=tuple(a for a in range(L) if a != i)) for i in range(L)]
    )
    assert_close(ORACLE.marginals(), margs, rtol=1e-13)
    prod = np.einsum("a,b,c,d->abcd", *np.asarray(ORACLE.marginals()))
    assert_close(tv_distance(prod, P), 0.4476865775006039, rtol=1e-12)
    assert_close(prod, product_of_marginals(P), rtol=1e-13)


def test_dirichlet_and_markov_joints():
    rng = np.random.default_rng(7)
    want = rng.dirichlet(np.full(2**3, 0.3)).reshape(2, 2, 2)
    np.testing.assert_array_equal(dirichlet_joint(2, 3, seed=7, alpha=0.3), want)

    for m in (0, 1, 2):
        p = markov_joint(3, 5, seed=3, alpha=0.7, order=m)
        assert p.shape == (3,) * 5
        assert p.sum() == pytest.approx(1.0, abs=1e-14)
        # p(x_4 | x_0..x_3) depends only on the last m tokens ...
        c4 = p / p.sum(axis=4, keepdims=True)
        for ax in range(4 - m):
            assert_close(
                c4, np.broadcast_to(c4.take([0], axis=ax), c4.shape), rtol=1e-12
            )
        # ... through the same kernel as p(x_m | x_0..x_{m-1}) (stationarity)
        head = p.sum(axis=tuple(range(m + 1, 5)))
        cm = head / head.sum(axis=m, keepdims=True)
        assert_close(c4[(0,) * (4 - m)], cm, rtol=1e-12)
    # the documented draw order
    rng = np.random.default_rng(5)
    init = rng.dirichlet(np.full(2, 0.5))
    trans = rng.dirichlet(np.full(2, 0.5), size=2)
    want = init[:, None, None] * trans[:, :, None] * trans[None, :, :]
    assert_close(markov_joint(2, 3, seed=5, alpha=0.5, order=1), want, rtol=1e-14)


def test_sequence_enumerations():
    seqs = np.asarray(all_sequences(V, L))
    assert seqs.shape == (V**L, L)
    flat = P.reshape(-1)
    assert all(flat[k] == P[tuple(s)] for k, s in enumerate(seqs))
    part = np.asarray(all_partial_sequences(V, L))
    assert part.shape == ((V + 1) ** L, L)
    assert len({tuple(r) for r in part}) == (V + 1) ** L
    np.testing.assert_array_equal(part[-1], [V] * L)
    np.testing.assert_array_equal(part[np.all(part < V, axis=1)], seqs)


# --------------------------------------------------------------------------
# conditionals
# --------------------------------------------------------------------------


STATES = np.asarray(all_partial_sequences(V, L))


def test_oracle_conditionals_equal_bayes():
    """All 256 partial states: exact conditionals and carry-over rows."""
    out = np.asarray(jax.jit(jax.vmap(ORACLE))(jnp.asarray(STATES)))
    for z, got in zip(STATES, out, strict=True):
        want = bayes(P, tuple(z))
        masked = z == V
        assert_close(np.exp(got[masked]), want[masked], rtol=1e-12, atol=1e-15)
        # carry-over: exactly 0 at the visible token and -inf elsewhere
        for i in np.flatnonzero(~masked):
            row = np.full(V, -np.inf)
            row[z[i]] = 0.0
            np.testing.assert_array_equal(got[i], row)
        assert np.allclose(np.exp(got).sum(-1), 1.0, atol=1e-13)


def test_mixture_conditionals_and_carry_over():
    zs = STATES[np.random.default_rng(0).choice(len(STATES), 40, replace=False)]
    out = np.asarray(jax.vmap(MIX)(jnp.asarray(zs)))
    for z, got in zip(zs, out, strict=True):
        masked = z == V
        want = mixture_bayes(tuple(z))
        assert_close(got[masked], np.log(want[masked]), rtol=1e-12, atol=1e-14)
        for i in np.flatnonzero(~masked):
            row = np.full(V, -np.inf)
            row[z[i]] = 0.0
            np.testing.assert_array_equal(got[i], row)


def test_mixture_is_inconsistent_and_oracle_is_consistent():
    orders = [(0, 1, 2, 3), (3, 2, 1, 0), (2, 0, 3, 1)]
    for order in orders:
        assert_close(fixed_order_joint(ORACLE, V, L, order), P, rtol=1e-11, atol=1e-15)
    joints = [fixed_order_joint(MIX, V, L, o) for o in orders]
    for j in joints:
        assert_close(jnp.sum(j), 1.0, rtol=1e-13)
    # no single joint has these conditionals: its AR joints depend on the order
    assert float(tv_distance(joints[0], joints[1])) > 1e-2
    assert float(tv_distance(joints[0], joints[2])) > 1e-2
    # and each AR joint is what sequential decoding in that order produces
    cond = lambda z: mixture_bayes(z)
    assert_close(joints[2], ordered_joint_brute(cond, V, L, orders[2]), rtol=1e-11)


# --------------------------------------------------------------------------
# exact ELBOs
# --------------------------------------------------------------------------


def test_ao_arm_nelbo_equals_average_over_orders():
    """discrete.md §2.3: 7.1364522569991005 (mixture) and -log P[x] (oracle)."""
    ao = ao_arm_nelbo_enumerated(MIX, X)
    avg = average_order_nll(MIX, X)
    assert_close(ao, MIX_NELBO, rtol=1e-13)
    assert_close(avg, MIX_NELBO, rtol=1e-13)
    assert abs(float(ao) - float(avg)) < 1e-12
    assert_close(ao_arm_nelbo_enumerated(ORACLE, X), NEG_LOG_P_X, rtol=1e-13)
    assert_close(average_order_nll(ORACLE, X), NEG_LOG_P_X, rtol=1e-13)
    # explicit weights 1/(|S| C(L, |S|)) with the NumPy conditionals
    ref = 0.0
    for bits in itertools.product([0, 1], repeat=L):
        s = [i for i in range(L) if bits[i]]
        if not s:
            continue
        z = tuple(V if bits[i] else int(X[i]) for i in range(L))
        c = mixture_bayes(z)
        nll = -sum(math.log(c[i, int(X[i])]) for i in s)
        ref += nll / (len(s) * math.comb(L, len(s)))
    assert_close(ao, ref, rtol=1e-13)


def test_expected_mixture_nelbo_under_p():
    """discrete.md §1.3: E_P[NELBO_mix] = 4.1029728329824335 >= H(P)."""
    seqs = all_sequences(V, L)
    nelbo = jax.jit(jax.vmap(lambda x: ao_arm_nelbo_enumerated(MIX, x)))(seqs)
    expected = jnp.sum(jnp.asarray(P.reshape(-1)) * nelbo)
    assert_close(expected, 4.1029728329824335, rtol=1e-12)
    assert float(expected) >= 3.7085873969841643


@pytest.mark.parametrize(
    "schedule",
    [
        LinearSchedule(),
        CosineSchedule(eps=0.0),
        PolynomialSchedule(power=2.0, eps=0.0),
    ],
    ids=["linear", "cosine", "poly2"],
)
def test_masked_nelbo_schedule_invariant(schedule):
    """Continuous NELBO: same value for every schedule with alpha(0)=1, alpha(1)=0."""
    for variable in ("t", "lambda"):
        got = masked_nelbo_exact(MIX, X, schedule, variable=variable)
        assert_close(got, MIX_NELBO, rtol=1e-12)
    got = masked_nelbo_exact(ORACLE, X, schedule)
    assert_close(got, NEG_LOG_P_X, rtol=1e-12)


def test_masked_nelbo_truncated_schedules():
    # log-linear: lambda ranges over [0, 1 - eps], dropping (1 - eps, 1]
    for variable in ("t", "lambda"):
        got = masked_nelbo_exact(MIX, X, LogLinearSchedule(eps=1e-3), variable=variable)
        assert_close(got, LOGLINEAR_NELBO, rtol=1e-12)
    # clipped / geometric schedules: the t-quadrature agrees with the exact
    # lambda-integral (a check of weight, dalpha and mask_prob together)
    for sch in (CosineSchedule(eps=1e-4), GeometricSchedule()):
        t_int = masked_nelbo_exact(MIX, X, sch, variable="t")
        lam_int = masked_nelbo_exact(MIX, X, sch, variable="lambda")
        assert_close(t_int, lam_int, rtol=1e-11)
        assert float(t_int) < MIX_NELBO  # a truncated lambda range
    # a too-coarse t-quadrature of the geometric schedule is visibly off, so
    # the agreement above is not built in
    coarse = masked_nelbo_exact(MIX, X, GeometricSchedule(), quad_points=8)
    exact = masked_nelbo_exact(MIX, X, GeometricSchedule(), variable="lambda")
    assert abs(float(coarse) - float(exact)) > 1e-6


def test_masked_nelbo_discrete_time():
    sch = LinearSchedule()
    # T = 1: all tokens masked with weight 1 -> sum of -log marginals
    margs = np.stack([mixture_bayes((V,) * L)[i] for i in range(L)])
    want = -sum(math.log(margs[i, int(X[i])]) for i in range(L))
    assert_close(masked_nelbo_exact(MIX, X, sch, num_steps=1), want, rtol=1e-13)
    # T = 3 by an explicit sum over steps and masks
    T, ref = 3, 0.0
    for k in range(1, T + 1):
        lam, lam_prev = k / T, (k - 1) / T
        for bits in itertools.product([0, 1], repeat=L):
            s = [i for i in range(L) if bits[i]]
            if not s:
                continue
            z = tuple(V if bits[i] else int(X[i]) for i in range(L))
            c = mixture_bayes(z)
            pz = lam ** len(s) * (1 - lam) ** (L - len(s))
            nll = -sum(math.log(c[i, int(X[i])]) for i in s)
            ref += (lam - lam_prev) / lam * pz * nll
    assert_close(masked_nelbo_exact(MIX, X, sch, num_steps=T), ref, rtol=1e-13)
    # the T-step NELBO bounds -log of the T-step ancestral sampler's own law
    # (equality for T = 1, where that law is the product of the marginals) and
    # converges to the continuous value like 1/T
    seqs = all_sequences(V, L)
    for t in (1, 3):
        law = np.asarray(ancestral_output_law(ORACLE, V, L, t)).reshape(-1)
        nelbo = jax.jit(
            jax.vmap(lambda x, t=t: masked_nelbo_exact(ORACLE, x, sch, num_steps=t))
        )(seqs)
        gap = np.asarray(nelbo) + np.log(law)
        if t == 1:
            assert_close(gap, np.zeros_like(gap), atol=1e-12)
        else:
            assert gap.min() > 1e-6
    gaps = [
        float(masked_nelbo_exact(ORACLE, X, sch, num_steps=t)) - NEG_LOG_P_X
        for t in (64, 512)
    ]
    assert gaps[0] < 0 and 7.5 < gaps[0] / gaps[1] < 8.5


# --------------------------------------------------------------------------
# exact sampler laws
# --------------------------------------------------------------------------


def test_ancestral_law_reference_table():
    """discrete.md §1.3, to 1e-9."""
    for n, (tv, kl) in ANCESTRAL.items():
        law = ancestral_output_law(ORACLE, V, L, n)
        assert_close(jnp.sum(law), 1.0, rtol=1e-13)
        assert abs(float(tv_distance(law, P)) - tv) < 1e-9, n
        assert abs(float(kl_divergence(P, law)) - kl) < 1e-9, n
        if n == 1:
            assert_close(law, product_of_marginals(P), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("grid", ["uniform", "cosine"])
def test_ancestral_law_equals_enumeration(grid):
    """The DP equals step-by-step enumeration for an inconsistent model."""
    v, n = 2, 3
    p3 = dirichlet_joint(v, n, seed=11, alpha=0.5)
    q3 = dirichlet_joint(v, n, seed=12, alpha=0.5)
    model = MixtureModel(TableOracle.from_probs(p3), TableOracle.from_probs(q3), 0.3)
    sch = CosineSchedule(eps=0.0)
    probs = np.asarray(unmask_probabilities(sch, time_grid(3, kind=grid)))
    want = ancestral_brute(lambda z: mixture_bayes(z, 0.3, p3, q3), v, n, probs)
    got = ancestral_output_law(model, v, n, 3, schedule=sch, grid=grid)
    assert_close(got, want, rtol=1e-12, atol=1e-16)


def test_policy_reference_table():
    """discrete.md §1.3 decoding-policy table, with P as the random joint."""
    for (policy, k), (tv, nfe) in POLICIES.items():
        law, e_nfe = one_step_policy_law(ORACLE, V, L, policy=policy, tokens_per_step=k)  # pyright: ignore[reportArgumentType]
        assert abs(float(tv_distance(law, P)) - tv) < 1e-9, (policy, k)
        assert_close(e_nfe, nfe, rtol=1e-13)
        assert_close(jnp.sum(law), 1.0, rtol=1e-13)


@pytest.mark.parametrize(
    ("policy", "k"),
    [
        ("random", 1),
        ("random", 2),
        ("entropy", 2),
        ("margin", 1),
        ("confidence", 1),
        ("confidence", 2),
    ],
)
def test_policy_law_equals_enumeration(policy, k):
    v, n = 3, 3
    p3 = dirichlet_joint(v, n, seed=21, alpha=0.5)
    q3 = dirichlet_joint(v, n, seed=22, alpha=0.5)
    model = MixtureModel(TableOracle.from_probs(p3), TableOracle.from_probs(q3), 0.4)
    cond = lambda z: mixture_bayes(z, 0.4, p3, q3)
    want, want_nfe = policy_brute(cond, v, n, policy, k)
    got, nfe = one_step_policy_law(model, v, n, policy=policy, tokens_per_step=k)
    assert_close(got, want, rtol=1e-12, atol=1e-16)
    assert_close(nfe, want_nfe, rtol=1e-13)


def test_policy_ties_break_by_position():
    # a uniform joint: every score ties, so "confidence" with one token per
    # step decodes left to right, which is exact for the uniform joint, and
    # the law of a skewed model under ties is that of the left-to-right order
    uniform = TableOracle.from_probs(np.full((2, 2, 2), 1 / 8))
    law, _ = one_step_policy_law(uniform, 2, 3, policy="confidence")
    assert_close(law, np.full((2, 2, 2), 1 / 8), rtol=1e-13)
    p3 = dirichlet_joint(2, 3, seed=4, alpha=0.5)
    model = MixtureModel(TableOracle.from_probs(p3), uniform, 0.0)  # = uniform
    law_e, _ = one_step_policy_law(model, 2, 3, policy="entropy", tokens_per_step=2)
    assert_close(law_e, np.full((2, 2, 2), 1 / 8), rtol=1e-12)


# --------------------------------------------------------------------------
# transforms, gradients, dtypes, sampling
# --------------------------------------------------------------------------


def test_call_jit_and_vmap():
    zs = jnp.asarray(STATES[::37])
    check_transforms(lambda z: ORACLE(z), (zs[3],), vmap_args=(zs,))
    check_transforms(lambda z: MIX(z), (zs[5],), vmap_args=(zs,))


def test_grad_through_logits():
    rng = np.random.default_rng(3)
    logits = jnp.asarray(rng.normal(size=(2, 2, 2)))
    x = jnp.array([1, 0, 1])
    # consistent learnable table: AO-ARM NELBO = -log p(x), gradient softmax - onehot
    g = jax.jit(
        jax.grad(lambda l: ao_arm_nelbo_enumerated(TableOracle.from_logits(l), x))
    )(logits)
    onehot = np.zeros((2, 2, 2))
    onehot[1, 0, 1] = 1.0
    assert_close(
        g,
        jax.nn.softmax(logits.reshape(-1)).reshape(2, 2, 2) - onehot,
        rtol=1e-12,
        atol=1e-14,
    )

    # inconsistent model and an exact law: central finite differences
    q = TableOracle.from_probs(dirichlet_joint(2, 3, seed=9, alpha=0.5))

    def nelbo(l):
        model = MixtureModel(TableOracle.from_logits(l), q, 0.3)
        return masked_nelbo_exact(model, x, CosineSchedule(eps=0.0), num_steps=4)

    def kl_law(l):
        law = ancestral_output_law(TableOracle.from_logits(l), 2, 3, 2)
        return kl_divergence(jax.nn.softmax(logits.reshape(-1)).reshape(2, 2, 2), law)

    def f(l):  # both, in one compilation
        return nelbo(l) + 3 * kl_law(l)

    grad = jax.jit(jax.grad(f))(logits)
    f = jax.jit(f)
    assert np.all(np.isfinite(np.asarray(grad)))
    for _ in range(3):
        d = jnp.asarray(rng.normal(size=(2, 2, 2)))
        h = 1e-5
        fd = (f(logits + h * d) - f(logits - h * d)) / (2 * h)
        assert_close(jnp.vdot(grad, d), fd, rtol=1e-7, atol=1e-9)


def test_float32():
    p32 = P.astype(np.float32)
    oracle = TableOracle.from_probs(p32)
    mix = MixtureModel(oracle, TableOracle.from_probs(Q.astype(np.float32)), 0.5)
    assert oracle.log_p.dtype == jnp.float32
    assert mix(jnp.array([3, 1, 3, 3])).dtype == jnp.float32
    nelbo = masked_nelbo_exact(mix, X, LinearSchedule())
    assert nelbo.dtype == jnp.float32
    assert_close(nelbo, MIX_NELBO, rtol=1e-5)
    ao = ao_arm_nelbo_enumerated(mix, X)
    assert ao.dtype == jnp.float32
    assert_close(ao, MIX_NELBO, rtol=1e-5)
    law = ancestral_output_law(oracle, V, L, 4)
    assert law.dtype == jnp.float32
    assert abs(float(tv_distance(law, P.astype(np.float32))) - ANCESTRAL[4][0]) < 1e-5
    law, nfe = one_step_policy_law(oracle, V, L, policy="confidence")
    assert law.dtype == jnp.float32 and nfe.dtype == jnp.float32
    assert abs(float(tv_distance(law, p32)) - POLICIES["confidence", 1][0]) < 1e-5


def test_sample_matches_table(getkey):
    """Chi-square goodness of fit of 2e5 exact draws (false alarm 1e-4)."""
    n = 200_000
    draws = ORACLE.sample(getkey(), n)
    assert draws.shape == (n, L)
    freq = np.asarray(empirical_law(draws, V)).reshape(-1) * n
    expected = P.reshape(-1) * n
    keep = expected > 5
    assert 0 < keep.sum() < keep.size
    chi2 = np.sum((freq[keep] - expected[keep]) ** 2 / expected[keep])
    chi2 += (freq[~keep].sum() - expected[~keep].sum()) ** 2 / expected[~keep].sum()
    dof = int(keep.sum())  # keep.sum() + 1 cells, minus one
    assert stats.chi2.sf(chi2, dof) > 1e-4


# --------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------


def test_errors():
    call = unchecked(TableOracle.__call__)
    with pytest.raises(ValueError, match=r"TableOracle: tokens must have shape \(4,\)"):
        call(ORACLE, jnp.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"tokens must have shape \(4,\)"):
        call(ORACLE, jnp.zeros((2, 4), jnp.int32))
    with pytest.raises(ValueError, match="integer dtype"):
        call(ORACLE, jnp.zeros((4,)))
    with pytest.raises(ValueError, match=r"tokens must lie in \[0, 3\]"):
        call(ORACLE, jnp.array([0, 1, 4, 0]))
    with pytest.raises(ValueError, match=r"tokens must lie in \[0, 3\]"):
        unchecked(MixtureModel.__call__)(MIX, jnp.array([-1, 1, 2, 0]))
    with pytest.raises((ValueError, RuntimeError), match="tokens must lie in"):
        jax.block_until_ready(jax.jit(lambda z: ORACLE(z))(jnp.array([0, 1, 5, 0])))
    with pytest.raises(ValueError, match=r"clean tokens, no mask"):
        ao_arm_nelbo_enumerated(MIX, jnp.array([0, 1, 3, 0]))
    with pytest.raises(ValueError, match=r"x must have shape \(L,\)"):
        unchecked(average_order_nll)(MIX, jnp.zeros((2, 4), jnp.int32))
    with pytest.raises(ValueError, match="tokens must have shape"):
        masked_nelbo_exact(MIX, jnp.array([0, 1, 2]), LinearSchedule())
    with pytest.raises(ValueError, match="variable must be"):
        unchecked(masked_nelbo_exact)(MIX, X, LinearSchedule(), variable="s")
    with pytest.raises(ValueError, match="num_steps must be an int >= 1"):
        ancestral_output_law(ORACLE, V, L, 0)
    with pytest.raises(ValueError, match=r"denoise_fn must return log-probs of shape"):
        ancestral_output_law(ORACLE, 2, L, 2)
    with pytest.raises(ValueError, match="policy must be one of"):
        unchecked(one_step_policy_law)(ORACLE, V, L, policy="greedy")
    with pytest.raises(ValueError, match="tokens_per_step must be an int >= 1"):
        one_step_policy_law(ORACLE, V, L, tokens_per_step=0)
    with pytest.raises(ValueError, match="order must be a permutation"):
        fixed_order_joint(ORACLE, V, L, (0, 1, 1, 2))
    with pytest.raises(ValueError, match=r"log_p must have shape \(V,\) \* L"):
        unchecked(TableOracle.__init__)(object.__new__(TableOracle), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="same shape"):
        MixtureModel(ORACLE, TableOracle.from_probs(np.full((3, 3), 1 / 9)), 0.5)
    with pytest.raises(ValueError, match="alpha must be positive"):
        dirichlet_joint(2, 2, seed=0, alpha=0.0)
    with pytest.raises(ValueError, match="order must be < length"):
        markov_joint(2, 3, seed=0, order=3)
    with pytest.raises(ValueError, match="same shape"):
        unchecked(tv_distance)(P, P[0])
