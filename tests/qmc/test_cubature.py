"""Adaptive QMC cubature: QMCPy's algorithm, reliability over seeds, errors."""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
import qmcpy as qp
from qmcpy.fast_transform import fftbr as qp_fftbr, fwht as qp_fwht
from qmcpy.stopping_criterion.abstract_cub_qmc_ld_g import AbstractCubQMCLDG
from scipy import stats

import jaxmethods.qmc as qmc
from jaxmethods.qmc import integrands as I
from jaxmethods.qmc._cubature import _periodize, student_t_quantile
from tests.helpers import unchecked


KEISTER = I.Keister(3)
TOL = 1e-3
QMCPY_KEISTER_N = {}  # filled lazily: qmcpy's n on the same problem


def _qmcpy_n(kind):
    if kind not in QMCPY_KEISTER_N:
        if kind == "net":
            sc = qp.CubQMCNetG(qp.Keister(qp.DigitalNetB2(3, seed=7)), abs_tol=TOL)
        elif kind == "lattice":
            sc = qp.CubQMCLatticeG(qp.Keister(qp.Lattice(3, seed=7)), abs_tol=TOL)
        else:
            dd = qp.DigitalNetB2(3, seed=7, replications=16)
            sc = qp.CubQMCRepStudentT(qp.Keister(dd), abs_tol=TOL)
        QMCPY_KEISTER_N[kind] = int(sc.integrate()[1].n_total)
    return QMCPY_KEISTER_N[kind]


RULES = {
    "net": qmc.cub_qmc_net_g,
    "lattice": qmc.cub_qmc_lattice_g,
    "rep": qmc.cub_qmc_rep_student_t,
}


@pytest.mark.parametrize("kind", ["net", "lattice", "rep"])
def test_keister_reliability_and_n_vs_qmcpy(kind):
    # 100 fixed seeds (the test is deterministic). For the _g rules the bound is
    # a guarantee for cone integrands; for rep_student_t each run's interval
    # misses with probability about alpha = 1% at the stopping n, and the run
    # stops only once the half-width is below tol, so |err| > tol is rarer still:
    # >= 99 of 100 is the spec in research/qmc.md §1.3.
    rule = RULES[kind]
    errs, ns = [], []
    for seed in range(100):
        res = rule(KEISTER, 3, key=jr.key(seed), abs_tol=TOL)
        assert res.code == 0
        errs.append(abs(float(res.estimate) - KEISTER.exact))
        ns.append(res.n)
    passed = sum(e <= TOL for e in errs)
    assert passed >= 99, (kind, passed, max(errs))
    n_ref = _qmcpy_n(kind)
    ratio = np.median(ns) / n_ref
    assert 0.5 <= ratio <= 2, (kind, np.median(ns), n_ref)
    res7 = rule(KEISTER, 3, key=jr.key(7), abs_tol=TOL)
    assert n_ref / 2 <= res7.n <= 2 * n_ref


def _qmcpy_replica(y_full, m_init, kind):
    """QMCPy's AbstractCubQMCLDG.integrate loop on given values, in NumPy."""
    ft = qp_fwht if kind == "net" else qp_fftbr
    upd = AbstractCubQMCLDG._update_kappanumap
    r_lag = 4
    bounds, mus = [], []
    m = m_init
    n = 2**m
    yt = ft(y_full[:n]) / np.sqrt(n)
    kappa = upd(None, np.arange(n), yt, m - 1, 0, m)
    while True:
        mll = m - r_lag - 1
        nll = 2**mll
        mus.append(y_full[: 2**m].mean())
        bounds.append(5 * 2.0**-m * np.abs(yt[kappa[nll : 2 * nll]]).sum())
        if 2 ** (m + 1) > len(y_full):
            return np.array(mus), np.array(bounds)
        m += 1
        half = 2 ** (m - 1)
        omega = (
            np.ones(half)
            if kind == "net"
            else np.exp(-np.pi * 1j * np.arange(half) / half)
        )
        ynew = omega * ft(y_full[half : 2 * half]) / np.sqrt(half)
        yt = np.concatenate([(yt + ynew) / 2, (yt - ynew) / 2])
        kappa = np.concatenate([kappa, half + kappa])
        kappa = upd(None, kappa, yt, m - 1, m - r_lag - 1, m)


