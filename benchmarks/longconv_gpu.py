"""GPU benchmark: Pallas Monarch causal convolution vs the ``jnp.fft`` path (P12).

Run on a machine with a CUDA GPU (e.g. an H200), from the repository root::

    python benchmarks/longconv_gpu.py             # B=16, H=768, L in {4K, 16K}
    python benchmarks/longconv_gpu.py --smoke     # CPU: tiny sizes, interpret mode

For each L it builds bfloat16 inputs ``u (B, H, L)`` and a float32 kernel
``k (H, L)``, precomputes the kernel spectrum once (as a training step would
reuse it across the batch), and times, compile excluded (minimum of several
calls):

- ``xla``: ``monarch_causal_conv(..., impl="xla")`` (un-permute the spectrum,
  ``jnp.fft.fft``/``ifft`` on cuFFT) and ``fft_causal_conv(..., impl="xla")``
  (``rfft``/``irfft`` with the kernel FFT inside the call);
- ``pallas``: ``monarch_causal_conv(..., impl="pallas")`` (the Triton kernel,
  one program per ``block_rows`` rows);
- the forward + backward pass of ``sum(y * w)`` with respect to ``u`` for the
  XLA and Pallas paths.

Each line gives the time, the achieved HBM bandwidth counted with the minimal
traffic (u read and y written in bfloat16, the float32 spectrum read once)
and the achieved TFLOP/s counted with the Monarch matmul FLOPs the kernel
issues, against the H200 ceilings of research perf.md §1.4 (4.3 TB/s copy,
790 TFLOP/s dense bf16), plus the largest error against the float32 XLA
path relative to ``||k||_1 ||u||_inf``. Failures (a kernel that does not
lower) are printed and the run goes on.
"""

from __future__ import annotations

import argparse
import math
import traceback

import jax
import jax.numpy as jnp
import numpy as np
from _timing import best_of  # benchmarks/_timing.py

from jaxmethods.ops import (
    fft_causal_conv,
    monarch_causal_conv,
    monarch_kernel_spectrum,
)
from jaxmethods.ops.fftconv.pallas_gpu import conv_factors


HBM_GBS = 4300.0
PEAK_TFLOPS = 790.0


def _flops(rows: int, factors: tuple[int, ...]) -> float:
    """Real FLOPs of the kernel's matmuls per call (fwd FFT, product, inverse)."""
    n = math.prod(factors)
    r1 = factors[0]
    per_row = 2 * 2 * (n // 2) * r1  # stage 1: real input, half the rows of F
    per_row += sum(4 * 2 * n * r for r in factors[1:]) * 2  # complex, both ways
    per_row += 2 * 2 * n * (r1 // 2)  # last inverse stage: real part, half out
    per_row += 6 * n  # pointwise complex product
    return float(rows * per_row)


def run(batch: int, h: int, lengths: list[int], reps: int, interpret: bool) -> None:
    pallas = "pallas_interpret" if interpret else "pallas"
    print(f"device: {jax.devices()[0]}; B={batch} H={h}; bf16 in/out, f32 spectra")
    header = (
        f"{'L':>6} {'path':<22} {'ms':>9} {'GB/s':>8} {'%HBM':>6} "
        f"{'TFLOP/s':>8} {'%peak':>6} {'err':>9}"
    )
    print(header)
    for length in lengths:
        _measure(batch, h, length, reps, pallas)


def _measure(batch: int, h: int, length: int, reps: int, pallas: str) -> None:
    n = 1 << (2 * length - 1).bit_length()
    factors = conv_factors(n)
    rng = np.random.default_rng(length)
    u = jnp.asarray(rng.standard_normal((batch, h, length)), jnp.bfloat16)
    decay = np.exp(-np.arange(length) / (length / 8))
    k = jnp.asarray(rng.standard_normal((h, length)) * decay, jnp.float32)
    spec = jax.block_until_ready(monarch_kernel_spectrum(k, factors=factors))
    ref = fft_causal_conv(u.astype(jnp.float32), k, impl="xla")
    scale = float(jnp.abs(k).sum(-1).max() * jnp.abs(u.astype(jnp.float32)).max())
    w = jnp.asarray(rng.standard_normal((batch, h, length)), jnp.bfloat16)
    minimal = 2 * batch * h * length * 2 + h * n * 8
    flops = _flops(batch * h, factors)
    cases = {
        "xla (monarch, cuFFT)": jax.jit(
            lambda a, s: monarch_causal_conv(a, s, factors=factors, impl="xla")
        ),
        "xla (fft_causal_conv)": jax.jit(
            lambda a, kk: fft_causal_conv(a, kk, impl="xla")
        ),
        f"{pallas} {factors}": jax.jit(
            lambda a, s: monarch_causal_conv(a, s, factors=factors, impl=pallas)
        ),
    }
    args = {"xla (fft_causal_conv)": (u, k)}
    for name, f in cases.items():
        try:
            a = args.get(name, (u, spec))
            sec = best_of(f, a, reps)
            y = f(*a).astype(jnp.float32)
            err = float(jnp.abs(y - ref).max()) / scale
            gbs = minimal / sec / 1e9
            tf = flops / sec / 1e12
            print(
                f"{length:>6} {name:<22} {sec * 1e3:9.3f} {gbs:8.0f} "
                f"{100 * gbs / HBM_GBS:6.1f} {tf:8.1f} "
                f"{100 * tf / PEAK_TFLOPS:6.1f} {err:9.2e}"
            )
        except Exception:  # keep going: report what lowers
            print(f"{length:>6} {name:<22} FAILED")
            traceback.print_exc(limit=2)
    for impl in ("xla", pallas):

        def loss(a, impl=impl):  # noqa: B023
            y = monarch_causal_conv(a, spec, factors=factors, impl=impl)
            return jnp.sum(y.astype(jnp.float32) * w.astype(jnp.float32))

        try:
            sec = best_of(jax.jit(jax.grad(loss)), (u,), reps)
            print(f"{length:>6} {'fwd+bwd ' + impl:<22} {sec * 1e3:9.3f}")
        except Exception:
            print(f"{length:>6} {'fwd+bwd ' + impl:<22} FAILED")
            traceback.print_exc(limit=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny, interpret")
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args()
    if args.smoke:
        run(2, 4, [256, 1024], reps=2, interpret=True)
    else:
        if jax.default_backend() != "gpu":
            raise SystemExit("needs a CUDA GPU; use --smoke on CPU")
        run(16, 768, [4096, 16384], reps=args.reps, interpret=False)


if __name__ == "__main__":
    main()
