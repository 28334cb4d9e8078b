"""Performance kernels: FWHT and FFT in bit-reversed order.

Each op lives in its own folder (`fwht/`, `fftbr/`) with a pure-jnp
`reference.py` that defines it, a Pallas kernel in `pallas_gpu.py`, and the
public function with its `impl=` switch and autodiff rules in `api.py`.
"""

from .fftbr import fftbr as fftbr, ifftbr as ifftbr
from .fwht import fwht as fwht


__all__ = ["fftbr", "fwht", "ifftbr"]
