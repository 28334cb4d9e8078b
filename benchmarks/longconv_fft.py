"""Benchmark: causal FFT long convolution (P12) against direct convolution and SciPy.

CPU, one process, float32, B=4, H=64, kernel length L (LongConv's setting):

- ``jaxmethods.ops.fft_causal_conv`` (XLA ``jnp.fft`` path, jitted),
- direct causal convolution with ``lax.conv_general_dilated`` (depthwise,
  jitted; O(L^2), run up to L = 4096),
- ``scipy.signal.fftconvolve`` on the same arrays (axes=-1, truncated to L).

Times are the minimum over repeats after one warm-up call (compile excluded).
Prints one JSON line per (method, L) and a table.

Run:  python benchmarks/longconv_fft.py [--repeats R]
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import signal

from jaxmethods.ops import fft_causal_conv


B, H = 4, 64


def _time(f, repeats):
    jax.block_until_ready(f())
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


def _direct(u, k):
    length = u.shape[-1]
    # depthwise causal convolution: pad on the left, flip the kernel
    lhs = jnp.pad(u, ((0, 0), (0, 0), (length - 1, 0)))
    rhs = jnp.flip(k, -1)[:, None, :]  # (H, 1, L)
    return jax.lax.conv_general_dilated(
        lhs, rhs, (1,), "VALID", feature_group_count=H,
        dimension_numbers=("NCH", "OIH", "NCH"),
    )  # fmt: skip


def measure(length, repeats):
    rng = np.random.default_rng(length)
    un = rng.standard_normal((B, H, length)).astype(np.float32)
    kn = (rng.standard_normal((H, length)) / np.sqrt(length)).astype(np.float32)
    u, k = jnp.asarray(un), jnp.asarray(kn)
    fft = jax.jit(fft_causal_conv)
    res = {"L": length, "fft_ms": _time(lambda: fft(u, k), repeats)}
    res["scipy_ms"] = _time(
        lambda: signal.fftconvolve(un, kn[None], axes=-1)[..., :length], repeats
    )
    if length <= 4096:
        direct = jax.jit(_direct)
        res["direct_ms"] = _time(lambda: direct(u, k), repeats)
        err = np.abs(np.asarray(direct(u, k)) - np.asarray(fft(u, k))).max()
        res["fft_vs_direct_max_abs"] = float(err)
    return res


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    rows = []
    for length in (256, 512, 1024, 2048, 4096, 8192, 16384):
        res = measure(length, args.repeats)
        print(json.dumps(res), flush=True)
        rows.append(res)
    print("\n| L | fft_causal_conv ms | scipy ms | direct lax.conv ms | fft / scipy |")
    print("|---|---|---|---|---|")
    for r in rows:
        d = f"{r['direct_ms']:.2f}" if "direct_ms" in r else "-"
        ratio = r["fft_ms"] / r["scipy_ms"]
        cells = [r["L"], f"{r['fft_ms']:.2f}", f"{r['scipy_ms']:.2f}", d]
        print("| " + " | ".join(str(c) for c in cells) + f" | {ratio:.2f} |")


if __name__ == "__main__":
    main()
