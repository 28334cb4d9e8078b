"""Shared pieces of the SMC tests: the reference model and exact functionals."""

import functools

import jax.numpy as jnp
import numpy as np

from jaxmethods.smc import reference_lgssm


@functools.cache
def reference():
    """``(model, params, ys)`` of the seed-free reference LGSSM (float64)."""
    return reference_lgssm()


def lag1(x_prev, x, y, t, params):
    """The pair term of the functional ``sum_{t>=1} X_{t-1} X_t``."""
    return x_prev[0] * x[0]


def exact_lag1(model, params, ys) -> float:
    """``E[sum_t X_{t-1} X_t | y]`` from the RTS smoother (scalar state)."""
    s = model.rts_smoother(params, ys)
    m = s.smoothed_means[:, 0]
    return float(jnp.sum(s.smoothed_cross_covs[:, 0, 0] + m[:-1] * m[1:]))


def z_score(samples, expected) -> float:
    """(sample mean - expected) / standard error."""
    x = np.asarray(samples, np.float64)
    return float((x.mean() - expected) / (x.std(ddof=1) / np.sqrt(x.size)))
