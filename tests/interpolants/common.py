"""Shared problems for the stochastic-interpolant tests (P18).

The research notes' 2-D Gaussian mixture (weights 0.2, 0.5, 0.3; means
(-2, 0), (2, 1), (0, -2.5); stds 0.3, 0.5, 0.2) as the target, a standard
normal base, and one interpolant of every kind.
"""

import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

from jaxmethods.diffusion import VPSchedule
from jaxmethods.interpolants import Interpolant
from jaxmethods.testing.analytic import GaussianMixture, GaussianMixtureInterpolant


GMM = GaussianMixture(
    jnp.array([0.2, 0.5, 0.3]),
    jnp.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]]),
    jnp.array([0.3, 0.5, 0.2]),
)
GMM_MEAN = np.array([0.6, -0.25])
# Diagonal of the mixture covariance: sum_k w_k (c_k^2 + mu_k^2) - mean^2.
GMM_VAR = np.array([2.595, 2.4675])
LINEAR = Interpolant.linear()
FIELD = GaussianMixtureInterpolant(GMM, LINEAR)
X_REF = jnp.array([0.3, -0.2])

# One interpolant of every path, and every gamma on the linear path.
PATHS = {
    "linear": Interpolant.linear(),
    "trig": Interpolant.trig(),
    "trig-sigmoid": Interpolant.trig("sigmoid"),
    "encoding-decoding": Interpolant.encoding_decoding(),
    "mirror": Interpolant.mirror("bsquared"),
    "one-sided-linear": Interpolant.one_sided_linear(),
    "one-sided-trig": Interpolant.one_sided_trig(),
    "vp-linear": Interpolant.from_vp_schedule(VPSchedule.linear()),
    "vp-cosine": Interpolant.from_vp_schedule(VPSchedule.cosine()),
}
GAMMAS = {
    "brownian": Interpolant.linear("brownian"),
    "a-brownian": Interpolant.linear("a-brownian", a=2.5),
    "bsquared": Interpolant.linear("bsquared"),
    "sinesquared": Interpolant.linear("sinesquared"),
    "sigmoid": Interpolant.linear("sigmoid"),
    "zero": Interpolant.linear("zero"),
}
ALL = {**PATHS, **{f"linear-{k}": v for k, v in GAMMAS.items()}}


def std_normal_logpdf(x):
    """log N(x; 0, I) on a batch `(B, D)`."""
    return jnp.sum(norm.logpdf(x), axis=-1)


def gmm_logpdf(x):
    """Exact log-density of the target on a batch `(B, D)`."""
    return FIELD.logpdf(x, 1.0)


def x0_rng(n=128):
    """The research notes' starting points, default_rng(0).standard_normal."""
    return jnp.asarray(np.random.default_rng(0).standard_normal((n, 2)))
