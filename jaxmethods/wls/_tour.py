"""Tour cases for jaxmethods.wls (``python -m jaxmethods tour``)."""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from numpy.polynomial import legendre

from .._tour import TourCase
from ._basis import LegendreBasis, total_degree_indices
from ._lstsq import optimal_weights, weighted_lstsq
from ._samplers import finite_projection_dpp, projection_dpp, repeated_dpp


def _ez_case():
    # Ermakov–Zolotukhin: the DPP interpolant of exp is unbiased for the
    # L2 projection; 2,000 independent DPPs (m = 5, one vmapped call)
    basis = LegendreBasis(total_degree_indices(1, 4))
    t, w = legendre.leggauss(60)
    phi = np.stack(
        [np.sqrt(2 * j + 1) * legendre.legval(t, np.eye(j + 1)[j]) for j in range(5)], 1
    )
    proj = (w / 2 * np.exp(t)) @ phi

    def coef(k):
        x = projection_dpp(k, basis)
        return jnp.linalg.solve(basis(x), jnp.exp(x[:, 0]))

    run_all = jax.jit(jax.vmap(coef))
    keys = jr.split(jr.key(0), 2000)
    return (lambda: run_all(keys)), (
        lambda c: float(np.max(np.abs(np.asarray(c).mean(0) - proj)))
    )


def _finite_case():
    # inclusion probabilities of a rank-20 projection DPP on 1,000 items are
    # the diagonal of K: 5,000 draws in one vmapped call, error = the largest
    # |z| over the items (z = (frequency - K_ii) / its standard error)
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((1000, 20)))[0]
    diag = np.sum(Q * Q, axis=1)
    n = 5_000
    run_all = jax.jit(jax.vmap(lambda k, A: finite_projection_dpp(k, A), (0, None)))
    keys, Qj = jr.split(jr.key(2), n), jnp.asarray(Q)

    def error(idx):
        freq = np.bincount(np.asarray(idx).ravel(), minlength=1000) / n
        return float(np.max(np.abs(freq - diag) / np.sqrt(diag * (1 - diag) / n)))

    return (lambda: run_all(keys, Qj)), error


def _lstsq_case():
    # Runge on [-1, 1] from 3 repeated DPPs (m = 15, n = 45), weighted LS
    # against NumPy's float64 lstsq of the same weighted system
    basis = LegendreBasis(total_degree_indices(1, 14))

    def fit(k):
        x = repeated_dpp(k, basis, 3)
        Phi, w = basis(x), optimal_weights(basis, x)
        c, _ = weighted_lstsq(Phi, w, 1 / (1 + 25 * x[:, 0] ** 2))
        return c, Phi, w, x

    run = jax.jit(fit)
    key = jr.key(1)

    def error(out):
        c, Phi, w, x = (np.asarray(a, np.float64) for a in out)
        y = 1 / (1 + 25 * x[:, 0] ** 2)
        sw = np.sqrt(w)
        ref = np.linalg.lstsq(sw[:, None] * Phi, sw * y, rcond=None)[0]
        return float(np.max(np.abs(c - ref)) / max(1.0, math.fsum(np.abs(ref))))

    return (lambda: run(key)), error


CASES = [
    TourCase(
        "wls.projection_dpp",
        "P14",
        "2,000 DPPs (m=5): mean interpolant of exp vs its L2 projection",
        _ez_case,
        error_kind="max abs err",
        tolerance=4e-5,  # 5 standard errors of the mean (sd 3.3e-4 / sqrt(2000))
    ),
    TourCase(
        "wls.finite_projection_dpp",
        "P14",
        "5,000 DPPs (N=1000, m=20): inclusion frequencies vs diag K",
        _finite_case,
        error_kind="max |z|",
        tolerance=5.5,  # false-alarm rate < 1000 * 3.8e-8 over the items
    ),
    TourCase(
        "wls.weighted_lstsq",
        "P14",
        "Runge from 3 repeated DPPs (m=15, n=45) vs NumPy lstsq",
        _lstsq_case,
        error_kind="max rel err",
        tolerance=1e-10,
    ),
]
