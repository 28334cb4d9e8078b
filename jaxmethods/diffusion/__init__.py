"""Diffusion-model ODE samplers: DPM-Solver, DPM-Solver++ (P06) and DPM-Solver-v3 (P13).

- Noise schedules: :class:`VPSchedule` (``linear``, ``cosine``, ``discrete``)
  and :func:`time_steps`.
- Model wrappers: :func:`as_noise_prediction`,
  :func:`classifier_free_guidance`, :func:`classifier_guidance`,
  :func:`dynamic_thresholding`.
- Samplers: :func:`dpm_solver_sample` (multistep, singlestep, fixed-order and
  adaptive), :func:`dpm_solver_inverse`, and the building blocks
  :func:`first_order_update`, :func:`singlestep_update`,
  :func:`multistep_update`, :func:`singlestep_orders`,
  :func:`multistep_orders`.
- DPM-Solver-v3 (P13): :class:`EMS` (empirical model statistics, with
  :class:`EMSIntegrals`), :func:`estimate_ems`,
  :func:`dpm_solver_v3_sample`, and :class:`DPMSolverV3` (the same sampler
  with its tables built once, for repeated calls).

The exact Gaussian-mixture models and reference ODE solutions that the tests
use are public in :mod:`jaxmethods.testing.analytic`.
"""

from ._dpm_solver import (
    DPMSolverInfo as DPMSolverInfo,
    dpm_solver_inverse as dpm_solver_inverse,
    dpm_solver_sample as dpm_solver_sample,
    first_order_update as first_order_update,
    multistep_orders as multistep_orders,
    multistep_update as multistep_update,
    singlestep_orders as singlestep_orders,
    singlestep_update as singlestep_update,
)
from ._dpm_solver_v3 import (
    EMS as EMS,
    DPMSolverV3 as DPMSolverV3,
    EMSIntegrals as EMSIntegrals,
    dpm_solver_v3_sample as dpm_solver_v3_sample,
    estimate_ems as estimate_ems,
)
from ._schedules import VPSchedule as VPSchedule, time_steps as time_steps
from ._wrappers import (
    as_noise_prediction as as_noise_prediction,
    classifier_free_guidance as classifier_free_guidance,
    classifier_guidance as classifier_guidance,
    dynamic_thresholding as dynamic_thresholding,
)


__all__ = [
    "VPSchedule",
    "time_steps",
    "as_noise_prediction",
    "classifier_free_guidance",
    "classifier_guidance",
    "dynamic_thresholding",
    "dpm_solver_sample",
    "dpm_solver_inverse",
    "DPMSolverInfo",
    "first_order_update",
    "singlestep_update",
    "multistep_update",
    "singlestep_orders",
    "multistep_orders",
    "EMS",
    "EMSIntegrals",
    "estimate_ems",
    "dpm_solver_v3_sample",
    "DPMSolverV3",
]
