"""jaxmethods: JAX-native implementations of recent research methods.

Subpackages:

- [`jaxmethods.ops`][]: performance kernels (FWHT, FFT in bit-reversed order)
  with pure-jnp references and Pallas kernels.
- [`jaxmethods.qmc`][]: randomized low-discrepancy point sets (QMCPy).
"""

from . import ops as ops, qmc as qmc


__version__ = "0.1.0"
