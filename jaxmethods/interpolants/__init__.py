"""Stochastic interpolants: flows and diffusions from one interpolant (P18).

- The path: :class:`Interpolant` (``linear``, ``trig``, ``encoding_decoding``,
  ``mirror``, ``one_sided_linear``, ``one_sided_trig``, ``from_vp_schedule``)
  and :func:`interpolate`.
- Training: the quadratic losses :func:`loss_b`, :func:`loss_v`,
  :func:`loss_s`, :func:`loss_eta` (antithetic estimators included), and the
  conversions :func:`b_from_v_s`, :func:`s_from_eta`.
- Sampling and likelihood: :func:`pf_ode_sample` (diffrax, with the exact or
  Hutchinson divergence), :func:`sde_sample` (Euler-Maruyama or Heun for any
  diffusion coefficient), :func:`log_likelihood`.

A field (velocity, score, ...) is a callable ``fn(x, t)`` with ``x`` of shape
`(B, *event)` and ``t`` of shape `(B,)`. The exact fields of a Gaussian
mixture under any interpolant are in :mod:`jaxmethods.testing.analytic`.
"""

from ._core import (
    Interpolant as Interpolant,
    b_from_v_s as b_from_v_s,
    interpolate as interpolate,
    s_from_eta as s_from_eta,
)
from ._losses import (
    loss_b as loss_b,
    loss_eta as loss_eta,
    loss_s as loss_s,
    loss_v as loss_v,
)
from ._sample import (
    log_likelihood as log_likelihood,
    pf_ode_sample as pf_ode_sample,
    sde_sample as sde_sample,
)


__all__ = [
    "Interpolant",
    "interpolate",
    "loss_b",
    "loss_v",
    "loss_s",
    "loss_eta",
    "b_from_v_s",
    "s_from_eta",
    "pf_ode_sample",
    "sde_sample",
    "log_likelihood",
]
