r"""Tour cases for jaxmethods.interpolants (``python -m jaxmethods tour``).

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

The SDE case integrates $dX = [b + s]\,dt + \sqrt 2\,dW$ ($\epsilon = 1$)
with the exact fields from 4096 standard-normal points and compares the
sample means and variances with the mixture's exact moments, in standard
errors.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from .._internal.bits import x64_enabled
from .._tour import TourCase
from ..diffusion._tour import _gmm  # the research notes' 2-D mixture
from ..testing.analytic import GaussianMixtureInterpolant
from ._core import Interpolant
from ._sample import pf_ode_sample, sde_sample


def _setup():
    gmm = _gmm()
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


def _sde_setup():
    gmm = _gmm()
    field = GaussianMixtureInterpolant(gmm, Interpolant.linear())
    w, mu, sd = (np.asarray(a, np.float64) for a in (gmm.weights, gmm.means, gmm.stds))
    mean = w @ mu
    var = w @ (sd[:, None] ** 2 + mu**2) - mean**2
    x0 = jnp.asarray(np.random.default_rng(1).standard_normal((4096, 2)))
    key = jax.random.key(2)

    @jax.jit
    def run():
        return sde_sample(field.b, field.s, 1.0, x0, key, n_steps=200, method="heun")

    def error(out):
        # Largest |z| of the two sample means and the two sample variances
        # (second moments about the exact mean) against the exact values.
        x = np.asarray(out, np.float64)
        sq = (x - mean) ** 2
        z_mean = (x.mean(0) - mean) / (x.std(0, ddof=1) / np.sqrt(len(x)))
        z_var = (sq.mean(0) - var) / (sq.std(0, ddof=1) / np.sqrt(len(x)))
        return float(np.max(np.abs(np.concatenate([z_mean, z_var]))))

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
    TourCase(
        "interpolants.sde_sample",
        "P18",
        "eps=1 SDE, 4096 pts, Heun 200 steps: mean, var vs exact",
        _sde_setup,
        error_kind="max |z|",
        # 4 z-scores; the discretisation bias is under 0.6 SE at 200 steps
        # (tests/interpolants/test_sample.py): false-alarm rate about 3e-4
        tolerance=4.5,
    ),
]
