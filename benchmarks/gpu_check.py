"""GPU check for jaxmethods.ops (the "GPU check" of research/qmc.md section 4).

Run on a machine with a CUDA GPU (e.g. an H200), from the repository root::

    python benchmarks/gpu_check.py            # about 1-3 minutes
    python benchmarks/gpu_check.py --smoke    # CPU: tiny sizes, Pallas interpreted

It needs only jax and jaxmethods. For each ``m`` in {10, 12, 13, 15} it times,
on ``rows x 2^m`` float32 data of ``2^25`` values in all (128 MiB):

- a copy (``x + 1``): the bandwidth the transforms are compared with;
- the XLA path of ``fwht`` (``impl="xla"``: Kronecker-factor matmuls on a
  GPU) and the default (``impl="auto"``);
- the Kronecker form ``H_a X H_b`` as two matmuls, at ``precision=HIGHEST``
  and at the default precision (TF32 on NVIDIA GPUs: its error is printed);
- the Pallas FWHT kernel (``impl="pallas"``, Triton) with 1, 4 and 16 rows
  per program (tiles over ``--max-tile`` values are skipped);
- ``fftbr`` on complex64 data: XLA path vs the Pallas kernel (the same
  block sizes), for ``m <= 13``;

and then ``jnp.fft.fft`` against ``fftbr`` (XLA path: permutation plus FFT)
for 64 x 2^20 complex64. Each line gives the time (minimum of several calls,
compile excluded), the effective bandwidth (bytes read plus written over
time), that bandwidth as a fraction of the copy's, and the largest error
against float64 on the first rows. Failures (e.g. a kernel that does not
lower) are printed and the check goes on. Compare with the bandwidth floor
table in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import traceback

import jax
import numpy as np


jax.config.update("jax_enable_x64", True)  # float64 references only

import jax.numpy as jnp  # noqa: E402

from jaxmethods.ops import fftbr, fwht  # noqa: E402
from jaxmethods.ops.fftbr import pallas_gpu as fft_kernels  # noqa: E402
from jaxmethods.ops.fwht import pallas_gpu as fwht_kernels, reference  # noqa: E402


def _time(f, *args, reps: int) -> float:
    jax.block_until_ready(f(*args))  # compile + warm up
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def _kron(x, precision):
    n = x.shape[-1]
    m = n.bit_length() - 1
    a, b = 1 << (m // 2), 1 << (m - m // 2)
    y = x.reshape(-1, a, b)
    ha = reference.hadamard(a, x.dtype)
    hb = reference.hadamard(b, x.dtype)
    y = jnp.einsum("ij,rjk->rik", ha, y, precision=precision)
    y = jnp.einsum("rik,kl->ril", y, hb, precision=precision)
    return (y * (1.0 / math.sqrt(n))).reshape(x.shape)


class Report:
    def __init__(self, deadline: float):
        self.deadline = deadline
        self.t0 = time.perf_counter()
        self.copy_gbs = math.nan

    def late(self) -> bool:
        return time.perf_counter() - self.t0 > self.deadline

    def row(self, what, shape, seconds, nbytes, err=math.nan, note=""):
        gbs = nbytes / seconds / 1e9
        frac = gbs / self.copy_gbs if self.copy_gbs == self.copy_gbs else math.nan
        print(
            f"| {what} | {'x'.join(map(str, shape))} | {seconds * 1e6:.1f} "
            f"| {gbs:.0f} | {frac:.2f} | {err:.1e} | {note} |",
            flush=True,
        )

    def fail(self, what, shape, exc):
        msg = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        print(f"| {what} | {'x'.join(map(str, shape))} | failed | | | | {msg} |")
        traceback.print_exc(file=sys.stderr)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes, interpret mode")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--max-tile", type=int, default=1 << 15, help="max bm * n")
    p.add_argument("--deadline", type=float, default=170.0, help="seconds")
    args = p.parse_args(argv)
    on_gpu = jax.default_backend() == "gpu"
    if not on_gpu and not args.smoke:
        print("gpu_check: no GPU; use --smoke for a CPU run of the script itself")
        return 2
    interpret = not on_gpu
    total = (1 << 12) if args.smoke else (1 << 25)
    ms = (4, 6) if args.smoke else (10, 12, 13, 15)
    blocks = (1, 4, 16)
    reps = 2 if args.smoke else args.reps
    dev = jax.devices()[0]
    backend = jax.default_backend()
    print(f"# gpu_check on {dev.device_kind} ({backend}), jax {jax.__version__}")
    print()
    print("| op | shape | time (us) | GB/s | / copy | max err vs f64 | note |")
    print("|---|---|---:|---:|---:|---:|---|")
    rep = Report(args.deadline)
    key = jax.random.key(0)
    for m in ms:
        n = 1 << m
        rows = total // n
        shape = (rows, n)
        x = jax.random.normal(key, shape, jnp.float32)
        nbytes = 2 * x.size * 4
        x64 = x[:256].astype(jnp.float64)
        want = np.asarray(jax.jit(reference.fwht_reference)(x64))

        def err(y, want=want):
            return float(np.max(np.abs(np.asarray(y[:256], np.float64) - want)))

        t = _time(jax.jit(lambda z: z + 1.0), x, reps=reps)
        rep.copy_gbs = nbytes / t / 1e9
        rep.row("copy", shape, t, nbytes)
        cases = [
            ("fwht xla", jax.jit(lambda z: fwht(z, impl="xla"))),
            ("fwht auto", jax.jit(fwht)),
            ("kron HIGHEST", jax.jit(lambda z: _kron(z, jax.lax.Precision.HIGHEST))),
            ("kron default", jax.jit(lambda z: _kron(z, None))),
        ]
        for bm in blocks:
            if bm * n > args.max_tile:
                skip = "| skipped | | | | tile > --max-tile |"
                print(f"| fwht pallas bm={bm} | {rows}x{n} {skip}")
                continue
            f = jax.jit(
                lambda z, bm=bm: fwht_kernels.fwht_pallas(
                    z, block_rows=bm, interpret=interpret
                )
            )
            cases.append((f"fwht pallas bm={bm}", f))
        for what, f in cases:
            if rep.late():
                print(f"| {what} | | skipped | | | | deadline |")
                continue
            try:
                y = f(x)
                rep.row(what, shape, _time(f, x, reps=reps), nbytes, err(y))
            except Exception as exc:  # noqa: BLE001 - report and go on
                rep.fail(what, shape, exc)
        if m > 13:
            continue
        xc = jax.random.normal(key, shape, jnp.complex64)
        nbytes_c = 2 * xc.size * 8
        want_c = np.asarray(
            jax.jit(lambda z: fftbr(z, impl="xla"))(xc[:256].astype(jnp.complex128))
        )
        fcases = [("fftbr xla", jax.jit(lambda z: fftbr(z, impl="xla")))]
        for bm in blocks:
            if bm * n > args.max_tile // 2:
                continue

            def kern(z, bm=bm):
                yr, yi = fft_kernels.fft_pallas(
                    jnp.real(z),
                    jnp.imag(z),
                    "fftbr",
                    block_rows=bm,
                    interpret=interpret,
                )
                return jax.lax.complex(yr, yi)

            fcases.append((f"fftbr pallas bm={bm}", jax.jit(kern)))
        for what, f in fcases:
            if rep.late():
                print(f"| {what} | | skipped | | | | deadline |")
                continue
            try:
                y = f(xc)
                e = float(np.max(np.abs(np.asarray(y[:256], np.complex128) - want_c)))
                rep.row(what, shape, _time(f, xc, reps=reps), nbytes_c, e)
            except Exception as exc:  # noqa: BLE001
                rep.fail(what, shape, exc)
    # Large FFT: the permutation pass against cuFFT alone.
    shape = (4, 1 << 10) if args.smoke else (64, 1 << 20)
    xc = jax.random.normal(key, shape, jnp.complex64)
    nbytes_c = 2 * xc.size * 8
    for what, f in [
        ("jnp.fft.fft", jax.jit(lambda z: jnp.fft.fft(z, norm="ortho"))),
        ("fftbr xla", jax.jit(lambda z: fftbr(z, impl="xla"))),
    ]:
        if rep.late():
            print(f"| {what} | | skipped | | | | deadline |")
            continue
        try:
            rep.row(what, shape, _time(f, xc, reps=reps), nbytes_c)
        except Exception as exc:  # noqa: BLE001
            rep.fail(what, shape, exc)
    print(f"\nwall time {time.perf_counter() - rep.t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
