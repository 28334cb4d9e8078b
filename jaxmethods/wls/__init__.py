r"""Weighted least squares with optimal sampling, DPPs and volume sampling (P14).

Approximate $f$ in an $m$-dimensional polynomial space $V_m$, orthonormal in
$L^2(\mu)$, from $n$ evaluations by weighted least squares
(Nouy and Michel, arXiv:2312.14057). The samplers draw the points, the
weights make the estimator (quasi-)optimal, and ``weighted_lstsq`` solves
and reports the stability of the draw:

- bases: [`LegendreBasis`][jaxmethods.wls.LegendreBasis],
  [`HermiteBasis`][jaxmethods.wls.HermiteBasis],
  [`total_degree_indices`][jaxmethods.wls.total_degree_indices],
  [`hyperbolic_cross_indices`][jaxmethods.wls.hyperbolic_cross_indices];
- samplers: [`christoffel_iid`][jaxmethods.wls.christoffel_iid],
  [`projection_dpp`][jaxmethods.wls.projection_dpp],
  [`finite_projection_dpp`][jaxmethods.wls.finite_projection_dpp],
  [`volume_rescaled`][jaxmethods.wls.volume_rescaled],
  [`repeated_dpp`][jaxmethods.wls.repeated_dpp],
  [`conditioned`][jaxmethods.wls.conditioned];
- solve: [`optimal_weights`][jaxmethods.wls.optimal_weights],
  [`weighted_lstsq`][jaxmethods.wls.weighted_lstsq],
  [`gram_deviation`][jaxmethods.wls.gram_deviation].

Every sampler takes the key first, has static sizes (one compilation per
basis and size) and vmaps over keys, so independent repetitions cost one
batched call.
"""

from ._basis import (
    HermiteBasis as HermiteBasis,
    LegendreBasis as LegendreBasis,
    hyperbolic_cross_indices as hyperbolic_cross_indices,
    total_degree_indices as total_degree_indices,
)
from ._lstsq import (
    LstsqInfo as LstsqInfo,
    gram_deviation as gram_deviation,
    optimal_weights as optimal_weights,
    weighted_lstsq as weighted_lstsq,
)
from ._samplers import (
    ConditionedDraw as ConditionedDraw,
    christoffel_iid as christoffel_iid,
    conditioned as conditioned,
    finite_projection_dpp as finite_projection_dpp,
    projection_dpp as projection_dpp,
    repeated_dpp as repeated_dpp,
    volume_rescaled as volume_rescaled,
)


__all__ = [
    "LegendreBasis",
    "HermiteBasis",
    "total_degree_indices",
    "hyperbolic_cross_indices",
    "christoffel_iid",
    "projection_dpp",
    "finite_projection_dpp",
    "volume_rescaled",
    "repeated_dpp",
    "conditioned",
    "ConditionedDraw",
    "optimal_weights",
    "weighted_lstsq",
    "gram_deviation",
    "LstsqInfo",
]
