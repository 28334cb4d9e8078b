"""Randomized Halton points: bit-exact against QMCPy and SciPy, stratification
under every randomization, statistics, transforms and errors.

Most calls go through one jitted wrapper so that each (shape, randomization)
compiles once; shapes are shared between tests to keep the file fast.
"""

import functools
import warnings

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from jaxmethods.qmc import (
    halton,
    halton_points,
    halton_qrng_points,
)
from jaxmethods.qmc._halton import (
    MAX_DIMENSION,
    PRIMES,
)
from tests.helpers import (
    assert_close,
    assert_mean_within,
    assert_traced_once,
    assert_uniform_ks,
    check_transforms,
    fit_slope,
)


ALL = ["lms_dp", "lms_ds", "lms", "ds", "dp", "nus", "qrng", "none"]
UNIFORM = ["lms_dp", "lms_ds", "ds", "dp", "nus", "qrng"]  # each point ~ U[0,1)^d
STATIC = ("n", "d", "randomize", "n_min", "replications", "t", "dtype")


@functools.partial(jax.jit, static_argnames=STATIC)
def H(key, n, d, **kw):
    return halton(key, n, d, **kw)


def _qmcpy_halton(d, randomize, seed):
    qp = pytest.importorskip("qmcpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return qp.Halton(d, randomize=randomize, seed=seed)


def _qmcpy_points(h, n_min, n_max):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # origin / non-power-of-base warnings
        return h.gen_samples(n_min=n_min, n_max=n_max)


def _from_qmcpy(h, n, n_min=0):
    """Our explicit core fed with the random ingredients of a QMCPy object."""
    if h.randomize == "QRNG":
        sd = (h.bases[0][:, None].astype(np.float64) * h.randu_d_32).astype(np.int64)
        return halton_qrng_points(n, h.d, n_min=n_min, shift_digits=sd)
    kw = {}
    if "LMS" in h.randomize:
        kw["lms_matrices"] = h.C[0].transpose(0, 2, 1)
    if "DP" in h.randomize:
        kw["permutations"] = h.perms[0]
    if "DS" in h.randomize:
        kw["digital_shift"] = h.rshift[0]
    t = None if h.randomize == "FALSE" else h.t
    return halton_points(n, h.d, n_min=n_min, t=t, **kw)


# --- oracles ----------------------------------------------------------------


def test_primes():
    assert PRIMES[:10].tolist() == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
    assert MAX_DIMENSION >= 1000 and PRIMES[999] == 7919


def test_reference_values():
    x = halton_points(8, 3)
    assert_close(x[5], np.array([0.625, 0.7777777778, 0.04]), atol=1e-10)
    assert float(x[5, 0]) == 0.625
    assert_close(H(jr.key(0), 8, 3, randomize="none"), x, rtol=0, atol=0)


def test_unrandomized_equals_scipy():
    sq = pytest.importorskip("scipy.stats.qmc")
    x = jax.jit(lambda: halton_points(1000, 40))()
    assert_close(x, sq.Halton(40, scramble=False).random(1000), rtol=0, atol=0)
    eng = sq.Halton(40, scramble=False)
    eng.fast_forward(300)
    assert_close(x[300:500], eng.random(200), rtol=0, atol=0)


@pytest.mark.parametrize(
    "randomize", ["FALSE", "DS", "DP", "LMS DP", "LMS DS", "LMS", "QRNG"]
)
def test_bit_exact_qmcpy(randomize):
    """QMCPy's points from QMCPy's ingredients, to 0.0, also from n_min > 0."""
    h = _qmcpy_halton(6, randomize, seed=11)
    x, x2 = jax.jit(lambda: (_from_qmcpy(h, 512), _from_qmcpy(h, 150, n_min=100)))()
    assert x.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(x), _qmcpy_points(h, 0, 512))
    np.testing.assert_array_equal(np.asarray(x2), _qmcpy_points(h, 100, 250))


@pytest.mark.parametrize("randomize", ["LMS DP", "QRNG"])
def test_bit_exact_qmcpy_many_dims_jit(randomize):
    """40 dimensions (bases to 173, several per loop), under jit."""
    h = _qmcpy_halton(40, randomize, seed=3)
    x = jax.jit(lambda: _from_qmcpy(h, 300))()
    np.testing.assert_array_equal(np.asarray(x), _qmcpy_points(h, 0, 300))


def test_bit_exact_qmcpy_top_indices():
    """The last indices below 2^32 (two-step integer division)."""
    h = _qmcpy_halton(5, "LMS DP", seed=1)
    x = jax.jit(lambda: _from_qmcpy(h, 64, n_min=2**32 - 64))()
    np.testing.assert_array_equal(np.asarray(x), _qmcpy_points(h, 2**32 - 64, 2**32))


