"""jaxmethods: JAX-native implementations of recent research methods.

Subpackages:

- [`jaxmethods.ops`][]: performance kernels (FWHT, FFT in bit-reversed order,
  long convolutions, W4A16 matmul) with pure-jnp references and Pallas
  kernels.
- [`jaxmethods.qmc`][]: randomized low-discrepancy point sets (QMCPy).
- [`jaxmethods.smc`][]: particle filtering, smoothing and PaRIS particle Gibbs.
- [`jaxmethods.diffusion`][]: DPM-Solver and DPM-Solver++ samplers.
- [`jaxmethods.interpolants`][]: stochastic interpolants: flows and
  diffusions, their losses, samplers and likelihoods (P18).
- [`jaxmethods.discrete`][]: discrete (masked) diffusion and RADD.
- [`jaxmethods.longconv`][]: long convolutions for sequence models (P12).
- [`jaxmethods.quant`][]: 4-bit weight quantization (P26).
- [`jaxmethods.wls`][]: weighted least squares with DPPs and volume sampling
  (P14).
- [`jaxmethods.testing`][]: exact oracle kits for tests.
"""

from . import ops as ops, qmc as qmc


__version__ = "0.1.0"
