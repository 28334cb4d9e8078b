"""Performance kernels: FWHT and FFT in bit-reversed order."""

__all__: list[str] = []
