"""GPU benchmark: Pallas W4A16 matmul vs a bfloat16 ``jnp.dot`` (P26, MARLIN).

Run on a machine with a CUDA GPU (e.g. an H200), from the repository root::

    python benchmarks/w4a16_gpu.py            # K = N = 8192, M in {1, 16, 32, 64, 128}
    python benchmarks/w4a16_gpu.py --smoke    # CPU: K = N = 256, interpret mode

For each M it times, compile excluded (minimum of several calls):

- ``jnp.dot(x, w_bf16, preferred_element_type=float32)`` (the 16-bit baseline;
  cuBLAS through XLA);
- ``w4a16_matmul(x, qw, impl="xla")`` (dequantize, then the same dot);
- ``w4a16_matmul(x, qw, impl="pallas")`` with ``block_m`` in {16, 32, 64}
  (up to M) and ``block_n`` in {128, 256};

and prints the time, the weight bandwidth (bytes of the weight format read
once, over the time) against the H200's 4.3 TB/s, the speed-up over the
bfloat16 dot, and MARLIN's error criterion ``mean|y - y_ref| / mean|y_ref|``
against the float32 product with the dequantized weights (for the bfloat16
baseline, which multiplies by the unquantized weights, that error is the
quantization error itself, about 0.1). Failures (a
configuration that does not lower) are printed and the run goes on. Target
(issue 7): >= 3x over bfloat16 at M <= 16 and >= 2x at M = 32.
"""

from __future__ import annotations

import argparse
import traceback

import jax
import jax.numpy as jnp
import numpy as np
from _timing import best_of  # benchmarks/_timing.py

from jaxmethods.ops import w4a16_matmul
from jaxmethods.quant import dequantize, quantize_rtn


HBM_GBS = 4300.0


def _row(label, sec, weight_bytes, base, err):
    gbs = weight_bytes / sec / 1e9
    speed = base / sec if base else float("nan")
    print(
        f"{label:<34} {sec * 1e6:10.1f} us {gbs:8.0f} GB/s "
        f"{100 * gbs / HBM_GBS:5.1f}% HBM  x{speed:5.2f}  err {err:.1e}"
    )


def run(k: int, n: int, ms: list[int], reps: int, pallas: str) -> None:
    print(f"device: {jax.devices()[0]}; K={k} N={n}; bf16 activations")
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.standard_normal((k, n)), jnp.float32)
    qw = quantize_rtn(w)
    w_bf16 = w.astype(jnp.bfloat16)
    w_ref = dequantize(qw, jnp.float32)
    dense = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32))
    for m in ms:
        print(f"-- M = {m}")
        x = jnp.asarray(rng.standard_normal((m, k)), jnp.bfloat16)
        ref = jnp.dot(x.astype(jnp.float32), w_ref)

        def err(y, ref=ref):
            y = y.astype(jnp.float32)
            return float(jnp.abs(y - ref).mean() / jnp.abs(ref).mean())

        base = best_of(dense, (x, w_bf16), reps)
        _row("bf16 jnp.dot", base, w_bf16.nbytes, base, err(dense(x, w_bf16)))
        xla = jax.jit(lambda a, q: w4a16_matmul(a, q, impl="xla"))
        sec = best_of(xla, (x, qw), reps)
        _row("w4a16 xla (dequant + dot)", sec, qw.nbytes, base, err(xla(x, qw)))
        for bm in (16, 32, 64):
            if bm > max(16, m):
                continue
            for bn in (128, 256):
                f = jax.jit(
                    lambda a, q, bm=bm, bn=bn: w4a16_matmul(
                        a, q, impl=pallas, block_m=bm, block_n=bn
                    )
                )
                label = f"w4a16 {pallas} bm={bm} bn={bn}"
                try:
                    sec = best_of(f, (x, qw), reps)
                    _row(label, sec, qw.nbytes, base, err(f(x, qw)))
                except Exception:
                    print(f"{label:<34} FAILED")
                    traceback.print_exc(limit=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, small, interpret")
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    if args.smoke:
        run(256, 256, [1, 16], reps=2, pallas="pallas_interpret")
        return
    if jax.default_backend() != "gpu":
        raise SystemExit("needs a CUDA GPU; use --smoke on CPU")
    run(8192, 8192, [1, 16, 32, 64, 128], reps=args.reps, pallas="pallas")


if __name__ == "__main__":
    main()
