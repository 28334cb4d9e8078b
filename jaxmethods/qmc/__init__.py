"""Randomized low-discrepancy point sets (QMCPy, P02).

Key-based functions (``lattice``, ``digital_net_b2``, ``halton``) draw their
randomization from a PRNG key; the explicit-parameter cores
(``lattice_points``, ``digital_net_points``, ``halton_points``) take the
random ingredients as arrays, so that other libraries' point sets can be
reproduced bit for bit.
"""

from . import integrands as integrands
from ._bayes_cubature import (
    cub_qmc_bayes_lattice_g as cub_qmc_bayes_lattice_g,
    cub_qmc_bayes_net_g as cub_qmc_bayes_net_g,
)
from ._cubature import (
    CubatureResult as CubatureResult,
    cub_qmc_lattice_g as cub_qmc_lattice_g,
    cub_qmc_net_g as cub_qmc_net_g,
    cub_qmc_rep_student_t as cub_qmc_rep_student_t,
)
from ._digital_net import (
    digital_net_b2 as digital_net_b2,
    digital_net_points as digital_net_points,
    digital_shift as digital_shift,
    interlace as interlace,
    linear_matrix_scramble as linear_matrix_scramble,
    nested_uniform_scramble as nested_uniform_scramble,
    random_digital_shift as random_digital_shift,
    random_scramble_matrices as random_scramble_matrices,
    sobol_generating_matrices as sobol_generating_matrices,
)
from ._discrepancy import discrepancy as discrepancy
from ._fast_gp import FastGP as FastGP
from ._fast_gram import FastGram as FastGram, fast_gp_nll as fast_gp_nll
from ._halton import (
    halton as halton,
    halton_points as halton_points,
    halton_qrng_points as halton_qrng_points,
)
from ._iid import iid_uniform as iid_uniform
from ._kernels import (
    DigitalShiftInvariantKernel as DigitalShiftInvariantKernel,
    ShiftInvariantKernel as ShiftInvariantKernel,
)
from ._lattice import lattice as lattice, lattice_points as lattice_points


__all__ = [
    "integrands",
    "CubatureResult",
    "cub_qmc_net_g",
    "cub_qmc_lattice_g",
    "cub_qmc_rep_student_t",
    "cub_qmc_bayes_lattice_g",
    "cub_qmc_bayes_net_g",
    "lattice",
    "lattice_points",
    "digital_net_b2",
    "digital_net_points",
    "sobol_generating_matrices",
    "linear_matrix_scramble",
    "random_scramble_matrices",
    "digital_shift",
    "random_digital_shift",
    "nested_uniform_scramble",
    "interlace",
    "halton",
    "halton_points",
    "halton_qrng_points",
    "iid_uniform",
    "discrepancy",
    "ShiftInvariantKernel",
    "DigitalShiftInvariantKernel",
    "FastGram",
    "FastGP",
    "fast_gp_nll",
]
