"""RMSE convergence rates of randomized QMC estimators (statistical tests).

Every estimator here is unbiased; its RMSE over R independent randomizations
is fitted against n on a log-log scale for n = 2^6 .. 2^14. Radical-inverse
sequences are extensible, so the first 2^m points of one 2^14-point sequence
are the 2^m-point set: one compile per method.

With R = 64 replications the RMSE at each n has a relative standard error of
about 1/sqrt(2R) ~ 9%, so a fitted slope over 9 octaves has a standard error of
about 0.02. Every bound below is at least 0.1 (5 standard errors) away from the
rate the theory gives, so the false-alarm rate is below 1e-6 per check.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import jaxmethods.qmc as qmc
from tests.helpers import fit_slope


M_MIN, M_MAX, R = 6, 14, 64


def smooth(x):
    """A smooth non-periodic product integrand with integral exactly 1."""
    return jnp.prod(1 + (x - 0.5) + 0.5 * (x**2 - 1 / 3), axis=-1)


def linear_product(x):
    """prod_j (1 + (x_j - 1/2)), integral 1 (QMCPy report's NUS oracle)."""
    return jnp.prod(1 + (x - 0.5), axis=-1)


def _rmse_slope(points, f):
    ns = [2**m for m in range(M_MIN, M_MAX + 1)]
    y = jax.jit(lambda k: f(points(k)))(jr.key(2024))  # (R, n)
    rmse = [float(jnp.sqrt(jnp.mean((y[:, :n].mean(axis=1) - 1.0) ** 2))) for n in ns]
    return fit_slope(ns, rmse)


N = 2**M_MAX
METHODS = {
    # name: (points(key) -> (R, N, d), upper bound on the slope, lower bound)
    "iid": (lambda k: qmc.iid_uniform(k, N, 3, replications=R), -0.35, -0.65),
    "lattice": (lambda k: qmc.lattice(k, N, 3, replications=R), -0.8, None),
    "lms_ds": (lambda k: qmc.digital_net_b2(k, N, 3, replications=R), -0.9, None),
    "nus": (
        lambda k: qmc.digital_net_b2(k, N, 3, randomize="nus", replications=R),
        -1.2,
        None,
    ),
    "alpha2_lms_ds": (
        lambda k: qmc.digital_net_b2(k, N, 3, alpha=2, replications=R),
        -1.6,
        None,
    ),
    "alpha2_nus": (
        lambda k: qmc.digital_net_b2(k, N, 3, alpha=2, randomize="nus", replications=R),
        -1.6,
        None,
    ),
}


@pytest.mark.parametrize("name", list(METHODS))
def test_rmse_slope(name):
    points, upper, lower = METHODS[name]
    slope = _rmse_slope(points, smooth)
    assert slope < upper, f"{name}: RMSE slope {slope:.2f} not below {upper}"
    if lower is not None:
        assert slope > lower, f"{name}: RMSE slope {slope:.2f} not above {lower}"


def test_nus_variance_slope_d2():
    """QMCPy report oracle: NUS variance for prod(1 + (x_j - 1/2)) in d=2 decays
    at least like n^-2.5 (theory: n^-3 log n) over m = 6..14."""
    slope = _rmse_slope(
        lambda k: qmc.digital_net_b2(k, N, 2, randomize="nus", replications=R),
        linear_product,
    )
    assert 2 * slope < -2.5, f"variance slope {2 * slope:.2f}"


def test_higher_order_beats_first_order():
    """At n = 2^14 the order-2 net's RMSE is well below plain LMS+DS."""
    f = lambda k, a: smooth(qmc.digital_net_b2(k, N, 3, alpha=a, replications=R))
    e1 = np.sqrt(np.mean((np.asarray(f(jr.key(1), 1)).mean(axis=1) - 1) ** 2))
    e2 = np.sqrt(np.mean((np.asarray(f(jr.key(1), 2)).mean(axis=1) - 1) ** 2))
    assert e2 < e1 / 4
