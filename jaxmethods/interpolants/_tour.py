r"""Tour case for jaxmethods.interpolants (``python -m jaxmethods tour``).

The exact velocity of the linear interpolant with the Brownian gamma, from a
standard normal base to the 2-D Gaussian mixture of the research notes
(weights 0.2, 0.5, 0.3; means $(-2, 0)$, $(2, 1)$, $(0, -2.5)$; stds 0.3, 0.5,
0.2), given by :class:`jaxmethods.testing.analytic.GaussianMixtureInterpolant`.
The PF-ODE carries $\log\rho$ from 16 fixed standard-normal points with
Dopri5 and the exact divergence; the error is the largest difference between
$\log\mathcal N(x_0) - \int_0^1 \nabla\cdot b\,dt$ and the exact mixture
log-density at the end point $x_1$, an end-to-end check of the velocity, the
divergence and the likelihood bookkeeping.

Tolerances 1e-8 (float64; 1e-5 in the tour's ``--float32`` mode, where 1e-8
is below the working precision). Measured error in float64: 1.2e-7, the
solver's own error at that tolerance (Dopri8 at 1e-11 brings it to 1e-11, see
``tests/interpolants/test_sample.py``), so the tolerance is 5e-7 (about 4x).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from .._internal.bits import x64_enabled
from .._tour import TourCase
from ..testing.analytic import GaussianMixture, GaussianMixtureInterpolant
from ._core import Interpolant
from ._sample import pf_ode_sample


def _setup():
    gmm = GaussianMixture(
        jnp.array([0.2, 0.5, 0.3]),
        jnp.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]]),
        jnp.array([0.3, 0.5, 0.2]),
    )
    field = GaussianMixtureInterpolant(gmm, Interpolant.linear())
    x0 = jnp.asarray(np.random.default_rng(0).standard_normal((16, 2)))
    tol = 1e-8 if x64_enabled() else 1e-5

    @jax.jit
    def run():
        x1, dlogp = pf_ode_sample(field.b, x0, with_logp=True, rtol=tol, atol=tol)
        return x1, jnp.sum(norm.logpdf(x0), axis=-1) + dlogp

    def error(out):
        x1, logp = out
        exact = field.logpdf(x1, 1.0)
        return float(jnp.max(jnp.abs(logp - exact)))

    return run, error


CASES: list[TourCase] = [
    TourCase(
        "interpolants.ode_likelihood",
        "P18",
        "2-D GMM, 16 pts, Dopri5 1e-8, log p vs exact",
        _setup,
        error_kind="max abs err",
        tolerance=5e-7,
    ),
]
