"""Base-2 digital nets: bit-exact against QMCPy and SciPy, structure, transforms."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy.stats import qmc as sqmc

import jaxmethods.qmc as qmc
from jaxmethods.qmc._data import joe_kuo_matrices
from tests.helpers import (
    assert_close,
    assert_mean_within,
    assert_traced_once,
    assert_uniform_ks,
    check_transforms,
    unchecked,
)


RANDOMIZE = ["none", "ds", "lms", "lms_ds", "nus"]
QP_ORDERS = {"RADICAL INVERSE": "radical_inverse", "GRAY": "gray"}


def _qmcpy():
    return pytest.importorskip("qmcpy")


def test_joe_kuo_matrices_match_qmcpy():
    qp = _qmcpy()
    import os

    path = os.path.join(
        os.path.dirname(qp.__file__),
        "discrete_distribution/digital_net_b2/generating_matrices/joe_kuo.6.21201.npy",
    )
    np.testing.assert_array_equal(joe_kuo_matrices(), np.load(path))


def test_joe_kuo_matrices_match_scipy_direction_numbers():
    """SciPy computes its 32-bit direction numbers from its own copy of the
    Joe-Kuo file, in its own code (a private attribute, checked if present)."""
    sob = sqmc.Sobol(21201, scramble=False, bits=32)
    sv = getattr(sob, "_sv", None)
    if sv is None:
        pytest.skip("scipy.stats.qmc.Sobol no longer exposes _sv")
    np.testing.assert_array_equal(np.asarray(sv, np.uint64), joe_kuo_matrices())


def test_reference_matrices():
    expected = [
        [2**31, 2**30, 2**29, 2**28, 2**27],
        [2147483648, 3221225472, 2684354560, 4026531840, 2281701376],
        [2147483648, 3221225472, 1610612736, 2415919104, 3892314112],
    ]
    np.testing.assert_array_equal(qmc.sobol_generating_matrices(3)[:, :5], expected)


def test_all_dimensions_match_scipy():
    """Gray-order unscrambled points equal SciPy's Sobol in all 21201 dimensions."""
    ref = sqmc.Sobol(21201, scramble=False).random(64)
    x = qmc.digital_net_b2(jr.key(0), 64, 21201, randomize="none", order="gray")
    np.testing.assert_array_equal(np.asarray(x), ref)


def test_gray_matches_scipy_long():
    with pytest.warns(UserWarning, match="balance properties"):
        ref = sqmc.Sobol(8, scramble=False).random(1000)  # not a power of two
    x = qmc.digital_net_b2(jr.key(0), 1000, 8, randomize="none", order="gray")
    np.testing.assert_array_equal(np.asarray(x), ref)


def test_reference_points():
    nat = [[0, 0, 0], [.5, .5, .5], [.25, .75, .75], [.75, .25, .25],
           [.125, .625, .375], [.625, .125, .875], [.375, .375, .625],
           [.875, .875, .125]]  # fmt: skip
    gray = [[0, 0, 0], [.5, .5, .5], [.75, .25, .25], [.25, .75, .75],
            [.375, .375, .625], [.875, .875, .125], [.625, .125, .875],
            [.125, .625, .375]]  # fmt: skip
    k = jr.key(0)
    x = qmc.digital_net_b2(k, 8, 3, randomize="none")
    np.testing.assert_array_equal(np.asarray(x), nat)
    x = qmc.digital_net_b2(k, 8, 3, randomize="none", order="gray")
    np.testing.assert_array_equal(np.asarray(x), gray)
    ho = [[.296875, .171875, .109375], [.546875, .921875, .859375],
          [.234375, .859375, .171875], [.984375, .109375, .921875]]  # fmt: skip
    x = qmc.digital_net_b2(k, 8, 3, randomize="none", alpha=2)
    np.testing.assert_array_equal(np.asarray(x[4:]), ho)


