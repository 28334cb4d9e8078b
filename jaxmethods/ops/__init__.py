"""Performance kernels: FWHT, FFT in bit-reversed order, causal FFT convolution.

Each op lives in its own folder (`fwht/`, `fftbr/`) with a pure-jnp
`reference.py` that defines it, a Pallas kernel in `pallas_gpu.py`, and the
public function with its `impl=` switch and autodiff rules in `api.py`.
`fftconv/` has only its XLA path so far.
"""

from .fftbr import fftbr as fftbr, ifftbr as ifftbr
from .fftconv import (
    fft_bidirectional_conv as fft_bidirectional_conv,
    fft_causal_conv as fft_causal_conv,
    monarch_fft as monarch_fft,
    monarch_ifft as monarch_ifft,
)
from .fwht import fwht as fwht


__all__ = [
    "fft_bidirectional_conv",
    "fft_causal_conv",
    "fftbr",
    "fwht",
    "ifftbr",
    "monarch_fft",
    "monarch_ifft",
]
