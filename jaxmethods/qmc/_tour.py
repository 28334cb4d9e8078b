"""Tour cases for jaxmethods.qmc (``python -m jaxmethods tour``).

Each reference is computed independently in NumPy with Python-integer or
float64 arithmetic, point by point, from the same random ingredients.
"""

import functools

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

from .._internal.bits import default_float, max_bits
from .._tour import TourCase
from ._cubature import cub_qmc_net_g
from ._data import kuo_lattice_vector
from ._digital_net import (
    digital_net_b2,
    linear_matrix_scramble,
    random_digital_shift,
    random_scramble_matrices,
    sobol_generating_matrices,
)
from ._discrepancy import discrepancy
from ._fast_gp import FastGP
from ._fast_gram import FastGram
from ._kernels import ShiftInvariantKernel
from ._lattice import lattice
from ._tour_halton import CASES as _HALTON_CASES
from .integrands import Keister


def _max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def _ref_lattice(n, g, shift):
    """frac(phi_2(i) g + shift) with exact rational arithmetic per point."""
    m = 20
    out = np.empty((n, g.size))
    for i in range(n):
        rev = int(f"{i:0{m}b}"[::-1], 2)
        for j, gj in enumerate(g.tolist()):
            out[i, j] = ((rev * gj) % 2**m) / 2**m
    y = out + shift[None, :]
    return np.where(y >= 1, y - 1, y)


def _lattice_case():
    n, d = 1024, 8
    key = jr.key(7)
    run = jax.jit(functools.partial(lattice, n=n, d=d))
    # the shift lattice() draws, in the float type it draws it in
    shift = np.asarray(jr.uniform(key, (d,), default_float()), np.float64)
    ref = _ref_lattice(n, kuo_lattice_vector()[:d], shift)
    return (lambda: run(key)), (lambda out: _max_abs(out, ref))


def _ref_net(C, n, t_in, t, shift):
    """XOR of the columns picked by the bits of i, widened, shifted, as floats."""
    C = [[int(v) for v in row] for row in np.asarray(C)]
    out = np.empty((n, len(C)))
    for j, cols in enumerate(C):
        for i in range(n):
            x, k = 0, 0
            while i >> k:
                if (i >> k) & 1:
                    x ^= cols[k]
                k += 1
            x = (x << (t - t_in)) ^ int(shift[j])
            out[i, j] = min(float(x) / 2**t, np.nextafter(1.0, 0.0))
    return out


def _sobol_case():
    n, d = 1024, 8
    key = jr.key(7)
    run = jax.jit(functools.partial(digital_net_b2, n=n, d=d))
    # the same ingredients digital_net_b2 draws (see its docstring on keys)
    k_lms, k_ds = jr.split(key)
    t = 63 if max_bits() == 64 else 32  # digital_net_b2's default bits
    S = random_scramble_matrices(k_lms, d, t_in=32, t=t)
    C = linear_matrix_scramble(sobol_generating_matrices(d), S, t_in=32)
    shift = np.asarray(random_digital_shift(k_ds, d, t=t))
    ref = _ref_net(C, n, t, t, shift)
    return (lambda: run(key)), (lambda out: _max_abs(out, ref))


def _integration_case(randomize, alpha):
    """Mean of a product integrand (exact integral 1) over 16 replications."""
    n, d, r = 4096, 4, 16

    def estimate(key):
        x = digital_net_b2(key, n, d, randomize=randomize, alpha=alpha, replications=r)
        return jnp.mean(jnp.prod(1 + (x - 0.5), axis=-1))

    run = jax.jit(estimate)
    return (lambda: run(jr.key(3))), (lambda out: abs(float(out) - 1.0))


def _discrepancy_case():
    n, d = 512, 4
    x = np.asarray(digital_net_b2(jr.key(1), n, d))
    run = jax.jit(lambda z: discrepancy(z, "CD"))
    xin = jnp.asarray(x)
    # centered L2 discrepancy by its closed form, in float64 NumPy
    z = np.abs(x - 0.5)
    single = np.sum(np.prod(1 + 0.5 * z - 0.5 * z**2, axis=1))
    dlt = np.abs(x[:, None, :] - x[None, :, :])
    pair = np.sum(np.prod(1 + 0.5 * z[:, None] + 0.5 * z[None, :] - 0.5 * dlt, axis=2))
    ref = (13 / 12) ** d - 2 / n * single + pair / n**2
    return (lambda: run(xin)), (lambda out: abs(float(out) - ref))


def _si_kernel_np(a, b, gamma):
    """The alpha = 1 shift-invariant kernel in NumPy float64, from its closed
    form prod_j (1 + gamma_j 2 pi^2 B_2((a_j - b_j) mod 1)), B_2(t) = t^2 - t + 1/6."""
    delta = (a[:, None, :] - b[None, :, :]) % 1.0
    return np.prod(1 + gamma * 2 * np.pi**2 * (delta**2 - delta + 1 / 6), axis=-1)