@pytest.mark.parametrize("kind", ["net", "lattice"])
def test_bounds_match_qmcpy_algorithm(kind):
    # Same points and values; QMCPy's kappa update, transforms and omega merge.
    key = jr.key(3)
    rule = RULES[kind]
    res = rule(KEISTER, 3, key=key, abs_tol=0.0, n_init=2**8, n_limit=2**13)
    assert res.code == 1 and res.n == 2**13
    if kind == "net":
        x = qmc.digital_net_b2(key, 2**13, 3)
    else:
        x = qmc.lattice(key, 2**13, 3)
        x = 1 - 2 * jnp.abs(x - 0.5)  # Baker
    y = np.asarray(KEISTER(x))
    mus, bounds = _qmcpy_replica(y, 8, kind)
    np.testing.assert_allclose(res.history_bound, bounds, rtol=1e-9)
    np.testing.assert_allclose(res.history_estimate, mus, rtol=1e-12)
    np.testing.assert_array_equal(res.history_n, 2 ** np.arange(8, 14))


GENZ = [
    I.GenzOscillatory(np.array([1.0, 2.0]), np.array([0.2, 0.0])),
    I.GenzOscillatory(np.array([0.9, 0.3, 1.2, 0.6, 1.5])),
    I.GenzCornerPeak(np.array([0.5, 1.0])),
    I.GenzCornerPeak(np.array([0.2, 0.1, 0.3, 0.15, 0.05])),
]


def _qmcpy_custom(kind, f, seed, tol):
    """QMCPy's rule on our integrand (through ``CustomFun``): its n."""
    g = lambda x: np.asarray(f(jnp.asarray(x)))  # noqa: E731
    if kind == "net":
        dd, cls = qp.DigitalNetB2(f.d, seed=seed), qp.CubQMCNetG
    elif kind == "lattice":
        dd, cls = qp.Lattice(f.d, seed=seed), qp.CubQMCLatticeG
    else:
        dd = qp.DigitalNetB2(f.d, seed=seed, replications=16)
        cls = qp.CubQMCRepStudentT
    sc = cls(qp.CustomFun(qp.Uniform(dd), g=g), abs_tol=tol)
    return int(sc.integrate()[1].n_total)


@pytest.mark.parametrize("f", GENZ, ids=lambda f: f"{type(f).__name__}{f.d}")
@pytest.mark.parametrize("kind", ["net", "lattice", "rep"])
def test_genz_reliability_and_n_vs_qmcpy(f, kind):
    # 100 fixed seeds, >= 99 within tolerance (the spec, as for Keister above),
    # and the median n within a factor 2 of QMCPy's on the same integrand.
    tol = 1e-3
    errs, ns = [], []
    for seed in range(100):
        res = RULES[kind](f, f.d, key=jr.key(seed), abs_tol=tol)
        assert res.code == 0
        errs.append(abs(float(res.estimate) - f.exact))
        ns.append(res.n)
    assert sum(e <= tol for e in errs) >= 99, (kind, max(errs))
    n_ref = np.median([_qmcpy_custom(kind, f, s, tol) for s in range(3)])
    assert 0.5 <= np.median(ns) / n_ref <= 2, (kind, np.median(ns), n_ref)


@pytest.mark.parametrize("kind", ["c0", "c1", "c1sin", "c2sin", "c3sin"])
def test_periodization_is_a_change_of_variables(kind):
    # psi maps [0, 1] onto itself and the weight is its derivative, so that
    # int f(psi(x)) psi'(x) dx = int f.
    x = jnp.linspace(1e-3, 1 - 1e-3, 257, dtype=jnp.float64)[:, None]
    psi, w = _periodize(x, kind)
    h = 1e-6
    dpsi = (_periodize(x + h, kind)[0] - _periodize(x - h, kind)[0]) / (2 * h)
    np.testing.assert_allclose(w, dpsi[:, 0], rtol=1e-6, atol=1e-8)
    ends = _periodize(jnp.array([[0.0], [1.0]]), kind)[0][:, 0]
    np.testing.assert_allclose(ends, [0.0, 1.0], atol=1e-15)
    assert np.all(np.diff(psi[:, 0]) > 0)


@pytest.mark.parametrize("periodization", ["c1sin", "NONE"])
def test_periodizations(periodization):
    f = GENZ[0]
    res = qmc.cub_qmc_lattice_g(
        f, 2, key=jr.key(0), abs_tol=1e-4, periodization=periodization
    )
    assert res.code == 0
    assert abs(float(res.estimate) - f.exact) <= 1e-4


def test_relative_tolerance_and_error_modes():
    f = I.EuropeanCall(2)
    for error in ("either", "both"):
        res = qmc.cub_qmc_net_g(
            f, 2, key=jr.key(1), abs_tol=1e-2 if error == "both" else 0.0,
            rel_tol=1e-3, error=error,
        )  # fmt: skip
        assert res.code == 0
        assert abs(float(res.estimate) - f.exact) <= 1e-3 * f.exact
        assert float(res.error_bound) <= 1e-3 * f.exact * 1.01