def test_explicit_core_vmap_over_ingredients():
    """vmap over stacked ingredients (e.g. QMCPy's replications) is a loop."""
    rng = np.random.default_rng(0)
    shifts = np.stack(
        [rng.integers(0, PRIMES[:3, None], (3, 20)) for _ in range(4)]
    ).astype(np.uint32)
    f = jax.jit(jax.vmap(lambda s: halton_points(64, 3, digital_shift=s)))
    loop = np.stack([halton_points(64, 3, digital_shift=s) for s in shifts])
    np.testing.assert_array_equal(np.asarray(f(shifts)), loop)


def test_documented_qmcpy_values():
    expected = {
        "DS": [0.5679384892, 0.0406351304],
        "DP": [0.1159348377, 0.9923250533],
        "LMS DP": [0.8379045724, 0.8998147801],
    }
    for randomize, row in expected.items():
        h = _qmcpy_halton(2, randomize, seed=7)
        x = _from_qmcpy(h, 4)
        assert_close(x[0], np.array(row), atol=1e-10)
        np.testing.assert_array_equal(np.asarray(x), _qmcpy_points(h, 0, 4))


# --- structure --------------------------------------------------------------


def _box_counts(x, bases, m):
    """Points per box prod_j [c_j b_j^-m_j, (c_j + 1) b_j^-m_j)."""
    idx = np.zeros(x.shape[0], dtype=np.int64)
    size = 1
    for j, (b, mj) in enumerate(zip(bases, m, strict=True)):
        # + 1e-9: unrandomized points sit on box corners c / b^m, which float
        # rounding can move just below (1/3 * 9 = 2.9999999999999996)
        c = np.floor(np.asarray(x[:, j], dtype=np.float64) * b**mj + 1e-9)
        c = c.astype(np.int64)
        assert c.min() >= 0 and c.max() < b**mj
        idx = idx * b**mj + c
        size *= b**mj
    return np.bincount(idx, minlength=size)


