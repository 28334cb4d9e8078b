"""Fast Walsh–Hadamard transform: pure-jnp reference, Pallas kernel, public API."""

from .api import fwht as fwht


__all__ = ["fwht"]