def test_n_limit_code_and_history(capsys):
    res = qmc.cub_qmc_net_g(
        KEISTER, 3, key=jr.key(0), abs_tol=1e-9, n_limit=2**12, progress=True
    )
    assert res.code == 1 and res.n == 2**12
    np.testing.assert_array_equal(res.history_n, [1024, 2048, 4096])
    assert np.all(np.diff(res.history_bound) < 0)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("cub_qmc_net_g: m=10")


def test_not_finite_stops():
    res = qmc.cub_qmc_net_g(lambda x: jnp.log(x[:, 0] - 2), 1, key=jr.key(0))
    assert res.code == 2 and res.n == 1024


@pytest.mark.parametrize("kind", ["net", "lattice", "rep"])
def test_eager_matches_jit(kind):
    f = KEISTER

    def numpy_friendly(x):
        return f(np.asarray(x))

    kw = dict(key=jr.key(4), abs_tol=1e-2)
    a = RULES[kind](f, 3, **kw)
    b = RULES[kind](numpy_friendly, 3, jit=False, **kw)
    assert a.n == b.n
    np.testing.assert_allclose(b.history_bound, a.history_bound, rtol=1e-8)
    np.testing.assert_allclose(float(b.estimate), float(a.estimate), rtol=1e-12)


@pytest.mark.parametrize("kind", ["net", "lattice", "rep"])
def test_float32(kind):
    res = RULES[kind](KEISTER, 3, key=jr.key(2), abs_tol=1e-2, dtype=jnp.float32)
    assert res.code == 0
    assert res.estimate.dtype == jnp.float32
    assert abs(float(res.estimate) - KEISTER.exact) <= 1e-2
    # at 2^18 points float32 round-off in the transforms leaves the decision
    # unchanged: the same n as float64, bounds within 2%, and the tolerance met
    a = RULES[kind](KEISTER, 3, key=jr.key(1), abs_tol=1e-4, dtype=jnp.float32)
    b = RULES[kind](KEISTER, 3, key=jr.key(1), abs_tol=1e-4)
    assert a.code == 0 and a.n == b.n >= 2**18
    np.testing.assert_allclose(a.error_bound, b.error_bound, rtol=2e-2)
    assert abs(float(a.estimate) - KEISTER.exact) <= 1e-4


def test_student_t_quantile():
    for q, df in [(0.995, 15), (0.975, 1), (0.9, 3), (0.5, 7)]:
        assert student_t_quantile(q, df) == pytest.approx(
            stats.t.ppf(q, df), rel=1e-9, abs=1e-9
        )


def test_bad_inputs():
    net = unchecked(qmc.cub_qmc_net_g)
    lat = unchecked(qmc.cub_qmc_lattice_g)
    rep = unchecked(qmc.cub_qmc_rep_student_t)
    k = jr.key(0)
    with pytest.raises(ValueError, match="n_init must be a power of two"):
        net(KEISTER, 3, key=k, n_init=1000)
    with pytest.raises(ValueError, match="n_init must be a power of two >= 256"):
        net(KEISTER, 3, key=k, n_init=128)
    with pytest.raises(ValueError, match="n_init must be a power of two"):
        rep(KEISTER, 3, key=k, n_init=100)
    with pytest.raises(ValueError, match="n_limit"):
        net(KEISTER, 3, key=k, n_limit=3000)
    with pytest.raises(ValueError, match="abs_tol"):
        net(KEISTER, 3, key=k, abs_tol=-1e-3)
    with pytest.raises(ValueError, match="rel_tol"):
        lat(KEISTER, 3, key=k, rel_tol=math.nan)
    with pytest.raises(ValueError, match="rel_tol"):
        rep(KEISTER, 3, key=k, rel_tol=-0.1)
    with pytest.raises(ValueError, match="periodization"):
        lat(KEISTER, 3, key=k, periodization="tent")
    with pytest.raises(ValueError, match="error"):
        net(KEISTER, 3, key=k, error="neither")
    with pytest.raises(ValueError, match="replications"):
        rep(KEISTER, 3, key=k, replications=1)
    with pytest.raises(ValueError, match="alpha"):
        rep(KEISTER, 3, key=k, alpha=1.5)
    with pytest.raises(ValueError, match="inflate"):
        rep(KEISTER, 3, key=k, inflate=0.5)
    with pytest.raises(ValueError, match="sampler"):
        rep(KEISTER, 3, key=k, sampler="halton")
    with pytest.raises(TypeError, match="callable"):
        net(3.0, 3, key=k)
    with pytest.raises(ValueError, match="shape"):
        net(lambda x: x, 3, key=k)
    with pytest.raises(TypeError, match="dtype"):
        net(KEISTER, 3, key=k, dtype=jnp.int32)


def test_result_is_pytree():
    res = qmc.cub_qmc_net_g(KEISTER, 3, key=jr.key(0), abs_tol=1e-2)
    leaves = jax.tree.leaves(res)
    assert any(isinstance(x, jax.Array) for x in leaves)
