"""Benchmark: randomized QMC point sets, jaxmethods against QMCPy and SciPy.

Times, in one process, float64, on the CPU:

- 2^20 x 32 Sobol' points with LMS+DS: ``jaxmethods.qmc.digital_net_b2``
  (jit, compile excluded) vs ``qmcpy.DigitalNetB2(randomize="LMS DS")`` and
  scrambled ``scipy.stats.qmc.Sobol``;
- 2^20 x 32 shifted lattice points: ``jaxmethods.qmc.lattice`` vs
  ``qmcpy.Lattice``;
- 2^16 x 32 Halton points with LMS+DP: ``jaxmethods.qmc.halton`` vs scrambled
  ``scipy.stats.qmc.Halton`` and ``qmcpy.Halton(randomize="LMS DP")``.

Each peer call includes its own randomization (constructing the generator),
as does ours (drawing the scramble from a key). Reported: the minimum over
repeats, and the ratio peer / jaxmethods. The memory floor is the time to
write the output once (n * d * 8 bytes), measured as a jitted fill.

Run:  python benchmarks/qmc_points.py [--quick] [--repeats R]
"""

import argparse
import json
import platform
import time

import jax


jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402

import jaxmethods.qmc as qmc  # noqa: E402


def best_of(f, repeats):
    f()  # warm-up (compiles jitted functions)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f())
        ts.append(time.perf_counter() - t0)
    return min(ts)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true", help="small sizes, 1 repeat")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    import qmcpy as qp
    from scipy.stats import qmc as sq

    reps = 1 if args.quick else args.repeats
    m_big, m_halton, d = (14, 12, 8) if args.quick else (20, 16, 32)
    key = jr.key(0)
    seeds = iter(range(10**6))
    rows = []

    def row(name, n, ours, peers):
        t_ours = best_of(ours, reps)
        fill = jax.jit(lambda: jnp.full((n, d), 0.5))
        floor = best_of(fill, reps)
        out = {"case": name, "n": n, "d": d, "jaxmethods_s": t_ours, "floor_s": floor}
        for pname, pf in peers.items():
            out[pname + "_s"] = best_of(pf, max(1, reps // 2))
            out[pname + "_ratio"] = out[pname + "_s"] / t_ours
        rows.append(out)
        print(json.dumps(out), flush=True)

    n = 2**m_big
    sob = jax.jit(lambda k: qmc.digital_net_b2(k, n, d))
    row(
        "sobol_lms_ds",
        n,
        lambda: sob(key),
        {
            "qmcpy": lambda: qp.DigitalNetB2(d, randomize="LMS DS", seed=next(seeds))(
                n
            ),
            "scipy": lambda: sq.Sobol(d, scramble=True, rng=next(seeds)).random_base2(
                m_big
            ),
        },
    )
    lat = jax.jit(lambda k: qmc.lattice(k, n, d))
    row(
        "lattice_shift",
        n,
        lambda: lat(key),
        {"qmcpy": lambda: qp.Lattice(d, seed=next(seeds))(n)},
    )

    # The use that matters: points consumed by an integrand inside one jit, so
    # XLA fuses generation and evaluation and never writes the n x d array.
    def f_np(x):
        return np.prod(1 + (x - 0.5) / 3, axis=-1).mean()

    def f_jnp(x):
        return jnp.prod(1 + (x - 0.5) / 3, axis=-1).mean()

    sob_f = jax.jit(lambda k: f_jnp(qmc.digital_net_b2(k, n, d)))
    row(
        "sobol_lms_ds+integrand",
        n,
        lambda: sob_f(key),
        {
            "qmcpy": lambda: f_np(
                qp.DigitalNetB2(d, randomize="LMS DS", seed=next(seeds))(n)
            ),
            "scipy": lambda: f_np(
                sq.Sobol(d, scramble=True, rng=next(seeds)).random_base2(m_big)
            ),
        },
    )
    lat_f = jax.jit(lambda k: f_jnp(qmc.lattice(k, n, d)))
    row(
        "lattice_shift+integrand",
        n,
        lambda: lat_f(key),
        {"qmcpy": lambda: f_np(qp.Lattice(d, seed=next(seeds))(n))},
    )
    nh = 2**m_halton
    hal = jax.jit(lambda k: qmc.halton(k, nh, d))
    row(
        "halton_lms_dp",
        nh,
        lambda: hal(key),
        {
            "scipy": lambda: sq.Halton(d, scramble=True, rng=next(seeds)).random(nh),
            "qmcpy": lambda: qp.Halton(d, randomize="LMS DP", seed=next(seeds))(nh),
        },
    )
    print()
    print(
        f"machine: {platform.machine()}, {jax.device_count()} XLA device(s), "
        f"jax {jax.__version__}, qmcpy {qp.__version__}"
    )
    print("| case | n x d | jaxmethods | peer | peer time | peer / ours | floor |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for k in r:
            if k.endswith("_ratio"):
                peer = k[: -len("_ratio")]
                print(
                    f"| {r['case']} | 2^{r['n'].bit_length() - 1} x {r['d']} | "
                    f"{r['jaxmethods_s'] * 1e3:.1f} ms | {peer} | "
                    f"{r[peer + '_s'] * 1e3:.1f} ms | {r[k]:.2f}x | "
                    f"{r['floor_s'] * 1e3:.1f} ms |"
                )


if __name__ == "__main__":
    main()