def _fast_gram_case():
    # the Gram matrix and its solve in NumPy float64
    x = lattice(jr.key(5), 1024, 3)
    gamma = np.array([0.8, 0.4, 0.2])
    kern = ShiftInvariantKernel(3, alpha=1, lengthscales=jnp.asarray(gamma))
    y = jnp.sin(2 * jnp.pi * x[:, 0]) + x[:, 1]
    xn, yn = np.asarray(x, np.float64), np.asarray(y, np.float64)
    gram = _si_kernel_np(xn, xn, gamma) + 1e-6 * np.eye(1024)
    ref = np.linalg.solve(gram, yn)

    @jax.jit
    def f(pts, v):
        return FastGram(kern, pts, kind="lattice", nugget=1e-6).solve(v)

    def err(out):
        diff = np.abs(np.asarray(out, np.float64) - ref)
        return float(np.max(diff) / np.max(np.abs(ref)))

    return (lambda: f(x, y)), err


def _fast_gp_case():
    # Posterior mean and variance at 64 new points against dense GP algebra in
    # NumPy float64.
    n, d = 512, 3
    x = lattice(jr.key(6), n, d)
    gamma = np.array([0.8, 0.4, 0.2])
    kern = ShiftInvariantKernel(d, alpha=1, lengthscales=jnp.asarray(gamma))
    y = jnp.sin(2 * jnp.pi * x[:, 0]) + x[:, 1] * x[:, 2]
    x_new = jr.uniform(jr.key(7), (64, d), x.dtype)
    nugget = 1e-4
    gp = FastGP(kern, x, y, kind="lattice", nugget=nugget)

    xn, yn, xs = (np.asarray(a, np.float64) for a in (x, y, x_new))
    mu = yn.mean()
    gram = _si_kernel_np(xn, xn, gamma) + nugget * np.eye(n)
    k_star = _si_kernel_np(xn, xs, gamma)
    m_ref = mu + k_star.T @ np.linalg.solve(gram, yn - mu)
    prior_var = np.prod(1 + gamma * np.pi**2 / 3)  # K(x, x): B_2(0) = 1/6
    v_ref = prior_var - np.sum(k_star * np.linalg.solve(gram, k_star), axis=0)

    def err(out):
        m, v = (np.asarray(a, np.float64) for a in out)
        e_mean = np.max(np.abs(m - m_ref)) / np.max(np.abs(m_ref))
        e_var = np.max(np.abs(v - v_ref)) / prior_var  # relative to the prior
        return float(max(e_mean, e_var))

    return (lambda: gp.predict(x_new)), err


def _cubature_case():
    # Keister in d = 3 to abs_tol 1e-3; exact value from its closed form
    f = Keister(3)

    def run():
        return cub_qmc_net_g(f, 3, key=jr.key(7), abs_tol=1e-3)

    return run, lambda res: abs(float(res.estimate) - f.exact)


CASES: list[TourCase] = [
    TourCase(
        "qmc.lattice",
        "P02",
        "shifted lattice 2^10 x 8 vs exact integers",
        _lattice_case,
        tolerance=1e-15,
    ),
    TourCase(
        "qmc.digital_net_b2[lms_ds]",
        "P02",
        "Sobol LMS+DS 2^10 x 8 vs integer reference",
        _sobol_case,
        tolerance=0.0,
    ),
    TourCase(
        "qmc.digital_net_b2[nus]",
        "P02",
        "NUS 16 x 2^12 x 4, product integrand = 1",
        functools.partial(_integration_case, "nus", 1),
        error_kind="integral err",
        tolerance=1e-4,
    ),
    TourCase(
        "qmc.digital_net_b2[alpha=2]",
        "P02",
        "order-2 LMS+DS 16 x 2^12 x 4, integrand = 1",
        functools.partial(_integration_case, "lms_ds", 2),
        error_kind="integral err",
        tolerance=1e-5,
    ),
    TourCase(
        "qmc.FastGram.solve",
        "P02",
        "SI kernel (alpha 1) on a 2^10 x 3 lattice, vs NumPy solve",
        _fast_gram_case,
        error_kind="max rel err",
        tolerance=1e-8,
    ),
    TourCase(
        "qmc.FastGP.predict",
        "P02",
        "posterior mean, var at 64 pts, 2^9 x 3 lattice, vs dense NumPy GP",
        _fast_gp_case,
        error_kind="max rel err",
        tolerance=1e-8,
    ),
    TourCase(
        "qmc.cub_qmc_net_g",
        "P02",
        "Keister d=3 to abs_tol 1e-3 (adaptive, n doubles)",
        _cubature_case,
        error_kind="abs err",
        tolerance=1e-3,
    ),
    TourCase(
        "qmc.discrepancy",
        "P02",
        "centered L2 of 512 x 4 Sobol vs NumPy",
        _discrepancy_case,
        tolerance=1e-12,
    ),
]

CASES += _HALTON_CASES
