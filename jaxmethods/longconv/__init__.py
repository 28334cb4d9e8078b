"""Long convolutions for sequence models (P12): kernel regularizers so far.

- [`squash`][jaxmethods.longconv.squash]: soft-thresholding of the kernel.
- [`smooth_kernel`][jaxmethods.longconv.smooth_kernel]: the official
  moving-average smoothing.

The convolutions themselves are [`jaxmethods.ops.fft_causal_conv`][] and
[`jaxmethods.ops.fft_bidirectional_conv`][].
"""

from ._regularizers import smooth_kernel as smooth_kernel, squash as squash


__all__ = ["squash", "smooth_kernel"]