def test_reference_seed7_ingredients():
    """The documented QMCPy seed-7 values, from QMCPy's own random ingredients."""
    qp = _qmcpy()
    dn = qp.DigitalNetB2(3, randomize="DS", seed=7)
    assert dn.rshift[0].tolist() == [
        404542462756400999,
        5416649575040343389,
        3405106628923846730,
    ]
    x = qmc.digital_net_points(dn.gen_mats[0], 8, t=63, digital_shift=dn.rshift[0])
    assert_close(x[2], np.array([0.2938605817, 0.3372743237, 0.6191824005]), atol=1e-10)
    dn = qp.DigitalNetB2(3, randomize="LMS DS", seed=7)
    x = qmc.digital_net_points(dn.gen_mats[0], 8, t_in=63, digital_shift=dn.rshift[0])
    assert_close(x[0], np.array([0.6326752285, 0.7996002973, 0.6770418478]), atol=1e-10)
    dn = qp.DigitalNetB2(3, randomize="LMS", seed=7)
    x = qmc.digital_net_points(dn.gen_mats[0], 8, t_in=63)
    assert_close(x[1], np.array([0.5679384892, 0.5303811466, 0.822714616]), atol=1e-9)


@pytest.mark.parametrize("qp_order", list(QP_ORDERS))
@pytest.mark.parametrize("rz", ["FALSE", "DS", "LMS", "LMS DS"])
def test_bit_exact_qmcpy(qp_order, rz):
    qp = _qmcpy()
    order = QP_ORDERS[qp_order]
    dn = qp.DigitalNetB2(6, randomize=rz, seed=11, order=qp_order)
    t_in = 32 if rz in ("FALSE", "DS") else 63
    t = 32 if rz == "FALSE" else 63
    shift = dn.rshift[0] if "DS" in rz else None
    kw = dict(t_in=t_in, t=t, order=order, digital_shift=shift)
    ref = dn(256, warn=False)
    x = qmc.digital_net_points(dn.gen_mats[0], 256, **kw)
    np.testing.assert_array_equal(np.asarray(x), ref)
    xb = qmc.digital_net_points(dn.gen_mats[0], 256, return_binary=True, **kw)
    np.testing.assert_array_equal(
        np.asarray(xb), dn(256, warn=False, return_binary=True)
    )
    n_max = 128 if order == "radical_inverse" else 100
    ref = dn.gen_samples(n_min=64, n_max=n_max, warn=False)
    x = qmc.digital_net_points(dn.gen_mats[0], n_max - 64, n_min=64, **kw)
    np.testing.assert_array_equal(np.asarray(x), ref)


@pytest.mark.parametrize("alpha", [2, 3])
@pytest.mark.parametrize("rz", ["FALSE", "DS", "LMS DS"])
def test_bit_exact_qmcpy_higher_order(alpha, rz):
    qp = _qmcpy()
    dn = qp.DigitalNetB2(3, randomize=rz, seed=5, alpha=alpha)
    ref = dn(128, warn=False)
    if rz == "FALSE":
        # the whole construction, interlacing included, from the shipped matrices
        x = qmc.digital_net_b2(jr.key(0), 128, 3, randomize="none", alpha=alpha)
    else:
        t_in = 63 if "LMS" in rz else min(32 * alpha, 63)
        x = qmc.digital_net_points(
            dn.gen_mats[0], 128, t_in=t_in, t=63, digital_shift=dn.rshift[0]
        )
    np.testing.assert_array_equal(np.asarray(x), ref)


def test_linear_matrix_scramble_matches_qmctoolscl():
    _qmcpy()
    import qmctoolscl

    rng = np.random.Generator(np.random.SFC64(3))
    C = joe_kuo_matrices()[:4].copy()
    S = qmctoolscl.dnb2_get_linear_scramble_matrix(
        rng, np.uint64(1), np.uint64(4), np.uint64(32), np.uint64(63), np.uint64(0)
    )
    out = np.empty((1, 4, 32), dtype=np.uint64)
    qmctoolscl.dnb2_linear_matrix_scramble(
        np.uint64(1), np.uint64(4), np.uint64(32), np.uint64(1), np.uint64(63),
        S, C[None].copy(), out, backend="c",
    )  # fmt: skip
    got = qmc.linear_matrix_scramble(C, S[0], t_in=32)
    np.testing.assert_array_equal(np.asarray(got), out[0])


