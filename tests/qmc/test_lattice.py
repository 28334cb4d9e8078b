"""Rank-1 lattices: bit-exact against QMCPy, structure, statistics, transforms."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxmethods.qmc as qmc
from jaxmethods.qmc._data import kuo_lattice_vector
from tests.helpers import (
    assert_close,
    assert_mean_within,
    assert_traced_once,
    assert_uniform_ks,
    check_transforms,
    unchecked,
)


ORDERS = {"RADICAL INVERSE": "radical_inverse", "GRAY": "gray", "LINEAR": "linear"}


def test_default_vector_first_entries():
    expected = [
        1,
        182667,
        213731,
        255351,
        96013,
        116671,
        479315,
        424089,
        271103,
        464421,
    ]
    assert kuo_lattice_vector()[:10].tolist() == expected
    assert kuo_lattice_vector().shape == (9125,)


@pytest.mark.parametrize(
    "order,expected",
    [
        ("radical_inverse", [0, 0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875]),
        ("gray", [0, 0.5, 0.75, 0.25, 0.375, 0.875, 0.625, 0.125]),
        ("linear", [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875]),
    ],
)
def test_reference_orders(order, expected):
    x = qmc.lattice(jr.key(0), 8, 2, order=order, randomize="none")
    assert_close(x[:, 0], np.array(expected), rtol=0, atol=0)


def test_reference_values():
    x = qmc.lattice_points(np.array([1, 433461]), 8, m_max=20)
    assert_close(x[4], np.array([0.125, 0.625]), rtol=0, atol=0)
    shift = np.array([0.0438605817, 0.5872743237, 0.3691824005])
    x = qmc.lattice_points(kuo_lattice_vector()[:3], 8, m_max=20, shift=shift)
    assert_close(x[4], np.array([0.1688605817, 0.9622743237, 0.7441824005]), atol=1e-10)


@pytest.mark.parametrize("qp_order", list(ORDERS))
def test_bit_exact_qmcpy(qp_order):
    qp = pytest.importorskip("qmcpy")
    order = ORDERS[qp_order]
    lat = qp.Lattice(6, seed=11, order=qp_order)
    ref = lat(256)
    x = qmc.lattice_points(
        lat.gen_vec[0], 256, m_max=20, order=order, shift=lat.shift[0]
    )
    assert x.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(x), ref)
    if order != "linear":
        ref2 = lat.gen_samples(n_min=64, n_max=128)
        x2 = qmc.lattice_points(
            lat.gen_vec[0], 64, m_max=20, order=order, n_min=64, shift=lat.shift[0]
        )
        np.testing.assert_array_equal(np.asarray(x2), ref2)


def test_bit_exact_qmcpy_seed7():
    qp = pytest.importorskip("qmcpy")
    lat = qp.Lattice(3, seed=7)
    np.testing.assert_allclose(
        lat.shift[0], [0.0438605817, 0.5872743237, 0.3691824005], atol=1e-10
    )
    x = qmc.lattice_points(lat.gen_vec[0], 8, m_max=20, shift=lat.shift[0])
    np.testing.assert_array_equal(np.asarray(x), lat(8))


def test_difference_property(getkey):
    """x_i - x_0 mod 1 = frac(phi_2(i) g) whatever the shift."""
    n, d = 64, 5
    g = kuo_lattice_vector()[:d]
    plain = np.asarray(qmc.lattice_points(g, n, m_max=20))
    for _ in range(3):
        x = np.asarray(qmc.lattice(getkey(), n, d))
        diff = np.mod(x - x[0], 1.0)
        err = np.minimum(np.abs(diff - plain), 1 - np.abs(diff - plain))
        assert err.max() < 1e-12
    # and the unshifted lattice is a group: x_i + x_j mod 1 is a point
    s = np.mod(plain[3] + plain[5], 1.0)
    assert np.min(np.abs(plain - s).max(axis=1)) == 0.0


def test_points_in_unit_cube_and_float32(getkey):
    x = qmc.lattice(getkey(), 1024, 4, dtype=jnp.float32)
    assert x.dtype == jnp.float32
    assert bool(jnp.all((x >= 0) & (x < 1)))


def test_uniform_marginals_and_unbiased(getkey):
    """One point per key is U[0,1)^d; the estimator of a known integral is unbiased.

    KS at alpha=1e-4 and a 4-standard-error mean check (two-sided rate 6e-5):
    together a false-alarm rate below 2e-4.
    """
    keys = jr.split(getkey(), 512)
    x = jax.vmap(lambda k: qmc.lattice(k, 16, 3))(keys)
    assert_uniform_ks(x[:, 5, :])
    est = jnp.mean(jnp.prod(1 + (x - 0.5), axis=-1), axis=-1)
    assert_mean_within(est, 1.0)


def test_sequence_is_extensible(getkey):
    key = getkey()
    for order in ("radical_inverse", "gray"):
        full = qmc.lattice(key, 64, 3, order=order)
        tail = qmc.lattice(key, 32, 3, order=order, n_min=32)
        np.testing.assert_array_equal(np.asarray(full[32:]), np.asarray(tail))


def test_replications_equal_loop(getkey):
    key = getkey()
    x = qmc.lattice(key, 32, 3, replications=4)
    loop = jnp.stack([qmc.lattice(k, 32, 3) for k in jr.split(key, 4)])
    assert_close(x, loop, rtol=0, atol=0)


def test_transforms(getkey):
    f = lambda k: qmc.lattice(k, 64, 3, order="gray")
    keys = jr.split(getkey(), 3)
    check_transforms(f, (keys[0],), vmap_args=(keys,), rtol=0, atol=0)
    assert_traced_once(f, [(k,) for k in keys])


def test_custom_vector_traced():
    """A generating vector may be a traced array (vmap over candidate vectors)."""
    gs = jnp.array([[1, 433461], [1, 182667]], dtype=jnp.uint64)
    x = jax.vmap(lambda g: qmc.lattice_points(g, 8, m_max=20))(gs)
    assert_close(x[0], qmc.lattice_points(np.array([1, 433461]), 8, m_max=20))


def test_errors(getkey):
    key = getkey()
    with pytest.raises(ValueError, match="powers of two"):
        qmc.lattice(key, 12, 2)
    with pytest.raises(ValueError, match="not extensible"):
        qmc.lattice(key, 12, 2, order="linear")
    with pytest.raises(ValueError, match="9125"):
        qmc.lattice(key, 8, 9126)
    with pytest.raises(ValueError, match="unknown randomize"):
        qmc.lattice(key, 8, 2, randomize="owen")
    with pytest.raises(ValueError, match="unknown order"):
        qmc.lattice(key, 8, 2, order="natural")
    with pytest.raises(ValueError, match="exceeds"):
        qmc.lattice(key, 2**21, 2)
    with pytest.raises(ValueError, match="m_max"):
        qmc.lattice(key, 8, 2, generating_vector=np.array([1, 3]))
    with pytest.raises(TypeError, match="dtype"):
        qmc.lattice(key, 8, 2, dtype=jnp.int32)
    with pytest.raises(TypeError, match="integers"):
        unchecked(qmc.lattice_points)(np.array([1.0, 3.0]), 8, m_max=4)
    gray = qmc.lattice(key, 12, 2, order="gray")  # any n in Gray order
    assert gray.shape == (12, 2)
