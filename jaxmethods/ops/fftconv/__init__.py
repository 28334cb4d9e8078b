"""Causal long convolution by FFT (P12, Simple Hardware-Efficient Long Convolutions)."""

from .api import (
    fft_bidirectional_conv as fft_bidirectional_conv,
    fft_causal_conv as fft_causal_conv,
)
from .monarch import monarch_fft as monarch_fft, monarch_ifft as monarch_ifft


__all__ = ["fft_bidirectional_conv", "fft_causal_conv", "monarch_fft", "monarch_ifft"]