def test_interlace_matches_qmcpy_matrices():
    qp = _qmcpy()
    dn = qp.DigitalNetB2(3, randomize="FALSE", alpha=2)
    C = joe_kuo_matrices()[:6]
    got = qmc.interlace(C.T, alpha=2, t_in=32, t=63).T
    np.testing.assert_array_equal(np.asarray(got), dn.gen_mats[0])


def test_random_scramble_matrices_structure(getkey):
    t_in, t = 8, 12
    S = np.asarray(qmc.random_scramble_matrices(getkey(), 50, t_in=t_in, t=t))
    shifts = np.arange(t_in - 1, -1, -1, dtype=np.uint64)
    bits = (S[..., None] >> shifts) & np.uint64(1)  # (d, t, t_in)
    eye = np.eye(t, t_in, dtype=bool)
    assert np.all(bits[:, eye] == 1)  # unit diagonal
    upper = np.triu(np.ones((t, t_in), dtype=bool), k=1)
    assert np.all(bits[:, upper] == 0)  # zeros right of the diagonal
    lower = np.tril(np.ones((t, t_in), dtype=bool), k=-1)
    assert 0.4 < bits[:, lower].mean() < 0.6  # fair random bits below it
    assert np.all(S < 2**t_in)


def _points_by_randomize(key, n, d, rz, **kw):
    return np.asarray(qmc.digital_net_b2(key, n, d, randomize=rz, **kw))


@pytest.mark.parametrize("rz", RANDOMIZE)
def test_net_property_every_randomization(getkey, rz):
    """First two Sobol' coordinates form a (0, m, 2)-net: every elementary box
    of volume 1/n holds exactly one point; each coordinate is stratified."""
    m = 8
    n = 2**m
    x = _points_by_randomize(getkey(), n, 2, rz)
    for k in range(m + 1):
        a = np.floor(x[:, 0] * 2**k).astype(np.int64)
        b = np.floor(x[:, 1] * 2 ** (m - k)).astype(np.int64)
        assert len(set(zip(a.tolist(), b.tolist(), strict=True))) == n, (rz, k)
    x5 = _points_by_randomize(getkey(), n, 5, rz)
    strata = np.sort(np.floor(x5 * n).astype(np.int64), axis=0)
    np.testing.assert_array_equal(strata, np.tile(np.arange(n)[:, None], (1, 5)))


def test_nus_is_nested(getkey):
    """NUS: points that share the first k bits keep sharing them (a bijection
    on every dyadic level), and different keys give different scrambles."""
    xb = qmc.digital_net_points(
        qmc.sobol_generating_matrices(3), 64, return_binary=True
    )
    k1, k2 = getkey(), getkey()
    y1 = np.asarray(qmc.nested_uniform_scramble(k1, xb, t_in=32, t=40))
    xb = np.asarray(xb).astype(np.uint64) << np.uint64(8)
    for k in range(1, 12):
        sh = np.uint64(40 - k)
        pa, pb = xb >> sh, y1 >> sh
        for j in range(3):
            pairs = set(zip(pa[:, j].tolist(), pb[:, j].tolist(), strict=True))
            assert len(pairs) == len(set(pa[:, j].tolist()))
    y2 = np.asarray(qmc.nested_uniform_scramble(k2, xb >> np.uint64(8), t_in=32, t=40))
    assert not np.array_equal(y1, y2)


@pytest.mark.parametrize("rz", ["ds", "lms_ds", "nus"])
def test_uniform_marginals_and_unbiased(getkey, rz):
    """One point per key is U[0,1)^d, and the estimator is unbiased.

    KS at alpha=1e-4 and a 4-standard-error mean check (two-sided 6e-5): a
    false-alarm rate below 2e-4 per randomization.
    """
    keys = jr.split(getkey(), 512)
    x = jax.vmap(lambda k: qmc.digital_net_b2(k, 16, 3, randomize=rz))(keys)
    assert_uniform_ks(x[:, 3, :])
    est = jnp.mean(jnp.prod(1 + (x - 0.5), axis=-1), axis=-1)
    assert_mean_within(est, 1.0)


