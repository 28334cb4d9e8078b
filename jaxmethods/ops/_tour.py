"""Tour cases for jaxmethods.ops (``python -m jaxmethods tour``).

Each reference is computed independently in NumPy float64: the FWHT by
in-place radix-2 butterflies, the FFTBR by ``numpy.fft.fft`` of the input
permuted with bit-reversed indices built from the index strings, and the causal
FFT convolution by ``numpy.convolve`` (direct summation) truncated to the
first L outputs.
"""

import functools

import jax
import numpy as np

from .._tour import TourCase
from .fftbr import fftbr
from .fftconv import (
    fft_bidirectional_conv,
    fft_causal_conv,
    monarch_causal_conv,
    monarch_fft,
    monarch_kernel_spectrum,
)
from .fwht import fwht


_ROWS, _M = 64, 12


def _max_abs(a, b) -> float:
    a = np.asarray(a)
    return float(np.max(np.abs(a.astype(np.result_type(a, np.float64)) - b)))


def _input():
    # float64 under the tour's default x64, float32 with --float32.
    x = jax.random.normal(jax.random.key(0), (_ROWS, 1 << _M))
    return x, np.asarray(x, np.float64)


def _np_fwht(x: np.ndarray) -> np.ndarray:
    """H_n x / sqrt(n) along the last axis with NumPy radix-2 butterflies."""
    y = np.array(x, dtype=np.float64)
    n = y.shape[-1]
    h = 1
    while h < n:
        z = y.reshape(-1, n // (2 * h), 2, h)
        a, b = z[:, :, 0, :].copy(), z[:, :, 1, :].copy()
        z[:, :, 0, :], z[:, :, 1, :] = a + b, a - b
        h *= 2
    return y / np.sqrt(n)


def _np_bitrev(m: int) -> np.ndarray:
    return np.array([int(f"{i:0{m}b}"[::-1], 2) for i in range(1 << m)])


def _fwht_case():
    x, xn = _input()
    run = jax.jit(functools.partial(fwht, impl="xla"))
    ref = _np_fwht(xn)
    return (lambda: run(x)), (lambda out: _max_abs(out, ref))


def _fftbr_case():
    x, xn = _input()
    run = jax.jit(functools.partial(fftbr, impl="xla"))
    ref = np.fft.fft(xn[:, _np_bitrev(_M)], norm="ortho")
    return (lambda: run(x)), (lambda out: _max_abs(out, ref))


def _direct(u, k) -> np.ndarray:
    """Causal convolution by direct summation, u (B, H, L), k (H, L), float64."""
    un, kn = np.asarray(u, np.float64), np.asarray(k, np.float64)
    length = un.shape[-1]
    return np.stack(
        [[np.convolve(row[h], kn[h])[:length] for h in range(len(kn))] for row in un]
    )


def _conv_case():
    u = jax.random.normal(jax.random.key(1), (4, 8, 1000))
    k = jax.random.normal(jax.random.key(2), (8, 1000)) / 32
    ref = _direct(u, k)
    run = jax.jit(lambda: fft_causal_conv(u, k))
    return run, lambda out: _max_abs(out, ref) / float(np.max(np.abs(ref)))


def _bidir_case():
    u = jax.random.normal(jax.random.key(3), (8, 500))
    kf = jax.random.normal(jax.random.key(4), (8, 500)) / 32
    kb = jax.random.normal(jax.random.key(5), (8, 500)) / 32
    un, fn, bn = (np.asarray(a, np.float64) for a in (u, kf, kb))

    def direct(h):
        # past and present from kf; z[t] = sum_s kb[s] u[t + 1 + s] from the
        # reversed sequence: z[t] = (reverse(u) * kb)[L - 2 - t], z[L - 1] = 0
        back = np.convolve(un[h][::-1], bn[h])[:499][::-1]
        return np.convolve(un[h], fn[h])[:500] + np.append(back, 0.0)

    ref = np.stack([direct(h) for h in range(8)])
    run = jax.jit(lambda: fft_bidirectional_conv(u, kf, kb))
    return run, lambda out: _max_abs(out, ref) / float(np.max(np.abs(ref)))


def _monarch_conv_case():
    # The Pallas kernel in interpret mode (the compiled one needs a GPU).
    u = jax.random.normal(jax.random.key(6), (2, 8, 1000))
    k = jax.random.normal(jax.random.key(7), (8, 1000)) / 32
    ref = _direct(u, k)
    spec = monarch_kernel_spectrum(k)
    run = jax.jit(lambda: monarch_causal_conv(u, spec, impl="pallas_interpret"))
    return run, lambda out: _max_abs(out, ref) / float(np.max(np.abs(ref)))


def _monarch_case():
    x, xn = _input()
    run = jax.jit(lambda: monarch_fft(x))
    ref = np.fft.fft(xn)
    return run, lambda out: _max_abs(out, ref) / float(np.max(np.abs(ref)))


CASES: list[TourCase] = [
    TourCase(
        "ops.fwht",
        "P02",
        f"{_ROWS} x 2^{_M} float64 vs NumPy butterflies",
        _fwht_case,
        tolerance=1e-12,
    ),
    TourCase(
        "ops.fftbr",
        "P02",
        f"{_ROWS} x 2^{_M} real float64 vs numpy.fft",
        _fftbr_case,
        tolerance=1e-12,
    ),
    TourCase(
        "ops.fft_causal_conv",
        "P12",
        "4 x 8 x 1000, kernel length 1000, vs direct",
        _conv_case,
        error_kind="max rel err",
        tolerance=1e-12,
    ),
    TourCase(
        "ops.fft_bidirectional_conv",
        "P12",
        "8 x 500, two kernels of length 500, vs direct",
        _bidir_case,
        error_kind="max rel err",
        tolerance=1e-12,
    ),
    TourCase(
        "ops.monarch_fft",
        "P12",
        f"{_ROWS} x 2^{_M} real vs numpy.fft",
        _monarch_case,
        error_kind="max rel err",
        tolerance=1e-12,
    ),
    TourCase(
        "ops.monarch_causal_conv",
        "P12",
        "Pallas kernel (interpret), 2 x 8 x 1000 vs direct",
        _monarch_conv_case,
        error_kind="max rel err",
        tolerance=1e-12,
    ),
]
