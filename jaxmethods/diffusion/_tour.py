r"""Tour cases for jaxmethods.diffusion (``python -m jaxmethods tour``).

Both cases sample the analytic 2-D Gaussian mixture of the research notes
(weights 0.2, 0.5, 0.3; means $(-2, 0)$, $(2, 1)$, $(0, -2.5)$; stds 0.3, 0.5,
0.2) under the linear VP schedule from $t = 1$ to $10^{-3}$, starting from 256
fixed standard-normal points, with the exact noise prediction of
:class:`jaxmethods.testing.analytic.GaussianMixture`. The error is the median
over the 256 samples of the L2 distance to the exact probability-flow ODE
solution, computed in the case setup by
:func:`jaxmethods.testing.analytic.pf_ode_reference` (Dopri8 in float64; it is
shared by the two cases, so it is computed once per process).

The error is the solver's discretization error at a few model calls, not
round-off, so each tolerance is 1.5 times the median error measured in float64:
0.1198 for DPM-Solver++ 2M at 10 NFE (research notes' table: 0.120), 0.102
for DPM-Solver-v3 at 8 NFE with statistics estimated in the setup, and 0.1840
for DPM-Solver-3 "fast" at 12 NFE, whose schedule of orders [3, 3, 3, 2, 1]
ends with a first-order step (the table has 0.142 at 10 NFE and 0.057 at 15).
The adaptive solver (0.00072 at its default tolerances, 75 NFE) and the
inverse (0.0149: the 256 exact solutions encoded back to $t = 1$ with ++3M at
20 NFE, against the starting points) use the same rule. The EMS case is exact:
on Gaussian data the exact-Jacobian estimate of $l_\lambda$ equals
$\sigma^2/(\alpha^2 c^2 + \sigma^2)$ up to round-off.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._tour import TourCase
from ..testing.analytic import GaussianMixture, pf_ode_reference
from ._dpm_solver import dpm_solver_inverse, dpm_solver_sample
from ._dpm_solver_v3 import dpm_solver_v3_sample, estimate_ems
from ._schedules import VPSchedule


def _gmm() -> GaussianMixture:
    return GaussianMixture(
        jnp.array([0.2, 0.5, 0.3]),
        jnp.array([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]]),
        jnp.array([0.3, 0.5, 0.2]),
    )


@functools.cache
def _reference() -> tuple[np.ndarray, np.ndarray]:
    """The starting points and their exact PF-ODE solutions, as NumPy float64.

    The reference solver needs float64, so it runs with x64 switched on even
    in the tour's ``--float32`` mode.
    """
    x_T = np.random.default_rng(0).standard_normal((256, 2))
    with jax.enable_x64(True):
        sch = VPSchedule.linear()
        eps_fn = _gmm().noise_prediction(sch)
        ref = pf_ode_reference(eps_fn, sch, jnp.asarray(x_T), 1.0, 1e-3)
        return x_T, np.asarray(ref, np.float64)


def _median_l2(ref):
    def error(out):
        d = np.asarray(out, np.float64) - ref
        return float(np.median(np.linalg.norm(d, axis=-1)))

    return error


def _sampler_case(**kwargs):
    def setup():
        x_np, ref = _reference()
        x_T = jnp.asarray(x_np)  # float32 in the tour's --float32 mode
        sch = VPSchedule.linear()
        eps_fn = _gmm().noise_prediction(sch)

        @jax.jit
        def sample(x):
            x0, _ = dpm_solver_sample(
                eps_fn, sch, x, skip_type="logSNR", t_end=1e-3, **kwargs
            )
            return x0

        return (lambda: sample(x_T)), _median_l2(ref)

    return setup


def _v3_case(steps: int):
    def setup():
        x_np, ref = _reference()
        x_T = jnp.asarray(x_np)
        sch = VPSchedule.linear()
        gmm = _gmm()
        eps_fn = gmm.noise_prediction(sch)
        # EMS from 512 exact GMM samples on 600 grid points (part of the
        # setup, like training statistics of a real model).
        comp = jax.random.choice(jax.random.key(5), 3, (512,), p=gmm.weights)
        noise = jax.random.normal(jax.random.key(6), (512, 2), x_T.dtype)
        x0 = gmm.means[comp] + gmm.stds[comp][:, None] * noise
        ems = estimate_ems(
            eps_fn, sch, x0, jax.random.key(7), n_grid=600, t_start=1.0, t_end=1e-3
        )

        @jax.jit
        def sample(x):
            return dpm_solver_v3_sample(eps_fn, sch, ems, x, steps=steps)[0]

        return (lambda: sample(x_T)), _median_l2(ref)

    return setup


def _inverse_case():
    # Encode the exact x_0 of each starting point back to t = 1: the exact
    # answer is the starting point itself.
    x_np, ref = _reference()
    x_0 = jnp.asarray(ref, jnp.asarray(x_np).dtype)
    sch = VPSchedule.linear()
    eps_fn = _gmm().noise_prediction(sch)

    @jax.jit
    def encode(x):
        x_T, _ = dpm_solver_inverse(
            eps_fn, sch, x, steps=20, order=3, skip_type="logSNR", t_start=1e-3
        )
        return x_T

    return (lambda: encode(x_0)), _median_l2(x_np)


def _ems_case():
    # Gaussian data N(mu, c^2 I): the Jacobian of sigma * eps is
    # sigma^2 / (alpha^2 c^2 + sigma^2) I whatever x is, so the exact-Jacobian
    # estimate of l must equal that on the whole grid.
    c = 0.3
    gauss = GaussianMixture(jnp.ones((1,)), jnp.array([[1.0, -0.5]]), jnp.array([c]))
    sch = VPSchedule.linear()
    eps_fn = gauss.noise_prediction(sch)
    x0 = gauss.sample(jax.random.key(0), 64)

    @jax.jit
    def estimate():
        ems = estimate_ems(
            eps_fn,
            sch,
            x0,
            jax.random.key(1),
            n_grid=400,
            t_start=1.0,
            t_end=1e-3,
            exact_jacobian=True,
        )
        return ems.lambdas, ems.l

    def error(out):
        lam, l_hat = (np.asarray(a, np.float64) for a in out)
        a2 = 1.0 / (1.0 + np.exp(-2.0 * lam))  # alpha^2 = sigmoid(2 lambda)
        s2 = 1.0 - a2
        exact = s2 / (a2 * c * c + s2)
        return float(np.max(np.abs(l_hat - exact[:, None])))

    return estimate, error


CASES: list[TourCase] = [
    TourCase(
        "diffusion.dpm_solver_pp_2m",
        "P06",
        "2-D GMM, 256 pts, NFE 10, logSNR vs Dopri8",
        _sampler_case(steps=10, order=2, method="multistep", algorithm="dpmsolver++"),
        error_kind="median L2",
        # measured 0.1198 (research table: 0.120)
        tolerance=0.18,
    ),
    TourCase(
        "diffusion.dpm_solver_3",
        "P06",
        "same, DPM-Solver-3 fast (eps pred.), NFE 12",
        _sampler_case(steps=12, order=3, method="singlestep", algorithm="dpmsolver"),
        error_kind="median L2",
        # measured 0.1840 (orders [3, 3, 3, 2, 1]; research table: 0.142 at
        # NFE 10, 0.057 at 15)
        tolerance=0.28,
    ),
    TourCase(
        "diffusion.dpm_solver_v3",
        "P13",
        "same, v3 (order 3 + corrector, estimated EMS), NFE 8",
        _v3_case(8),
        error_kind="median L2",
        # measured 0.102 (DPM-Solver++ 3M at NFE 8: 0.280)
        tolerance=0.153,
    ),
    TourCase(
        "diffusion.dpm_solver_sample[adaptive]",
        "P06",
        "same, adaptive DPM-Solver-23 (rtol 0.05, NFE 75)",
        _sampler_case(order=3, method="adaptive", algorithm="dpmsolver++"),
        error_kind="median L2",
        # measured 7.24e-4
        tolerance=1.1e-3,
    ),
    TourCase(
        "diffusion.dpm_solver_inverse",
        "P06",
        "encode the exact x_0 of the 256 pts to t=1, ++3M NFE 20",
        _inverse_case,
        error_kind="median L2",
        # measured 0.0149 (sampling the other way at NFE 20: 0.0071)
        tolerance=0.0224,
    ),
    TourCase(
        "diffusion.estimate_ems",
        "P13",
        "exact-Jacobian l on Gaussian data (400-pt grid) vs closed form",
        _ems_case,
        error_kind="max abs err",
        tolerance=1e-12,
    ),
]