def test_replications_equal_loop(getkey):
    key = getkey()
    x = qmc.digital_net_b2(key, 32, 3, replications=4)
    loop = jnp.stack([qmc.digital_net_b2(k, 32, 3) for k in jr.split(key, 4)])
    assert_close(x, loop, rtol=0, atol=0)


@pytest.mark.parametrize("rz", ["lms_ds", "nus"])
def test_transforms(getkey, rz):
    f = lambda k: qmc.digital_net_b2(k, 64, 3, randomize=rz, order="gray")
    keys = jr.split(getkey(), 3)
    check_transforms(f, (keys[0],), vmap_args=(keys,), rtol=0, atol=0)
    assert_traced_once(f, [(k,) for k in keys])


def test_vmap_over_generating_matrices():
    C = jnp.stack(
        [qmc.sobol_generating_matrices(2), qmc.sobol_generating_matrices(2, offset=2)]
    )
    x = jax.vmap(lambda c: qmc.digital_net_points(c, 16))(C)
    assert_close(x[1], qmc.digital_net_points(qmc.sobol_generating_matrices(4)[2:], 16))


def test_float32_never_one():
    """The largest 63-bit integer rounds to 1.0 in float32 and float64: clamped."""
    C = np.full((1, 1), 2**63 - 1, dtype=np.uint64)
    for dt in (jnp.float32, jnp.float64):
        x = qmc.digital_net_points(C, 2, t_in=63, dtype=dt)
        assert x.dtype == dt and float(x.max()) < 1.0
    x = qmc.digital_net_b2(jr.key(1), 4096, 8, dtype=jnp.float32)
    assert x.dtype == jnp.float32 and bool(jnp.all((x >= 0) & (x < 1)))


def test_errors(getkey):
    key = getkey()
    with pytest.raises(ValueError, match="powers of two"):
        qmc.digital_net_b2(key, 12, 2)
    with pytest.raises(ValueError, match="powers of two"):
        qmc.digital_net_points(qmc.sobol_generating_matrices(2), 8, n_min=3)
    with pytest.raises(ValueError, match="21201"):
        qmc.digital_net_b2(key, 8, 21202)
    with pytest.raises(ValueError, match="21201"):
        qmc.digital_net_b2(key, 8, 10601, alpha=2)
    with pytest.raises(ValueError, match="t=65 is too large"):
        qmc.digital_net_b2(key, 8, 2, t=65)
    with pytest.raises(ValueError, match="must be >= t_in"):
        qmc.digital_net_b2(key, 8, 2, t=16)
    with pytest.raises(ValueError, match="unknown randomize"):
        qmc.digital_net_b2(key, 8, 2, randomize="owen")
    with pytest.raises(ValueError, match="exceeds"):
        qmc.digital_net_b2(key, 2**33, 2)
    with pytest.raises(TypeError, match="dtype"):
        qmc.digital_net_b2(key, 8, 2, dtype=jnp.int32)
    with pytest.raises(TypeError, match="integers"):
        unchecked(qmc.digital_net_points)(np.ones((2, 4)), 8)
    with pytest.raises(ValueError, match="multiple of alpha"):
        qmc.interlace(np.ones((2, 3), dtype=np.uint64), alpha=2, t_in=8)
    with pytest.raises(ValueError, match="digital_shift must have shape"):
        unchecked(qmc.digital_net_points)(
            qmc.sobol_generating_matrices(2), 8, digital_shift=np.zeros(3, np.uint64)
        )
    assert qmc.digital_net_b2(key, 12, 2, order="gray").shape == (12, 2)


@pytest.mark.parametrize("rz", RANDOMIZE)
@pytest.mark.parametrize("order", ["radical_inverse", "gray"])
@pytest.mark.parametrize("alpha", [1, 2])
def test_sequence_is_extensible(getkey, rz, order, alpha):
    """Same key: points n_min .. n_min + n are the tail of the longer set, so a
    sequence can be extended (the adaptive-cubature use) under every
    randomization."""
    key = getkey()
    kw = dict(randomize=rz, order=order, alpha=alpha)
    full = qmc.digital_net_b2(key, 64, 3, **kw)
    tail = qmc.digital_net_b2(key, 32, 3, n_min=32, **kw)
    np.testing.assert_array_equal(np.asarray(full[32:]), np.asarray(tail))
