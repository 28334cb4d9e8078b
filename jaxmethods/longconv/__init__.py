"""Long convolutions for sequence models (P12).

- [`LongConv`][jaxmethods.longconv.LongConv]: the LongConv layer (learned
  full-length kernels, Squash, smoothing, kernel dropout, FFT convolution,
  GELU and a GLU output projection).
- [`LearnedButterflyConv`][jaxmethods.longconv.LearnedButterflyConv]: a causal
  long convolution through a block FFT with learnable DFT blocks (Learned
  Butterfly), equal to the FFT convolution at initialisation.
- [`LongConvModel`][jaxmethods.longconv.LongConvModel]: the official
  standalone classifier backbone (encoder, residual LongConv blocks with
  LayerNorm, mean pooling, decoder).
- [`longconv_param_labels`][jaxmethods.longconv.longconv_param_labels]:
  labels for ``optax.multi_transform`` (kernels with their own learning rate
  and no weight decay).
- [`squash`][jaxmethods.longconv.squash]: soft-thresholding of the kernel.
- [`smooth_kernel`][jaxmethods.longconv.smooth_kernel]: the official
  moving-average (``"avgpool"``) and frequency-domain Gaussian
  (``"freq_gauss"``) smoothings.

The convolutions themselves are [`jaxmethods.ops.fft_causal_conv`][] and
[`jaxmethods.ops.fft_bidirectional_conv`][].
"""

from ._butterfly import LearnedButterflyConv as LearnedButterflyConv
from ._labels import longconv_param_labels as longconv_param_labels
from ._layers import LongConv as LongConv
from ._model import LongConvModel as LongConvModel
from ._regularizers import smooth_kernel as smooth_kernel, squash as squash


__all__ = [
    "LearnedButterflyConv",
    "LongConv",
    "LongConvModel",
    "longconv_param_labels",
    "smooth_kernel",
    "squash",
]
