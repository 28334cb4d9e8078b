"""Long convolutions by FFT and by Monarch DFT matmuls (P12)."""

from .api import (
    fft_bidirectional_conv as fft_bidirectional_conv,
    fft_causal_conv as fft_causal_conv,
    monarch_causal_conv as monarch_causal_conv,
    monarch_kernel_spectrum as monarch_kernel_spectrum,
)
from .monarch import (
    monarch_fft as monarch_fft,
    monarch_fft_permuted as monarch_fft_permuted,
    monarch_ifft as monarch_ifft,
    monarch_ifft_permuted as monarch_ifft_permuted,
    monarch_permutation as monarch_permutation,
)


__all__ = [
    "fft_bidirectional_conv",
    "fft_causal_conv",
    "monarch_causal_conv",
    "monarch_fft",
    "monarch_fft_permuted",
    "monarch_ifft",
    "monarch_ifft_permuted",
    "monarch_kernel_spectrum",
    "monarch_permutation",
]
