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
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._tour import TourCase
from ..testing.analytic import GaussianMixture, pf_ode_reference
from ._dpm_solver import dpm_solver_sample
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
]
