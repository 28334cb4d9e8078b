"""Tour cases for jaxmethods.quant and the W4A16 matmul (``python -m jaxmethods tour``).

References in NumPy float64: RTN as ``s = 2/15 max|w|`` per group of 128
rows (rounded to the stored float32 scale), ``q = clip(round(w/s) + 8, 0,
15)``; GPTQ by its layer-output error on correlated inputs, which must stay
below 0.7 times RTN's (research perf.md §2.3: RTN about 1.2e-2); the W4A16
product as ``x @ ((q - 8) s)`` in float64, with MARLIN's criterion
``mean|y - y_ref| / mean|y_ref|``.
"""

import jax
import jax.numpy as jnp
import numpy as np

from .._internal.bits import default_float
from .._tour import TourCase
from ._format import dequantize
from ._gptq import gptq, hessian_from_activations
from ._rtn import quantize_rtn


def _weights(k=1024, n=1024, seed=0):
    w = jax.random.normal(jax.random.key(seed), (k, n))
    return w, np.asarray(w, np.float64)


def _np_rtn(w: np.ndarray, group: int = 128) -> np.ndarray:
    k, n = w.shape
    wg = w.reshape(k // group, group, n)
    s = (np.abs(wg).max(1) * 2 / 15).astype(np.float32).astype(np.float64)
    s[s == 0] = 1.0
    q = np.clip(np.round(wg / s[:, None]) + 8, 0, 15)
    return ((q - 8) * s[:, None]).reshape(k, n)


def _rtn_case():
    w, wn = _weights()
    ref = _np_rtn(wn)
    # arguments, not closed-over constants: XLA would fold the whole
    # quantization at compile time
    f = jax.jit(
        lambda a: dequantize(quantize_rtn(a, scale_dtype=jnp.float32), default_float())
    )
    return (lambda: f(w)), lambda out: float(
        np.max(np.abs(np.asarray(out, np.float64) - ref))
    )


def _w4a16_case():
    from ..ops import w4a16_matmul

    w, _ = _weights(1024, 1024, seed=1)
    qw = quantize_rtn(w.astype(jnp.float32))
    x = jax.random.normal(jax.random.key(2), (16, 1024), jnp.float32)
    ref = np.asarray(x, np.float64) @ np.asarray(dequantize(qw, default_float()))
    f = jax.jit(lambda a, q: w4a16_matmul(a, q, impl="pallas_interpret"))

    def err(out):
        y = np.asarray(out, np.float64)
        return float(np.abs(y - ref).mean() / np.abs(ref).mean())

    return (lambda: f(x, qw)), err


def _gptq_case():
    # research perf.md §2.3: correlated inputs X = Z (I + 2A), A = G / sqrt(K)
    k, n, rows = 256, 64, 2048
    keys = jax.random.split(jax.random.key(3), 3)
    a = jax.random.normal(keys[0], (k, k)) / np.sqrt(k)
    x = jax.random.normal(keys[1], (rows, k)) @ (jnp.eye(k, dtype=a.dtype) + 2 * a)
    w = jax.random.normal(keys[2], (k, n))
    f = jax.jit(lambda xx, ww: gptq(ww, hessian_from_activations(xx)))
    xn, wn = np.asarray(x, np.float64), np.asarray(w, np.float64)
    y = xn @ wn

    def err(out):
        # layer-output relative squared error, in NumPy float64
        e = xn @ (np.asarray(dequantize(out, default_float()), np.float64) - wn)
        return float(np.sum(e**2) / np.sum(y**2))

    return (lambda: f(x, w)), err


CASES = [
    TourCase(
        "quant.quantize_rtn",
        "P26",
        "1024 x 1024 N(0,1), group 128 vs NumPy RTN",
        _rtn_case,
        tolerance=1e-12,
    ),
    TourCase(
        "quant.gptq",
        "P26",
        "K=256, N=64, correlated X; output rel. sq. err (RTN ~1.2e-2)",
        _gptq_case,
        error_kind="rel sq err",
        tolerance=8.4e-3,
    ),
    TourCase(
        "ops.w4a16_matmul",
        "P26",
        "Pallas (interpret), f32 x: 16 x 1024 @ int4 1024 x 1024",
        _w4a16_case,
        error_kind="mean rel err",
        tolerance=1e-5,
    ),
]
