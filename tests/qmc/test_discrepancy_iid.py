"""Discrepancies against SciPy, and the IID baseline."""

import jax
import jax.numpy as jnp
import jax.random as jr
import jax.test_util
import numpy as np
import pytest
from scipy.stats import qmc as sqmc

import jaxmethods.qmc as qmc
from tests.helpers import (
    assert_close,
    assert_mean_within,
    assert_uniform_ks,
    unchecked,
)


REFERENCE = {
    "CD": 1.388210720486e-02,
    "WD": 1.140679253472e-02,
    "MD": 1.587761773003e-02,
    "L2-star": 1.046538088407e-01,
}


@pytest.mark.parametrize("kind", list(REFERENCE))
def test_reference_values(kind):
    x = qmc.digital_net_b2(jr.key(0), 8, 2, randomize="none")
    assert_close(qmc.discrepancy(x, kind), REFERENCE[kind], rtol=1e-11)


@pytest.mark.parametrize("kind", list(REFERENCE))
def test_matches_scipy_random(kind):
    x = np.random.default_rng(3).random((150, 4))
    got = qmc.discrepancy(x, kind, batch_size=32)  # 150 is not a multiple of 32
    assert_close(got, sqmc.discrepancy(x, method=kind), rtol=1e-12)


def test_discrepancy_grad_and_jit():
    x = jnp.asarray(np.random.default_rng(1).random((16, 3)))
    f = lambda z: qmc.discrepancy(z, "CD")
    assert_close(jax.jit(f)(x), f(x))
    jax.test_util.check_grads(f, (x,), order=1, modes=("rev",))


def test_qmc_beats_iid_discrepancy(getkey):
    n, d = 256, 4
    k = getkey()
    assert qmc.discrepancy(qmc.digital_net_b2(k, n, d), "L2-star") < qmc.discrepancy(
        qmc.iid_uniform(k, n, d), "L2-star"
    )


def test_discrepancy_errors():
    with pytest.raises(ValueError, match="unknown kind"):
        qmc.discrepancy(np.zeros((4, 2)), "XX")
    with pytest.raises(ValueError, match="shape"):
        unchecked(qmc.discrepancy)(np.zeros(4))
    with pytest.raises(TypeError, match="floats"):
        unchecked(qmc.discrepancy)(np.zeros((4, 2), dtype=np.int32))


def test_iid_uniform(getkey):
    """KS at 1e-4 plus a 4-SE mean check: false-alarm rate below 2e-4."""
    key = getkey()
    x = qmc.iid_uniform(key, 4096, 3)
    assert x.shape == (4096, 3) and x.dtype == jnp.float64
    assert_uniform_ks(x)
    assert_mean_within(x, np.full(3, 0.5))
    r = qmc.iid_uniform(key, 8, 2, replications=3)
    assert_close(r, jnp.stack([qmc.iid_uniform(k, 8, 2) for k in jr.split(key, 3)]))
    assert qmc.iid_uniform(key, 8, 2, dtype=jnp.float32).dtype == jnp.float32
    with pytest.raises(ValueError, match="n must be"):
        qmc.iid_uniform(key, 0, 2)