@pytest.mark.parametrize("randomize", ALL)
def test_stratification(randomize):
    """n = 2^3 3^2 5 7 points: one per box of sides 2^-3, 3^-2, 5^-1, 7^-1,
    n / b^k points per 1-D interval of width b^-k (b^k dividing n), and the
    same for the next n points (any n consecutive indices); the first b^k
    points of coordinate j have one point per interval of width b^-k."""
    n, bases = 2520, [2, 3, 5, 7]
    x = np.asarray(H(jr.key(1), 2 * n, 4, randomize=randomize))
    assert x.min() >= 0 and x.max() < 1
    for part in (x[:n], x[n:]):
        assert (_box_counts(part, bases, [3, 2, 1, 1]) == 1).all()
        assert (_box_counts(part, bases, [2, 1, 1, 0]) == n // 60).all()
        for j, (b, k) in enumerate([(2, 3), (3, 2), (5, 1), (7, 1)]):
            assert (_box_counts(part[:, j : j + 1], [b], [k]) == n // b**k).all()
    # the first b^k points: one per interval [c b^-k, (c + 1) b^-k)
    for j, (b, k) in enumerate([(2, 12), (3, 7), (5, 5), (7, 4)]):
        assert (_box_counts(x[: b**k, j : j + 1], [b], [k]) == 1).all()


@pytest.mark.parametrize("randomize", ["lms_dp", "nus", "qrng"])
def test_stratification_2d_powers(randomize):
    """Bases 2 and 3, n = 2^a 3^c: one point per box [./2^a) x [./3^c)."""
    x = np.asarray(H(jr.key(2), 3888, 2, randomize=randomize))  # 2^4 3^5
    assert (_box_counts(x, [2, 3], [4, 5]) == 1).all()
    for a, c in [(4, 0), (0, 5), (2, 3), (3, 1)]:
        assert (_box_counts(x, [2, 3], [a, c]) == 3888 // (2**a * 3**c)).all()
    assert (_box_counts(x[:432], [2, 3], [4, 3]) == 1).all()  # 432 = 2^4 3^3


# --- keys, replications, transforms ----------------------------------------


def test_transforms():
    """jit equals eager and vmap over keys equals a loop (the default LMS+DP)."""
    keys = jr.split(jr.key(7), 3)
    f = lambda k: halton(k, 32, 2)
    check_transforms(f, (keys[0],), vmap_args=(keys,), rtol=0, atol=0)


@pytest.mark.parametrize("randomize", ["lms_dp", "nus", "qrng"])
def test_replications(randomize):
    """replications=r stacks the point sets of jax.random.split(key, r)."""
    key = jr.key(7)
    r = H(key, 100, 4, randomize=randomize, replications=3)
    assert r.shape == (3, 100, 4)
    loop = jnp.stack([H(k, 100, 4, randomize=randomize) for k in jr.split(key, 3)])
    assert_close(r, loop, rtol=0, atol=0)
    assert not np.array_equal(np.asarray(r[0]), np.asarray(r[1]))


@pytest.mark.parametrize("randomize", ["lms_dp", "nus"])
def test_extensible_in_n_and_d(randomize):
    """The same key gives the same points whatever n, n_min and d."""
    key = jr.key(5)
    x = np.asarray(H(key, 2 * 2520, 4, randomize=randomize))  # as stratification
    np.testing.assert_array_equal(x[:2520], H(key, 2520, 4, randomize=randomize))
    np.testing.assert_array_equal(
        x[2520:], H(key, 2520, 4, n_min=2520, randomize=randomize)
    )
    np.testing.assert_array_equal(x[:, :2], H(key, 2 * 2520, 2, randomize=randomize))


def test_traced_once():
    assert_traced_once(
        lambda k: halton(k, 128, 4), [(jr.key(0),), (jr.key(1),), (jr.key(2),)]
    )


def test_common_t():
    key = jr.key(3)
    x = H(key, 2520, 4)
    # t = 63 in every dimension (QMCPy's) differs from the default digits
    # (b_j^t_j >= 2^63) by less than one float64 ulp of the coordinate
    assert_close(H(key, 2520, 4, t=63), x, rtol=0, atol=1e-16)
    x20 = H(key, 2520, 4, t=20)  # 20 base-b digits: values on a grid b^-20
    assert not np.array_equal(np.asarray(x20), np.asarray(x))
    assert (_box_counts(np.asarray(x20), [2, 3, 5, 7], [3, 2, 1, 1]) == 1).all()


# --- dtypes and the open upper end -------------------------------------------


def test_float32():
    key = jr.key(1)
    x32 = H(key, 2 * 2520, 4, dtype=jnp.float32)
    assert x32.dtype == jnp.float32
    assert float(x32.max()) < 1 and float(x32.min()) >= 0
    x64 = H(key, 2 * 2520, 4)  # as test_stratification[lms_dp]
    assert_close(x32, x64.astype(jnp.float32), rtol=0, atol=2e-7)
    with jax.enable_x64(False):
        y = jax.jit(lambda k: halton(k, 512, 4))(key)
        assert y.dtype == jnp.float32 and float(y.max()) < 1
        assert_close(y, x32[:512], rtol=0, atol=0)
        with pytest.raises(TypeError, match="jax_enable_x64"):
            halton(key, 8, 2, dtype=jnp.float64)


@pytest.mark.parametrize("dtype", [jnp.float64, jnp.float32])
def test_all_top_digits_stay_below_one(dtype):
    """Every digit b - 1 sums to 1 - b^-t, which rounds to 1.0: clamped."""
    t, top = 63, np.broadcast_to(PRIMES[:3, None] - 1, (3, 63))
    x = halton_points(1, 3, t=t, digital_shift=top, dtype=dtype)
    assert x.dtype == dtype
    assert float(x.max()) < 1
    assert float(x.min()) >= 1 - 2 * float(jnp.finfo(dtype).eps)
    top32 = np.broadcast_to(PRIMES[:2, None] - 1, (2, 32))
    assert float(halton_qrng_points(1, 2, shift_digits=top32, dtype=dtype).max()) < 1


# --- statistics ---------------------------------------------------------------


@pytest.mark.parametrize("randomize", UNIFORM)
def test_uniform_and_unbiased(randomize):
    """1024 independent randomizations of n = 100 points in d = 4:

    - point 5 is U[0,1) in each coordinate (KS test, false-alarm rate 1e-4
      per coordinate);
    - the mean of f = prod_j (1 + (x_j - 1/2)), whose integral is 1, is
      unbiased: within 4 standard errors (false-alarm rate ~6e-5).
    """
    x = H(jr.key(11), 100, 4, randomize=randomize, replications=1024)
    for j in range(4):
        assert_uniform_ks(x[:, 5, j], alpha=1e-4)
    est = jnp.prod(1 + (x - 0.5), axis=-1).mean(axis=-1)
    assert_mean_within(est, 1.0, k=4.0, atol=1e-12)


def test_nus_variance_rate():
    """Nested scrambling of the base-2 van der Corput sequence: the variance
    of the mean of exp(x) over n = 2^m points decays like n^-3 (Owen 1997);
    a digital shift alone gives n^-2. Slopes over m = 3..9, 128 randomizations
    (prefixes of one extensible sequence)."""
    ms = np.arange(3, 10)

    def variances(randomize):
        x = H(jr.key(13), 512, 1, randomize=randomize, replications=128)
        y = jnp.exp(x[..., 0])
        return [float(jnp.var(y[:, : 2**m].mean(axis=1))) for m in ms]

    assert fit_slope(2.0**ms, variances("nus")) < -2.5
    assert fit_slope(2.0**ms, variances("ds")) > -2.5


# --- large dimension ---------------------------------------------------------


def test_max_dimension():
    x = np.asarray(H(jr.key(9), 16, MAX_DIMENSION))
    assert x.shape == (16, MAX_DIMENSION)
    assert x.min() >= 0 and x.max() < 1
    # 16 points < every base past 13: 16 distinct first digits per coordinate
    c = np.floor(x[:, 6:] * PRIMES[6:MAX_DIMENSION]).astype(np.int64)
    assert all(len(set(col)) == 16 for col in c.T)


# --- errors -------------------------------------------------------------------


def test_errors():
    key = jr.key(0)
    with pytest.raises(ValueError, match="randomize.*lms_dp.*qrng"):
        halton(key, 8, 2, randomize="owen")
    with pytest.raises(ValueError, match=f"d={MAX_DIMENSION + 1} exceeds"):
        halton(key, 8, MAX_DIMENSION + 1)
    with pytest.raises(ValueError, match="d=361 exceeds the 360"):
        halton(key, 8, 361, randomize="qrng")
    with pytest.raises(ValueError, match="d must be >= 1"):
        halton(key, 8, 0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        halton(key, 0, 2)
    # (under pytest the jaxtyping/beartype check names the parameter first)
    with pytest.raises(TypeError, match="n must be a Python int|parameter 'n'"):
        halton(key, 8.0, 2)
    with pytest.raises(ValueError, match="n_min"):
        halton(key, 8, 2, n_min=-1)
    with pytest.raises(ValueError, match="exceeds 2\\^32"):
        halton(key, 8, 2, n_min=2**32)
    with pytest.raises(TypeError, match="dtype must be a floating type"):
        halton(key, 8, 2, dtype=jnp.int32)
    with pytest.raises(ValueError, match="t=4 digits cannot hold"):
        halton(key, 100, 2, t=4)
    with pytest.raises(ValueError, match="qrng.*32 digits"):
        halton(key, 8, 2, randomize="qrng", t=40)
    with pytest.raises(ValueError, match="replications must be >= 1"):
        halton(key, 8, 2, replications=0)
    z = lambda *shape: np.zeros(shape, dtype=np.int64)
    with pytest.raises(ValueError, match="permutations or digital_shift"):
        halton_points(4, 2, permutations=z(2, 5, 3), digital_shift=z(2, 5))
    with pytest.raises(ValueError, match="lms_matrices must have shape"):
        halton_points(4, 2, lms_matrices=z(3, 5, 5))
    with pytest.raises(ValueError, match="fewer than the largest base 3"):
        halton_points(4, 2, permutations=z(2, 5, 2))
    with pytest.raises(ValueError, match="fewer than t=9"):
        halton_points(4, 2, t=9, digital_shift=z(2, 5))
    with pytest.raises(ValueError, match="digit axes differ"):
        halton_points(4, 2, lms_matrices=z(2, 6, 6), digital_shift=z(2, 5))
    with pytest.raises(ValueError, match="columns, fewer than"):
        halton_points(64, 2, lms_matrices=z(2, 8, 3))
    with pytest.raises(TypeError, match="must be integers|parameter 'digital_shift'"):
        halton_points(4, 2, digital_shift=np.zeros((2, 5)))
    with pytest.raises((ValueError, TypeError), match="shift_digits"):
        halton_qrng_points(4, 2, shift_digits=z(2, 31))


def test_random_permutations_valid_and_uniform():
    """DP permutations: every row is a permutation of 0..b-1, for the largest
    supported base too; for b = 3 the 6 permutations are equally likely.

    Chi-square over 6 cells from 12000 rows (5 degrees of freedom) at
    p > 1e-4: false-alarm rate 1e-4.
    """
    from scipy import stats

    from jaxmethods.qmc._halton import _random_perms

    seeds = jax.random.bits(jr.key(11), (1000, 2), jnp.uint32)
    big = np.asarray(_random_perms(seeds[0], 0, 2, np.array([PRIMES[-1]])))
    np.testing.assert_array_equal(
        np.sort(big[0], axis=-1), np.tile(np.arange(PRIMES[-1]), (2, 1))
    )
    perms = jax.vmap(lambda s: _random_perms(s, 0, 12, np.array([3])))(seeds)
    rows = np.asarray(perms).reshape(-1, 3)
    np.testing.assert_array_equal(
        np.sort(rows, axis=1), np.tile(np.arange(3), (rows.shape[0], 1))
    )
    codes = rows[:, 0] * 9 + rows[:, 1] * 3 + rows[:, 2]
    _, counts = np.unique(codes, return_counts=True)
    assert counts.size == 6
    assert stats.chisquare(counts).pvalue > 1e-4
