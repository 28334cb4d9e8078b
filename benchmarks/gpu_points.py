"""GPU timing of the QMC point generators (jaxmethods only; no peers needed).

Run on a CUDA machine from the repository root::

    python benchmarks/gpu_points.py            # float32 and float64, ~1 min
    python benchmarks/gpu_points.py --quick    # CPU smoke run, tiny sizes

Times the jitted generators, compile excluded (minimum of several calls), on
the default device: 2^20 x 32 Sobol' points (LMS+DS, and NUS), 2^20 x 32
shifted lattice points and 2^16 x 32 Halton points (LMS+DP), each as points
returned and fused with a cheap integrand (the row mean of prod(1 + (u - 1/2)),
reduced to one number), in float32 and float64 with x64 on (uint64 integer
arithmetic), and with ``--no-x64`` in float32 alone (uint32 arithmetic, what
a user without x64 gets). The write floor is the time of a jitted fill of the same
output.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import jax


jax.config.update("jax_enable_x64", "--no-x64" not in sys.argv)

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402

import jaxmethods.qmc as qmc  # noqa: E402


def best_of(f, *args, reps):
    jax.block_until_ready(f(*args))
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--no-x64", action="store_true", help="uint32, float32 only")
    args = p.parse_args(argv)
    m_big, m_h, d = (12, 10, 8) if args.quick else (20, 16, 32)
    reps = 2 if args.quick else args.reps
    print(f"# gpu_points on {jax.devices()[0].device_kind}, jax {jax.__version__}")
    print(
        "| generator | dtype | n x d | points (ms) | fused (ms) | Gpts/s | floor (ms) |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    key = jr.key(0)

    def integrand(u):
        return jnp.mean(jnp.prod(1.0 + (u - 0.5), axis=-1))

    dtypes = (jnp.float32,) if args.no_x64 else (jnp.float32, jnp.float64)
    print(f"x64: {not args.no_x64}")
    for dtype in dtypes:
        gens = [
            (
                "digital_net_b2 lms_ds",
                1 << m_big,
                lambda k, n, dt: qmc.digital_net_b2(
                    k, n, d, randomize="lms_ds", dtype=dt
                ),
            ),
            (
                "digital_net_b2 nus",
                1 << m_big,
                lambda k, n, dt: qmc.digital_net_b2(k, n, d, randomize="nus", dtype=dt),
            ),
            (
                "lattice shift",
                1 << m_big,
                lambda k, n, dt: qmc.lattice(k, n, d, dtype=dt),
            ),
            (
                "halton lms_dp",
                1 << m_h,
                lambda k, n, dt: qmc.halton(k, n, d, randomize="lms_dp", dtype=dt),
            ),
        ]
        for name, n, gen in gens:
            try:
                pts = jax.jit(lambda k, gen=gen, n=n, dt=dtype: gen(k, n, dt))
                fused = jax.jit(
                    lambda k, gen=gen, n=n, dt=dtype: integrand(gen(k, n, dt))
                )
                fill = jax.jit(
                    lambda k, n=n, dt=dtype: (
                        jnp.full((n, d), 0.5, dt) + jr.uniform(k, (), dt)
                    )
                )
                tp = best_of(pts, key, reps=reps)
                tf = best_of(fused, key, reps=reps)
                t0 = best_of(fill, key, reps=reps)
                print(
                    f"| {name} | {jnp.dtype(dtype).name} | {n}x{d} | {tp * 1e3:.3f} "
                    f"| {tf * 1e3:.3f} | {n * d / tp / 1e9:.1f} | {t0 * 1e3:.3f} |",
                    flush=True,
                )
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(
                    f"| {name} | {jnp.dtype(dtype).name} | failed: "
                    f"{type(exc).__name__}: {str(exc)[:150]} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
