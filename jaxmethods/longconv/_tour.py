"""Tour cases for jaxmethods.longconv (``python -m jaxmethods tour``).

References in NumPy float64: Squash as ``where(|k| > lam, k - sign(k) lam,
0)``, smoothing as a zero-padded moving sum divided by the window (PyTorch's
``AvgPool1d`` with ``count_include_pad=True``), written with ``np.convolve``.
"""

import jax
import numpy as np

from .._tour import TourCase
from ._butterfly import LearnedButterflyConv
from ._regularizers import smooth_kernel, squash


def _kernel():
    k = jax.random.normal(jax.random.key(0), (64, 1024)) * 0.01
    return k, np.asarray(k, np.float64)


def _squash_case():
    k, kn = _kernel()
    ref = np.where(np.abs(kn) > 0.003, kn - np.sign(kn) * 0.003, 0.0)
    run = jax.jit(lambda: squash(k, 0.003))
    return run, lambda out: float(np.max(np.abs(np.asarray(out, np.float64) - ref)))


def _smooth_case():
    k, kn = _kernel()
    ref = np.stack([np.convolve(row, np.ones(7), mode="same") / 7 for row in kn])
    run = jax.jit(lambda: smooth_kernel(k, window=7))
    return run, lambda out: float(np.max(np.abs(np.asarray(out, np.float64) - ref)))


def _butterfly_case():
    # at initialisation the learned blocks are the DFT: the layer is the FFT
    # convolution plus the skip; reference by direct summation in NumPy
    layer = LearnedButterflyConv(8, 256, key=jax.random.key(1))
    u = jax.random.normal(jax.random.key(2), (8, 256))
    un = np.asarray(u, np.float64)
    kn = np.asarray(layer.kernel, np.float64)
    dn = np.asarray(layer.D, np.float64)
    ref = np.stack([np.convolve(un[h], kn[h])[:256] for h in range(8)])
    ref = ref + dn[:, None] * un
    f = jax.jit(lambda lay, x: lay(x))  # arguments, not folded constants
    return (lambda: f(layer, u)), lambda out: float(
        np.max(np.abs(np.asarray(out, np.float64) - ref))
    )


CASES = [
    TourCase("longconv.squash", "P12", "64 x 1024 kernel, lam 0.003", _squash_case),
    TourCase(
        "longconv.LearnedButterflyConv",
        "P12",
        "8 x 256 at initialisation vs direct convolution + skip",
        _butterfly_case,
        tolerance=1e-10,
    ),
    TourCase(
        "longconv.smooth_kernel", "P12", "64 x 1024 kernel, window 7", _smooth_case
    ),
]
