"""Performance kernels: FWHT, FFT in bit-reversed order, causal FFT convolution.

Each op lives in its own folder (`fwht/`, `fftbr/`) with a pure-jnp
`reference.py` that defines it, a Pallas kernel in `pallas_gpu.py`, and the
public function with its `impl=` switch and autodiff rules in `api.py`.
`fftconv/` holds the long convolutions: the ``jnp.fft`` path and the Monarch
kernel (FFT as DFT matmuls in permuted order). `w4a16/` is the 4-bit-weight
matmul (its weight format lives in `jaxmethods.quant`).
"""

from .fftbr import fftbr as fftbr, ifftbr as ifftbr
from .fftconv import (
    fft_bidirectional_conv as fft_bidirectional_conv,
    fft_causal_conv as fft_causal_conv,
    monarch_causal_conv as monarch_causal_conv,
    monarch_fft as monarch_fft,
    monarch_fft_permuted as monarch_fft_permuted,
    monarch_ifft as monarch_ifft,
    monarch_ifft_permuted as monarch_ifft_permuted,
    monarch_kernel_spectrum as monarch_kernel_spectrum,
    monarch_permutation as monarch_permutation,
)
from .fwht import fwht as fwht
from .w4a16 import w4a16_matmul as w4a16_matmul


__all__ = [
    "fft_bidirectional_conv",
    "fft_causal_conv",
    "fftbr",
    "fwht",
    "ifftbr",
    "monarch_causal_conv",
    "monarch_fft",
    "monarch_fft_permuted",
    "monarch_ifft",
    "monarch_ifft_permuted",
    "monarch_kernel_spectrum",
    "monarch_permutation",
    "w4a16_matmul",
]
