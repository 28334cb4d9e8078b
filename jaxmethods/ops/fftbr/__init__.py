"""FFT in bit-reversed order (QMCPy's fftbr/ifftbr): reference, Pallas kernel, API."""

from .api import fftbr as fftbr, ifftbr as ifftbr


__all__ = ["fftbr", "ifftbr"]
