"""Brent's bounded minimisation in one ``lax.while_loop`` against SciPy's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import fminbound

from jaxmethods._internal.brent import bounded_brent


FUNCTIONS = {
    "quadratic": lambda x: (x - 0.3) ** 2,
    "wavy": lambda x: jnp.sin(3 * x) + 0.1 * x**2,
    "cusp": lambda x: jnp.abs(x + 1.7) ** 0.5,
    "linear": lambda x: -x,  # minimum at the upper bound
    "exp": jnp.exp,  # minimum at the lower bound
    "quartic": lambda x: x**4 - x,
}
BOUNDS = [(-5.0, 0.0, 1e-2), (-3.0, 4.0, 1e-5), (0.0, 1.0, 1e-8)]


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("lo,hi,xtol", BOUNDS)
def test_matches_fminbound(name, lo, hi, xtol):
    f = FUNCTIONS[name]
    ref_x, ref_f, _, ref_n = fminbound(
        lambda t: float(f(jnp.asarray(t))), lo, hi, xtol=xtol, full_output=True
    )
    x, fx, n = jax.jit(lambda: bounded_brent(f, lo, hi, xtol=xtol))()
    # the same points visited (up to FMA round-off), so the same answer and count
    assert int(n) == ref_n
    np.testing.assert_allclose(float(x), ref_x, rtol=0, atol=1e-10)
    np.testing.assert_allclose(float(fx), ref_f, rtol=1e-10, atol=1e-14)


def test_vmap_and_maxiter():
    def run(c):
        return bounded_brent(lambda x: (x - c) ** 2, -1.0, 1.0, xtol=1e-10)

    cs = jnp.linspace(-0.9, 0.9, 7)
    x, _, _ = jax.vmap(run)(cs)
    np.testing.assert_allclose(x, cs, atol=1e-9)
    _, _, n = bounded_brent(lambda x: (x - 0.2) ** 2, -1.0, 1.0, maxiter=3)
    assert int(n) == 3


def test_float32():
    x, fx, _ = bounded_brent(
        lambda x: (x - 0.25) ** 2, 0.0, 1.0, xtol=1e-4, dtype=jnp.float32
    )
    assert x.dtype == jnp.float32 and fx.dtype == jnp.float32
    assert abs(float(x) - 0.25) < 1e-4
