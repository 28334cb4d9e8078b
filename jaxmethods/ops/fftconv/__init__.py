"""Causal long convolution by FFT (P12, Simple Hardware-Efficient Long Convolutions)."""

from .api import fft_causal_conv as fft_causal_conv


__all__ = ["fft_causal_conv"]
